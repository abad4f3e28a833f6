package io.github.kvpolicy.api;

/** Hook 2: turns the global budget into per-(row, layer, KV head) candidate counts. */
@Stable
@FunctionalInterface
public interface BudgetAllocator {
    BudgetAllocation allocate(PolicyContext context, TokenScores scores);

    /** The same share for every layer and head ({@link BudgetAllocation#uniform}). */
    static BudgetAllocator uniform() {
        return (ctx, scores) -> BudgetAllocation.uniform(ctx);
    }
}
