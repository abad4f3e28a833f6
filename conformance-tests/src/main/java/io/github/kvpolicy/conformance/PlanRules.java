package io.github.kvpolicy.conformance;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.BudgetMode;
import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.Modality;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.Scope;
import java.util.Arrays;
import java.util.Optional;

/**
 * The suite's own statement of the SPI's plan rules, written independently of {@code Candidates},
 * {@code Budget.resolve} and {@code PlanValidator} (so each is cross-checked against the other). Every method
 * returns the first violation, naming where, or empty. Stateless.
 */
public final class PlanRules {
    private PlanRules() {}

    /** A (row, layer, head)'s cached positions split into evictable candidates, protected in-scope tokens and out-of-scope tokens. */
    public record Split(int[] candidates, int[] protectedInScope, int[] outOfScope) {}

    /** Splits {@code cached} (ascending) for {@code scope} and {@code protection}. */
    public static Split split(RowLayout row, int[] cached, Scope scope, Protection protection) {
        int[] in = Arrays.stream(cached).filter(p -> inScope(scope, row.modality(p))).toArray();
        int[] out = Arrays.stream(cached).filter(p -> !inScope(scope, row.modality(p))).toArray();
        boolean[] prot = new boolean[in.length];
        for (int i = 0; i < in.length; i++) {
            prot[i] = i < protection.sinks() || i >= in.length - protection.recent() || protection.modalities().contains(row.modality(in[i]));
        }
        int[] cand = java.util.stream.IntStream.range(0, in.length).filter(i -> !prot[i]).map(i -> in[i]).toArray();
        int[] pr = java.util.stream.IntStream.range(0, in.length).filter(i -> prot[i]).map(i -> in[i]).toArray();
        return new Split(cand, pr, out);
    }

    private static boolean inScope(Scope scope, Modality m) {
        return switch (scope) {
            case ALL -> true;
            case VISUAL -> m == Modality.IMAGE;
        };
    }

    /** The budget B of a row: {@link Budget#tokensPerRow}, the one place where a budget becomes a token count. */
    public static int budgetTokens(Budget budget, RowLayout row, Scope scope, Protection protection) {
        return budget.tokensPerRow(new io.github.kvpolicy.api.TokenLayout(java.util.List.of(row)), scope, protection)[0];
    }

    /** True if the plan has the context's rows × layers × KV heads. */
    public static Optional<String> shape(RetentionPlan plan, PolicyContext ctx) {
        if (plan == null) return Optional.of("compress() returned null");
        ModelShape s = ctx.shape();
        int rows = ctx.layout().batchSize();
        if (plan.batchSize() == rows && plan.layers() == s.layers() && plan.kvHeads() == s.kvHeads()) return Optional.empty();
        return Optional.of("the plan has " + plan.batchSize() + " rows × " + plan.layers() + " layers × " + plan.kvHeads()
                + " KV heads, the context " + rows + " × " + s.layers() + " × " + s.kvHeads());
    }

    /** Strictly ascending kept positions. */
    public static Optional<String> sortedUnique(RetentionPlan plan, PolicyContext ctx) {
        return forEachHead(ctx, (r, l, h) -> {
            int[] k = plan.kept(r, l, h);
            for (int i = 1; i < k.length; i++) {
                if (k[i] == k[i - 1]) return where(r, l, h) + ": position " + k[i] + " is kept twice (index " + (i - 1) + " and " + i + ")";
                if (k[i] < k[i - 1]) return where(r, l, h) + ": positions are not sorted: " + k[i] + " follows " + k[i - 1] + " at index " + i;
            }
            return null;
        });
    }

