package com.example.kvpolicy;

import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.api.TokenScores;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.OptionSchema;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.Set;

/**
 * Example third-party policy {@code example-keynorm}: keeps, in every (layer, KV head), the visual tokens whose keys
 * have the largest L2 norm, within the budget (uniform split, exact), and always keeps the first {@code sinks} visual
 * tokens. Stateless, so thread-safe and deterministic.
 */
public final class KeyNormPolicyProvider extends AbstractPolicyProvider {
    public KeyNormPolicyProvider() {
        super("example-keynorm", "1.0.0", "Keeps the visual tokens with the largest key norm (an example third-party plugin).");
    }

    @Override
    public OptionSchema options() {
        return OptionSchema.of(OptionSpec.integer("sinks", 0, 0, 64, "Leading visual tokens always kept."));
    }

    @Override
    public Set<Capability> capabilities() {
        return Set.of(Capability.DETERMINISTIC, Capability.THREAD_SAFE, Capability.BATCH);
    }

    @Override
    public Optional<Duration> maxCallTime() {
        return Optional.of(Duration.ofMillis(500));
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        Protection protection = Protection.sinksAndRecent(options.getInt("sinks"), 0);
        TokenScorer scorer = KeyNormPolicyProvider::score;
        return new CompressionPolicy() {
            @Override public String name() { return "example-keynorm"; }
            @Override public TokenScorer scorer() { return scorer; }
            @Override public Protection protection() { return protection; }
        };
    }

    /** Scores every candidate by the L2 norm of its key. */
    static TokenScores score(io.github.kvpolicy.api.PolicyContext ctx) {
        TokenScores scores = TokenScores.forContext(ctx);
        ModelShape shape = ctx.shape();
        for (int row = 0; row < ctx.layout().batchSize(); row++) {
            for (int layer = 0; layer < shape.layers(); layer++) {
                for (int head = 0; head < shape.kvHeads(); head++) {
                    int[] cached = ctx.cache().positions(row, layer, head);
                    int[] candidates = ctx.candidates(row, layer, head);
                    MatrixView keys = ctx.cache().keys(row, layer, head);
                    float[] s = new float[candidates.length];
                    for (int i = 0; i < candidates.length; i++) {
                        int k = Arrays.binarySearch(cached, candidates[i]);
                        double sum = 0;
                        for (int d = 0; d < keys.cols(); d++) sum += (double) keys.get(k, d) * keys.get(k, d);
                        s[i] = (float) Math.sqrt(sum);
                    }
                    scores.set(row, layer, head, s);
                }
            }
        }
        return scores;
    }
}
