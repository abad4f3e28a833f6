package io.github.kvpolicy.runtime.bench;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.api.TokenScores;

import java.util.Arrays;

/**
 * Policies used only by the benchmark to set the cache length (they are not the project's policies, which live in the
 * policy modules; the runtime depends on none of those).
 */
public final class BenchPolicies {
    private BenchPolicies() {}

    /**
     * Keeps, per (row, layer, head), the first {@code min(4, B)} and the last remaining candidates (a StreamingLLM-shaped
     * uniform plan; scope ALL, exact budget). The cost of choosing is negligible: it measures cache length only.
     */
    public static CompressionPolicy sinkAndRecent() {
        return new CompressionPolicy() {
            @Override public String name() { return "bench-sink-recent"; }
            @Override public Scope scope() { return Scope.ALL; }
            @Override public TokenScorer scorer() { return ctx -> { throw new UnsupportedOperationException("compress() is overridden"); }; }

            @Override
            public RetentionPlan compress(PolicyContext ctx) {
                ModelShape s = ctx.shape();
                int rows = ctx.layout().batchSize();
                RetentionPlan.Builder b = RetentionPlan.builder(rows, s.layers(), s.kvHeads());
                for (int r = 0; r < rows; r++) {
                    int budget = ctx.budgetTokens(r);
                    for (int l = 0; l < s.layers(); l++) {
                        for (int h = 0; h < s.kvHeads(); h++) {
                            int[] cand = ctx.candidates(r, l, h);
                            int n = Math.min(budget, cand.length);
                            int sinks = Math.min(4, n);
                            int[] mand = ctx.mandatory(r, l, h);
                            int[] kept = new int[mand.length + n];
                            System.arraycopy(mand, 0, kept, 0, mand.length);
                            System.arraycopy(cand, 0, kept, mand.length, sinks);
                            System.arraycopy(cand, cand.length - (n - sinks), kept, mand.length + sinks, n - sinks);
                            Arrays.sort(kept);
                            b.set(r, l, h, kept);
                        }
                    }
                }
                return b.build();
            }
        };
    }

    /**
     * A SnapKV-shaped policy: the mean attention of the last {@code window} prompt queries over every cached key,
     * mean over each KV head's query group, then the SPI's uniform allocator and top-k evictor; the last
     * {@code window} tokens and 4 sinks are protected. Measures the probe's cost at a realistic size.
     */
    public static CompressionPolicy probeTopK(int window) {
        return new CompressionPolicy() {
            @Override public String name() { return "bench-probe-topk"; }
            @Override public Scope scope() { return Scope.ALL; }
            @Override public Protection protection() { return Protection.sinksAndRecent(4, window); }
            @Override public QueryWindow queryWindow() { return QueryWindow.last(window); }

            @Override
            public TokenScorer scorer() {
                return ctx -> {
                    TokenScores sc = TokenScores.forContext(ctx);
                    ModelShape s = ctx.shape();
                    for (int r = 0; r < ctx.layout().batchSize(); r++) {
                        int[] qs = ctx.probe().queryPositions(r);
                        // every cached position of the row (the union over heads; at prefill they are all the same)
                        int[] keys = ctx.cache().positions(r, 0, 0);
                        AttentionMap m = ctx.probe().attention(new AttentionQuery(r, new int[0], qs, keys, Reduction.MEAN, HeadMapping.KV_MEAN));
                        for (int l = 0; l < s.layers(); l++) {
                            for (int h = 0; h < s.kvHeads(); h++) {
                                int[] cand = ctx.candidates(r, l, h);
                                float[] all = m.scores(l, h);
                                float[] v = new float[cand.length];
                                for (int i = 0; i < cand.length; i++) {
                                    int k = Arrays.binarySearch(keys, cand[i]);
                                    v[i] = k >= 0 ? all[k] : 0f;
                                }
                                sc.set(r, l, h, v);
                            }
                        }
                    }
                    return sc;
                };
            }
        };
    }
}
