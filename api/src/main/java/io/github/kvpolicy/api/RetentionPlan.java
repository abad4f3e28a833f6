package io.github.kvpolicy.api;

import java.util.Arrays;

/**
 * The positions to keep, per (batch row, layer, KV head): original positions, which should be strictly
 * ascending and currently cached (the {@link PlanValidator} checks this and the budget). Immutable; arrays are
 * copied in and out.
 */
@Stable
public final class RetentionPlan {
    private final int[][][][] kept; // [row][layer][head][]

    private RetentionPlan(int[][][][] kept) {
        this.kept = kept;
    }

    public static Builder builder(int rows, int layers, int kvHeads) {
        return new Builder(rows, layers, kvHeads);
    }

    /** A plan that keeps every cached token of {@code cache}. */
    public static RetentionPlan keepAll(KvCacheView cache) {
        ModelShape s = cache.shape();
        Builder b = builder(cache.batchSize(), s.layers(), s.kvHeads());
        for (int r = 0; r < cache.batchSize(); r++)
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) b.set(r, l, h, cache.positions(r, l, h));
        return b.build();
    }

    public int batchSize() { return kept.length; }

    public int layers() { return kept.length == 0 ? 0 : kept[0].length; }

    public int kvHeads() { return layers() == 0 ? 0 : kept[0][0].length; }

    /** The kept positions of (row, layer, kvHead); a new array. */
    public int[] kept(int row, int layer, int kvHead) {
        return kept[row][layer][kvHead].clone();
    }

    public int keptCount(int row, int layer, int kvHead) {
        return kept[row][layer][kvHead].length;
    }

    /** True if every KV head of (row, layer) keeps the same positions. */
    public boolean isHeadUniform(int row, int layer) {
        int[][] heads = kept[row][layer];
        for (int h = 1; h < heads.length; h++) if (!Arrays.equals(heads[0], heads[h])) return false;
        return true;
    }

    /** Kept tokens summed over rows, layers and heads. */
    public long totalKept() {
        long n = 0;
        for (int[][][] r : kept) for (int[][] l : r) for (int[] h : l) n += h.length;
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RetentionPlan p && Arrays.deepEquals(kept, p.kept);
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(kept);
    }

    @Override
    public String toString() {
        return "RetentionPlan[rows=" + batchSize() + ", layers=" + layers() + ", kvHeads=" + kvHeads() + ", kept=" + totalKept() + "]";
    }

    /** Collects the kept positions; {@link #build()} requires every (row, layer, head) to be set. */
    @Stable
    public static final class Builder {
        private final int[][][][] kept;

        private Builder(int rows, int layers, int kvHeads) {
            if (rows < 0 || layers < 0 || kvHeads < 0) throw new IllegalArgumentException("negative plan dimensions");
            kept = new int[rows][layers][kvHeads][];
        }

        /** Sets the kept positions of (row, layer, kvHead); copied. */
        public Builder set(int row, int layer, int kvHead, int[] positions) {
            kept[row][layer][kvHead] = positions.clone();
            return this;
        }

        /** Sets the same positions for every KV head of (row, layer). */
        public Builder setLayer(int row, int layer, int[] positions) {
            for (int h = 0; h < kept[row][layer].length; h++) set(row, layer, h, positions);
            return this;
        }

        public RetentionPlan build() {
            for (int r = 0; r < kept.length; r++)
                for (int l = 0; l < kept[r].length; l++)
                    for (int h = 0; h < kept[r][l].length; h++)
                        if (kept[r][l][h] == null) throw new IllegalStateException("no positions set for row " + r + ", layer " + l + ", KV head " + h);
            int[][][][] copy = new int[kept.length][][][];
            for (int r = 0; r < kept.length; r++) {
                copy[r] = new int[kept[r].length][][];
                for (int l = 0; l < kept[r].length; l++) copy[r][l] = kept[r][l].clone();
            }
            return new RetentionPlan(copy);
        }
    }
}
