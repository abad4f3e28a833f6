package org.acme;

import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.TokenScores;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.PolicyOptions;

/** A plugin whose policy keeps every token whatever the budget (compiled into a JAR by ValidateCommandTest). */
public final class GreedyProvider extends AbstractPolicyProvider {
    public GreedyProvider() {
        super("acme-greedy", "0.1", "Keeps everything (broken on purpose).");
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        return new CompressionPolicy() {
            @Override public String name() { return "acme-greedy"; }
            @Override public io.github.kvpolicy.api.TokenScorer scorer() { return TokenScores::forContext; }
            @Override public RetentionPlan compress(PolicyContext ctx) { return RetentionPlan.keepAll(ctx.cache()); }
        };
    }
}
