package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.api.TokenScores;
import java.util.Arrays;

/**
 * SnapKV's token score (Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation", NeurIPS 2024,
 * arXiv 2404.14469): the attention of the observation window — the last {@code window} query positions the probe offers
 * (right after prefill: the last {@code window} prompt tokens) — over every cached key, averaged over the window's
 * queries and over the query heads of each KV head (GQA; {@code max} optionally), then pooled over neighbouring keys
 * with a 1-D kernel (average pooling with zero padding counted, as PyTorch's {@code avg_pool1d(padding=k/2)}, or max
 * pooling). Pooling runs over the (layer, head)'s cached keys in position order, the window's own keys excluded (as
 * SnapKV's {@code attn[..., :-w]}). A candidate that is itself one of the window's queries (possible with scope visual
 * and a short instruction) scores {@link Float#MAX_VALUE}: SnapKV always keeps its window.
 *
 * <p>Stateless and thread-safe.
 */
final class SnapKvScorer implements TokenScorer {
    private final int window;
    private final int kernel;
    private final boolean maxPool;
    private final HeadMapping heads;

    SnapKvScorer(int window, int kernel, boolean maxPool, boolean maxHeads) {
        if (window < 1) throw new IllegalArgumentException("window < 1: " + window);
        if (kernel < 1 || kernel % 2 == 0) throw new IllegalArgumentException("kernel must be odd and >= 1: " + kernel);
        this.window = window;
        this.kernel = kernel;
        this.maxPool = maxPool;
        this.heads = maxHeads ? HeadMapping.KV_MAX : HeadMapping.KV_MEAN;
    }

    @Override
    public TokenScores score(PolicyContext ctx) {
        ModelShape s = ctx.shape();
        TokenScores out = TokenScores.forContext(ctx);
        for (int r = 0; r < ctx.layout().batchSize(); r++) {
            int[] keys = Attention.cachedUnion(ctx, r);
            int[] queries = Attention.lastAvailable(ctx, r, window);
            AttentionMap map = Attention.overCache(ctx, r, keys, queries, Reduction.MEAN, heads);
            for (int l = 0; l < s.layers(); l++) {
                for (int h = 0; h < s.kvHeads(); h++) {
                    int[] seq = Arrays.stream(ctx.cache().positions(r, l, h)).filter(p -> Arrays.binarySearch(queries, p) < 0).toArray();
                    float[] pooled = pool(Attention.at(map, keys, l, h, seq), kernel, maxPool);
                    int[] cand = ctx.candidates(r, l, h);
                    float[] sc = new float[cand.length];
                    for (int i = 0; i < cand.length; i++) {
                        int j = Arrays.binarySearch(seq, cand[i]);
                        sc[i] = j >= 0 ? pooled[j] : Float.MAX_VALUE;
                    }
                    out.set(r, l, h, Attention.sanitize(sc));
                }
            }
        }
        return out;
    }

    /**
     * 1-D pooling with stride 1 and padding {@code kernel/2} on both sides: average (padding counts as zeros, the sum is
     * divided by {@code kernel}) or max (padding ignored). {@code kernel} is odd; the result has {@code a.length} values.
     */
    static float[] pool(float[] a, int kernel, boolean max) {
        int n = a.length, half = kernel / 2;
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            int lo = Math.max(0, i - half), hi = Math.min(n - 1, i + half);
            if (max) {
                float m = Float.NEGATIVE_INFINITY;
                for (int j = lo; j <= hi; j++) m = Math.max(m, a[j]);
                out[i] = m;
            } else {
                double sum = 0;
                for (int j = lo; j <= hi; j++) sum += a[j];
                out[i] = (float) (sum / kernel);
            }
        }
        return out;
    }
}
