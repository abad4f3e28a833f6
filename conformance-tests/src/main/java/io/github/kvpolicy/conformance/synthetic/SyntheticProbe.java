package io.github.kvpolicy.conformance.synthetic;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionProbe;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;
import java.util.Arrays;

/**
 * A direct, unoptimised implementation of the {@link AttentionQuery} formula over a {@link SyntheticCache}
 * (double-precision accumulation). The reference the conformance suite and policy tests compute with.
 */
public final class SyntheticProbe implements AttentionProbe {
    private final SyntheticCache cache;
    private final int[][] available; // per row: positions with queries the policy may use

    /** @param available per row, the query positions the probe may use (ascending) */
    public SyntheticProbe(SyntheticCache cache, int[][] available) {
        this.cache = cache;
        this.available = available;
    }

    @Override
    public int[] queryPositions(int row) {
        return available[row].clone();
    }

    @Override
    public AttentionMap attention(AttentionQuery q) {
        ModelShape s = cache.shape();
        int[] layers = q.layers().length == 0 ? java.util.stream.IntStream.range(0, s.layers()).toArray() : q.layers();
        int[] queries = q.queries();
        int[] keys = q.keys();
        for (int p : queries) {
            if (Arrays.binarySearch(available[q.row()], p) < 0) {
                throw new IllegalArgumentException("query position " + p + " of row " + q.row() + " is not available to the probe; available: "
                        + describe(available[q.row()]));
            }
        }
        for (int l : layers) if (l < 0 || l >= s.layers()) throw new IllegalArgumentException("layer " + l + " outside [0, " + s.layers() + ")");
        int outHeads = q.heads() == HeadMapping.QUERY_HEADS ? s.queryHeads() : s.kvHeads();
        float[][][] out = new float[layers.length][outHeads][keys.length];
        double scale = 1.0 / Math.sqrt(s.headDim());
        for (int li = 0; li < layers.length; li++) {
            int l = layers[li];
            double[][] perQueryHead = new double[s.queryHeads()][keys.length];
            for (int qh = 0; qh < s.queryHeads(); qh++) {
                int kv = s.kvHeadOf(qh);
                int[] cached = cache.positions(q.row(), l, kv);
                MatrixView k = cache.keys(q.row(), l, kv);
                int[] rowOf = new int[keys.length];
                for (int j = 0; j < keys.length; j++) rowOf[j] = Arrays.binarySearch(cached, keys[j]);
                double[] acc = perQueryHead[qh];
                boolean first = true;
                for (int qp : queries) {
                    float[] qv = cache.query(q.row(), l, qh, qp);
                    double[] logits = new double[keys.length];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < keys.length; j++) {
                        if (rowOf[j] < 0 || keys[j] > qp) { logits[j] = Double.NaN; continue; }
                        logits[j] = k.dot(rowOf[j], qv) * scale;
                        max = Math.max(max, logits[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < keys.length; j++) {
                        if (Double.isNaN(logits[j])) continue;
                        logits[j] = Math.exp(logits[j] - max); // each exponential computed once
                        sum += logits[j];
                    }
                    for (int j = 0; j < keys.length; j++) {
                        double p = Double.isNaN(logits[j]) ? 0.0 : logits[j] / sum;
                        switch (q.reduction()) {
                            case MEAN, SUM -> acc[j] += p;
                            case MAX -> acc[j] = first ? p : Math.max(acc[j], p);
                        }
                    }
                    first = false;
                }
                if (q.reduction() == io.github.kvpolicy.api.Reduction.MEAN && queries.length > 0) {
                    for (int j = 0; j < keys.length; j++) acc[j] /= queries.length;
                }
            }
            for (int h = 0; h < outHeads; h++) {
                for (int j = 0; j < keys.length; j++) {
                    double v;
                    if (q.heads() == HeadMapping.QUERY_HEADS) v = perQueryHead[h][j];
                    else {
                        int g = s.groupSize();
                        double sum = 0, max = Double.NEGATIVE_INFINITY;
                        for (int i = 0; i < g; i++) { double x = perQueryHead[h * g + i][j]; sum += x; max = Math.max(max, x); }
                        v = switch (q.heads()) {
                            case KV_MEAN -> sum / g;
                            case KV_SUM -> sum;
                            case KV_MAX -> max;
                            case QUERY_HEADS -> throw new AssertionError();
                        };
                    }
                    out[li][h][j] = (float) v;
                }
            }
        }
        return new AttentionMap(layers, keys, out);
    }

    private static String describe(int[] a) {
        if (a.length == 0) return "none";
        if (a.length <= 8) return Arrays.toString(a);
        return a.length + " positions in [" + a[0] + ", " + a[a.length - 1] + "]";
    }
}
