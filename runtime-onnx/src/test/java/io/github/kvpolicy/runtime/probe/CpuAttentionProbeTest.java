package io.github.kvpolicy.runtime.probe;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.runtime.cache.KvCache;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/** The probe against a direct double-precision softmax computed here from the same queries and keys. */
class CpuAttentionProbeTest {
    static final int T = 24; // tokens per row

    /** A cache of 2 rows × T tokens with random keys, then compacted so heads hold different subsets; queries for some positions. */
    record Fixture(ModelShape shape, KvCache cache, QueryStore store, float[][][][] keys, float[][][][] queries) {}
    // keys[row][layer][kvHead][pos*D + x] (all T positions, even evicted ones), queries[row][layer][qHead][pos*D + x]

    static Fixture fixture(ModelShape s, long seed) {
        Random rnd = new Random(seed);
        int b = 2, l = s.layers(), hkv = s.kvHeads(), hq = s.queryHeads(), d = s.headDim();
        KvCache cache = new KvCache(s, b, 1);
        float[][][][] keys = new float[b][l][hkv][T * d];
        float[][][][] qs = new float[b][l][hq][T * d];
        int[][] pos = new int[b][T];
        for (int r = 0; r < b; r++) for (int t = 0; t < T; t++) pos[r][t] = t;
        FloatBuffer[] exports = new FloatBuffer[l];
        for (int layer = 0; layer < l; layer++) {
            float[] k = new float[b * hkv * T * d];
            float[] q = new float[b * hq * T * d];
            for (int r = 0; r < b; r++) {
                for (int h = 0; h < hkv; h++)
                    for (int t = 0; t < T; t++)
                        for (int x = 0; x < d; x++) k[((r * hkv + h) * T + t) * d + x] = keys[r][layer][h][t * d + x] = (float) rnd.nextGaussian() * 1.5f;
                for (int h = 0; h < hq; h++)
                    for (int t = 0; t < T; t++)
                        for (int x = 0; x < d; x++) q[((r * hq + h) * T + t) * d + x] = qs[r][layer][h][t * d + x] = (float) rnd.nextGaussian() * 1.5f;
            }
            cache.append(layer, FloatBuffer.wrap(k), FloatBuffer.wrap(k.clone()), T, new int[] {T, T}, pos);
            exports[layer] = FloatBuffer.wrap(q);
        }
        QueryStore store = new QueryStore(s, b);
        for (int r = 0; r < b; r++) for (int t : new int[] {3, 10, 11, 17, 23}) store.add(r, t, exports, T, t);
        // evict a different random subset per (row, layer, head)
        RetentionPlan.Builder plan = RetentionPlan.builder(b, l, hkv);
        for (int r = 0; r < b; r++)
            for (int layer = 0; layer < l; layer++)
                for (int h = 0; h < hkv; h++) plan.set(r, layer, h, IntStream.range(0, T).filter(t -> rnd.nextDouble() < 0.7).toArray());
        cache.compact(plan.build(), 0);
        return new Fixture(s, cache, store, keys, qs);
    }

