package io.github.kvpolicy.api;

/**
 * A KV-cache compression policy: a {@link TokenScorer}, a {@link BudgetAllocator} and an {@link Evictor}
 * composed, plus declarations of when it acts, what it may evict and what it always keeps.
 *
 * <p>The runtime calls {@link #compress} at the points of {@link #schedule()}, validates the plan with
 * {@link PlanValidator} (using {@link #budgetMode()}) and compacts the cache to it. A policy may override
 * {@code compress} entirely; the hooks then document its structure. Policies are created by a
 * {@link io.github.kvpolicy.api.provider.PolicyProvider}; unless the provider declares
 * {@link Capability#THREAD_SAFE}, the runtime calls one instance from one thread at a time.
 */
@Stable
public interface CompressionPolicy {
    /** The provider name this policy was created from (used in error messages). */
    String name();

    TokenScorer scorer();

    default BudgetAllocator allocator() {
        return BudgetAllocator.uniform();
    }

    default Evictor evictor() {
        return Evictor.topK();
    }

    /** What may be evicted; default: visual tokens only. */
    default Scope scope() {
        return Scope.VISUAL;
    }

    /** What is always kept within the scope; default: nothing. */
    default Protection protection() {
        return Protection.none();
    }

    /** When the policy acts; default: once after prefill. */
    default Schedule schedule() {
        return Schedule.onceAfterPrefill();
    }

    /** The prompt queries the probe must keep for this policy; default: none. */
    default QueryWindow queryWindow() {
        return QueryWindow.none();
    }

    /** How the budget is honoured; default: exactly. */
    default BudgetMode budgetMode() {
        return BudgetMode.EXACT;
    }

    /**
     * For {@link BudgetMode#AT_MOST}: the fraction in (0, 1] of {@link PolicyContext#exactTotal} the policy keeps at
     * least, per row (so that "at most" cannot silently mean "nothing"); the conformance suite checks it and fails an
     * AT_MOST policy that declares none. Ignored under {@link BudgetMode#EXACT}. Default 0: no promise.
     */
    default double minimumFill() {
        return 0.0;
    }

    /** Scores, allocates, evicts. Must not modify anything the context exposes. */
    default RetentionPlan compress(PolicyContext context) {
        TokenScores scores = scorer().score(context);
        BudgetAllocation allocation = allocator().allocate(context, scores);
        return evictor().evict(context, scores, allocation);
    }
}
