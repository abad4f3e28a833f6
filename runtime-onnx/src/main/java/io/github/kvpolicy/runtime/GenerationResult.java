package io.github.kvpolicy.runtime;

import io.github.kvpolicy.runtime.cache.LayerBytes;

import java.util.List;

/**
 * The outcome of a {@link GenerationRequest}. Immutable.
 *
 * @param tokens        per row, the generated token ids (a stop token is not included)
 * @param finishReasons per row, why it stopped
 * @param timings       wall-clock times
 * @param actions       the first policy action and the most recent ones, in order (empty without a policy; bounded,
 *                      so that a long decoding run holds constant memory: see {@link #actionCount})
 * @param actionCount   how many times the policy acted in all, ≥ {@code actions.size()}
 * @param finalMemory   KV bytes per layer when the request finished
 * @param logits        per row, per generated token, the logits it was chosen from (empty lists unless
 *                      {@link GenerationRequest#recordLogits()})
 */
public record GenerationResult(List<long[]> tokens, List<FinishReason> finishReasons, Timings timings,
                               List<PolicyAction> actions, long actionCount, List<LayerBytes> finalMemory, List<List<float[]>> logits) {
    public GenerationResult {
        if (actionCount < actions.size()) throw new IllegalArgumentException("actionCount " + actionCount + " < retained actions " + actions.size());
        tokens = List.copyOf(tokens);
        finishReasons = List.copyOf(finishReasons);
        actions = List.copyOf(actions);
        finalMemory = List.copyOf(finalMemory);
        logits = logits.stream().map(List::copyOf).toList();
    }

    /** The generated tokens of {@code row}; a new array. */
    public long[] tokens(int row) {
        return tokens.get(row).clone();
    }
}
