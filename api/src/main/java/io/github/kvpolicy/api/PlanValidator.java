package io.github.kvpolicy.api;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Checks a {@link RetentionPlan} against the context it was made for. The runtime refuses a plan that fails,
 * with {@link InvalidPlanException}'s message, and leaves its cache untouched. Rules:
 * <ol>
 *   <li>the plan has the context's rows, layers and KV heads;</li>
 *   <li>each (row, layer, head) lists strictly ascending positions, each currently cached there;</li>
 *   <li>every mandatory position (out of scope or protected) is kept;</li>
 *   <li>per row, the kept candidates summed over layers and heads respect the budget
 *       ({@link BudgetMode}: exactly {@link PolicyContext#exactTotal}, or at most {@code layers × kvHeads × B}).</li>
 * </ol>
 * Stateless and thread-safe.
 */
@Stable
public final class PlanValidator {
    private static final int MAX_VIOLATIONS = 20;

    private PlanValidator() {}

    /** The violations of {@code plan}, at most 20, each naming where; empty if valid. */
    public static List<String> violations(RetentionPlan plan, PolicyContext ctx, BudgetMode mode) {
        List<String> out = new ArrayList<>();
        if (plan == null) {
            out.add("the plan is null");
            return out;
        }
        ModelShape s = ctx.shape();
        int rows = ctx.layout().batchSize();
        if (plan.batchSize() != rows || plan.layers() != s.layers() || plan.kvHeads() != s.kvHeads()) {
            out.add("plan has " + plan.batchSize() + " rows × " + plan.layers() + " layers × " + plan.kvHeads()
                    + " KV heads, expected " + rows + " × " + s.layers() + " × " + s.kvHeads());
            return out;
        }
        for (int r = 0; r < rows && out.size() < MAX_VIOLATIONS; r++) {
            long keptCandidates = 0;
            for (int l = 0; l < s.layers(); l++) {
                for (int h = 0; h < s.kvHeads(); h++) {
                    String where = "row " + r + ", layer " + l + ", KV head " + h;
                    int[] kept = plan.kept(r, l, h);
                    int[] cached = ctx.cache().positions(r, l, h);
                    for (int i = 0; i < kept.length; i++) {
                        if (i > 0 && kept[i] <= kept[i - 1]) {
                            out.add(where + ": positions must be strictly ascending, but " + kept[i] + " follows " + kept[i - 1] + " at index " + i);
                            break;
                        }
                        if (Arrays.binarySearch(cached, kept[i]) < 0) {
                            out.add(where + ": position " + kept[i] + " is not in the cache (cached: " + cached.length + " positions"
                                    + (cached.length > 0 ? " in [" + cached[0] + ", " + cached[cached.length - 1] + "]" : "") + ")");
                            break;
                        }
                    }
                    int[] sortedKept = kept.clone();
                    Arrays.sort(sortedKept);
                    for (int m : ctx.mandatory(r, l, h)) {
                        if (Arrays.binarySearch(sortedKept, m) < 0) {
                            Modality mod = ctx.layout().row(r).modality(m);
                            out.add(where + ": position " + m + " (" + mod + ") must be kept: it is "
                                    + (ctx.scope().includes(mod) ? "protected" : "outside the policy's scope " + ctx.scope()));
                            break;
                        }
                    }
                    for (int c : ctx.candidates(r, l, h)) if (Arrays.binarySearch(sortedKept, c) >= 0) keptCandidates++;
                }
            }
            long b = ctx.budgetTokens(r);
            long cap = (long) s.layers() * s.kvHeads() * b;
            if (mode == BudgetMode.EXACT && keptCandidates != ctx.exactTotal(r)) {
                out.add("row " + r + ": keeps " + keptCandidates + " candidate tokens over all layers and KV heads, but an exact budget of "
                        + b + " per layer and head (" + ctx.budget() + ") requires " + ctx.exactTotal(r));
            } else if (mode == BudgetMode.AT_MOST && keptCandidates > cap) {
                out.add("row " + r + ": keeps " + keptCandidates + " candidate tokens over all layers and KV heads, over the budget of "
                        + b + " per layer and head (" + ctx.budget() + "), at most " + cap);
            }
        }
        return out;
    }

    /** @throws InvalidPlanException naming {@code policy} and the first violation */
    public static void check(String policy, RetentionPlan plan, PolicyContext ctx, BudgetMode mode) {
        List<String> v = violations(plan, ctx, mode);
        if (!v.isEmpty()) throw new InvalidPlanException(policy, v);
    }
}
