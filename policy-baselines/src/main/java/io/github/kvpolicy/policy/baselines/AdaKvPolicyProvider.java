package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.OptionSchema;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.util.Set;

/**
 * {@code adakv} — Feng et al., "Ada-KV: Optimizing KV Cache Eviction by Adaptive Budget Allocation for Efficient LLM
 * Inference", arXiv 2407.11550, 2024.
 *
 * <p>A head-wise budget wrapper around any policy given as option {@code scorer} (default {@code snapkv}): the nested
 * policy's scorer, scope, protection, query window and schedule are used; its allocator gives the layer totals; the
 * {@link AdaKvAllocator} moves budget between the KV heads of each layer towards the heads whose top scores are highest
 * (concentrated attention), keeping a safeguard share {@code α = 0.2} of the layer's per-head average for every head.
 * The declared capabilities hold for every nested policy of this module (all are deterministic, stateless and support
 * batches); {@code scope: all} needs a nested policy that supports it.
 */
public final class AdaKvPolicyProvider extends AbstractPolicyProvider {
    public AdaKvPolicyProvider() {
        super("adakv", CommonOptions.VERSION,
                "Ada-KV: moves each layer's budget between KV heads towards concentrated attention, with a safeguard share per head, around any scorer (Feng et al., arXiv 2407.11550, 2024).");
    }

    @Override
    public OptionSchema options() {
        return OptionSchema.of(
                CommonOptions.nested("snapkv", "The policy whose scores (and layer totals, scope, protection, schedule) AdaKV redistributes between heads."),
                OptionSpec.decimal("alpha", 0.2, 0.0, 1.0, "Safeguard share: every KV head keeps at least ⌊α · T / H⌋ of its layer's T slots (Ada-KV's α = 0.2)."),
                CommonOptions.wrapperScope());
    }

    @Override
    public Set<Capability> capabilities() {
        return CommonOptions.capabilitiesWith(Capability.HEAD_WISE_BUDGETS);
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        CompressionPolicy nested = CommonOptions.createNested(name(), options, context);
        ComposedPolicy base = ComposedPolicy.of(nested);
        return base.withName(name()).withAllocator(new AdaKvAllocator(base.allocator(), options.getDouble("alpha")));
    }

    /**
     * GridVQA exact match of the default configuration on the conformance suite's quality slice (the first 8 held-out
     * examples of each family, 24 in all), measured 2026-12-05: 0.375 at 25% and 0.000 at 10% of the visual cache. The
     * floors leave two examples of margin for platform rounding.
     */
    @Override
    public java.util.Map<Double, Double> qualityFloors() {
        return java.util.Map.of(0.25, 0.29, 0.10, 0.00);
    }
}
