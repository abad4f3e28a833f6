package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.BudgetAllocation;
import io.github.kvpolicy.api.BudgetAllocator;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.TokenScores;
import java.util.Arrays;

/**
 * AdaKV's head-wise budget (Feng et al., "Ada-KV: Optimizing KV Cache Eviction by Adaptive Budget Allocation for
 * Efficient LLM Inference", arXiv 2407.11550, 2024). For each (row, layer) the layer total {@code T} comes from the
 * {@code base} allocator (the nested policy's: uniform for SnapKV, pyramid for PyramidKV, ...). Each KV head {@code h}
 * first gets its safeguard share {@code f_h = min(n_h, ⌊α · T / H⌋)} ({@code H} KV heads, {@code n_h} candidates);
 * the remaining {@code T − Σ f_h} slots go to the highest scores of the layer's heads flattened together, each head's
 * own top {@code f_h} excluded (ties: lower head, then the higher-ranked entry). A head's count is its share plus what
 * it won; the top-k evictor then keeps each head's best {@code count} candidates, which is exactly the selected set.
 * Scores must be comparable across heads (attention probabilities are). Layer totals, and so the row total, are
 * those of {@code base}. Stateless and thread-safe.
 */
final class AdaKvAllocator implements BudgetAllocator {
    private final BudgetAllocator base;
    private final double alpha;

    AdaKvAllocator(BudgetAllocator base, double alpha) {
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("alpha must be in [0, 1]: " + alpha);
        this.base = base;
        this.alpha = alpha;
    }

    @Override
    public BudgetAllocation allocate(PolicyContext ctx, TokenScores scores) {
        BudgetAllocation layerTotals = base.allocate(ctx, scores);
        ModelShape s = ctx.shape();
        int rows = ctx.layout().batchSize(), heads = s.kvHeads();
        int[][][] out = new int[rows][s.layers()][heads];
        for (int r = 0; r < rows; r++) {
            for (int l = 0; l < s.layers(); l++) {
                float[][] sorted = new float[heads][];
                for (int h = 0; h < heads; h++) {
                    float[] v = scores.get(r, l, h).clone();
                    Arrays.sort(v);
                    sorted[h] = v; // ascending; rank k (0 = best) is v[length - 1 - k]
                }
                out[r][l] = split(layerTotals.layerTotal(r, l), alpha, sorted);
            }
        }
        return BudgetAllocation.of(out);
    }

    /**
     * The per-head counts for one layer: {@code total} slots over heads whose scores are {@code sortedAscending[h]}
     * (each ascending). Counts sum to {@code min(total, Σ n_h)}.
     */
    static int[] split(int total, double alpha, float[][] sortedAscending) {
        int heads = sortedAscending.length;
        int[] n = new int[heads];
        long available = 0;
        for (int h = 0; h < heads; h++) { n[h] = sortedAscending[h].length; available += n[h]; }
        total = (int) Math.min(total, available);
        int[] count = new int[heads];
        int floor = (int) Math.floor(alpha * total / heads);
        int used = 0;
        for (int h = 0; h < heads; h++) { count[h] = Math.min(n[h], floor); used += count[h]; }
        int remaining = total - used;
        // pointer merge over the heads' remaining entries, best first
        int[] next = count.clone(); // next rank to consider per head
        while (remaining > 0) {
            int best = -1;
            float bestV = 0;
            for (int h = 0; h < heads; h++) {
                if (next[h] >= n[h]) continue;
                float v = sortedAscending[h][n[h] - 1 - next[h]];
                if (best < 0 || v > bestV) { best = h; bestV = v; }
            }
            if (best < 0) break;
            next[best]++;
            count[best]++;
            remaining--;
        }
        return count;
    }
}
