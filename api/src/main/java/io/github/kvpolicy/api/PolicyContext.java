package io.github.kvpolicy.api;

/**
 * Everything a policy sees in one call: shape, layout, cache, probe, budget and the candidates it may evict.
 * Created by the runtime (or the conformance suite) for one call, for one policy; valid only during that call.
 * Implementations are read-only and thread-safe for reading.
 */
@Stable
public interface PolicyContext {
    ModelShape shape();

    TokenLayout layout();

    KvCacheView cache();

    AttentionProbe probe();

    Budget budget();

    Phase phase();

    /** Generated tokens so far (0 at prefill). */
    int decodeStep();

    /** Seed for any randomness; the same seed must give the same plan. */
    long seed();

    /** The scope the candidates were computed for (the policy's own). */
    Scope scope();

    /** The protection the candidates were computed for (the policy's own). */
    Protection protection();

    /** The next position of {@code row}: prompt length plus generated tokens. */
    int sequenceLength(int row);

    /**
     * The budget {@code B} of {@code row}: tokens per (layer, KV head) on average, resolved against the row's
     * candidates at prefill (see {@link Budget}).
     */
    int budgetTokens(int row);

    /**
     * The positions of (row, layer, kvHead) the policy may evict: cached, in scope, not protected; ascending,
     * a new array. All other cached positions must be kept.
     */
    int[] candidates(int row, int layer, int kvHead);

    /** The cached positions of (row, layer, kvHead) that must be kept (out of scope or protected), ascending. */
    int[] mandatory(int row, int layer, int kvHead);

    /** Σ over layers and KV heads of the candidate counts of {@code row}. */
    default long totalCandidates(int row) {
        long n = 0;
        for (int l = 0; l < shape().layers(); l++) for (int h = 0; h < shape().kvHeads(); h++) n += candidates(row, l, h).length;
        return n;
    }

    /** What {@link BudgetMode#EXACT} requires row {@code row} to keep, summed over layers and heads. */
    default long exactTotal(int row) {
        return Math.min((long) shape().layers() * shape().kvHeads() * budgetTokens(row), totalCandidates(row));
    }
}
