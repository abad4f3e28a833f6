package io.github.kvpolicy.runtime.probe;

import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Reduction;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * Exact attention on the CPU from the kept queries ({@link QueryStore}) and the cached keys ({@link KvCacheView}),
 * as {@link AttentionQuery} defines it: for layer ℓ, query head h, query position q, the softmax of
 * {@code q·k/√D} over K = {requested keys cached in (row, ℓ, kvHeadOf(h)) with k ≤ q}; other requested keys get 0;
 * then the reduction over queries (MEAN divides by the number of queries asked) and the head mapping.
 *
 * <p>Cost: gathering the requested keys of each (layer, KV head) once ({@code keys × D}), then
 * {@code layers × query heads × queries × keys × D} multiply-adds in an {@code axpy}-shaped inner loop over keys
 * (contiguous, no reduction, so HotSpot's superword pass vectorises it), plus one {@code exp} per score.
 * Layers are computed in parallel (common fork-join pool) when the work is large. Scores are accumulated in
 * float, the softmax normaliser in double.
 *
 * <p>Models whose attention is not plain causal (Gemma 3) pass a {@link Masking}: the score scale, per-layer windows
 * (a query at position q sees keys at positions p with {@code q - p < W}) and per-row image spans (a query inside an
 * image also sees every key of that image, before or after it). The visible keys of a query are then those in
 * {@code [min(q - W + 1, imageStart), max(q + 1, imageEnd))} — one position interval, as the window and the image
 * both contain q. {@link Masking#CAUSAL} (the default) is the plain rule above.
 *
 * <p>Thread-safe as long as the cache and the query store are not mutated during a call (the runtime never does
 * during a policy call).
 */
public final class CpuAttentionProbe extends LayerwiseProbe {
    private static final long PARALLEL_THRESHOLD = 1L << 20; // multiply-adds

    /** The inner score loop: {@link #AXPY} (default, vectorised) or {@link #DOT} (one dot product per key; for comparison). */
    public enum Kernel { AXPY, DOT }

    private final Kernel kernel;

    /**
     * Which keys a query sees beyond causality, and the score scale. Immutable.
     *
     * @param scale        score scale; 0 means 1/√D
     * @param layerWindows per layer 0 (whole past) or the window W on original positions; null for no windows
     * @param imageGroups  per row, per prompt position its image index or −1 (positions past the array are text);
     *                     null when no query attends bidirectionally
     */
    public record Masking(double scale, int[] layerWindows, long[][] imageGroups) {
        /** Plain causal attention scaled by 1/√D. */
        public static final Masking CAUSAL = new Masking(0, null, null);

        public Masking {
            if (!(scale >= 0)) throw new IllegalArgumentException("scale must be >= 0 (0 = 1/sqrt(D)), got " + scale);
            layerWindows = layerWindows == null ? null : layerWindows.clone();
            if (imageGroups != null) imageGroups = Arrays.stream(imageGroups).map(long[]::clone).toArray(long[][]::new);
        }

        /** Layer {@code layer}'s window W on original positions, or 0 when it sees the whole past. */
        public int window(int layer) {
            return layerWindows == null ? 0 : layerWindows[layer];
        }

        /** The first position of q's image, or q when q is not in an image. */
        public int imageStart(int row, int q) {
            long[] g = imageGroups == null ? null : imageGroups[row];
            if (g == null || q >= g.length || g[q] < 0) return q;
            int a = q;
            while (a > 0 && g[a - 1] == g[q]) a--;
            return a;
        }

        /** One past the last position of q's image, or q + 1 when q is not in an image. */
        public int imageEnd(int row, int q) {
            long[] g = imageGroups == null ? null : imageGroups[row];
            if (g == null || q >= g.length || g[q] < 0) return q + 1;
            int b = q + 1;
            while (b < g.length && g[b] == g[q]) b++;
            return b;
        }
    }

    public CpuAttentionProbe(KvCacheView cache, QueryStore queries) {
        this(cache, queries, Kernel.AXPY);
    }

    public CpuAttentionProbe(KvCacheView cache, QueryStore queries, Kernel kernel) {
        this(cache, queries, kernel, Masking.CAUSAL);
    }

    /** A probe for a model with {@code masking} (see {@link Masking}). */
    public CpuAttentionProbe(KvCacheView cache, QueryStore queries, Kernel kernel, Masking masking) {
        super(cache, queries, masking);
        this.kernel = kernel;
    }

    /** Layers in parallel (common fork-join pool) when the work is large. */
    @Override
    protected void computeLayers(int row, int[] layers, int[] qpos, int[] qidx, int[] keys, Reduction reduction, HeadMapping mapping, float[][][] out) {
        ModelShape s = cache.shape();
        long work = (long) layers.length * s.queryHeads() * qpos.length * keys.length * s.headDim();
        IntStream idx = IntStream.range(0, layers.length);
        if (work >= PARALLEL_THRESHOLD && layers.length > 1) idx = idx.parallel();
        idx.forEach(li -> layer(row, layers[li], qpos, qidx, keys, reduction, mapping, out[li]));
    }

    @Override
    protected void layer(int row, int layer, int[] qpos, int[] qidx, int[] keys, Reduction reduction, HeadMapping mapping, float[][] out) {
        ModelShape s = cache.shape();
        int d = s.headDim(), group = s.groupSize(), hq = s.queryHeads();
        float scale = (float) (masking.scale() > 0 ? masking.scale() : 1.0 / Math.sqrt(d));
        int win = masking.window(layer);
        float[] qdata = queries.data(row, layer);
        float[] qv = new float[d];
        float[] tmp = new float[d];
        for (int g = 0; g < s.kvHeads(); g++) {
            int[] cached = cache.positions(row, layer, g);
            // requested keys that are cached here: their index into keys, position and slot
            int[] keyIdx = new int[keys.length], kp = new int[keys.length], slot = new int[keys.length];
            int m = 0;
            for (int i = 0, j = 0; i < keys.length; i++) {
                while (j < cached.length && cached[j] < keys[i]) j++;
                if (j < cached.length && cached[j] == keys[i]) {
                    keyIdx[m] = i;
                    kp[m] = keys[i];
                    slot[m++] = j;
                }
            }
            // keys transposed, [D][m], so the score loop runs over contiguous keys
            float[] kt = new float[d * m];
            MatrixView kv = cache.keys(row, layer, g);
            for (int j = 0; j < m; j++) {
                if (kernel == Kernel.DOT) {
                    kv.copyRow(slot[j], kt, j * d); // row-major [m][D] for the dot kernel
                    continue;
                }
                kv.copyRow(slot[j], tmp, 0);
                for (int c = 0; c < d; c++) kt[c * m + j] = tmp[c];
            }
            float[] scores = new float[m];
            float[][] acc = new float[group][m];
            for (int t = 0; t < group; t++) {
                int h = g * group + t;
                float[] a = acc[t];
                for (int qi = 0; qi < qpos.length; qi++) {
                    int q = qpos[qi];
                    // visible keys: positions in [from, to) (plain causal: [-inf, q + 1))
                    int to = Math.max(q + 1, masking.imageEnd(row, q));
                    int c = upperBound(kp, m, to - 1);
                    int lo = 0;
                    if (win > 0 || to > q + 1) {
                        long from = Math.min(win > 0 ? (long) q - win + 1 : Long.MIN_VALUE, masking.imageStart(row, q));
                        while (lo < c && kp[lo] < from) lo++;
                    }
                    if (c == lo) continue;
                    int qo = (qidx[qi] * hq + h) * d;
                    for (int x = 0; x < d; x++) qv[x] = qdata[qo + x] * scale;
                    if (kernel == Kernel.AXPY) scores(qv, kt, m, c, scores);
                    else dotScores(qv, kt, m, c, scores);
                    float max = Float.NEGATIVE_INFINITY;
                    for (int j = lo; j < c; j++) max = Math.max(max, scores[j]);
                    double sum = 0;
                    for (int j = lo; j < c; j++) {
                        double e = Math.exp(scores[j] - max);
                        scores[j] = (float) e;
                        sum += e;
                    }
                    float inv = (float) (1.0 / sum);
                    if (reduction == Reduction.MAX) {
                        for (int j = lo; j < c; j++) a[j] = Math.max(a[j], scores[j] * inv);
                    } else {
                        for (int j = lo; j < c; j++) a[j] += scores[j] * inv;
                    }
                }
                if (reduction == Reduction.MEAN && qpos.length > 0) {
                    float inv = 1f / qpos.length;
                    for (int j = 0; j < m; j++) a[j] *= inv;
                }
            }
            // scatter into key order and map heads
            switch (mapping) {
                case QUERY_HEADS -> {
                    for (int t = 0; t < group; t++) for (int j = 0; j < m; j++) out[g * group + t][keyIdx[j]] = acc[t][j];
                }
                case KV_SUM, KV_MEAN -> {
                    float f = mapping == HeadMapping.KV_MEAN ? 1f / group : 1f;
                    for (int j = 0; j < m; j++) {
                        float v = 0;
                        for (int t = 0; t < group; t++) v += acc[t][j];
                        out[g][keyIdx[j]] = v * f;
                    }
                }
                case KV_MAX -> {
                    for (int j = 0; j < m; j++) {
                        float v = 0;
                        for (int t = 0; t < group; t++) v = Math.max(v, acc[t][j]);
                        out[g][keyIdx[j]] = v;
                    }
                }
            }
        }
    }

    /** {@code scores[j] = Σ_x q[x] · kt[x·m + j]} for {@code j < c}: an axpy per dimension, vectorised by the JIT. */
    static void scores(float[] q, float[] kt, int m, int c, float[] scores) {
        Arrays.fill(scores, 0, c, 0f);
        for (int x = 0, d = q.length; x < d; x++) {
            float qx = q[x];
            int base = x * m;
            for (int j = 0; j < c; j++) scores[j] += qx * kt[base + j];
        }
    }

    /** The same scores as {@link #scores} from row-major keys {@code [m][D]}: one dot product per key (a float reduction, which the JIT does not vectorise). */
    static void dotScores(float[] q, float[] k, int m, int c, float[] scores) {
        int d = q.length;
        for (int j = 0; j < c; j++) {
            float acc = 0;
            int base = j * d;
            for (int x = 0; x < d; x++) acc += q[x] * k[base + x];
            scores[j] = acc;
        }
    }

    /** Number of the first {@code m} (ascending) entries of {@code a} that are ≤ {@code v}. */
    private static int upperBound(int[] a, int m, int v) {
        int lo = 0, hi = m;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] <= v) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    /** Ranges like {@code [0..9, 15, 20..22]}. */
    public static String describe(int[] p) {
        if (p.length == 0) return "none";
        StringBuilder sb = new StringBuilder("[");
        int i = 0;
        while (i < p.length) {
            int j = i;
            while (j + 1 < p.length && p[j + 1] == p[j] + 1) j++;
            if (i > 0) sb.append(", ");
            sb.append(p[i]);
            if (j > i) sb.append("..").append(p[j]);
            i = j + 1;
        }
        return sb.append(']').toString();
    }
}
