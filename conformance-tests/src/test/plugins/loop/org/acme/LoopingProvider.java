package org.acme;

import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.api.TokenScores;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.PolicyOptions;

/** Spins forever, ignoring interrupts, on a long prompt (broken on purpose). (compiled into a JAR by ValidateChildJvmTest; validate must report it FAIL with the reason and go on). */
public final class LoopingProvider extends AbstractPolicyProvider {
    public LoopingProvider() {
        super("acme-loop", "0.1", "Spins forever, ignoring interrupts, on a long prompt (broken on purpose).");

    }

    /** Recency scores: a correct policy apart from its defect. */
    static TokenScores recency(PolicyContext ctx) {
        TokenScores s = TokenScores.forContext(ctx);
        ModelShape sh = ctx.shape();
        for (int r = 0; r < ctx.layout().batchSize(); r++)
            for (int l = 0; l < sh.layers(); l++)
                for (int h = 0; h < sh.kvHeads(); h++) {
                    int[] c = ctx.candidates(r, l, h);
                    float[] v = new float[c.length];
                    for (int i = 0; i < c.length; i++) v[i] = c[i];
                    s.set(r, l, h, v);
                }
        return s;
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        return new CompressionPolicy() {
            @Override public String name() { return "acme-loop"; }
            @Override public TokenScorer scorer() { return LoopingProvider::recency; }
            @Override public RetentionPlan compress(PolicyContext ctx) {
                if (ctx.layout().row(0).promptLength() > 100) {
                    long x = 0;
                    while (x >= 0) x = (x + 1) & 0x3fffffffffffffffL;
                    throw new AssertionError(x);
                }
                return CompressionPolicy.super.compress(ctx);
            }
        };
    }
}