    /** Every kept position is currently cached (so in [0, sequence length)). */
    public static Optional<String> cached(RetentionPlan plan, PolicyContext ctx) {
        KvCacheView cache = ctx.cache();
        return forEachHead(ctx, (r, l, h) -> {
            int[] cached = cache.positions(r, l, h);
            for (int p : plan.kept(r, l, h)) {
                if (Arrays.binarySearch(cached, p) < 0) {
                    boolean range = p >= 0 && p < ctx.sequenceLength(r);
                    return where(r, l, h) + ": kept position " + p + (range ? " is not cached there (evicted earlier)"
                            : " is out of range [0, " + ctx.sequenceLength(r) + ")");
                }
            }
            return null;
        });
    }

    /** Tokens outside {@code scope} (text and generated tokens for {@link Scope#VISUAL}) are kept. */
    public static Optional<String> outOfScopeKept(RetentionPlan plan, PolicyContext ctx, Scope scope, Protection protection) {
        return forEachHead(ctx, (r, l, h) -> {
            RowLayout row = ctx.layout().row(r);
            int[] kept = sorted(plan.kept(r, l, h));
            for (int p : split(row, ctx.cache().positions(r, l, h), scope, protection).outOfScope()) {
                if (Arrays.binarySearch(kept, p) < 0) {
                    return where(r, l, h) + ": " + row.modality(p) + " token at position " + p + " was evicted, but the policy's scope is " + scope;
                }
            }
            return null;
        });
    }

    /** Tokens the policy's protection covers are kept. */
    public static Optional<String> protectedKept(RetentionPlan plan, PolicyContext ctx, Scope scope, Protection protection) {
        return forEachHead(ctx, (r, l, h) -> {
            RowLayout row = ctx.layout().row(r);
            int[] kept = sorted(plan.kept(r, l, h));
            for (int p : split(row, ctx.cache().positions(r, l, h), scope, protection).protectedInScope()) {
                if (Arrays.binarySearch(kept, p) < 0) {
                    return where(r, l, h) + ": protected " + row.modality(p) + " token at position " + p + " was evicted (protection: "
                            + protection.sinks() + " sinks, " + protection.recent() + " recent, modalities " + protection.modalities() + ")";
                }
            }
            return null;
        });
    }

    /** Kept candidates per (row, layer, head), counted with {@link #split}. */
    public static int[][][] keptCandidates(RetentionPlan plan, PolicyContext ctx, Scope scope, Protection protection) {
        ModelShape s = ctx.shape();
        int[][][] out = new int[ctx.layout().batchSize()][s.layers()][s.kvHeads()];
        for (int r = 0; r < out.length; r++) {
            for (int l = 0; l < s.layers(); l++) {
                for (int h = 0; h < s.kvHeads(); h++) {
                    int[] kept = sorted(plan.kept(r, l, h));
                    int n = 0;
                    for (int c : split(ctx.layout().row(r), ctx.cache().positions(r, l, h), scope, protection).candidates()) {
                        if (Arrays.binarySearch(kept, c) >= 0) n++;
                    }
                    out[r][l][h] = n;
                }
            }
        }
        return out;
    }

