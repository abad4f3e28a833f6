package io.github.kvpolicy.conformance.synthetic;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.SimplePolicyContext;
import io.github.kvpolicy.api.TokenLayout;
import java.util.SplittableRandom;

/**
 * A model-free test scenario: a layout, a shape, random (seeded) keys, values and queries, and a budget.
 * Keys and queries are Gaussian with a per-token "salience" scale, so attention is skewed as in real models.
 */
public final class SyntheticScenario {
    private final ModelShape shape;
    private final TokenLayout layout;
    private final SyntheticCache cache;
    private final long seed;

    private SyntheticScenario(ModelShape shape, TokenLayout layout, SyntheticCache cache, long seed) {
        this.shape = shape;
        this.layout = layout;
        this.cache = cache;
        this.seed = seed;
    }

    /** Random tensors for every prompt position of every row, from {@code seed}. */
    public static SyntheticScenario random(ModelShape shape, TokenLayout layout, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = layout.batchSize(), d = shape.headDim();
        float[][][][] k = new float[rows][shape.layers()][shape.kvHeads()][];
        float[][][][] v = new float[rows][shape.layers()][shape.kvHeads()][];
        float[][][][] q = new float[rows][shape.layers()][shape.queryHeads()][];
        for (int r = 0; r < rows; r++) {
            int n = layout.row(r).promptLength();
            float[] salience = new float[n];
            for (int i = 0; i < n; i++) salience[i] = (float) (rnd.nextDouble() < 0.1 ? 2.5 : 0.6);
            for (int l = 0; l < shape.layers(); l++) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    k[r][l][h] = gaussian(rnd, n, d, salience);
                    v[r][l][h] = gaussian(rnd, n, d, null);
                }
                for (int h = 0; h < shape.queryHeads(); h++) q[r][l][h] = gaussian(rnd, n, d, null);
            }
        }
        return new SyntheticScenario(shape, layout, new SyntheticCache(shape, k, v, q), seed);
    }

    /** Wraps explicit tensors (see {@link SyntheticCache}). */
    public static SyntheticScenario of(ModelShape shape, TokenLayout layout, SyntheticCache cache, long seed) {
        return new SyntheticScenario(shape, layout, cache, seed);
    }

    private static float[] gaussian(SplittableRandom rnd, int n, int d, float[] rowScale) {
        float[] a = new float[n * d];
        for (int i = 0; i < n; i++) {
            float s = rowScale == null ? 1f : rowScale[i];
            for (int j = 0; j < d; j++) {
                double u1 = rnd.nextDouble(), u2 = rnd.nextDouble();
                a[i * d + j] = (float) (s * Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2));
            }
        }
        return a;
    }

    public ModelShape shape() { return shape; }
    public TokenLayout layout() { return layout; }
    public SyntheticCache cache() { return cache; }
    public long seed() { return seed; }

    /** The context a runtime would build right after prefill, for {@code policy} at {@code budget}. */
    public PolicyContext prefillContext(CompressionPolicy policy, Budget budget) {
        return context(policy, budget, Phase.PREFILL, 0);
    }

    /** A context for {@code policy}; the probe offers the queries of the policy's window (and every generated position). */
    public PolicyContext context(CompressionPolicy policy, Budget budget, Phase phase, int decodeStep) {
        int rows = layout.batchSize();
        int[][] available = new int[rows][];
        int[] seqLens = new int[rows];
        QueryWindow w = policy.queryWindow();
        for (int r = 0; r < rows; r++) {
            int prompt = layout.row(r).promptLength();
            int[] window = w.positions(layout.row(r));
            int total = cache.queryCount(r);
            int[] all = new int[window.length + Math.max(0, total - prompt)];
            System.arraycopy(window, 0, all, 0, window.length);
            for (int p = prompt; p < total; p++) all[window.length + p - prompt] = p;
            available[r] = all;
            seqLens[r] = Math.max(prompt, total);
        }
        return SimplePolicyContext.builder()
                .layout(layout).cache(cache).probe(new SyntheticProbe(cache, available)).budget(budget)
                .phase(phase).decodeStep(decodeStep).seed(seed).policy(policy).sequenceLengths(seqLens)
                .build();
    }
}
