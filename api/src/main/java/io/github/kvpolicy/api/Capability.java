package io.github.kvpolicy.api;

/**
 * What a policy provider declares it supports. The conformance suite runs the checks of a capability only if
 * it is declared (others are skipped with a reason), and a declared capability that fails its checks is a failure.
 */
@Stable
public enum Capability {
    /** Acts during decoding ({@link Schedule#actsDuringDecoding()}), keeping the cache within budget. */
    DECODING_TIME,
    /** Budgets differ between layers. */
    LAYER_WISE_BUDGETS,
    /** Budgets differ between KV heads of one layer. */
    HEAD_WISE_BUDGETS,
    /** Works with {@link Scope#ALL} (may evict text). */
    ALL_TOKEN_SCOPE,
    /** Handles batches of several rows with different prompt lengths. */
    BATCH,
    /** One policy instance may be called from several threads at once. */
    THREAD_SAFE,
    /** The same inputs and seed give the same plan. */
    DETERMINISTIC
}
