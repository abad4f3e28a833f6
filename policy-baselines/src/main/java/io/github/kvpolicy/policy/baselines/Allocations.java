package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.BudgetAllocation;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;

/** Budget splits shared by the layer-wise baselines. Stateless. */
final class Allocations {
    private Allocations() {}

    /** Per row, one weight per layer (any non-negative finite values; all zero = equal). */
    @FunctionalInterface
    interface LayerWeights {
        double[] forRow(int row);
    }

    /**
     * Splits each row's {@link PolicyContext#exactTotal} over layers in proportion to {@code weights} and evenly over the
     * KV heads of a layer, each count within {@code [0, candidates]}, summing exactly to the total. When every KV head of
     * a layer holds the same number of candidates and the total is a multiple of the KV head count (always the case
     * right after prefill with a budget below the candidates), every KV head of a layer gets the same count; otherwise
     * the split is over (layer, head) pairs and heads of one layer may differ by the rounding remainder.
     */
    static BudgetAllocation layerWise(PolicyContext ctx, LayerWeights weights) {
        ModelShape s = ctx.shape();
        int rows = ctx.layout().batchSize(), layers = s.layers(), heads = s.kvHeads();
        int[][][] out = new int[rows][layers][heads];
        for (int r = 0; r < rows; r++) {
            double[] w = weights.forRow(r);
            if (w.length != layers) throw new IllegalStateException("layer weights for " + w.length + " layers, the model has " + layers);
            int[][] cand = new int[layers][heads];
            boolean even = true;
            for (int l = 0; l < layers; l++)
                for (int h = 0; h < heads; h++) {
                    cand[l][h] = ctx.candidates(r, l, h).length;
                    even &= cand[l][h] == cand[l][0];
                }
            long total = ctx.exactTotal(r);
            if (even && total % heads == 0) {
                int[] max = new int[layers];
                for (int l = 0; l < layers; l++) max[l] = cand[l][0];
                int[] per = BudgetAllocation.proportional(total / heads, w, new int[layers], max);
                for (int l = 0; l < layers; l++) java.util.Arrays.fill(out[r][l], per[l]);
            } else {
                double[] flatW = new double[layers * heads];
                int[] max = new int[layers * heads];
                for (int l = 0; l < layers; l++)
                    for (int h = 0; h < heads; h++) { flatW[l * heads + h] = w[l]; max[l * heads + h] = cand[l][h]; }
                int[] flat = BudgetAllocation.proportional(total, flatW, new int[layers * heads], max);
                for (int l = 0; l < layers; l++) for (int h = 0; h < heads; h++) out[r][l][h] = flat[l * heads + h];
            }
        }
        return BudgetAllocation.of(out);
    }

    /** The mean candidate count per (layer, KV head) of {@code row}. */
    static double meanCandidates(PolicyContext ctx, int row) {
        return (double) ctx.totalCandidates(row) / ((long) ctx.shape().layers() * ctx.shape().kvHeads());
    }

    /**
     * PyramidKV's per-layer budgets (Cai et al., 2024), in tokens per KV head, for {@code layers} layers, a per-head
     * budget {@code b} (candidates, the observation window excluded), {@code n} candidates per head and {@code beta}:
     * {@code min = b/β}, {@code max = 2b − min}, linear from {@code max} at layer 0 to {@code min} at the last layer (so the
     * mean is exactly {@code b}). Fall-backs, as in PyramidKV's reference code with {@code q_len = n + w}: if {@code b ≥ n}
     * every layer keeps all ({@code n}); if {@code n + w < 2b} every layer gets {@code b} (uniform, SnapKV); if
     * {@code max ≥ n} then {@code max = n} and {@code min = 2b − max}. One layer gets {@code b}.
     */
    static double[] pyramid(int layers, double b, double n, double beta, int window) {
        double[] out = new double[layers];
        if (b >= n) { java.util.Arrays.fill(out, n); return out; }
        if (layers == 1 || n + window < 2 * b) { java.util.Arrays.fill(out, b); return out; }
        double min = b / beta;
        double max = 2 * b - min;
        if (max >= n) { max = n; min = 2 * b - max; }
        for (int l = 0; l < layers; l++) out[l] = max - (max - min) * l / (layers - 1);
        return out;
    }
}
