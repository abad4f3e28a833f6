package io.github.kvpolicy.evaluation.engine;

import java.util.Map;
import java.util.Objects;

/**
 * What an {@link Answerer} produced for one (example, policy, retention): the answer text the metric scores, and
 * what it cost. {@code policyMs}/{@code decodeMs} are NaN when unknown; {@code keptVisual}/{@code totalVisual} count
 * visual (layer, KV head, token) slots kept/present after compression (0/0 when the policy did not act);
 * {@code extra} holds answerer-specific numbers, recorded as they are (e.g. GridVQA's per-token counts). Immutable.
 */
public record Answer(String text, double policyMs, double decodeMs, long keptVisual, long totalVisual, Map<String, Double> extra) {
    public Answer {
        Objects.requireNonNull(text, "answer text");
        extra = Map.copyOf(extra);
        if (keptVisual < 0 || totalVisual < keptVisual) throw new IllegalArgumentException("kept " + keptVisual + " of " + totalVisual + " visual slots");
    }

    /** Just the text. */
    public static Answer of(String text) {
        return new Answer(text, Double.NaN, Double.NaN, 0, 0, Map.of());
    }
}
