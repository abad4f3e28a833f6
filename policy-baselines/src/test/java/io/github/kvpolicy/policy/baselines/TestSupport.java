package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.host.plugin.ProviderDiscovery;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.conformance.synthetic.SyntheticCache;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Test helpers: the registry, hand-made tensors, decode-ready random scenarios, plan checks. */
final class TestSupport {
    private TestSupport() {}

    static final PolicyRegistry REGISTRY = ProviderDiscovery.fromClassLoader(TestSupport.class.getClassLoader());

    /** Creates {@code name} with options given as alternating key, value. */
    static CompressionPolicy policy(String name, Object... kv) {
        Map<String, Object> opts = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) opts.put((String) kv[i], kv[i + 1]);
        return REGISTRY.create(new PolicyConfig(name, opts));
    }

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> opts = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) opts.put((String) kv[i], kv[i + 1]);
        return opts;
    }

    /** Compresses at prefill, asserts the plan is valid, returns it. */
    static RetentionPlan prefill(CompressionPolicy p, SyntheticScenario sc, Budget budget) {
        PolicyContext ctx = sc.prefillContext(p, budget);
        RetentionPlan plan = p.compress(ctx);
        assertEquals(List.of(), PlanValidator.violations(plan, ctx, p.budgetMode()), p.name() + " at " + budget);
        return plan;
    }

    /** Kept positions of (row 0, layer, head). */
    static int[] kept(RetentionPlan plan, int layer, int head) {
        return plan.kept(0, layer, head);
    }

    static int[] range(int from, int to) {
        return java.util.stream.IntStream.range(from, to).toArray();
    }

    static int[] concat(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).sorted().toArray();
    }

    /**
     * Explicit tensors for one row: everything zero until set. Keys of (layer, KV head, position) and queries of (layer,
     * query head, position); {@code extraQueries} positions past the prompt get query slots too (for decoding).
     */
    static final class HandMade {
        final ModelShape shape;
        final RowLayout layout;
        final float[][][][] k, v, q;

        HandMade(ModelShape shape, RowLayout layout, int extraQueries) {
            this.shape = shape;
            this.layout = layout;
            int n = layout.promptLength(), d = shape.headDim();
            k = new float[1][shape.layers()][shape.kvHeads()][n * d];
            v = new float[1][shape.layers()][shape.kvHeads()][n * d];
            q = new float[1][shape.layers()][shape.queryHeads()][(n + extraQueries) * d];
        }

        HandMade(ModelShape shape, RowLayout layout) {
            this(shape, layout, 0);
        }

        HandMade key(int layer, int kvHead, int pos, float... vec) {
            System.arraycopy(vec, 0, k[0][layer][kvHead], pos * shape.headDim(), vec.length);
            return this;
        }

        /** Sets the key of {@code pos} in every layer and KV head. */
        HandMade keyAll(int pos, float... vec) {
            for (int l = 0; l < shape.layers(); l++) for (int h = 0; h < shape.kvHeads(); h++) key(l, h, pos, vec);
            return this;
        }

        HandMade query(int layer, int qHead, int pos, float... vec) {
            System.arraycopy(vec, 0, q[0][layer][qHead], pos * shape.headDim(), vec.length);
            return this;
        }

        /** Sets the query of {@code pos} in every layer and query head. */
        HandMade queryAll(int pos, float... vec) {
            for (int l = 0; l < shape.layers(); l++) for (int h = 0; h < shape.queryHeads(); h++) query(l, h, pos, vec);
            return this;
        }

        SyntheticScenario scenario() {
            return SyntheticScenario.of(shape, TokenLayout.of(layout), new SyntheticCache(shape, k, v, q), 7);
        }
    }

    /** Random Gaussian tensors for every row, with query slots for {@code generated} positions past each prompt. */
    static SyntheticScenario randomWithDecode(ModelShape shape, TokenLayout layout, int generated, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = layout.batchSize(), d = shape.headDim();
        float[][][][] k = new float[rows][shape.layers()][shape.kvHeads()][];
        float[][][][] v = new float[rows][shape.layers()][shape.kvHeads()][];
        float[][][][] q = new float[rows][shape.layers()][shape.queryHeads()][];
        for (int r = 0; r < rows; r++) {
            int n = layout.row(r).promptLength();
            for (int l = 0; l < shape.layers(); l++) {
                for (int h = 0; h < shape.kvHeads(); h++) { k[r][l][h] = gaussian(rnd, n * d); v[r][l][h] = gaussian(rnd, n * d); }
                for (int h = 0; h < shape.queryHeads(); h++) q[r][l][h] = gaussian(rnd, (n + generated) * d);
            }
        }
        return SyntheticScenario.of(shape, layout, new SyntheticCache(shape, k, v, q), seed);
    }

    /** Appends {@code generated} random tokens to every row (positions promptLength .. promptLength + generated - 1). */
    static void appendGenerated(SyntheticScenario sc, int generated, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        ModelShape s = sc.shape();
        for (int r = 0; r < sc.layout().batchSize(); r++) {
            int n = sc.layout().row(r).promptLength();
            for (int g = 0; g < generated; g++) {
                float[][][] k = new float[s.layers()][s.kvHeads()][], v = new float[s.layers()][s.kvHeads()][];
                for (int l = 0; l < s.layers(); l++) for (int h = 0; h < s.kvHeads(); h++) { k[l][h] = gaussian(rnd, s.headDim()); v[l][h] = gaussian(rnd, s.headDim()); }
                sc.cache().append(r, n + g, k, v);
            }
        }
    }

    static PolicyContext decodeContext(CompressionPolicy p, SyntheticScenario sc, Budget budget, int step) {
        return sc.context(p, budget, Phase.DECODE, step);
    }

    private static float[] gaussian(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (Math.sqrt(-2 * Math.log(1 - rnd.nextDouble())) * Math.cos(2 * Math.PI * rnd.nextDouble()));
        return a;
    }
}
