package io.github.kvpolicy.conformance;

import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.util.List;
import java.util.Optional;

/**
 * Drives a decoding-time policy the way a runtime would, on synthetic tokens: compress after prefill, then after
 * each appended token call it when its {@link Schedule} fires ({@code everySteps}, or a (row, layer, KV head)
 * holding more than {@code B + slack} candidates), validate the plan, compact the cache, and check the bound.
 *
 * <p>The bound, per row, on candidates held after each step: {@code L·H·(B + a)}, where {@code a} is the schedule's
 * allowance: {@code slack} for {@code whenOverBudget}, {@code everySteps - 1} for {@code everySteps} (the smaller if
 * both). Stateless.
 */
public final class DecodingDriver {
    private DecodingDriver() {}

    /** The tokens each row may hold above {@code L·H·B} between actions (see the class comment); -1 if it never acts while decoding. */
    public static int allowance(Schedule s) {
        int a = Integer.MAX_VALUE;
        if (s.whenOverBudget()) a = Math.min(a, s.slack());
        if (s.everySteps() > 0) a = Math.min(a, s.everySteps() - 1);
        return a == Integer.MAX_VALUE ? -1 : a;
    }

    /** Runs {@code steps} decode steps of {@code spec} with a fresh {@code policy}; the first violation, or empty. */
    public static Optional<String> run(CompressionPolicy policy, ScenarioSpec spec, int steps) {
        SyntheticScenario scn = spec.build();
        Schedule schedule = policy.schedule();
        int allowance = allowance(schedule);
        if (allowance < 0) return Optional.of("its schedule " + schedule + " never acts during decoding");
        ModelShape s = spec.shape();
        int rows = spec.layout().batchSize();
        long[] b = new long[rows];
        for (int r = 0; r < rows; r++) b[r] = PlanRules.budgetTokens(spec.budget(), spec.layout().row(r), policy.scope(), policy.protection());
        int actions = 0;
        for (int step = 0; step <= steps; step++) {
            if (step > 0) scn.appendGenerated();
            PolicyContext probe = scn.context(policy, spec.budget(), step == 0 ? Phase.PREFILL : Phase.DECODE, step);
            int[][][] cand = PlanRules.candidateCounts(probe, policy.scope(), policy.protection());
            boolean act;
            if (step == 0) act = schedule.afterPrefill();
            else {
                boolean over = false;
                for (int r = 0; r < rows && !over; r++)
                    for (int l = 0; l < s.layers() && !over; l++)
                        for (int h = 0; h < s.kvHeads() && !over; h++) over = cand[r][l][h] > b[r] + schedule.slack();
                act = schedule.dueAfterDecodeStep(step, over); // the runtime's PolicyDriver asks the same method
            }
            if (act) {
                actions++;
                RetentionPlan plan;
                try {
                    plan = policy.compress(probe);
                } catch (RuntimeException e) {
                    return Optional.of("decode step " + step + ": compress() threw " + ConformanceHarness.describe(e));
                }
                List<String> v = PlanValidator.violations(plan, probe, policy.budgetMode());
                if (!v.isEmpty()) return Optional.of("decode step " + step + ": invalid plan: " + v.getFirst());
                scn.cache().compact(plan);
                cand = PlanRules.candidateCounts(scn.context(policy, spec.budget(), Phase.DECODE, step), policy.scope(), policy.protection());
            }
            for (int r = 0; r < rows && actions > 0; r++) {
                long total = 0;
                for (int l = 0; l < s.layers(); l++) for (int h = 0; h < s.kvHeads(); h++) total += cand[r][l][h];
                long bound = (long) s.layers() * s.kvHeads() * (b[r] + allowance);
                if (total > bound) {
                    return Optional.of("after decode step " + step + " (" + actions + " actions so far), row " + r + " holds " + total
                            + " candidate tokens, over the bound L·H·(B + " + allowance + ") = " + bound + " (B = " + b[r] + ", schedule " + schedule + ")");
                }
            }
        }
        return Optional.empty();
    }
}
