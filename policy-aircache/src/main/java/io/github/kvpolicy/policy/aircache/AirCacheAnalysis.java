package io.github.kvpolicy.policy.aircache;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RowLayout;
import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * AirCache's per-row analysis (steps 1-3 of {@link AirCachePolicy}): observation window per layer, visual importance per
 * (layer, KV head) and per layer, layer strength and skewness, and the resulting layer weights. Stateless; one call
 * makes {@code 1 + layers} probe requests per row for the elite window (one for the intra-text attention of all
 * layers, one per layer for the visual importance), one per row otherwise.
 */
final class AirCacheAnalysis {
    private AirCacheAnalysis() {}

    /** Relative standard deviation below which importance counts as flat (float resolution of probe scores). */
    static final double FLAT = 1e-6;

    /**
     * One row's analysis.
     *
     * @param visual          the row's visual positions still cached in some layer and head, ascending (N_v = length)
     * @param window          per layer, the query positions used (ascending; empty if the row has none)
     * @param importance      {@code [layer][kvHead][i]}: I_v of {@code visual[i]} aggregated over the query heads of the KV head
     * @param layerImportance {@code [layer][i]}: I_v of {@code visual[i]}, mean over all query heads of the layer
     * @param strength        per layer, s_t = Σ_i layerImportance[l][i]
     * @param skewness        per layer, the sample skewness of layerImportance[l] (NaN if undefined: N_v < 3 or zero variance)
     * @param weights         per layer, the relative layer budget r̂_l / r (mean 1 for the strength/skewness rules)
     */
    record Row(int[] visual, int[][] window, float[][][] importance, double[][] layerImportance, double[] strength, double[] skewness, double[] weights) {}

    static Row[] analyse(PolicyContext ctx, AirCacheSettings settings) {
        Row[] out = new Row[ctx.layout().batchSize()];
        for (int r = 0; r < out.length; r++) out[r] = analyseRow(ctx, settings, r);
        return out;
    }

    static Row analyseRow(PolicyContext ctx, AirCacheSettings st, int r) {
        ModelShape s = ctx.shape();
        int layers = s.layers(), qHeads = s.queryHeads(), kvHeads = s.kvHeads(), g = s.groupSize();
        RowLayout layout = ctx.layout().row(r);
        int[] visual = cachedVisual(ctx, r, layout);
        int[] text = layout.instructionPositions();
        int[][] window = windows(ctx, st, r, text, visual);
        int n = visual.length;
        float[][][] importance = new float[layers][kvHeads][n];
        double[][] layerImportance = new double[layers][n];
        // layers sharing a window share one probe request
        boolean[] done = new boolean[layers];
        for (int l = 0; l < layers; l++) {
            if (done[l]) continue;
            int[] w = window[l];
            int[] same = IntStream.range(l, layers).filter(j -> !done[j] && Arrays.equals(window[j], w)).toArray();
            for (int j : same) done[j] = true;
            if (w.length == 0 || n == 0) continue;
            int[] keys = union(visual, w);
            AttentionMap map = ctx.probe().attention(new AttentionQuery(r, same, w, keys, Reduction.MEAN, HeadMapping.QUERY_HEADS));
            int[] idx = new int[n];
            for (int i = 0; i < n; i++) idx[i] = Arrays.binarySearch(keys, visual[i]);
            for (int j : same) {
                for (int qh = 0; qh < qHeads; qh++) {
                    float[] iv = new float[n];
                    for (int i = 0; i < n; i++) iv[i] = map.score(j, qh, idx[i]);
                    float[] kv = importance[j][qh / g];
                    for (int i = 0; i < n; i++) {
                        layerImportance[j][i] += iv[i] / (double) qHeads;
                        if (st.headMax()) kv[i] = qh % g == 0 ? iv[i] : Math.max(kv[i], iv[i]);
                        else kv[i] += (float) (iv[i] / (double) g);
                    }
                }
            }
        }
        double[] strength = new double[layers], skewness = new double[layers];
        for (int l = 0; l < layers; l++) {
            double sum = 0;
            for (double x : layerImportance[l]) sum += x;
            strength[l] = sum;
            skewness[l] = skewness(layerImportance[l]);
        }
        return new Row(visual, window, importance, layerImportance, strength, skewness, weights(st, strength, skewness));
    }

