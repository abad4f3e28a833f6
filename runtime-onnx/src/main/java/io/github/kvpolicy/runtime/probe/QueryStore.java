package io.github.kvpolicy.runtime.probe;

import io.github.kvpolicy.api.ModelShape;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * The post-rotary queries the runtime kept for the {@link CpuAttentionProbe}: per batch row, a list of positions
 * (strictly ascending) and, per layer, their queries for every query head ({@code Hq × D} floats per position,
 * unscaled, as the graph exports them in {@code queries.{i}}).
 *
 * <p>Filled by the decode loop from the graph's exported queries (the policy's query window at prefill, the
 * generated tokens during decoding); {@link #truncateFrom} drops the generated ones after a decoding-time action.
 * Not thread-safe for mutation; concurrent reads are fine while nothing is added.
 */
public final class QueryStore {
    private final ModelShape shape;
    private final int[][] positions; // [row][n]
    private final int[] count;       // [row]
    private final float[][][] data;  // [row][layer][n * Hq * D]

    public QueryStore(ModelShape shape, int batch) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        this.shape = shape;
        this.positions = new int[batch][8];
        this.count = new int[batch];
        this.data = new float[batch][shape.layers()][0];
    }

    /** An independent deep copy. */
    public QueryStore copy() {
        QueryStore c = new QueryStore(shape, count.length);
        for (int r = 0; r < count.length; r++) {
            c.positions[r] = positions[r].clone();
            c.count[r] = count[r];
            for (int l = 0; l < data[r].length; l++) c.data[r][l] = data[r][l].clone();
        }
        return c;
    }

    public ModelShape shape() { return shape; }

    public int batchSize() { return count.length; }

    /** The positions of {@code row} whose queries are kept, ascending (a new array). */
    public int[] positions(int row) {
        return Arrays.copyOf(positions[row], count[row]);
    }

    /** Number of kept query positions of {@code row}. */
    public int size(int row) {
        return count[row];
    }

    /** The index of {@code position} in {@link #positions(int)}, or -1. */
    public int indexOf(int row, int position) {
        int i = Arrays.binarySearch(positions[row], 0, count[row], position);
        return i >= 0 ? i : -1;
    }

    /**
     * The query array of (row, layer): index {@code (i × Hq + h) × D} holds query head {@code h} of the
     * {@code i}-th kept position. The internal array; read only.
     */
    public float[] data(int row, int layer) {
        return data[row][layer];
    }

    /**
     * Appends the queries of {@code position} for {@code row}, taken from one decoder call's exports.
     *
     * @param position    the original position; above every position kept for {@code row}
     * @param exports     per layer, {@code queries.{layer}} as exported, {@code [B, Hq, W, D]} floats from index 0
     * @param exportWidth {@code W}
     * @param w           the index into {@code W} of this position
     */
    public void add(int row, int position, FloatBuffer[] exports, int exportWidth, int w) {
        int n = count[row];
        if (n > 0 && position <= positions[row][n - 1]) {
            throw new IllegalArgumentException("row " + row + ": query position " + position + " does not follow " + positions[row][n - 1]);
        }
        if (exports.length != shape.layers()) throw new IllegalArgumentException("queries of " + exports.length + " layers, expected " + shape.layers());
        if (w < 0 || w >= exportWidth) throw new IllegalArgumentException("export index " + w + " outside [0, " + exportWidth + ")");
        int hq = shape.queryHeads(), d = shape.headDim();
        if (n == positions[row].length) positions[row] = Arrays.copyOf(positions[row], n * 2);
        for (int l = 0; l < exports.length; l++) {
            float[] dst = data[row][l];
            int need = (n + 1) * hq * d;
            if (need > dst.length) dst = data[row][l] = Arrays.copyOf(dst, Math.max(need, dst.length * 2));
            FloatBuffer src = exports[l];
            for (int h = 0; h < hq; h++) {
                src.get(((row * hq + h) * exportWidth + w) * d, dst, (n * hq + h) * d, d);
            }
        }
        positions[row][n] = position;
        count[row] = n + 1;
    }

    /** Drops the queries of {@code row} at positions ≥ {@code position}. */
    public void truncateFrom(int row, int position) {
        int n = count[row];
        while (n > 0 && positions[row][n - 1] >= position) n--;
        count[row] = n;
    }

    /** Bytes held by the kept queries (allocated arrays). */
    public long bytes() {
        long b = 0;
        for (float[][] r : data) for (float[] l : r) b += 4L * l.length;
        return b;
    }
}
