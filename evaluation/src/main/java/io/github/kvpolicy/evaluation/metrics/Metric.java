package io.github.kvpolicy.evaluation.metrics;

import java.util.List;

/**
 * Scores one predicted answer against the reference answers of one question. Implementations are stateless and
 * thread-safe.
 *
 * <p>Invariants: {@link #score} returns a value in [0, 1] for any prediction (also empty) and any non-empty list of
 * answers; it never changes its arguments; {@link #name} is the stable name used in dataset files, results records
 * and on the command line.
 */
public interface Metric {
    /** The metric's name as written in files and on the command line ({@code exact}, {@code vqa}, {@code anls}, {@code relaxed}). */
    String name();

    /**
     * The score of {@code prediction} against {@code answers}.
     *
     * @throws IllegalArgumentException if {@code answers} is empty
     */
    double score(String prediction, List<String> answers);

    /** Fails with a clear message unless there is at least one answer. */
    static void requireAnswers(String metric, List<String> answers) {
        if (answers == null || answers.isEmpty()) throw new IllegalArgumentException(metric + ": expected at least one reference answer, got none");
    }
}
