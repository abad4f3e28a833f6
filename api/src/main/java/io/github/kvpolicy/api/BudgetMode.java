package io.github.kvpolicy.api;

/** How a policy honours its budget; the plan validator checks what the policy declares. */
@Stable
public enum BudgetMode {
    /**
     * Per row, the kept candidates summed over layers and KV heads equal
     * {@code min(layers × kvHeads × B, total candidates)}: the budget may move between layers and heads but is
     * used in full.
     */
    EXACT,
    /** Per row, the kept candidates summed over layers and KV heads are at most {@code layers × kvHeads × B}. */
    AT_MOST
}
