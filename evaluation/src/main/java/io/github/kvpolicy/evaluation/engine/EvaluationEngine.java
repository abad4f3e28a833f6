package io.github.kvpolicy.evaluation.engine;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Runs every contender at every retention on every example and appends one {@link ResultRecord} per
 * (example, contender, retention) to a {@link ResultLog} as soon as it is scored. Keys already in the log (a resumed
 * run) are skipped; an example whose keys are all there is not even prepared. The engine itself keeps nothing that
 * the log does not have, so stopping it at any point and running it again on the same log computes each key exactly
 * once in total.
 */
public final class EvaluationEngine {
    /** Told after each example. */
    public interface Progress {
        void example(int done, int total, int computedSoFar);
    }

    /** What one run did: records computed now, records found in the log, examples prepared. */
    public record Summary(int computed, int alreadyDone, int prepared) {}

    private record Task(Contender contender, double retention) {}

    private EvaluationEngine() {}

    /**
     * Runs the grid.
     *
     * @param progress may be null
     * @throws IllegalArgumentException if two contenders share a label or two examples an id, or a retention is not in (0, 1]
     */
    public static <E extends EvalExample> Summary run(List<E> examples, List<Contender> contenders, List<Double> retentions, Answerer<E> answerer,
                                                      ResultLog log, Progress progress) {
        Set<String> labels = new HashSet<>();
        for (Contender c : contenders) if (!labels.add(c.label())) throw new IllegalArgumentException("two contenders are labelled '" + c.label() + "'");
        Set<String> ids = new HashSet<>();
        for (E e : examples) if (!ids.add(e.id())) throw new IllegalArgumentException("two examples have the id '" + e.id() + "'");
        for (double r : retentions) if (!(r > 0 && r <= 1)) throw new IllegalArgumentException("retention must be in (0, 1], got " + r);
        int computed = 0, done = 0, prepared = 0;
        for (int i = 0; i < examples.size(); i++) {
            E e = examples.get(i);
            List<Task> missing = new ArrayList<>();
            for (Contender c : contenders) {
                for (double r : retentions) {
                    if (log.contains(new ResultRecord.Key(e.id(), c.label(), r))) done++;
                    else missing.add(new Task(c, r));
                }
            }
            if (!missing.isEmpty()) {
                prepared++;
                try (Answerer.Prepared p = answerer.prepare(e)) {
                    for (Task t : missing) {
                        Contender c = t.contender();
                        double r = t.retention();
                        Answer a = p.answer(c, r);
                        double score = e.metric().score(a.text(), e.answers());
                        log.append(new ResultRecord(e.id(), e.group(), c.label(), r, e.metric().name(), score, a.text(), a.policyMs(), a.decodeMs(),
                                a.keptVisual(), a.totalVisual(), a.extra()));
                        computed++;
                    }
                }
                log.sync();
            }
            if (progress != null) progress.example(i + 1, examples.size(), computed);
        }
        return new Summary(computed, done, prepared);
    }
}
