package io.github.kvpolicy.cli;

import io.github.kvpolicy.conformance.cli.Validate;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

/** Runs the conformance suite against plugin JARs (each in its own class loader). */
@Command(name = "validate", description = "Run the conformance suite against plugin JARs: validate plugin.jar [more.jar …] [--seed N|random] "
        + "[--report-dir DIR] [--policy A,B] [--contract-only]. Exit code 0 if every check passed.")
public final class ValidateCommand implements Callable<Integer> {
    @Unmatched
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() {
        return Validate.run(System.out, args.toArray(String[]::new));
    }
}