    /**
     * The adjusted Fisher-Pearson sample skewness {@code G1 = N/((N−1)(N−2)) Σ ((x_i − μ)/σ)³} with σ the sample
     * standard deviation (N − 1 in the denominator); NaN when {@code N < 3} or the values are flat: σ ≤ 10⁻⁶ |μ|, below
     * the resolution of the probe's float scores, where the sign and size of G1 would only reflect rounding.
     */
    static double skewness(double[] x) {
        int n = x.length;
        if (n < 3) return Double.NaN;
        double mean = 0;
        for (double v : x) mean += v;
        mean /= n;
        double m2 = 0;
        for (double v : x) m2 += (v - mean) * (v - mean);
        double sd = Math.sqrt(m2 / (n - 1));
        if (!(sd > FLAT * Math.abs(mean)) || sd == 0) return Double.NaN;
        double s3 = 0;
        for (double v : x) { double z = (v - mean) / sd; s3 += z * z * z; }
        return (double) n / ((double) (n - 1) * (n - 2)) * s3;
    }

    /**
     * Layer weights (mean 1 for every rule but a degenerate input): strength' = s_t / mean(s_t); skewness' =
     * max(0, s_k) / mean(max(0, s_k)) with undefined skewness (NaN) counted as 0; a normaliser whose mean is 0 (all
     * layers zero) makes that term 1 for every layer. strength-skewness: ½ (strength' + skewness').
     */
    static double[] weights(AirCacheSettings st, double[] strength, double[] skewness) {
        int layers = strength.length;
        double[] sk = new double[layers];
        for (int l = 0; l < layers; l++) sk[l] = Double.isNaN(skewness[l]) ? 0.0 : Math.max(0.0, skewness[l]);
        double[] sPrime = normalised(strength), kPrime = normalised(sk);
        double[] w = new double[layers];
        for (int l = 0; l < layers; l++) {
            w[l] = switch (st.allocation()) {
                case STRENGTH_SKEWNESS -> 0.5 * (sPrime[l] + kPrime[l]);
                case STRENGTH -> sPrime[l];
                case SKEWNESS -> kPrime[l];
                case UNIFORM -> 1.0;
                case PYRAMID -> {
                    if (layers == 1) yield 1.0;
                    double min = 1.0 / AirCacheSettings.PYRAMID_BETA, max = 2.0 - min;
                    yield max - (max - min) * l / (layers - 1);
                }
            };
        }
        return w;
    }

    private static double[] normalised(double[] v) {
        double mean = 0;
        for (double x : v) mean += x;
        mean /= v.length;
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) out[i] = mean > 0 ? v[i] / mean : 1.0;
        return out;
    }

    /** Per layer, the query positions of the configured observation window. */
    private static int[][] windows(PolicyContext ctx, AirCacheSettings st, int r, int[] text, int[] visual) {
        int layers = ctx.shape().layers();
        int[][] out = new int[layers][];
        switch (st.window()) {
            case ALL_TEXT -> Arrays.fill(out, text);
            case LAST_K_TEXT -> Arrays.fill(out, Arrays.copyOfRange(text, Math.max(0, text.length - st.windowK()), text.length));
            case LAST_K_VISUAL -> Arrays.fill(out, Arrays.copyOfRange(visual, Math.max(0, visual.length - st.windowK()), visual.length));
            case ELITE -> {
                if (text.length == 0) { Arrays.fill(out, new int[0]); break; }
                int last = text[text.length - 1];
                AttentionMap att = ctx.probe().attention(new AttentionQuery(r, new int[0], new int[] {last}, text, Reduction.MEAN, HeadMapping.QUERY_HEADS));
                int qHeads = ctx.shape().queryHeads();
                for (int l = 0; l < layers; l++) {
                    double[] a = new double[text.length];
                    for (int qh = 0; qh < qHeads; qh++) for (int j = 0; j < text.length; j++) a[j] += att.score(l, qh, j) / (double) qHeads;
                    double max = 0;
                    for (double x : a) max = Math.max(max, x);
                    double threshold = st.alpha() * max;
                    int[] elite = IntStream.range(0, text.length).filter(j -> a[j] >= threshold).map(j -> text[j]).toArray();
                    out[l] = elite;
                }
            }
        }
        return out;
    }

    /** Visual positions cached in at least one (layer, KV head) of row r. */
    private static int[] cachedVisual(PolicyContext ctx, int r, RowLayout layout) {
        java.util.BitSet seen = new java.util.BitSet();
        for (int l = 0; l < ctx.shape().layers(); l++)
            for (int h = 0; h < ctx.shape().kvHeads(); h++)
                for (int p : ctx.cache().positions(r, l, h)) if (layout.isVisual(p)) seen.set(p);
        return seen.stream().toArray();
    }

    private static int[] union(int[] a, int[] b) {
        return IntStream.concat(Arrays.stream(a), Arrays.stream(b)).distinct().sorted().toArray();
    }
}