    /** Candidates currently cached per (row, layer, head). */
    public static int[][][] candidateCounts(PolicyContext ctx, Scope scope, Protection protection) {
        ModelShape s = ctx.shape();
        int[][][] out = new int[ctx.layout().batchSize()][s.layers()][s.kvHeads()];
        for (int r = 0; r < out.length; r++)
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++)
                    out[r][l][h] = split(ctx.layout().row(r), ctx.cache().positions(r, l, h), scope, protection).candidates().length;
        return out;
    }

    /** Per row: EXACT keeps min(L·H·B, candidates) candidates; AT_MOST keeps at most L·H·B. */
    public static Optional<String> budget(RetentionPlan plan, PolicyContext ctx, Budget budget, BudgetMode mode, Scope scope, Protection protection) {
        ModelShape s = ctx.shape();
        int[][][] kept = keptCandidates(plan, ctx, scope, protection);
        int[][][] cand = candidateCounts(ctx, scope, protection);
        for (int r = 0; r < kept.length; r++) {
            long b = budgetTokens(budget, ctx.layout().row(r), scope, protection);
            long cap = (long) s.layers() * s.kvHeads() * b;
            long k = 0, c = 0;
            for (int l = 0; l < s.layers(); l++) for (int h = 0; h < s.kvHeads(); h++) { k += kept[r][l][h]; c += cand[r][l][h]; }
            long exact = Math.min(cap, c);
            if (mode == BudgetMode.EXACT && k != exact) {
                return Optional.of("row " + r + ": keeps " + k + " candidate tokens over " + s.layers() + " layers × " + s.kvHeads()
                        + " KV heads; the EXACT budget " + budget + " (B = " + b + " of the row's prefill candidates) requires min(L·H·B, "
                        + c + " cached candidates) = " + exact);
            }
            if (mode == BudgetMode.AT_MOST && k > cap) {
                return Optional.of("row " + r + ": keeps " + k + " candidate tokens, over the AT_MOST budget " + budget + " (B = " + b
                        + ", L·H·B = " + cap + ")");
            }
        }
        return Optional.empty();
    }

    /**
     * Where two plans first differ, in words: the shape, or the first (row, layer, KV head) whose kept positions
     * differ, with the first position one keeps and the other evicts; null if the plans are equal.
     *
     * @param nameA what produced {@code a} (e.g. "the first call"), for the message
     * @param nameB what produced {@code b}
     */
    public static String firstDifference(RetentionPlan a, RetentionPlan b, String nameA, String nameB) {
        if (a == null || b == null) return a == b ? null : (a == null ? nameA : nameB) + " returned no plan";
        if (a.batchSize() != b.batchSize() || a.layers() != b.layers() || a.kvHeads() != b.kvHeads()) {
            return nameA + " has " + a.batchSize() + " × " + a.layers() + " × " + a.kvHeads() + " (rows × layers × KV heads), " + nameB + " "
                    + b.batchSize() + " × " + b.layers() + " × " + b.kvHeads();
        }
        for (int r = 0; r < a.batchSize(); r++) {
            String d = firstRowDifference(a, r, b, r, nameA, nameB);
            if (d != null) return d;
        }
        return null;
    }

    /** As {@link #firstDifference}, for row {@code ra} of {@code a} against row {@code rb} of {@code b} (same layers and heads). */
    public static String firstRowDifference(RetentionPlan a, int ra, RetentionPlan b, int rb, String nameA, String nameB) {
        for (int l = 0; l < a.layers(); l++) {
            for (int h = 0; h < a.kvHeads(); h++) {
                int[] x = a.kept(ra, l, h), y = b.kept(rb, l, h);
                if (Arrays.equals(x, y)) continue;
                int[] sx = sorted(x), sy = sorted(y);
                String only = null;
                for (int p : sx) if (Arrays.binarySearch(sy, p) < 0) { only = nameA + " keeps position " + p + ", " + nameB + " evicts it"; break; }
                if (only == null) for (int p : sy) if (Arrays.binarySearch(sx, p) < 0) { only = nameB + " keeps position " + p + ", " + nameA + " evicts it"; break; }
                if (only == null) only = "same positions, different order";
                return "row " + ra + (ra != rb ? " (row " + rb + " of " + nameB + ")" : "") + ", layer " + l + ", KV head " + h + ": " + nameA + " keeps "
                        + x.length + " positions, " + nameB + " " + y.length + "; first difference: " + only;
            }
        }
        return null;
    }

    @FunctionalInterface
    interface HeadCheck {
        String check(int row, int layer, int head);
    }

    static Optional<String> forEachHead(PolicyContext ctx, HeadCheck c) {
        ModelShape s = ctx.shape();
        for (int r = 0; r < ctx.layout().batchSize(); r++)
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) {
                    String v = c.check(r, l, h);
                    if (v != null) return Optional.of(v);
                }
        return Optional.empty();
    }

    static String where(int r, int l, int h) {
        return "row " + r + ", layer " + l + ", KV head " + h;
    }

    private static int[] sorted(int[] a) {
        int[] c = a.clone();
        Arrays.sort(c);
        return c;
    }
}
