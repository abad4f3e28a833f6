package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.BudgetAllocator;
import io.github.kvpolicy.api.BudgetMode;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Evictor;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.TokenScorer;
import java.util.Objects;
import java.util.function.Function;

/**
 * A {@link CompressionPolicy} assembled from its parts: the three hooks plus the declarations. Every baseline and
 * wrapper of this module is one of these; wrappers copy a nested policy with {@link #of(CompressionPolicy)} and
 * replace parts with the {@code with...} methods.
 *
 * <p>Immutable; thread-safe as long as its hooks are (every hook of this module is stateless).
 */
public final class ComposedPolicy implements CompressionPolicy {
    private final String name;
    private final TokenScorer scorer;
    private final BudgetAllocator allocator;
    private final Evictor evictor;
    private final Scope scope;
    private final Protection protection;
    private final Schedule schedule;
    private final QueryWindow queryWindow;
    private final BudgetMode budgetMode;
    private final Function<PolicyContext, RetentionPlan> compress; // null: scorer → allocator → evictor

    private ComposedPolicy(String name, TokenScorer scorer, BudgetAllocator allocator, Evictor evictor, Scope scope, Protection protection,
            Schedule schedule, QueryWindow queryWindow, BudgetMode budgetMode, Function<PolicyContext, RetentionPlan> compress) {
        this.name = Objects.requireNonNull(name, "name");
        this.scorer = Objects.requireNonNull(scorer, "scorer");
        this.allocator = Objects.requireNonNull(allocator, "allocator");
        this.evictor = Objects.requireNonNull(evictor, "evictor");
        this.scope = Objects.requireNonNull(scope, "scope");
        this.protection = Objects.requireNonNull(protection, "protection");
        this.schedule = Objects.requireNonNull(schedule, "schedule");
        this.queryWindow = Objects.requireNonNull(queryWindow, "queryWindow");
        this.budgetMode = Objects.requireNonNull(budgetMode, "budgetMode");
        this.compress = compress;
    }

    /** A policy with {@code scorer}, uniform budgets, top-k eviction, visual scope, no protection, once after prefill, exact budget. */
    public static ComposedPolicy of(String name, TokenScorer scorer) {
        return new ComposedPolicy(name, scorer, BudgetAllocator.uniform(), Evictor.topK(), Scope.VISUAL, Protection.none(),
                Schedule.onceAfterPrefill(), QueryWindow.none(), BudgetMode.EXACT, null);
    }

    /** A copy of {@code p}'s hooks and declarations (its {@code compress} is used only through its hooks). */
    public static ComposedPolicy of(CompressionPolicy p) {
        if (p instanceof ComposedPolicy c) return c;
        return new ComposedPolicy(p.name(), p.scorer(), p.allocator(), p.evictor(), p.scope(), p.protection(), p.schedule(),
                p.queryWindow(), p.budgetMode(), p::compress);
    }

    public ComposedPolicy withName(String v) { return new ComposedPolicy(v, scorer, allocator, evictor, scope, protection, schedule, queryWindow, budgetMode, compress); }
    /** Replaces the scorer; a whole-call override ({@link #withCompress}) is dropped. */
    public ComposedPolicy withScorer(TokenScorer v) { return new ComposedPolicy(name, v, allocator, evictor, scope, protection, schedule, queryWindow, budgetMode, null); }
    /** Replaces the allocator; a whole-call override is dropped. */
    public ComposedPolicy withAllocator(BudgetAllocator v) { return new ComposedPolicy(name, scorer, v, evictor, scope, protection, schedule, queryWindow, budgetMode, null); }
    /** Replaces the evictor; a whole-call override is dropped. */
    public ComposedPolicy withEvictor(Evictor v) { return new ComposedPolicy(name, scorer, allocator, v, scope, protection, schedule, queryWindow, budgetMode, null); }
    public ComposedPolicy withScope(Scope v) { return new ComposedPolicy(name, scorer, allocator, evictor, v, protection, schedule, queryWindow, budgetMode, compress); }
    public ComposedPolicy withProtection(Protection v) { return new ComposedPolicy(name, scorer, allocator, evictor, scope, v, schedule, queryWindow, budgetMode, compress); }
    public ComposedPolicy withSchedule(Schedule v) { return new ComposedPolicy(name, scorer, allocator, evictor, scope, protection, v, queryWindow, budgetMode, compress); }
    public ComposedPolicy withQueryWindow(QueryWindow v) { return new ComposedPolicy(name, scorer, allocator, evictor, scope, protection, schedule, v, budgetMode, compress); }
    public ComposedPolicy withBudgetMode(BudgetMode v) { return new ComposedPolicy(name, scorer, allocator, evictor, scope, protection, schedule, queryWindow, v, compress); }

    /** Overrides the whole call (e.g. to share one probe pass between scorer and allocator); the hooks stay as documented. */
    public ComposedPolicy withCompress(Function<PolicyContext, RetentionPlan> v) {
        return new ComposedPolicy(name, scorer, allocator, evictor, scope, protection, schedule, queryWindow, budgetMode, v);
    }

    @Override public String name() { return name; }
    @Override public TokenScorer scorer() { return scorer; }
    @Override public BudgetAllocator allocator() { return allocator; }
    @Override public Evictor evictor() { return evictor; }
    @Override public Scope scope() { return scope; }
    @Override public Protection protection() { return protection; }
    @Override public Schedule schedule() { return schedule; }
    @Override public QueryWindow queryWindow() { return queryWindow; }
    @Override public BudgetMode budgetMode() { return budgetMode; }

    @Override
    public RetentionPlan compress(PolicyContext context) {
        if (compress != null) return compress.apply(context);
        return CompressionPolicy.super.compress(context);
    }

    @Override
    public String toString() {
        return "ComposedPolicy[" + name + ", scope=" + scope + ", protection=" + protection + ", schedule=" + schedule + ", window=" + queryWindow + "]";
    }
}
