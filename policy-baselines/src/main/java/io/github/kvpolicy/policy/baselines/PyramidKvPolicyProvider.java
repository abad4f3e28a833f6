package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.OptionSchema;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@code pyramidkv} — Cai et al., "PyramidKV: Dynamic KV Cache Compression based on Pyramidal Information Funneling",
 * arXiv 2406.02069, 2024.
 *
 * <p>Rule: SnapKV scoring ({@link SnapKvScorer}, same options and defaults) with the pyramid layer schedule
 * ({@link Allocations#pyramid}): with {@code B} the per-head budget (candidates; SnapKV's window is protected and outside
 * it), {@code min = B/β}, {@code max = 2B − min}, linear from {@code max} at the first layer to {@code min} at the last,
 * β = 20; the fall-backs of the reference code for short inputs (uniform when {@code n + w < 2B}, {@code max} clamped to
 * the candidates {@code n}). The layer totals are split exactly ({@code BudgetAllocation.proportional}) and evenly over
 * the KV heads of a layer. Acts once after prefill.
 */
public final class PyramidKvPolicyProvider extends AbstractPolicyProvider {
    public PyramidKvPolicyProvider() {
        super("pyramidkv", CommonOptions.VERSION,
                "PyramidKV: SnapKV scores with budgets decreasing linearly from the first to the last layer (Cai et al., arXiv 2406.02069, 2024).");
    }

    @Override
    public OptionSchema options() {
        List<OptionSpec> specs = new ArrayList<>(SnapKvPolicyProvider.snapOptions());
        specs.add(OptionSpec.decimal("beta", 20.0, 1.0, 1_000_000.0, "Pyramid steepness β: the last layer keeps B/β tokens per head, the first 2B − B/β."));
        return OptionSchema.of(specs.toArray(OptionSpec[]::new));
    }

    @Override
    public Set<Capability> capabilities() {
        return CommonOptions.capabilitiesWith(Capability.LAYER_WISE_BUDGETS);
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        ComposedPolicy snap = SnapKvPolicyProvider.build(name(), options);
        double beta = options.getDouble("beta");
        int w = snap.scope() == Scope.ALL ? options.getInt("window") : 0;
        return snap.withAllocator((ctx, scores) -> Allocations.layerWise(ctx,
                r -> Allocations.pyramid(ctx.shape().layers(), ctx.budgetTokens(r), Allocations.meanCandidates(ctx, r), beta, w)));
    }

    /**
     * GridVQA exact match of the default configuration on the conformance suite's quality slice (the first 8 held-out
     * examples of each family, 24 in all), measured 2026-12-05: 0.500 at 25% and 0.083 at 10% of the visual cache. The
     * floors leave two examples of margin for platform rounding.
     */
    @Override
    public java.util.Map<Double, Double> qualityFloors() {
        return java.util.Map.of(0.25, 0.41, 0.10, 0.00);
    }
}
