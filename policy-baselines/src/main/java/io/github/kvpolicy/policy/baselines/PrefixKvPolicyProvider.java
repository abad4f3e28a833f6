package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.BudgetAllocation;
import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.api.TokenScores;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.OptionSchema;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/**
 * {@code prefixkv} — Wang et al., "PrefixKV: Adaptive Prefix KV Cache is What Vision Instruction-Following Models Need
 * for Efficient Generation", arXiv 2412.03409, 2024.
 *
 * <p>Rule. Importance: accumulated attention (sum over the chosen queries — by default every prompt query — and over the
 * query heads of each KV head). Per layer ℓ, the candidates' importance (mean over the layer's KV heads) is sorted in
 * descending order and normalised to sum 1; {@code c_ℓ(k)} is the cumulative importance of the top {@code k}. For a
 * global level {@code p}, layer ℓ keeps the shortest prefix reaching it: {@code k_ℓ(p) = min{k : c_ℓ(k) ≥ p}}. A binary
 * search finds the highest level with {@code H · Σ_ℓ k_ℓ(p) ≤ T} (T the row's exact total, H the KV heads); the
 * remaining whole tokens per head go to the layers in the order in which a higher level would add them (each layer's
 * next cumulative value, ties to the lower layer), so the total is met exactly. Each KV head of layer ℓ then keeps its
 * top {@code k_ℓ} candidates. A layer whose importance is concentrated reaches the level with few tokens and so keeps
 * fewer. Acts once after prefill.
 */
public final class PrefixKvPolicyProvider extends AbstractPolicyProvider {
    public PrefixKvPolicyProvider() {
        super("prefixkv", CommonOptions.VERSION,
                "PrefixKV: per-layer retention from one global cumulative-attention level found by binary search (Wang et al., arXiv 2412.03409, 2024).");
    }

    @Override
    public OptionSchema options() {
        return OptionSchema.of(
                CommonOptions.scope(),
                OptionSpec.choice("queries", "all", List.of("all", "last", "instruction"),
                        "Queries whose accumulated attention is the importance: all prompt queries, the last 'window' ones, or the instruction text."),
                OptionSpec.integer("window", 32, 1, 65_536, "Number of trailing queries when queries = last."));
    }

    @Override
    public Set<Capability> capabilities() {
        return CommonOptions.capabilitiesWith(Capability.LAYER_WISE_BUDGETS);
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        String which = options.getString("queries");
        int window = options.getInt("window");
        QueryWindow qw = switch (which) {
            case "last" -> QueryWindow.last(window);
            case "instruction" -> QueryWindow.instructionText();
            default -> QueryWindow.all();
        };
        TokenScorer scorer = ctx -> accumulated(ctx, which, window);
        return ComposedPolicy.of(name(), scorer)
                .withAllocator(PrefixKvPolicyProvider::allocate)
                .withScope(CommonOptions.scope(options))
                .withQueryWindow(qw);
    }

