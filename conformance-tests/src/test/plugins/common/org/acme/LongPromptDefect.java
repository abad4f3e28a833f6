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

/**
 * The skeleton of the test plugins that are broken on purpose (compiled into each one's JAR by ValidateChildJvmTest,
 * next to its provider): a correct recency policy apart from one defect, {@link #onLongPrompt}, which runs inside
 * {@code compress()} whenever row 0's prompt is longer than 100 tokens — so the defect strikes in the middle of a
 * check, not while the JAR loads. validate must report each FAILED with the reason and go on.
 */
public abstract class LongPromptDefect extends AbstractPolicyProvider {
    protected LongPromptDefect(String name, String description) {
        super(name, "0.1", description + " (broken on purpose).");
    }

    /** The defect: exits, halts, spins, hoards memory, or (for a defect elsewhere) nothing. */
    protected abstract void onLongPrompt();

    /** Recency scores: the candidate's position. */
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
    public final CompressionPolicy create(PolicyOptions options, CreationContext context) {
        String name = name();
        return new CompressionPolicy() {
            @Override public String name() { return name; }
            @Override public TokenScorer scorer() { return LongPromptDefect::recency; }
            @Override public RetentionPlan compress(PolicyContext ctx) {
                if (ctx.layout().row(0).promptLength() > 100) onLongPrompt();
                return CompressionPolicy.super.compress(ctx);
            }
        };
    }
}
