package io.github.kvpolicy.evaluation.engine;

import io.github.kvpolicy.evaluation.metrics.Metric;
import io.github.kvpolicy.evaluation.metrics.Metrics;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A model-free grid for the engine tests: examples {@code ex-000…}, two contenders and three retentions; the answerer
 * answers {@code a<i>} (right) for {@code good} and {@code wrong} for {@code bad}, optionally slowly, and records every
 * key it is asked for. {@link #main} runs it in a child JVM so a test can kill it.
 */
final class FakeRun {
    record Example(String id, List<String> answers, Metric metric, String group) implements EvalExample {}

    static final List<Contender> CONTENDERS = List.of(Contender.of("good"), Contender.of("bad"));
    static final List<Double> RETENTIONS = List.of(1.0, 0.5, 0.1);

    static List<Example> examples(int n) {
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(new Example(String.format("ex-%03d", i), List.of("a" + i), Metrics.byName("exact"), i % 2 == 0 ? "even" : "odd"));
        return out;
    }

    /** Counts what it is asked. */
    static final class CountingAnswerer implements Answerer<Example> {
        final long sleepMillis;
        final Set<ResultRecord.Key> asked = ConcurrentHashMap.newKeySet();
        final List<String> prepared = new ArrayList<>();

        CountingAnswerer(long sleepMillis) {
            this.sleepMillis = sleepMillis;
        }

        @Override
        public Prepared prepare(Example e) {
            prepared.add(e.id());
            return new Prepared() {
                @Override
                public Answer answer(Contender c, double retention) {
                    if (!asked.add(new ResultRecord.Key(e.id(), c.label(), retention))) throw new AssertionError("asked twice: " + e.id() + " " + c.label() + " " + retention);
                    if (sleepMillis > 0) {
                        try {
                            Thread.sleep(sleepMillis);
                        } catch (InterruptedException ie) {
                            Thread.currentThread().interrupt();
                            throw new IllegalStateException(ie);
                        }
                    }
                    return Answer.of(c.label().equals("good") ? e.answers().get(0) : "wrong");
                }

                @Override
                public void close() {}
            };
        }
    }

    /** {@code FakeRun <results file> <examples> <sleep ms>}: runs (resuming) until done; a test kills it midway. */
    public static void main(String[] args) {
        try (ResultLog log = ResultLog.open(Path.of(args[0]), true)) {
            EvaluationEngine.run(examples(Integer.parseInt(args[1])), CONTENDERS, RETENTIONS, new CountingAnswerer(Long.parseLong(args[2])), log, null);
        }
    }

    private FakeRun() {}
}
