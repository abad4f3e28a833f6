package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Modality;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.TokenScores;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.util.EnumSet;
import java.util.Set;

/**
 * {@code full} — the uncompressed reference every quality figure is relative to.
 *
 * <p>Rule: every modality is protected, so there are no candidates, the budget resolves to 0 and the plan keeps every
 * cached token (valid under the exact budget mode for any budget). No options, no attention.
 */
public final class FullPolicyProvider extends AbstractPolicyProvider {
    public FullPolicyProvider() {
        super("full", CommonOptions.VERSION, "Full cache: keeps every token; the reference for every quality figure (no compression).");
    }

    @Override
    public Set<Capability> capabilities() {
        return Set.of(Capability.DETERMINISTIC, Capability.BATCH, Capability.THREAD_SAFE);
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        return ComposedPolicy.of(name(), ctx -> {
                    ModelShape s = ctx.shape();
                    TokenScores out = TokenScores.forContext(ctx);
                    for (int r = 0; r < ctx.layout().batchSize(); r++)
                        for (int l = 0; l < s.layers(); l++)
                            for (int h = 0; h < s.kvHeads(); h++) out.set(r, l, h, new float[ctx.candidates(r, l, h).length]);
                    return out;
                })
                .withProtection(new Protection(0, 0, EnumSet.allOf(Modality.class)));
    }

    /**
     * GridVQA exact match of the default configuration on the conformance suite's quality slice (the first 8 held-out
     * examples of each family, 24 in all), measured 2026-12-05: 0.958 at 25% and 0.958 at 10% of the visual cache. The
     * floors leave two examples of margin for platform rounding.
     */
    @Override
    public java.util.Map<Double, Double> qualityFloors() {
        return java.util.Map.of(0.25, 0.87, 0.10, 0.87);
    }
}
