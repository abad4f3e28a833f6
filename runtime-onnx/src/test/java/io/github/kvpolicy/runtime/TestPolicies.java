package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.BudgetMode;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.api.TokenScores;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Tiny SPI policies written for the runtime's tests (the real ones live in the policy modules). */
final class TestPolicies {
    private TestPolicies() {}

    static final TokenScorer UNUSED = ctx -> {
        throw new UnsupportedOperationException("compress() is overridden");
    };

    /** Keeps every cached token (visual scope, exact budget: use a 100% budget; generated tokens are out of scope). */
    static CompressionPolicy keepAll(Schedule schedule) {
        return new CompressionPolicy() {
            @Override public String name() { return "test-keep-all"; }
            @Override public TokenScorer scorer() { return UNUSED; }
            @Override public Schedule schedule() { return schedule; }
            @Override public QueryWindow queryWindow() { return QueryWindow.last(2); }
            @Override public RetentionPlan compress(PolicyContext ctx) { return RetentionPlan.keepAll(ctx.cache()); }
        };
    }

    /** Keeps the mandatory tokens and a random subset of the candidates per (row, layer, head), at most the budget; seeded by the context's seed, the row's length, layer and head (not the row number, so a row gives the same plan alone and in a batch). */
    static CompressionPolicy randomSubset(Scope scope) {
        return new CompressionPolicy() {
            @Override public String name() { return "test-random-subset"; }
            @Override public TokenScorer scorer() { return UNUSED; }
            @Override public Scope scope() { return scope; }
            @Override public Protection protection() { return Protection.sinksAndRecent(1, 1); }
            @Override public BudgetMode budgetMode() { return BudgetMode.AT_MOST; }
            @Override
            public RetentionPlan compress(PolicyContext ctx) {
                ModelShape s = ctx.shape();
                int rows = ctx.layout().batchSize();
                RetentionPlan.Builder b = RetentionPlan.builder(rows, s.layers(), s.kvHeads());
                for (int r = 0; r < rows; r++) {
                    for (int l = 0; l < s.layers(); l++) {
                        for (int h = 0; h < s.kvHeads(); h++) {
                            SplittableRandom rnd = new SplittableRandom(ctx.seed() * 1000003 + ctx.sequenceLength(r) * 1009L + l * 31 + h);
                            int[] cand = ctx.candidates(r, l, h);
                            int n = Math.min(ctx.budgetTokens(r), cand.length);
                            int[] pick = rnd.ints(0, cand.length).distinct().limit(n).map(i -> cand[i]).toArray();
                            int[] mand = ctx.mandatory(r, l, h);
                            int[] kept = Arrays.copyOf(mand, mand.length + pick.length);
                            System.arraycopy(pick, 0, kept, mand.length, pick.length);
                            Arrays.sort(kept);
                            b.set(r, l, h, kept);
                        }
                    }
                }
                return b.build();
            }
        };
    }

    /** Keeps the most recent candidates (score = position) with the SPI's default allocator and evictor. */
    static CompressionPolicy recent(Schedule schedule, Protection protection) {
        return new CompressionPolicy() {
            @Override public String name() { return "test-recent"; }
            @Override public Scope scope() { return Scope.ALL; }
            @Override public Protection protection() { return protection; }
            @Override public Schedule schedule() { return schedule; }
            @Override
            public TokenScorer scorer() {
                return ctx -> {
                    TokenScores sc = TokenScores.forContext(ctx);
                    for (int r = 0; r < ctx.layout().batchSize(); r++)
                        for (int l = 0; l < ctx.shape().layers(); l++)
                            for (int h = 0; h < ctx.shape().kvHeads(); h++) {
                                int[] c = ctx.candidates(r, l, h);
                                float[] v = new float[c.length];
                                for (int i = 0; i < c.length; i++) v[i] = c[i];
                                sc.set(r, l, h, v);
                            }
                    return sc;
                };
            }
        };
    }

    /** Returns a plan whose positions are in descending order. */
    static CompressionPolicy unsorted() {
        return new CompressionPolicy() {
            @Override public String name() { return "test-unsorted"; }
            @Override public TokenScorer scorer() { return UNUSED; }
            @Override public Scope scope() { return Scope.ALL; }
            @Override
            public RetentionPlan compress(PolicyContext ctx) {
                ModelShape s = ctx.shape();
                RetentionPlan.Builder b = RetentionPlan.builder(ctx.layout().batchSize(), s.layers(), s.kvHeads());
                for (int r = 0; r < ctx.layout().batchSize(); r++)
                    for (int l = 0; l < s.layers(); l++)
                        for (int h = 0; h < s.kvHeads(); h++) {
                            int[] p = ctx.cache().positions(r, l, h);
                            int[] rev = new int[p.length];
                            for (int i = 0; i < p.length; i++) rev[i] = p[p.length - 1 - i];
                            b.set(r, l, h, rev);
                        }
                return b.build();
            }
        };
    }

    /** Throws from compress. */
    static CompressionPolicy throwing() {
        return new CompressionPolicy() {
            @Override public String name() { return "test-throwing"; }
            @Override public TokenScorer scorer() { return UNUSED; }
            @Override public RetentionPlan compress(PolicyContext ctx) { throw new IllegalStateException("boom"); }
        };
    }
}
