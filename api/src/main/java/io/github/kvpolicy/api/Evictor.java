package io.github.kvpolicy.api;

import java.util.Arrays;

/** Hook 3: turns scores and budgets into the retention plan. */
@Stable
@FunctionalInterface
public interface Evictor {
    RetentionPlan evict(PolicyContext context, TokenScores scores, BudgetAllocation allocation);

    /**
     * Keeps every mandatory position and, per (row, layer, KV head), the {@code allocation.count(...)} candidates
     * with the highest scores (ties: the earlier position wins).
     */
    static Evictor topK() {
        return (ctx, scores, alloc) -> {
            ModelShape s = ctx.shape();
            int rows = ctx.layout().batchSize();
            RetentionPlan.Builder plan = RetentionPlan.builder(rows, s.layers(), s.kvHeads());
            for (int r = 0; r < rows; r++) {
                for (int l = 0; l < s.layers(); l++) {
                    for (int h = 0; h < s.kvHeads(); h++) {
                        int[] cand = ctx.candidates(r, l, h);
                        int[] top = topIndices(scores.get(r, l, h), alloc.count(r, l, h));
                        int[] mandatory = ctx.mandatory(r, l, h);
                        int[] kept = Arrays.copyOf(mandatory, mandatory.length + top.length);
                        for (int i = 0; i < top.length; i++) kept[mandatory.length + i] = cand[top[i]];
                        Arrays.sort(kept);
                        plan.set(r, l, h, kept);
                    }
                }
            }
            return plan.build();
        };
    }

    /**
     * Indices of the {@code k} largest values (ties: lower index first), ascending by index.
     * {@code k} is clamped to {@code [0, values.length]}.
     */
    static int[] topIndices(float[] values, int k) {
        int n = values.length;
        k = Math.max(0, Math.min(k, n));
        if (k == n) {
            int[] all = new int[n];
            for (int i = 0; i < n; i++) all[i] = i;
            return all;
        }
        // sort keys: descending value, ascending index; encoded in longs for a primitive sort
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            int bits = Float.floatToIntBits(values[i] == 0.0f ? 0.0f : values[i]);
            int ordered = bits >= 0 ? bits : bits ^ 0x7fffffff; // monotone int image of the float
            keys[i] = ((long) ~ordered << 32) | (i & 0xffffffffL);
        }
        Arrays.sort(keys);
        int[] out = new int[k];
        for (int i = 0; i < k; i++) out[i] = (int) keys[i];
        Arrays.sort(out);
        return out;
    }
}
