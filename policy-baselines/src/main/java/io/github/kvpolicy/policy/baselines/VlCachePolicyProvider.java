package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.BudgetAllocation;
import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.Modality;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.TokenScores;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.OptionSchema;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.util.Arrays;
import java.util.Set;

/**
 * {@code vl-cache} — Tu et al., "VL-Cache: Sparsity and Modality-Aware KV Cache Compression for Vision-Language Model
 * Inference Acceleration", arXiv 2410.23317, 2024.
 *
 * <p>Rule. Post-vision queries: the instruction-text queries after the last image (and, during decoding, the generated
 * ones the probe offers). Token score (modality-aware): a candidate's attention from the post-vision queries, summed
 * over those queries and averaged over the query heads of its KV head. Layer budget (sparsity-aware): for layer ℓ, the
 * sparsity γ_ℓ is the share of entries of its post-vision attention matrix (every query head, every post-vision query,
 * every causal cached key) below {@code sparsity-threshold} (1%) of that attention row's maximum; layer ℓ's budget is
 * proportional to its density {@code 1 − γ_ℓ}, split exactly and evenly over its KV heads. With {@code scope: all} the
 * instruction text (the post-vision window) is protected. One probe pass serves both (the hooks are also usable
 * separately, each then probing on its own). Acts once after prefill.
 */
public final class VlCachePolicyProvider extends AbstractPolicyProvider {
    public VlCachePolicyProvider() {
        super("vl-cache", CommonOptions.VERSION,
                "VL-Cache: post-vision attention scores with layer budgets from each layer's attention sparsity (Tu et al., arXiv 2410.23317, 2024).");
    }

    @Override
    public OptionSchema options() {
        return OptionSchema.of(
                CommonOptions.scope(),
                OptionSpec.decimal("sparsity-threshold", 0.01, 0.0, 1.0, "An attention entry is sparse if below this fraction of its row's maximum (VL-Cache: 1%)."));
    }

    @Override
    public Set<Capability> capabilities() {
        return CommonOptions.capabilitiesWith(Capability.LAYER_WISE_BUDGETS);
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        double threshold = options.getDouble("sparsity-threshold");
        Scope scope = CommonOptions.scope(options);
        return ComposedPolicy.of(name(), ctx -> scores(ctx, analyse(ctx, threshold)))
                .withAllocator((ctx, scores) -> allocation(ctx, analyse(ctx, threshold)))
                .withScope(scope)
                .withProtection(scope == Scope.ALL ? new Protection(0, 0, Set.of(Modality.INSTRUCTION_TEXT)) : Protection.none())
                .withQueryWindow(QueryWindow.instructionText())
                .withCompress(ctx -> {
                    Analysis[] a = analyse(ctx, threshold);
                    TokenScores sc = scores(ctx, a);
                    return io.github.kvpolicy.api.Evictor.topK().evict(ctx, sc, allocation(ctx, a));
                });
    }

    /** One row's post-vision statistics: summed attention per (layer, KV head, key) and density per layer. */
    record Analysis(int[] keys, float[][][] scores, double[] density) {}

    static Analysis[] analyse(PolicyContext ctx, double threshold) {
        ModelShape s = ctx.shape();
        int rows = ctx.layout().batchSize();
        Analysis[] out = new Analysis[rows];
        for (int r = 0; r < rows; r++) {
            int[] keys = Attention.cachedUnion(ctx, r);
            int[] queries = Attention.postVision(ctx, r);
            boolean[][][] cached = new boolean[s.layers()][s.kvHeads()][keys.length];
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++)
                    for (int p : ctx.cache().positions(r, l, h)) cached[l][h][Arrays.binarySearch(keys, p)] = true;
            double[][] acc = new double[s.layers() * s.queryHeads()][keys.length];
            long[] sparse = new long[s.layers()], total = new long[s.layers()];
            for (int q : queries) {
                AttentionMap map = ctx.probe().attention(new AttentionQuery(r, new int[0], new int[] {q}, keys, Reduction.MEAN, HeadMapping.QUERY_HEADS));
                for (int l = 0; l < s.layers(); l++) {
                    for (int qh = 0; qh < s.queryHeads(); qh++) {
                        boolean[] live = cached[l][s.kvHeadOf(qh)];
                        double[] a = acc[l * s.queryHeads() + qh];
                        float max = 0;
                        for (int k = 0; k < keys.length && keys[k] <= q; k++) if (live[k]) max = Math.max(max, map.score(l, qh, k));
                        for (int k = 0; k < keys.length && keys[k] <= q; k++) {
                            if (!live[k]) continue;
                            float p = map.score(l, qh, k);
                            a[k] += p;
                            total[l]++;
                            if (p < threshold * max) sparse[l]++;
                        }
                    }
                }
            }
            float[][][] scores = new float[s.layers()][s.kvHeads()][keys.length];
            double[] density = new double[s.layers()];
            int g = s.groupSize();
            for (int l = 0; l < s.layers(); l++) {
                density[l] = total[l] == 0 ? 1.0 : 1.0 - (double) sparse[l] / total[l];
                for (int qh = 0; qh < s.queryHeads(); qh++) {
                    double[] a = acc[l * s.queryHeads() + qh];
                    float[] d = scores[l][s.kvHeadOf(qh)];
                    for (int k = 0; k < keys.length; k++) d[k] += (float) (a[k] / g);
                }
            }
            out[r] = new Analysis(keys, scores, density);
        }
        return out;
    }

    static TokenScores scores(PolicyContext ctx, Analysis[] a) {
        ModelShape s = ctx.shape();
        TokenScores out = TokenScores.forContext(ctx);
        for (int r = 0; r < a.length; r++)
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) {
                    int[] cand = ctx.candidates(r, l, h);
                    float[] sc = new float[cand.length];
                    for (int i = 0; i < cand.length; i++) sc[i] = a[r].scores()[l][h][Arrays.binarySearch(a[r].keys(), cand[i])];
                    out.set(r, l, h, Attention.sanitize(sc));
                }
        return out;
    }

    static BudgetAllocation allocation(PolicyContext ctx, Analysis[] a) {
        return Allocations.layerWise(ctx, r -> a[r].density().clone());
    }

    /**
     * GridVQA exact match of the default configuration on the conformance suite's quality slice (the first 8 held-out
     * examples of each family, 24 in all), measured 2026-12-05: 0.708 at 25% and 0.625 at 10% of the visual cache. The
     * floors leave two examples of margin for platform rounding.
     */
    @Override
    public java.util.Map<Double, Double> qualityFloors() {
        return java.util.Map.of(0.25, 0.62, 0.10, 0.54);
    }
}
