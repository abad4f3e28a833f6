package io.github.kvpolicy.runtime.policy;

import io.github.kvpolicy.api.AttentionProbe;
import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.BudgetMode;
import io.github.kvpolicy.api.Candidates;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.SimplePolicyContext;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.runtime.cache.CompactionReport;

import java.util.Arrays;
import java.util.Objects;

/**
 * Everything between a runtime (or the conformance suite) and one policy for one request: the budget resolved once
 * per row, the policy's metadata read once, the schedule decision, the context (with a {@link ReadOnlyCacheView}),
 * the {@code compress} call through a {@link PolicyCallRunner} (time limit, class loader, every {@link Throwable}
 * contained), validation, compaction through a {@link Target}, and the timing of each step. The engine enforces the
 * {@link PolicyDeclaration} here: a request the declaration does not allow fails before the policy is called.
 *
 * <p>Not thread-safe: one driver per request (the runner it uses is shared and thread-safe).
 */
public final class PolicyDriver {
    /** The cache a driver acts on: the runtime's KV cache, or the conformance suite's synthetic one. */
    public interface Target {
        /** The live cache (the driver hands policies a read-only view of it). */
        KvCacheView cache();

        /** The attention probe over {@link #cache()}. */
        AttentionProbe probe();

        /** The next original position of every row. */
        int[] sequenceLengths();

        /**
         * Rewrites the cache to a plan that passed {@link PlanValidator}.
         *
         * @return the memory before/after, or null where the target does not account memory
         */
        CompactionReport compact(RetentionPlan plan);
    }

    /** One validated and applied plan with its costs. */
    public record Outcome(RetentionPlan plan, double policyMs, double compactionMs, CompactionReport memory) {}

    private final CompressionPolicy policy;
    private final PolicyDeclaration declaration;
    private final PolicyCallRunner runner;
    private final String name;
    private final Budget budget;
    private final TokenLayout layout;
    private final long seed;
    private final Schedule schedule;
    private final Scope scope;
    private final Protection protection;
    private final BudgetMode mode;
    private final int[] budgetTokens;
    // decoding-time over-budget trigger: an upper bound of the largest candidate count over (layer, head), per row
    private final int[] candidateBound;
    private int boundStep;

    /**
     * @throws PolicyCapabilityException if the declaration does not allow this request (before any policy call)
     * @throws PolicyFailureException    if reading the policy's metadata throws
     */
    public PolicyDriver(CompressionPolicy policy, PolicyDeclaration declaration, PolicyCallRunner runner, Budget budget, TokenLayout layout, long seed) {
        this.policy = Objects.requireNonNull(policy, "policy");
        this.declaration = Objects.requireNonNull(declaration, "declaration");
        this.runner = Objects.requireNonNull(runner, "runner");
        this.budget = Objects.requireNonNull(budget, "budget");
        this.layout = Objects.requireNonNull(layout, "layout");
        this.seed = seed;
        String n;
        try {
            n = policy.name();
        } catch (Throwable t) {
            throw new PolicyFailureException(policy.getClass().getName(), "policy " + policy.getClass().getName() + ": name() threw " + PolicyCallRunner.describe(t), t);
        }
        this.name = n == null ? policy.getClass().getName() : n;
        try {
            this.schedule = Objects.requireNonNull(policy.schedule(), "schedule()");
            this.scope = Objects.requireNonNull(policy.scope(), "scope()");
            this.protection = Objects.requireNonNull(policy.protection(), "protection()");
            this.mode = Objects.requireNonNull(policy.budgetMode(), "budgetMode()");
        } catch (Throwable t) {
            throw new PolicyFailureException(name, "policy '" + name + "': reading its schedule, scope, protection or budget mode failed: " + PolicyCallRunner.describe(t), t);
        }
        declaration.checkRequest(policy, layout.batchSize());
        this.budgetTokens = budget.tokensPerRow(layout, scope, protection);
        this.candidateBound = new int[layout.batchSize()];
        Arrays.fill(candidateBound, Integer.MAX_VALUE / 4); // unknown until counted
    }

    public CompressionPolicy policy() { return policy; }

    public String name() { return name; }

    public Schedule schedule() { return schedule; }

    /** The budget {@code B} per row, resolved once for the request. */
    public int budgetTokens(int row) { return budgetTokens[row]; }

    /** Whether the policy acts right after prefill. */
    public boolean dueAfterPrefill() {
        return schedule.afterPrefill();
    }

    /**
     * Whether the policy is due after decoding step {@code step} ({@link Schedule#dueAfterDecodeStep}); counts
     * candidates in {@code cache} only when the over-budget condition could hold (each step adds at most one
     * candidate per (row, layer, head), none with the visual scope).
     */
    public boolean dueAfterDecodeStep(int step, KvCacheView cache) {
        if (schedule.dueAfterDecodeStep(step, false)) return true;
        return schedule.whenOverBudget() && schedule.dueAfterDecodeStep(step, overBudget(step, cache));
    }

    private boolean overBudget(int step, KvCacheView cache) {
        int grown = scope == Scope.VISUAL ? 0 : step - boundStep;
        boolean maybe = false;
        for (int r = 0; r < budgetTokens.length; r++) if ((long) candidateBound[r] + grown > (long) budgetTokens[r] + schedule.slack()) maybe = true;
        if (!maybe) return false;
        ModelShape shape = cache.shape();
        boolean over = false;
        for (int r = 0; r < budgetTokens.length; r++) {
            RowLayout row = layout.row(r);
            int max = 0;
            for (int l = 0; l < shape.layers(); l++) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    max = Math.max(max, Candidates.split(row, cache.positions(r, l, h), scope, protection)[0].length);
                }
            }
            candidateBound[r] = max;
            if (max > budgetTokens[r] + schedule.slack()) over = true;
        }
        boundStep = step;
        return over;
    }

    /** The context a call at ({@code phase}, {@code step}) would see, over a read-only view of {@code target}'s cache. */
    public PolicyContext context(Target target, Phase phase, int step) {
        return SimplePolicyContext.builder().layout(layout).cache(ReadOnlyCacheView.of(target.cache())).probe(target.probe()).budget(budget)
                .budgetTokens(budgetTokens).phase(phase).decodeStep(step).seed(seed).scope(scope).protection(protection)
                .sequenceLengths(target.sequenceLengths()).build();
    }

    /**
     * Calls the policy now, validates its plan and compacts {@code target} to it.
     *
     * @throws PolicyFailureException if the policy throws, overruns its time limit, is quarantined, or returns null
     * @throws io.github.kvpolicy.api.InvalidPlanException if its plan breaks the SPI's rules; the cache is unchanged
     */
    public Outcome act(Target target, Phase phase, int step) {
        long t0 = System.nanoTime();
        PolicyContext ctx = context(target, phase, step);
        String what = phase == Phase.PREFILL ? "after prefill" : "at decoding step " + step;
        RetentionPlan plan = runner.call(policy, declaration, what, () -> policy.compress(ctx));
        if (plan == null) throw new PolicyFailureException(name, "policy '" + name + "' failed " + what + ": compress() returned null", null);
        PlanValidator.check(name, plan, ctx, mode);
        double pm = (System.nanoTime() - t0) / 1e6;
        long t1 = System.nanoTime();
        CompactionReport report = target.compact(plan);
        double cm = (System.nanoTime() - t1) / 1e6;
        boundStep = step;
        Arrays.fill(candidateBound, Integer.MAX_VALUE / 4); // unknown until recounted
        return new Outcome(plan, pm, cm, report);
    }
}
