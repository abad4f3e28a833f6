package io.github.kvpolicy.api;

import java.util.Arrays;

/** A minimal cache for api tests: every (row, layer, head) holds the given positions; keys are position-valued. */
record TestCache(ModelShape shape, int[][] rowPositions) implements KvCacheView {
    static TestCache full(ModelShape shape, TokenLayout layout) {
        int[][] p = new int[layout.batchSize()][];
        for (int r = 0; r < p.length; r++) {
            p[r] = new int[layout.row(r).promptLength()];
            Arrays.setAll(p[r], i -> i);
        }
        return new TestCache(shape, p);
    }

    @Override public int batchSize() { return rowPositions.length; }
    @Override public int length(int row, int layer, int kvHead) { return rowPositions[row].length; }
    @Override public int[] positions(int row, int layer, int kvHead) { return rowPositions[row].clone(); }

    @Override
    public MatrixView keys(int row, int layer, int kvHead) {
        float[] data = new float[rowPositions[row].length * shape.headDim()];
        for (int i = 0; i < rowPositions[row].length; i++) data[i * shape.headDim()] = rowPositions[row][i];
        return MatrixView.of(data, 0, rowPositions[row].length, shape.headDim());
    }

    @Override public MatrixView values(int row, int layer, int kvHead) { return keys(row, layer, kvHead); }
    @Override public long bytes() { return 0; }

    static AttentionProbe noProbe() {
        return new AttentionProbe() {
            @Override public int[] queryPositions(int row) { return new int[0]; }
            @Override public AttentionMap attention(AttentionQuery q) { throw new UnsupportedOperationException(); }
        };
    }
}
