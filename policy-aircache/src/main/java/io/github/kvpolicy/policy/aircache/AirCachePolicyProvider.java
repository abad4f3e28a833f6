package io.github.kvpolicy.policy.aircache;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.InvalidOptionException;
import io.github.kvpolicy.api.provider.OptionSchema;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.util.List;
import java.util.Set;

/**
 * {@code aircache} — the reference plugin: Huang et al., "AirCache: Activating Inter-modal Relevancy KV Cache
 * Compression for Efficient Large Vision-Language Model Inference", ICCV 2025, arXiv 2503.23956. See
 * {@link AirCachePolicy} for the rule. The budget comes from the context (the runtime or evaluation passes it), not
 * from an option. Thread-safe.
 */
public final class AirCachePolicyProvider extends AbstractPolicyProvider {
    public AirCachePolicyProvider() {
        super("aircache", "0.1.0",
                "AirCache: visual tokens ranked by the attention of an elite window of instruction tokens, with layer budgets from importance strength and skewness (Huang et al., ICCV 2025, arXiv 2503.23956).");
    }

    @Override
    public OptionSchema options() {
        return OptionSchema.of(
                OptionSpec.decimal("alpha", 0.9, 0.0, 1.0, "Relevancy threshold α: elite instruction tokens get at least α times the last token's largest attention."),
                OptionSpec.string("min-per-layer", "10%",
                        "Least visual tokens a layer keeps per KV head: a ratio of the per-head budget B ('10%' or '0.1') or a token count ('4'), at most B."),
                OptionSpec.choice("head-aggregation", "mean", List.of("mean", "max"), "How a KV head's query heads are combined into its importance: mean or max."),
                OptionSpec.choice("window", "elite", List.of("elite", "last-k-text", "all-text", "last-k-visual"),
                        "Observation window (ablation): the elite instruction tokens, the last k or all instruction tokens, or the last k visual tokens."),
                OptionSpec.integer("window-k", 8, 1, 65_536, "k of the last-k-text and last-k-visual windows."),
                OptionSpec.choice("allocation", "strength-skewness", List.of("strength-skewness", "strength", "skewness", "uniform", "pyramid"),
                        "Layer budget rule (ablation): ½(strength' + skewness'), one of the two, uniform, or PyramidKV's pyramid (β = 20)."));
    }

    @Override
    public Set<Capability> capabilities() {
        return Set.of(Capability.DETERMINISTIC, Capability.BATCH, Capability.THREAD_SAFE, Capability.LAYER_WISE_BUDGETS);
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        return new AirCachePolicy(name(), settings(options));
    }

    AirCacheSettings settings(PolicyOptions o) {
        String minText = o.getString("min-per-layer");
        Budget min;
        try {
            min = Budget.parse(minText);
        } catch (IllegalArgumentException e) {
            throw new InvalidOptionException("Invalid value '" + minText + "' for option 'min-per-layer' of policy '" + name()
                    + "': expected a ratio of the per-head budget such as '10%' or '0.1', or a token count such as '4'");
        }
        return new AirCacheSettings(o.getDouble("alpha"), min, o.getString("head-aggregation").equals("max"),
                AirCacheSettings.Window.of(o.getString("window")), o.getInt("window-k"), AirCacheSettings.Allocation.of(o.getString("allocation")));
    }

    /**
     * GridVQA exact match of the default configuration on the conformance suite's quality slice (the first 8 held-out
     * examples of each family, 24 in all), measured 2026-12-05: 0.208 at 25% and 0.083 at 10% of the visual cache. The
     * floors leave two examples of margin for platform rounding.
     */
    @Override
    public java.util.Map<Double, Double> qualityFloors() {
        return java.util.Map.of(0.25, 0.12, 0.10, 0.00);
    }
}