    static TokenScores accumulated(PolicyContext ctx, String which, int window) {
        ModelShape s = ctx.shape();
        TokenScores out = TokenScores.forContext(ctx);
        for (int r = 0; r < ctx.layout().batchSize(); r++) {
            int[] keys = Attention.cachedUnion(ctx, r);
            int[] queries = switch (which) {
                case "last" -> Attention.lastAvailable(ctx, r, window);
                case "instruction" -> Attention.postVision(ctx, r);
                default -> ctx.probe().queryPositions(r);
            };
            AttentionMap map = Attention.overCache(ctx, r, keys, queries, Reduction.SUM, HeadMapping.KV_SUM);
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) out.set(r, l, h, Attention.sanitize(Attention.at(map, keys, l, h, ctx.candidates(r, l, h))));
        }
        return out;
    }

    static BudgetAllocation allocate(PolicyContext ctx, TokenScores scores) {
        ModelShape s = ctx.shape();
        int layers = s.layers(), heads = s.kvHeads();
        double[][] perRow = new double[ctx.layout().batchSize()][];
        for (int r = 0; r < perRow.length; r++) {
            double[][] cumBefore = new double[layers][];
            for (int l = 0; l < layers; l++) cumBefore[l] = cumulativeBefore(layerImportance(ctx, scores, r, l));
            int[] k = layerCounts(cumBefore, ctx.exactTotal(r) / heads);
            perRow[r] = Arrays.stream(k).asDoubleStream().toArray();
        }
        return Allocations.layerWise(ctx, r -> perRow[r]);
    }

    /** The layer's importance per candidate position (mean over the KV heads that hold it as a candidate), sorted descending. */
    static double[] layerImportance(PolicyContext ctx, TokenScores scores, int r, int l) {
        TreeMap<Integer, double[]> byPos = new TreeMap<>();
        for (int h = 0; h < ctx.shape().kvHeads(); h++) {
            int[] cand = ctx.candidates(r, l, h);
            float[] sc = scores.get(r, l, h);
            for (int i = 0; i < cand.length; i++) {
                double[] a = byPos.computeIfAbsent(cand[i], p -> new double[2]);
                a[0] += sc[i];
                a[1]++;
            }
        }
        double[] v = byPos.values().stream().mapToDouble(a -> Math.max(0, a[0] / a[1])).toArray();
        Arrays.sort(v);
        for (int i = 0, j = v.length - 1; i < j; i++, j--) { double t = v[i]; v[i] = v[j]; v[j] = t; }
        return v;
    }

    /**
     * For importance sorted descending, {@code out[j]} = normalised cumulative importance of the tokens ranked before
     * {@code j} (so {@code out[0] = 0}); token {@code j} is in the prefix for level {@code p} iff {@code out[j] < p}. Equal
     * shares if the importance sums to 0.
     */
    static double[] cumulativeBefore(double[] sortedDesc) {
        int n = sortedDesc.length;
        double sum = 0;
        for (double x : sortedDesc) sum += x;
        double[] out = new double[n];
        double c = 0;
        for (int j = 0; j < n; j++) {
            out[j] = sum > 0 ? c / sum : (double) j / n;
            c += sum > 0 ? sortedDesc[j] : 0;
        }
        return out;
    }

    /** Tokens per KV head of each layer: binary search on the level, then the exact remainder (see class doc). */
    static int[] layerCounts(double[][] cumBefore, long perHeadTotal) {
        int layers = cumBefore.length;
        long capacity = 0;
        for (double[] c : cumBefore) capacity += c.length;
        long target = Math.min(perHeadTotal, capacity);
        double lo = 0, hi = Math.nextUp(1.0); // K(lo) <= target always (K(0) = 0); K(hi) = capacity
        if (count(cumBefore, hi) <= target) lo = hi;
        else {
            for (int it = 0; it < 100 && lo < hi; it++) {
                double mid = (lo + hi) / 2;
                if (mid <= lo || mid >= hi) break;
                if (count(cumBefore, mid) <= target) lo = mid; else hi = mid;
            }
        }
        int[] k = new int[layers];
        long used = 0;
        for (int l = 0; l < layers; l++) { k[l] = prefix(cumBefore[l], lo); used += k[l]; }
        while (used < target) { // the next layers a higher level would extend
            int best = -1;
            for (int l = 0; l < layers; l++) {
                if (k[l] >= cumBefore[l].length) continue;
                if (best < 0 || cumBefore[l][k[l]] < cumBefore[best][k[best]]) best = l;
            }
            if (best < 0) break;
            k[best]++;
            used++;
        }
        return k;
    }

    private static long count(double[][] cumBefore, double p) {
        long n = 0;
        for (double[] c : cumBefore) n += prefix(c, p);
        return n;
    }

    /** Number of entries of ascending {@code c} below {@code p}. */
    private static int prefix(double[] c, double p) {
        int lo = 0, hi = c.length;
        while (lo < hi) { int m = (lo + hi) >>> 1; if (c[m] < p) lo = m + 1; else hi = m; }
        return lo;
    }

    /**
     * GridVQA exact match of the default configuration on the conformance suite's quality slice (the first 8 held-out
     * examples of each family, 24 in all), measured 2026-12-05: 0.250 at 25% and 0.000 at 10% of the visual cache. The
     * floors leave two examples of margin for platform rounding.
     */
    @Override
    public java.util.Map<Double, Double> qualityFloors() {
        return java.util.Map.of(0.25, 0.16, 0.10, 0.00);
    }
}
