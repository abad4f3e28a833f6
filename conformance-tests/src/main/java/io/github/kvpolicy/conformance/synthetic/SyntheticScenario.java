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
    private final int maxGenerated;

    private SyntheticScenario(ModelShape shape, TokenLayout layout, SyntheticCache cache, long seed, int maxGenerated) {
        this.shape = shape;
        this.layout = layout;
        this.cache = cache;
        this.seed = seed;
        this.maxGenerated = maxGenerated;
    }

    /** Random tensors for every prompt position of every row, from {@code seed}. */
    public static SyntheticScenario random(ModelShape shape, TokenLayout layout, long seed) {
        return random(shape, layout, seed, 0);
    }

    /**
     * As {@link #random(ModelShape, TokenLayout, long)} (identical prompt tensors), plus queries prepared for
     * {@code maxGenerated ≥ 0} generated positions per row, so that {@link #appendGenerated()} can drive a
     * decoding-time policy over that many steps. Prepared queries become visible to the probe only once their
     * token has been appended.
     */
    public static SyntheticScenario random(ModelShape shape, TokenLayout layout, long seed, int maxGenerated) {
        if (maxGenerated < 0) throw new IllegalArgumentException("maxGenerated must be >= 0, got " + maxGenerated);
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
        if (maxGenerated > 0) {
            // a separate stream, so the prompt tensors do not depend on maxGenerated
            SplittableRandom gen = new SplittableRandom(seed ^ 0x9E3779B97F4A7C15L);
            for (int r = 0; r < rows; r++) {
                for (int l = 0; l < shape.layers(); l++) {
                    for (int h = 0; h < shape.queryHeads(); h++) {
                        float[] extra = gaussian(gen, maxGenerated, d, null);
                        float[] all = java.util.Arrays.copyOf(q[r][l][h], q[r][l][h].length + extra.length);
                        System.arraycopy(extra, 0, all, q[r][l][h].length, extra.length);
                        q[r][l][h] = all;
                    }
                }
            }
        }
        return new SyntheticScenario(shape, layout, new SyntheticCache(shape, k, v, q), seed, maxGenerated);
    }

    /** Wraps explicit tensors (see {@link SyntheticCache}). */
    public static SyntheticScenario of(ModelShape shape, TokenLayout layout, SyntheticCache cache, long seed) {
        return new SyntheticScenario(shape, layout, cache, seed, 0);
    }

    /** A deep copy (its own cache), e.g. to compare against after a policy call. */
    public SyntheticScenario copy() {
        return new SyntheticScenario(shape, layout, cache.copy(), seed, maxGenerated);
    }

    /**
     * A scenario of the given rows of the given scenarios, in order ({@code rowOf[i]} of {@code sources[i]} becomes
     * row {@code i}), with {@code seed} as its context seed; tensors deep-copied. All must share one shape.
     */
    public static SyntheticScenario stack(SyntheticScenario[] sources, int[] rowOf, long seed) {
        SyntheticCache[] caches = new SyntheticCache[sources.length];
        java.util.List<io.github.kvpolicy.api.RowLayout> rows = new java.util.ArrayList<>();
        int maxGenerated = Integer.MAX_VALUE;
        for (int i = 0; i < sources.length; i++) {
            caches[i] = sources[i].cache;
            rows.add(sources[i].layout.row(rowOf[i]));
            maxGenerated = Math.min(maxGenerated, sources[i].maxGenerated);
        }
        return new SyntheticScenario(sources[0].shape, new TokenLayout(rows), SyntheticCache.stack(caches, rowOf), seed, maxGenerated);
    }

    /** A deep copy whose query head {@code i} holds the queries of query head {@code permutation[i]} (see {@link SyntheticCache#withQueryHeads}). */
    public SyntheticScenario withQueryHeads(int[] permutation) {
        return new SyntheticScenario(shape, layout, cache.withQueryHeads(permutation), seed, maxGenerated);
    }

    /**
     * Random tensors as {@link #random(ModelShape, TokenLayout, long, int)}, with every key and query component
     * shifted by {@code mean} and scaled by {@code scale} (x → mean + scale·x): non-zero means and large magnitudes,
     * which break naive softmax and norm code.
     */
    public static SyntheticScenario random(ModelShape shape, TokenLayout layout, long seed, int maxGenerated, float mean, float scale) {
        SyntheticScenario base = random(shape, layout, seed, maxGenerated);
        if (mean == 0f && scale == 1f) return base;
        SyntheticCache c = base.cache;
        c.transformKeysAndQueries(mean, scale);
        return base;
    }

    /** How many generated positions per row have prepared queries (see {@link #random(ModelShape, TokenLayout, long, int)}). */
    public int maxGenerated() {
        return maxGenerated;
    }

    /** Tokens generated so far in {@code row} (appended after the prompt). */
    public int generated(int row) {
        return cache.nextPosition(row) - layout.row(row).promptLength();
    }

    /**
     * Appends one generated token to every row, at the row's next position, with keys and values drawn from
     * (seed, row, position) — so the same scenario generates the same tokens whatever the policy evicted.
     *
     * @throws IllegalStateException if a row has used up its {@link #maxGenerated()} prepared queries
     */
    public void appendGenerated() {
        int d = shape.headDim();
        for (int r = 0; r < layout.batchSize(); r++) {
            int pos = cache.nextPosition(r);
            if (generated(r) >= maxGenerated) {
                throw new IllegalStateException("row " + r + " has generated " + generated(r) + " tokens, the scenario prepared queries for " + maxGenerated);
            }
            SplittableRandom rnd = new SplittableRandom(seed * 0x632BE59BD9B4E019L + r * 0x85EBCA77C2B2AE63L + pos);
            float[] salience = {(float) (rnd.nextDouble() < 0.1 ? 2.5 : 0.6)};
            float[][][] k = new float[shape.layers()][shape.kvHeads()][];
            float[][][] v = new float[shape.layers()][shape.kvHeads()][];
            for (int l = 0; l < shape.layers(); l++) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    k[l][h] = gaussian(rnd, 1, d, salience);
                    v[l][h] = gaussian(rnd, 1, d, null);
                }
            }
            cache.append(r, pos, k, v);
        }
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

    /**
     * A context for {@code policy}; the probe offers the queries of the policy's window (and every generated
     * position reached so far); sequence lengths are the rows' next positions.
     */
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
            seqLens[r] = Math.max(prompt, cache.nextPosition(r));
        }
        return SimplePolicyContext.builder()
                .layout(layout).cache(cache).probe(new SyntheticProbe(cache, available)).budget(budget)
                .phase(phase).decodeStep(decodeStep).seed(seed).policy(policy).sequenceLengths(seqLens)
                .build();
    }
}
