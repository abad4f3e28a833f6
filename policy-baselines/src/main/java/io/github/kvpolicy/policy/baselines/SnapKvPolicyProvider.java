package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.OptionSchema;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.util.List;
import java.util.Set;

/**
 * {@code snapkv} — Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation", NeurIPS 2024, arXiv 2404.14469.
 *
 * <p>Rule: score every candidate by the pooled mean attention of the last {@code window} prompt queries
 * ({@link SnapKvScorer}); keep the top {@code B} per (layer, KV head) (uniform budgets, top-k eviction). With
 * {@code scope: all} the observation window is protected ({@code Protection(0, window)}), i.e. always kept and outside
 * the budget, as in SnapKV; with the default {@code scope: visual} the window is instruction text, outside the scope,
 * hence kept too (visual tokens inside the window score highest). Defaults: window 32, kernel 7, average pooling,
 * mean over the query heads of a KV head. Acts once after prefill; the {@code decoding} wrapper makes it act during
 * decoding.
 */
public final class SnapKvPolicyProvider extends AbstractPolicyProvider {
    public SnapKvPolicyProvider() {
        super("snapkv", CommonOptions.VERSION,
                "SnapKV: keeps the tokens the last prompt queries attend to most, pooled over neighbours (Li et al., NeurIPS 2024, arXiv 2404.14469).");
    }

    static List<OptionSpec> snapOptions() {
        return List.of(
                CommonOptions.scope(),
                OptionSpec.integer("window", 32, 1, 65_536, "Observation window: the last prompt queries whose attention scores the cache (SnapKV uses 32 or 64)."),
                OptionSpec.integer("kernel", 7, 1, 63, "Pooling kernel over neighbouring keys, an odd number (SnapKV uses 5 or 7; 1 disables pooling)."),
                OptionSpec.choice("pooling", "avg", List.of("avg", "max"), "Pooling of neighbouring keys' scores: avg or max."),
                OptionSpec.choice("head-aggregation", "mean", List.of("mean", "max"), "How the query heads of a KV head (GQA) are combined: mean or max."));
    }

    /** A SnapKV-scored policy named {@code name} from validated SnapKV options (uniform budgets). */
    static ComposedPolicy build(String name, PolicyOptions o) {
        int window = o.getInt("window"), kernel = o.getInt("kernel");
        if (kernel % 2 == 0) throw CommonOptions.invalid(name, "kernel", kernel, "an odd integer in [1, 63]");
        Scope scope = CommonOptions.scope(o);
        return ComposedPolicy.of(name, new SnapKvScorer(window, kernel, o.getString("pooling").equals("max"), o.getString("head-aggregation").equals("max")))
                .withScope(scope)
                .withProtection(scope == Scope.ALL ? Protection.sinksAndRecent(0, window) : Protection.none())
                .withQueryWindow(QueryWindow.last(window));
    }

    @Override
    public OptionSchema options() {
        return OptionSchema.of(snapOptions().toArray(OptionSpec[]::new));
    }

    @Override
    public Set<Capability> capabilities() {
        return CommonOptions.capabilitiesWith();
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        return build(name(), options);
    }

    /**
     * GridVQA exact match of the default configuration on the conformance suite's quality slice (the first 8 held-out
     * examples of each family, 24 in all), measured 2026-12-05: 0.375 at 25% and 0.042 at 10% of the visual cache. The
     * floors leave two examples of margin for platform rounding.
     */
    @Override
    public java.util.Map<Double, Double> qualityFloors() {
        return java.util.Map.of(0.25, 0.29, 0.10, 0.00);
    }
}
