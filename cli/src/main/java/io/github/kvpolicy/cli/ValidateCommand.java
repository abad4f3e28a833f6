package io.github.kvpolicy.cli;

import io.github.kvpolicy.conformance.cli.Validate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

/**
 * Runs the conformance suite against plugin JARs: each JAR in its own child JVM (this JVM's {@code java} and class
 * path, i.e. the distribution's {@code kvpolicy-cli.jar} + {@code lib/}), judged by {@link Validate} from the child's
 * result stream. Needs the JUnit Jupiter engine at run time (shipped in {@code lib/}).
 */
@Command(name = "validate", description = "Run the conformance suite against plugin JARs, each in its own JVM: validate plugin.jar [more.jar …] [--seed N|random] "
        + "[--report-dir DIR] [--policy A,B] [--contract-only] [--skip-level LEVEL=REASON] [--memory MB] [--check-timeout S] [--jar-timeout S] "
        + "[--shutdown-grace S]. Exit code 0 if every check passed, 1 if one failed or a JAR's JVM did not complete normally, 2 on usage errors.")
public final class ValidateCommand implements Callable<Integer> {
    @Unmatched
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() {
        return Validate.run(System.out, args.toArray(String[]::new));
    }
}
