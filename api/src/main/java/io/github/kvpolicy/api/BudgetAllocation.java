package io.github.kvpolicy.api;

import java.util.Arrays;

/**
 * How many candidates each (row, layer, KV head) keeps. Each count is in {@code [0, candidates]}.
 * Immutable once returned by an allocator.
 */
@Stable
public final class BudgetAllocation {
    private final int[][][] counts; // [row][layer][head]

    private BudgetAllocation(int[][][] counts) {
        this.counts = counts;
    }

    /** Wraps {@code counts[row][layer][kvHead]} (taken over, not copied). */
    public static BudgetAllocation of(int[][][] counts) {
        return new BudgetAllocation(counts);
    }

    /**
     * The same budget for every layer and head: the row's total {@link PolicyContext#exactTotal} spread as evenly as
     * the candidate counts allow (so it is exact even when some heads hold fewer than {@code B} candidates).
     */
    public static BudgetAllocation uniform(PolicyContext ctx) {
        ModelShape s = ctx.shape();
        double[] w = new double[s.layers() * s.kvHeads()];
        Arrays.fill(w, 1.0);
        return weighted(ctx, rowIndex -> w);
    }

    /** Supplies one weight per (layer, kvHead), flattened as {@code layer * kvHeads + kvHead}. */
    @Stable
    @FunctionalInterface
    public interface Weights {
        double[] forRow(int row);
    }

    /**
     * Splits each row's {@link PolicyContext#exactTotal} over (layer, head) in proportion to {@code weights}, each
     * clamped to its candidate count, with the integer counts summing exactly to the total (see
     * {@link #proportional}).
     */
    public static BudgetAllocation weighted(PolicyContext ctx, Weights weights) {
        ModelShape s = ctx.shape();
        int rows = ctx.layout().batchSize();
        int[][][] out = new int[rows][s.layers()][s.kvHeads()];
        for (int r = 0; r < rows; r++) {
            int n = s.layers() * s.kvHeads();
            int[] max = new int[n];
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) max[l * s.kvHeads() + h] = ctx.candidates(r, l, h).length;
            int[] flat = proportional(ctx.exactTotal(r), weights.forRow(r), new int[n], max);
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) out[r][l][h] = flat[l * s.kvHeads() + h];
        }
        return new BudgetAllocation(out);
    }

    /**
     * Integer shares of {@code total} proportional to {@code weights} (negative weights count as 0; all-zero
     * weights as equal), each within {@code [min[i], max[i]]}, summing to exactly
     * {@code clamp(total, Σmin, Σmax)}. Water-filling: shares that hit a bound are fixed and the rest is
     * re-split among the others; fractions go to the largest remainders, ties to the lower index.
     */
    public static int[] proportional(long total, double[] weights, int[] min, int[] max) {
        int n = weights.length;
        if (min.length != n || max.length != n) throw new IllegalArgumentException("weights, min and max differ in length");
        long sumMin = 0, sumMax = 0;
        for (int i = 0; i < n; i++) {
            if (min[i] < 0 || min[i] > max[i]) throw new IllegalArgumentException("bad bounds at " + i + ": [" + min[i] + ", " + max[i] + "]");
            sumMin += min[i];
            sumMax += max[i];
        }
        long target = Math.max(sumMin, Math.min(total, sumMax));
        double[] w = new double[n];
        double sw = 0;
        for (int i = 0; i < n; i++) { w[i] = Double.isFinite(weights[i]) && weights[i] > 0 ? weights[i] : 0; sw += w[i]; }
        if (sw == 0) Arrays.fill(w, 1.0);
        double[] share = new double[n];
        boolean[] fixed = new boolean[n];
        long remaining = target;
        while (true) {
            double wFree = 0;
            for (int i = 0; i < n; i++) if (!fixed[i]) wFree += w[i];
            boolean changed = false;
            for (int i = 0; i < n; i++) {
                if (fixed[i]) continue;
                share[i] = wFree > 0 ? remaining * w[i] / wFree : 0;
            }
            // fix the most violated side first: all shares under min, else all over max
            for (int i = 0; i < n; i++) {
                if (!fixed[i] && share[i] < min[i]) { share[i] = min[i]; fixed[i] = true; remaining -= min[i]; changed = true; }
            }
            if (!changed) {
                for (int i = 0; i < n; i++) {
                    if (!fixed[i] && share[i] > max[i]) { share[i] = max[i]; fixed[i] = true; remaining -= max[i]; changed = true; }
                }
            }
            if (!changed) break;
            boolean anyFree = false;
            for (int i = 0; i < n; i++) anyFree |= !fixed[i];
            if (!anyFree) break;
        }
        int[] out = new int[n];
        long sum = 0;
        for (int i = 0; i < n; i++) { out[i] = (int) Math.floor(share[i] + 1e-9); out[i] = Math.max(min[i], Math.min(max[i], out[i])); sum += out[i]; }
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> {
            int c = Double.compare(share[b] - Math.floor(share[b]), share[a] - Math.floor(share[a]));
            return c != 0 ? c : Integer.compare(a, b);
        });
        while (sum < target) {
            boolean progressed = false;
            for (int k = 0; k < n && sum < target; k++) { int i = order[k]; if (out[i] < max[i]) { out[i]++; sum++; progressed = true; } }
            if (!progressed) break;
        }
        while (sum > target) {
            boolean progressed = false;
            for (int k = n - 1; k >= 0 && sum > target; k--) { int i = order[k]; if (out[i] > min[i]) { out[i]--; sum--; progressed = true; } }
            if (!progressed) break;
        }
        return out;
    }

    /** Candidates kept in (row, layer, kvHead). */
    public int count(int row, int layer, int kvHead) {
        return counts[row][layer][kvHead];
    }

    /** Candidates kept in layer {@code layer} of {@code row}, summed over KV heads. */
    public int layerTotal(int row, int layer) {
        int s = 0;
        for (int c : counts[row][layer]) s += c;
        return s;
    }

    /** Candidates kept in {@code row}, summed over layers and heads. */
    public long rowTotal(int row) {
        long s = 0;
        for (int[] l : counts[row]) for (int c : l) s += c;
        return s;
    }
}
