package io.github.kvpolicy.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code kvpolicy} command-line tool. */
@Command(name = "kvpolicy", mixinStandardHelpOptions = true, version = "kvpolicy 0.1.0",
        description = "KV-cache compression policies for vision-language model inference.",
        subcommands = {DemoCommand.class, GenerateCommand.class, EvalCommand.class, PoliciesCommand.class, ValidateCommand.class, BenchCommand.class,
                VerifyModelCommand.class})
public final class Main {
    private Main() {}

    /** Runs the tool and returns its exit code (for tests). */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(Main.class);
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("kvpolicy: " + ex.getMessage());
            if (System.getenv("KVPOLICY_DEBUG") != null) ex.printStackTrace(cmd.getErr());
            return 2;
        });
        return cl.execute(args);
    }

    public static void main(String... args) {
        System.exit(run(args));
    }
}
