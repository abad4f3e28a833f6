package io.github.kvpolicy.api;

/**
 * Importance of every candidate, per (row, layer, KV head): {@code get(r, l, h)[i]} scores
 * {@code context.candidates(r, l, h)[i]}. Higher is more important. Filled by a {@link TokenScorer}, then
 * read by the allocator and evictor of the same call; not thread-safe while being filled.
 */
@Stable
public final class TokenScores {
    private final int[][][] candidateCounts;
    private final float[][][][] scores;

    private TokenScores(PolicyContext ctx) {
        ModelShape s = ctx.shape();
        int rows = ctx.layout().batchSize();
        candidateCounts = new int[rows][s.layers()][s.kvHeads()];
        scores = new float[rows][s.layers()][s.kvHeads()][];
        for (int r = 0; r < rows; r++)
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) candidateCounts[r][l][h] = ctx.candidates(r, l, h).length;
    }

    /** Empty scores sized for {@code ctx}'s candidates; every (row, layer, head) must then be {@link #set}. */
    public static TokenScores forContext(PolicyContext ctx) {
        return new TokenScores(ctx);
    }

    /**
     * Sets the scores of (row, layer, kvHead); {@code values.length} must equal the candidate count.
     * NaN is not allowed. The array is taken over.
     */
    public TokenScores set(int row, int layer, int kvHead, float[] values) {
        int expected = candidateCounts[row][layer][kvHead];
        if (values.length != expected) {
            throw new IllegalArgumentException("row " + row + ", layer " + layer + ", KV head " + kvHead + ": " + values.length
                    + " scores for " + expected + " candidates");
        }
        for (int i = 0; i < values.length; i++) {
            if (Float.isNaN(values[i])) throw new IllegalArgumentException("row " + row + ", layer " + layer + ", KV head " + kvHead + ": score " + i + " is NaN");
        }
        scores[row][layer][kvHead] = values;
        return this;
    }

    /** The scores of (row, layer, kvHead), aligned with the candidates; the internal array, do not modify. */
    public float[] get(int row, int layer, int kvHead) {
        float[] v = scores[row][layer][kvHead];
        if (v == null) throw new IllegalStateException("no scores were set for row " + row + ", layer " + layer + ", KV head " + kvHead);
        return v;
    }

    public boolean isSet(int row, int layer, int kvHead) {
        return scores[row][layer][kvHead] != null;
    }
}
