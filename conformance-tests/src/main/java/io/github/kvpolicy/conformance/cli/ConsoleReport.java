package io.github.kvpolicy.conformance.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;

/**
 * Prints one line per check as it finishes: {@code PASS}, {@code FAIL} with the reason, or {@code SKIP} with the
 * reason (an aborted test: an assumption, e.g. an undeclared capability). Failures of a whole container (e.g. the
 * provider could not be created) are reported as failures too. Collects the results and, if given a
 * {@link ResultStream.Writer}, records each check's start and result as it happens (what the parent
 * {@link Validate} judges from). Not thread-safe (the launcher calls it from one thread).
 */
public final class ConsoleReport implements TestExecutionListener {
    /** The outcome of one check. */
    public enum Status { PASSED, FAILED, SKIPPED }

    /** One check's result: its test method name, display name, status and reason (empty when passed). */
    public record Result(String check, String displayName, Status status, String reason) {}

    private final PrintStream out;
    private final ResultStream.Writer stream;
    private final List<Result> results = new ArrayList<>();

    public ConsoleReport(PrintStream out) {
        this(out, null);
    }

    /** @param stream where check starts and results are recorded as they happen; null for none */
    public ConsoleReport(PrintStream out, ResultStream.Writer stream) {
        this.out = out;
        this.stream = stream;
    }

    @Override
    public void executionStarted(TestIdentifier id) {
        if (stream != null && id.isTest()) stream.write(ResultStream.Kind.START, checkName(id), id.getDisplayName());
    }

    private static String checkName(TestIdentifier id) {
        return id.getSource().filter(MethodSource.class::isInstance).map(s -> ((MethodSource) s).getMethodName()).orElse(id.getDisplayName());
    }

    public List<Result> results() {
        return List.copyOf(results);
    }

    public long count(Status s) {
        return results.stream().filter(r -> r.status() == s).count();
    }

    @Override
    public void executionSkipped(TestIdentifier id, String reason) {
        add(id, Status.SKIPPED, reason);
    }

    @Override
    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        switch (result.getStatus()) {
            case SUCCESSFUL -> { if (id.isTest()) add(id, Status.PASSED, ""); }
            case ABORTED -> add(id, Status.SKIPPED, result.getThrowable().map(Throwable::getMessage).orElse("(no reason given)")
                    .replaceFirst("^Assumption failed: ", ""));
            case FAILED -> add(id, Status.FAILED, message(result.getThrowable()));
        }
    }

    private static String message(Optional<Throwable> t) {
        if (t.isEmpty()) return "(no reason given)";
        Throwable e = t.get();
        String m = e.getMessage();
        if (e instanceof AssertionError && m != null) return m.replaceFirst(" ==> expected: <true> but was: <false>$", "");
        return e.getClass().getName() + (m == null ? "" : ": " + m);
    }

    private void add(TestIdentifier id, Status status, String reason) {
        String check = checkName(id);
        if (!id.isTest() && status == Status.FAILED) check = "(suite setup) " + id.getDisplayName();
        Result r = new Result(check, id.getDisplayName(), status, reason);
        results.add(r);
        if (stream != null) stream.write(ResultStream.Kind.RESULT, status.name(), check, id.getDisplayName(), reason);
        String label = switch (status) {
            case PASSED -> "  PASS  ";
            case FAILED -> "  FAIL  ";
            case SKIPPED -> "  SKIP  ";
        };
        StringBuilder line = new StringBuilder(label).append(id.getDisplayName());
        if (status == Status.SKIPPED) line.append(" — ").append(reason);
        out.println(line);
        if (status == Status.FAILED) {
            for (String l : reason.split("\\R")) out.println("        " + l);
        }
    }
}
