package io.github.kvpolicy.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code kvpolicy} command-line tool.
 *
 * <p><b>Errors.</b> Every failure reaches the user as one line on standard error, {@code kvpolicy: <what>}, and exit
 * status 2 (1 for the conformance verdict FAILED); the stack trace only with {@code --debug} (anywhere on the command
 * line) or {@code KVPOLICY_DEBUG=1}. Exceptions wrapped by Guice or picocli are unwrapped to the cause that names the
 * input. If code running in the process (a plugin) calls {@code System.exit} before the command finished, a shutdown
 * hook reports it and ends the process with status {@value #EXIT_UNEXPECTED} instead of the plugin's status.
 */
@Command(name = "kvpolicy", mixinStandardHelpOptions = true, version = "kvpolicy 0.1.0",
        description = "KV-cache compression policies for vision-language model inference.",
        subcommands = {DemoCommand.class, GenerateCommand.class, EvalCommand.class, PoliciesCommand.class, ValidateCommand.class, BenchCommand.class,
                VerifyModelCommand.class, RunCommand.class})
public final class Main {
    /** Exit status of a command that failed on bad input or a failing policy. */
    public static final int EXIT_ERROR = 2;
    /** Exit status when something in the process called {@code System.exit} before the command finished. */
    public static final int EXIT_UNEXPECTED = 70;

    private static volatile boolean finished;
    private static volatile String activity = "starting";

    private Main() {}

    // Guice 7's bundled ASM cannot read Java 25 class files and logs a warning with a stack trace on first use; it only
    // loses line numbers in Guice's own error messages, which the user never sees (see userMessage)
    private static final java.util.logging.Logger GUICE_LINE_NUMBERS = java.util.logging.Logger.getLogger("com.google.inject.internal.util");

    static {
        GUICE_LINE_NUMBERS.setLevel(java.util.logging.Level.OFF);
    }

    /** Runs the tool and returns its exit code (for tests). */
    public static int run(String... args) {
        List<String> rest = new ArrayList<>(Arrays.asList(args));
        boolean debug = rest.remove("--debug") | isSet(System.getenv("KVPOLICY_DEBUG"));
        CommandLine cl = new CommandLine(Main.class);
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            report(cmd.getErr(), ex, debug);
            return EXIT_ERROR;
        });
        cl.setParameterExceptionHandler((ex, argv) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            String name = ex.getCommandLine().getCommandSpec().qualifiedName();
            err.println("kvpolicy: " + firstLine(ex.getMessage()) + " (see '" + name + " --help')");
            if (debug) ex.printStackTrace(err);
            err.flush();
            return EXIT_ERROR;
        });
        activity = "running '" + String.join(" ", rest) + "'";
        try {
            return cl.execute(rest.toArray(String[]::new));
        } catch (Throwable t) { // Errors (StackOverflowError, OutOfMemoryError, linkage errors) pass picocli's handler
            report(cl.getErr(), t, debug);
            return EXIT_ERROR;
        }
    }

    private static boolean isSet(String v) {
        return v != null && !v.isBlank() && !v.equals("0") && !v.equalsIgnoreCase("false");
    }

    /** Prints {@code kvpolicy: <message of the cause that names the input>} and, with {@code debug}, the trace. */
    static void report(PrintWriter err, Throwable ex, boolean debug) {
        err.println("kvpolicy: " + userMessage(ex));
        if (debug) ex.printStackTrace(err);
        err.flush();
    }

    /** The one-line message for {@code t}: Guice and invocation wrappers removed, the first line of the cause. */
    public static String userMessage(Throwable t) {
        Throwable c = t;
        for (int i = 0; i < 16 && c.getCause() != null && isWrapper(c); i++) c = c.getCause();
        if (c instanceof OutOfMemoryError) return "out of memory (" + firstLine(c.getMessage()) + "); give the JVM more heap with KVPOLICY_JAVA_OPTS=-Xmx<size>";
        if (c instanceof StackOverflowError) return "stack overflow (input nested too deeply, or a policy recursed without end)";
        String m = c.getMessage();
        if (m == null || m.isBlank()) return c.getClass().getSimpleName();
        return firstLine(m);
    }

    private static boolean isWrapper(Throwable t) {
        String n = t.getClass().getName();
        return n.startsWith("com.google.inject.") || t instanceof java.lang.reflect.InvocationTargetException
                || t instanceof java.util.concurrent.ExecutionException || t instanceof java.util.concurrent.CompletionException
                || t instanceof picocli.CommandLine.ExecutionException
                || (t.getMessage() == null && t.getCause() != null);
    }

    private static String firstLine(String m) {
        if (m == null) return "";
        // Guice prefixes "Unable to provision, see the following errors:\n\n1) [Guice/ErrorInCustomProvider]: ..."
        String line = m.strip().lines().filter(l -> !l.isBlank()).findFirst().orElse("");
        return line.replaceFirst("^\\d+\\) \\[Guice/[A-Za-z]+]: ", "");
    }

    public static void main(String... args) {
        Thread hook = new Thread(() -> {
            if (finished) return;
            System.err.println("kvpolicy: the process was ended from inside (System.exit or a signal) while " + activity
                    + " before the command finished; a plugin may have called System.exit. Exit status " + EXIT_UNEXPECTED + ".");
            System.err.flush();
            Runtime.getRuntime().halt(EXIT_UNEXPECTED);
        }, "kvpolicy-unexpected-exit");
        Runtime.getRuntime().addShutdownHook(hook);
        int code = run(args);
        finished = true;
        System.out.flush();
        System.exit(code);
    }
}
