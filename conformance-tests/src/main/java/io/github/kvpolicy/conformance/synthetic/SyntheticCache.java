package io.github.kvpolicy.conformance.synthetic;

import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.RetentionPlan;
import java.util.Arrays;

/**
 * An in-memory KV cache with explicit keys, values and (post-rotary) queries, for tests and for the
 * conformance suite's model-free scenarios. Each (row, layer, KV head) holds its own ascending positions.
 * Mutable only through {@link #compact} and {@link #append}; not thread-safe while mutated.
 */
public final class SyntheticCache implements KvCacheView {
    private final ModelShape shape;
    private final int rows;
    private final int[][][][] positions;      // [row][layer][kvHead][i]
    private final float[][][][] keys;         // [row][layer][kvHead][i*D + d]
    private final float[][][][] values;
    private final float[][][][] queries;      // [row][layer][queryHead][position*D + d], over all positions < capacity
    private final int[] queryCapacity;
    private final int[] nextPosition;         // per row: 1 + the last position ever cached or appended

    /**
     * @param keys    {@code [row][layer][kvHead][position * headDim + d]} for positions 0..n-1 (all cached)
     * @param values  same shape as keys
     * @param queries {@code [row][layer][queryHead][position * headDim + d]}; positions 0..n-1
     */
    public SyntheticCache(ModelShape shape, float[][][][] keys, float[][][][] values, float[][][][] queries) {
        this.shape = shape;
        this.rows = keys.length;
        this.positions = new int[rows][shape.layers()][shape.kvHeads()][];
        this.keys = new float[rows][shape.layers()][shape.kvHeads()][];
        this.values = new float[rows][shape.layers()][shape.kvHeads()][];
        this.queries = queries;
        this.queryCapacity = new int[rows];
        this.nextPosition = new int[rows];
        int d = shape.headDim();
        for (int r = 0; r < rows; r++) {
            queryCapacity[r] = queries[r][0][0].length / d;
            nextPosition[r] = keys[r][0][0].length / d;
            for (int l = 0; l < shape.layers(); l++) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    int n = keys[r][l][h].length / d;
                    int[] p = new int[n];
                    for (int i = 0; i < n; i++) p[i] = i;
                    this.positions[r][l][h] = p;
                    this.keys[r][l][h] = keys[r][l][h].clone();
                    this.values[r][l][h] = values[r][l][h].clone();
                }
            }
        }
    }

    private SyntheticCache(SyntheticCache o) {
        this.shape = o.shape;
        this.rows = o.rows;
        this.positions = deepCopy(o.positions);
        this.keys = deepCopy(o.keys);
        this.values = deepCopy(o.values);
        this.queries = deepCopy(o.queries);
        this.queryCapacity = o.queryCapacity.clone();
        this.nextPosition = o.nextPosition.clone();
    }

    private SyntheticCache(ModelShape shape, int[][][][] positions, float[][][][] keys, float[][][][] values, float[][][][] queries,
                           int[] queryCapacity, int[] nextPosition) {
        this.shape = shape;
        this.rows = positions.length;
        this.positions = positions;
        this.keys = keys;
        this.values = values;
        this.queries = queries;
        this.queryCapacity = queryCapacity;
        this.nextPosition = nextPosition;
    }

    /**
     * A new cache whose rows are the given rows of the given caches, in order, deep-copied (e.g. one row of a batch
     * alone, or a batch whose other rows are replaced). All caches must have this cache's shape.
     *
     * @param sources the cache of each new row
     * @param rowOf   the row of {@code sources[i]} that becomes row {@code i}
     */
    public static SyntheticCache stack(SyntheticCache[] sources, int[] rowOf) {
        int n = sources.length;
        ModelShape shape = sources[0].shape;
        int[][][][] p = new int[n][][][];
        float[][][][] k = new float[n][][][], v = new float[n][][][], q = new float[n][][][];
        int[] cap = new int[n], next = new int[n];
        for (int i = 0; i < n; i++) {
            SyntheticCache c = sources[i];
            if (!c.shape.equals(shape)) throw new IllegalArgumentException("shapes differ: " + c.shape + " vs " + shape);
            int r = rowOf[i];
            p[i] = deepCopy(new int[][][][] {c.positions[r]})[0];
            k[i] = deepCopy(new float[][][][] {c.keys[r]})[0];
            v[i] = deepCopy(new float[][][][] {c.values[r]})[0];
            q[i] = deepCopy(new float[][][][] {c.queries[r]})[0];
            cap[i] = c.queryCapacity[r];
            next[i] = c.nextPosition[r];
        }
        return new SyntheticCache(shape, p, k, v, q, cap, next);
    }

    /**
     * A deep copy whose query head {@code i} holds the queries of query head {@code permutation[i]} (same layer and
     * row); keys and values unchanged.
     */
    public SyntheticCache withQueryHeads(int[] permutation) {
        SyntheticCache c = copy();
        for (int r = 0; r < rows; r++)
            for (int l = 0; l < shape.layers(); l++)
                for (int i = 0; i < shape.queryHeads(); i++) c.queries[r][l][i] = queries[r][l][permutation[i]].clone();
        return c;
    }

    /**
     * The first difference from {@code other}, in words (which tensor, row, layer, head, position and value), or
     * null if both hold the same content bit for bit.
     */
    public String firstDifference(SyntheticCache other) {
        if (!shape.equals(other.shape) || rows != other.rows) return "the shape or batch size changed";
        int d = shape.headDim();
        for (int r = 0; r < rows; r++) {
            if (nextPosition[r] != other.nextPosition[r]) return "row " + r + ": the next position changed from " + nextPosition[r] + " to " + other.nextPosition[r];
            for (int l = 0; l < shape.layers(); l++) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    if (!Arrays.equals(positions[r][l][h], other.positions[r][l][h])) {
                        return "row " + r + ", layer " + l + ", KV head " + h + ": the cached positions changed (" + positions[r][l][h].length + " → "
                                + other.positions[r][l][h].length + " positions)";
                    }
                    String k = firstDifference("key", r, l, h, positions[r][l][h], keys[r][l][h], other.keys[r][l][h], d);
                    if (k != null) return k;
                    String v = firstDifference("value", r, l, h, positions[r][l][h], values[r][l][h], other.values[r][l][h], d);
                    if (v != null) return v;
                }
                for (int qh = 0; qh < shape.queryHeads(); qh++) {
                    float[] a = queries[r][l][qh], b = other.queries[r][l][qh];
                    if (a.length != b.length) return "row " + r + ", layer " + l + ", query head " + qh + ": the queries changed length";
                    for (int i = 0; i < a.length; i++) {
                        if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                            return "row " + r + ", layer " + l + ", query head " + qh + ": the query of position " + (i / d) + ", dim " + (i % d) + " changed from "
                                    + a[i] + " to " + b[i];
                        }
                    }
                }
            }
        }
        return null;
    }

    private static String firstDifference(String what, int r, int l, int h, int[] pos, float[] a, float[] b, int d) {
        if (a.length != b.length) return "row " + r + ", layer " + l + ", KV head " + h + ": the " + what + "s changed length";
        for (int i = 0; i < a.length; i++) {
            if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                return "row " + r + ", layer " + l + ", KV head " + h + ": the " + what + " of position " + pos[i / d] + ", dim " + (i % d) + " changed from "
                        + a[i] + " to " + b[i];
            }
        }
        return null;
    }

    /** Maps every key and query component x to {@code mean + scale·x} (scenario construction only). */
    void transformKeysAndQueries(float mean, float scale) {
        for (float[][][] r : keys) for (float[][] l : r) for (float[] h : l) for (int i = 0; i < h.length; i++) h[i] = mean + scale * h[i];
        for (float[][][] r : queries) for (float[][] l : r) for (float[] h : l) for (int i = 0; i < h.length; i++) h[i] = mean + scale * h[i];
    }

    /** A deep copy: later {@link #compact}s or {@link #append}s of either cache do not affect the other. */
    public SyntheticCache copy() {
        return new SyntheticCache(this);
    }

    /**
     * True if {@code other} holds exactly the same positions, keys, values and queries (bitwise), e.g. to prove
     * that a policy call did not modify its input.
     */
    public boolean sameContent(SyntheticCache other) {
        return other != null && shape.equals(other.shape) && rows == other.rows
                && Arrays.deepEquals(positions, other.positions) && Arrays.deepEquals(keys, other.keys)
                && Arrays.deepEquals(values, other.values) && Arrays.deepEquals(queries, other.queries)
                && Arrays.equals(queryCapacity, other.queryCapacity) && Arrays.equals(nextPosition, other.nextPosition);
    }

    /** The next position of {@code row}: one past the last prompt or appended position. */
    public int nextPosition(int row) {
        return nextPosition[row];
    }

    private static int[][][][] deepCopy(int[][][][] a) {
        int[][][][] c = new int[a.length][][][];
        for (int i = 0; i < a.length; i++) {
            c[i] = new int[a[i].length][][];
            for (int j = 0; j < a[i].length; j++) {
                c[i][j] = new int[a[i][j].length][];
                for (int k = 0; k < a[i][j].length; k++) c[i][j][k] = a[i][j][k].clone();
            }
        }
        return c;
    }

    private static float[][][][] deepCopy(float[][][][] a) {
        float[][][][] c = new float[a.length][][][];
        for (int i = 0; i < a.length; i++) {
            c[i] = new float[a[i].length][][];
            for (int j = 0; j < a[i].length; j++) {
                c[i][j] = new float[a[i][j].length][];
                for (int k = 0; k < a[i][j].length; k++) c[i][j][k] = a[i][j][k].clone();
            }
        }
        return c;
    }

    @Override public ModelShape shape() { return shape; }
    @Override public int batchSize() { return rows; }
    @Override public int length(int row, int layer, int kvHead) { return positions[row][layer][kvHead].length; }
    @Override public int[] positions(int row, int layer, int kvHead) { return positions[row][layer][kvHead].clone(); }

    @Override
    public MatrixView keys(int row, int layer, int kvHead) {
        return MatrixView.of(keys[row][layer][kvHead], 0, length(row, layer, kvHead), shape.headDim());
    }

    @Override
    public MatrixView values(int row, int layer, int kvHead) {
        return MatrixView.of(values[row][layer][kvHead], 0, length(row, layer, kvHead), shape.headDim());
    }

    @Override
    public long bytes() {
        long n = 0;
        for (int r = 0; r < rows; r++) for (int l = 0; l < shape.layers(); l++) for (int h = 0; h < shape.kvHeads(); h++) n += 2L * keys[r][l][h].length * Float.BYTES;
        return n;
    }

    /** The post-rotary query of (row, layer, queryHead) at {@code position}, or null if the cache has none for it. */
    public float[] query(int row, int layer, int queryHead, int position) {
        if (position < 0 || position >= queryCapacity[row]) return null;
        int d = shape.headDim();
        return Arrays.copyOfRange(queries[row][layer][queryHead], position * d, (position + 1) * d);
    }

    /**
     * Number of positions with a query that has been reached, per row (positions 0 .. n-1): the queries given at
     * construction, but never beyond {@link #nextPosition} (queries prepared for tokens not yet generated stay hidden).
     */
    public int queryCount(int row) {
        return Math.min(queryCapacity[row], nextPosition[row]);
    }

    /** Keeps only the plan's positions (the plan must be valid for this cache). */
    public void compact(RetentionPlan plan) {
        int d = shape.headDim();
        for (int r = 0; r < rows; r++) {
            for (int l = 0; l < shape.layers(); l++) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    int[] kept = plan.kept(r, l, h);
                    int[] old = positions[r][l][h];
                    float[] nk = new float[kept.length * d];
                    float[] nv = new float[kept.length * d];
                    for (int i = 0; i < kept.length; i++) {
                        int j = Arrays.binarySearch(old, kept[i]);
                        if (j < 0) throw new IllegalArgumentException("position " + kept[i] + " not cached");
                        System.arraycopy(keys[r][l][h], j * d, nk, i * d, d);
                        System.arraycopy(values[r][l][h], j * d, nv, i * d, d);
                    }
                    positions[r][l][h] = kept;
                    keys[r][l][h] = nk;
                    values[r][l][h] = nv;
                }
            }
        }
    }

    /**
     * Appends one token at {@code position} (greater than every cached position) to every layer and head of
     * {@code row}, with the given keys and values ({@code [layer][kvHead][d]}); its queries must already be present.
     */
    public void append(int row, int position, float[][][] k, float[][][] v) {
        int d = shape.headDim();
        for (int l = 0; l < shape.layers(); l++) {
            for (int h = 0; h < shape.kvHeads(); h++) {
                int[] p = positions[row][l][h];
                if (p.length > 0 && p[p.length - 1] >= position) throw new IllegalArgumentException("position " + position + " not after " + p[p.length - 1]);
                int[] np = Arrays.copyOf(p, p.length + 1);
                np[p.length] = position;
                float[] nk = Arrays.copyOf(keys[row][l][h], np.length * d);
                float[] nv = Arrays.copyOf(values[row][l][h], np.length * d);
                System.arraycopy(k[l][h], 0, nk, p.length * d, d);
                System.arraycopy(v[l][h], 0, nv, p.length * d, d);
                positions[row][l][h] = np;
                keys[row][l][h] = nk;
                values[row][l][h] = nv;
            }
        }
        nextPosition[row] = Math.max(nextPosition[row], position + 1);
    }
}
