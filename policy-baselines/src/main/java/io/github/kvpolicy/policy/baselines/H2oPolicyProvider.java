package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Evictor;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.api.TokenScores;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.OptionSchema;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * {@code h2o} — Zhang et al., "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models",
 * NeurIPS 2023, arXiv 2306.14048.
 *
 * <p>Rule: a candidate's score is its accumulated attention, the sum over every query the probe offers (after prefill:
 * every prompt query, {@code QueryWindow.all()}; during decoding: those plus the tokens generated since the policy last
 * acted) and over the query heads of its KV head. Of the {@code c} candidates a (layer, KV head) keeps (uniform
 * budgets), the most recent {@code c − ⌊c · heavy-ratio⌋} are kept as the recent window and the other
 * {@code ⌊c · heavy-ratio⌋} are the highest-scoring remaining ones (heavy hitters); heavy-ratio 0.5 is the paper's
 * half/half split. Decoding-time by default ({@code trigger: when-over-budget}, slack 0): whenever the cache outgrows
 * the budget it is re-scored and cut back to {@code B} per head. Difference from the paper: the paper accumulates
 * every past query's attention as it was computed; here the sum is recomputed over the queries the probe still has,
 * against the current cache.
 */
public final class H2oPolicyProvider extends AbstractPolicyProvider {
    public H2oPolicyProvider() {
        super("h2o", CommonOptions.VERSION,
                "H2O: keeps heavy hitters by accumulated attention plus a recent window, also while decoding (Zhang et al., NeurIPS 2023, arXiv 2306.14048).");
    }

    @Override
    public OptionSchema options() {
        List<OptionSpec> specs = new ArrayList<>();
        specs.add(CommonOptions.scope());
        specs.add(OptionSpec.decimal("heavy-ratio", 0.5, 0.0, 1.0, "Share of each head's kept candidates chosen as heavy hitters; the rest is the recent window (H2O: 0.5)."));
        specs.addAll(CommonOptions.trigger("when-over-budget", List.of("prefill", "every", "when-over-budget")));
        return OptionSchema.of(specs.toArray(OptionSpec[]::new));
    }

    @Override
    public Set<Capability> capabilities() {
        return CommonOptions.capabilitiesWith(Capability.DECODING_TIME);
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        double heavy = options.getDouble("heavy-ratio");
        return ComposedPolicy.of(name(), H2oPolicyProvider::accumulatedAttention)
                .withEvictor(heavyAndRecent(heavy))
                .withScope(CommonOptions.scope(options))
                .withSchedule(CommonOptions.schedule(options))
                .withQueryWindow(QueryWindow.all());
    }

    /** Accumulated attention: sum over every available query and over the query heads of each KV head. */
    static TokenScores accumulatedAttention(PolicyContext ctx) {
        ModelShape s = ctx.shape();
        TokenScores out = TokenScores.forContext(ctx);
        for (int r = 0; r < ctx.layout().batchSize(); r++) {
            int[] keys = Attention.cachedUnion(ctx, r);
            AttentionMap map = Attention.overCache(ctx, r, keys, ctx.probe().queryPositions(r), Reduction.SUM, HeadMapping.KV_SUM);
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) out.set(r, l, h, Attention.sanitize(Attention.at(map, keys, l, h, ctx.candidates(r, l, h))));
        }
        return out;
    }

    /** Keeps, of the {@code c} allotted candidates, the most recent {@code c − ⌊c·heavy⌋} and the top {@code ⌊c·heavy⌋} others by score. */
    static Evictor heavyAndRecent(double heavyRatio) {
        return (ctx, scores, alloc) -> {
            ModelShape s = ctx.shape();
            RetentionPlan.Builder plan = RetentionPlan.builder(ctx.layout().batchSize(), s.layers(), s.kvHeads());
            for (int r = 0; r < ctx.layout().batchSize(); r++) {
                for (int l = 0; l < s.layers(); l++) {
                    for (int h = 0; h < s.kvHeads(); h++) {
                        int[] cand = ctx.candidates(r, l, h);
                        int c = Math.min(alloc.count(r, l, h), cand.length);
                        int heavy = (int) Math.floor(c * heavyRatio);
                        int recent = c - heavy;
                        int older = cand.length - recent;
                        float[] sc = scores.get(r, l, h);
                        int[] top = Evictor.topIndices(Arrays.copyOf(sc, older), heavy);
                        int[] mandatory = ctx.mandatory(r, l, h);
                        int[] kept = new int[mandatory.length + c];
                        System.arraycopy(mandatory, 0, kept, 0, mandatory.length);
                        int k = mandatory.length;
                        for (int i : top) kept[k++] = cand[i];
                        for (int i = older; i < cand.length; i++) kept[k++] = cand[i];
                        Arrays.sort(kept);
                        plan.set(r, l, h, kept);
                    }
                }
            }
            return plan.build();
        };
    }

    /**
     * GridVQA exact match of the default configuration on the conformance suite's quality slice (the first 8 held-out
     * examples of each family, 24 in all), measured 2026-12-05: 0.167 at 25% and 0.042 at 10% of the visual cache. The
     * floors leave two examples of margin for platform rounding.
     */
    @Override
    public java.util.Map<Double, Double> qualityFloors() {
        return java.util.Map.of(0.25, 0.08, 0.10, 0.00);
    }
}