    /** Direct reference: [layer][outHead][key]. */
    static double[][][] reference(Fixture f, AttentionQuery q) {
        ModelShape s = f.shape;
        int[] layers = q.layers().length == 0 ? IntStream.range(0, s.layers()).toArray() : q.layers();
        int[] keys = q.keys();
        int d = s.headDim(), g = s.groupSize();
        double[][][] out = new double[layers.length][][];
        for (int li = 0; li < layers.length; li++) {
            int layer = layers[li];
            double[][] perQ = new double[s.queryHeads()][keys.length];
            for (int h = 0; h < s.queryHeads(); h++) {
                int kvh = h / g;
                int[] cached = f.cache.positions(q.row(), layer, kvh);
                for (int qp : q.queries()) {
                    double[] logit = new double[keys.length];
                    boolean[] in = new boolean[keys.length];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < keys.length; j++) {
                        int kp = keys[j];
                        in[j] = kp <= qp && java.util.Arrays.binarySearch(cached, kp) >= 0;
                        if (!in[j]) continue;
                        double dot = 0;
                        for (int x = 0; x < d; x++) dot += (double) f.queries[q.row()][layer][h][qp * d + x] * f.keys[q.row()][layer][kvh][kp * d + x];
                        logit[j] = dot / Math.sqrt(d);
                        max = Math.max(max, logit[j]);
                    }
                    double z = 0;
                    for (int j = 0; j < keys.length; j++) if (in[j]) z += Math.exp(logit[j] - max);
                    for (int j = 0; j < keys.length; j++) {
                        double p = in[j] ? Math.exp(logit[j] - max) / z : 0;
                        perQ[h][j] = q.reduction() == Reduction.MAX ? Math.max(perQ[h][j], p) : perQ[h][j] + p;
                    }
                }
                if (q.reduction() == Reduction.MEAN) for (int j = 0; j < keys.length; j++) perQ[h][j] /= q.queries().length;
            }
            if (q.heads() == HeadMapping.QUERY_HEADS) {
                out[li] = perQ;
                continue;
            }
            double[][] kv = new double[s.kvHeads()][keys.length];
            for (int kvh = 0; kvh < s.kvHeads(); kvh++)
                for (int j = 0; j < keys.length; j++) {
                    double acc = q.heads() == HeadMapping.KV_MAX ? 0 : 0;
                    for (int t = 0; t < g; t++) {
                        double v = perQ[kvh * g + t][j];
                        acc = q.heads() == HeadMapping.KV_MAX ? Math.max(acc, v) : acc + v;
                    }
                    kv[kvh][j] = q.heads() == HeadMapping.KV_MEAN ? acc / g : acc;
                }
            out[li] = kv;
        }
        return out;
    }

    static List<Arguments> cases() {
        List<Arguments> a = new ArrayList<>();
        for (ModelShape s : List.of(new ModelShape(3, 4, 2, 16), new ModelShape(2, 3, 3, 8), new ModelShape(2, 8, 1, 12)))
            for (Reduction r : Reduction.values())
                for (HeadMapping m : HeadMapping.values()) a.add(Arguments.of(s, r, m));
        return a;
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void matchesDirectSoftmax(ModelShape s, Reduction red, HeadMapping map) {
        Fixture f = fixture(s, 42 + s.hashCode());
        try (KvCache ignored = f.cache) {
            for (CpuAttentionProbe.Kernel kernel : CpuAttentionProbe.Kernel.values()) {
            CpuAttentionProbe probe = new CpuAttentionProbe(f.cache, f.store, kernel);
            List<AttentionQuery> qs = List.of(
                    new AttentionQuery(0, new int[0], new int[] {10, 11, 17, 23}, IntStream.range(0, T).toArray(), red, map),
                    // a key subset (normalised over it only), a query before some keys (causal), one layer
                    new AttentionQuery(1, new int[] {1}, new int[] {3, 17}, new int[] {0, 2, 4, 5, 9, 16, 18, 20}, red, map),
                    // keys all after the query: all zero
                    new AttentionQuery(1, new int[0], new int[] {3}, new int[] {12, 13}, red, map));
            for (AttentionQuery q : qs) {
                AttentionMap got = probe.attention(q);
                double[][][] want = reference(f, q);
                int[] layers = q.layers().length == 0 ? IntStream.range(0, s.layers()).toArray() : q.layers();
                assertArrayEquals(layers, got.layers());
                assertEquals(want[0].length, got.heads());
                for (int li = 0; li < layers.length; li++)
                    for (int h = 0; h < got.heads(); h++)
                        for (int j = 0; j < q.keys().length; j++) {
                            assertEquals(want[li][h][j], got.score(layers[li], h, j), 2e-6 + 1e-5 * Math.abs(want[li][h][j]),
                                    kernel + " " + q + " layer " + layers[li] + " head " + h + " key " + q.keys()[j]);
                        }
            }
            }
        }
    }

    @Test
    void sumOverKeysIsOneForSumOfQueryHeads() {
        Fixture f = fixture(new ModelShape(1, 2, 1, 8), 1);
        try (KvCache ignored = f.cache) {
            // every cached key ≤ q: the softmax rows sum to 1 per query
            AttentionMap m = new CpuAttentionProbe(f.cache, f.store).attention(
                    new AttentionQuery(0, new int[0], new int[] {23}, f.cache.positions(0, 0, 0), Reduction.SUM, HeadMapping.QUERY_HEADS));
            for (int h = 0; h < 2; h++) {
                double sum = 0;
                for (float v : m.scores(0, h)) sum += v;
                assertEquals(1.0, sum, 1e-5);
            }
        }
    }

    @Test
    void unavailableQueryNamesItAndTheAvailableOnes() {
        Fixture f = fixture(new ModelShape(1, 2, 1, 8), 2);
        try (KvCache ignored = f.cache) {
            CpuAttentionProbe probe = new CpuAttentionProbe(f.cache, f.store);
            assertArrayEquals(new int[] {3, 10, 11, 17, 23}, probe.queryPositions(1));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> probe.attention(AttentionQuery.of(1, new int[] {10, 12}, new int[] {0, 1})));
            assertEquals("query position 12 of row 1 is not available to the attention probe; available: [3, 10..11, 17, 23]"
                    + " (the policy's QueryWindow decides which prompt queries are kept)", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> probe.attention(AttentionQuery.of(1, new int[] {10}, new int[] {0}).withLayers(5)));
            assertTrue(e.getMessage().contains("layer 5 does not exist"), e.getMessage());
        }
    }
}
