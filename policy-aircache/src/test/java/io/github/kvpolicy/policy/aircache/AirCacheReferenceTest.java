package io.github.kvpolicy.policy.aircache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.conformance.synthetic.SyntheticCache;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * AirCache against an independent NumPy implementation ({@code src/test/python/aircache_reference.py}, which writes
 * {@code aircache-reference.txt}): elite sets, visual importance per layer and per KV head, strength, skewness (computed
 * there from population moments, a different formula route), layer weights, the real-valued clamped layer targets and
 * each head's ranking of the visual tokens.
 */
class AirCacheReferenceTest {
    static Map<String, List<String[]>> ref;
    static ModelShape shape;
    static SyntheticScenario scenario;
    static AirCachePolicy policy;
    static int budget;

    @BeforeAll
    static void load() throws IOException {
        ref = new HashMap<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(AirCacheReferenceTest.class.getResourceAsStream("/aircache-reference.txt"), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.isBlank()) continue;
                String[] f = line.trim().split(" ");
                ref.computeIfAbsent(f[0], k -> new ArrayList<>()).add(f);
            }
        }
        String[] s = ref.get("shape").get(0), lay = ref.get("layout").get(0);
        shape = new ModelShape(Integer.parseInt(s[1]), Integer.parseInt(s[2]), Integer.parseInt(s[3]), Integer.parseInt(s[4]));
        RowLayout layout = RowLayout.of(Integer.parseInt(lay[1]), Integer.parseInt(lay[2]), Integer.parseInt(lay[3]));
        float[][][][] k = new float[1][shape.layers()][shape.kvHeads()][], v = new float[1][shape.layers()][shape.kvHeads()][];
        float[][][][] q = new float[1][shape.layers()][shape.queryHeads()][];
        for (String[] f : ref.get("k")) {
            int l = Integer.parseInt(f[1]), h = Integer.parseInt(f[2]);
            k[0][l][h] = floats(f, 3);
            v[0][l][h] = new float[k[0][l][h].length];
        }
        for (String[] f : ref.get("q")) q[0][Integer.parseInt(f[1])][Integer.parseInt(f[2])] = floats(f, 3);
        scenario = SyntheticScenario.of(shape, TokenLayout.of(layout), new SyntheticCache(shape, k, v, q), 1);
        double alpha = Double.parseDouble(ref.get("alpha").get(0)[1]);
        budget = Integer.parseInt(ref.get("budget").get(0)[1]);
        Budget min = Budget.ratio(Double.parseDouble(ref.get("min").get(0)[1]));
        policy = new AirCachePolicy("aircache", new AirCacheSettings(alpha, min, false, AirCacheSettings.Window.ELITE, 8, AirCacheSettings.Allocation.STRENGTH_SKEWNESS));
    }

    static float[] floats(String[] f, int from) {
        float[] out = new float[f.length - from];
        for (int i = from; i < f.length; i++) out[i - from] = Float.parseFloat(f[i]);
        return out;
    }

    static double[] doubles(String[] f, int from) {
        return Arrays.stream(f, from, f.length).mapToDouble(Double::parseDouble).toArray();
    }

    static AirCacheAnalysis.Row analysis() {
        return AirCacheAnalysis.analyse(scenario.prefillContext(policy, Budget.count(budget)), policy.settings())[0];
    }

    @Test
    void eliteSetsAndImportanceMatchNumPy() {
        AirCacheAnalysis.Row row = analysis();
        for (String[] f : ref.get("elite")) {
            int l = Integer.parseInt(f[1]);
            assertArrayEquals(Arrays.stream(f, 2, f.length).mapToInt(Integer::parseInt).toArray(), row.window()[l], "elite set of layer " + l);
        }
        assertTrue(ref.get("elite").stream().mapToInt(f -> f.length - 2).max().orElse(0) > 1, "the fixture exercises multi-token elite sets");
        for (String[] f : ref.get("layer_importance")) assertArrayEquals(doubles(f, 2), row.layerImportance()[Integer.parseInt(f[1])], 2e-6);
        for (String[] f : ref.get("kv_importance")) {
            double[] expected = doubles(f, 3);
            float[] actual = row.importance()[Integer.parseInt(f[1])][Integer.parseInt(f[2])];
            for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], 2e-6, "KV importance " + f[1] + "/" + f[2] + "[" + i + "]");
        }
    }

    @Test
    void strengthSkewnessAndWeightsMatchNumPy() {
        AirCacheAnalysis.Row row = analysis();
        for (String[] f : ref.get("strength")) assertEquals(Double.parseDouble(f[2]), row.strength()[Integer.parseInt(f[1])], 1e-5);
        for (String[] f : ref.get("skewness")) assertEquals(Double.parseDouble(f[2]), row.skewness()[Integer.parseInt(f[1])], 1e-4);
        for (String[] f : ref.get("weight")) assertEquals(Double.parseDouble(f[2]), row.weights()[Integer.parseInt(f[1])], 1e-5);
        // independent of the fixture: G1 of [1, 2, 3, 10] = 1.763632614803888 (NumPy: m3/m2^1.5 · sqrt(n(n−1))/(n−2))
        assertEquals(1.763632614803888, AirCacheAnalysis.skewness(new double[] {1, 2, 3, 10}), 1e-12);
    }

    @Test
    void planFollowsTheTargetsAndTheRankings() {
        PolicyContext ctx = scenario.prefillContext(policy, Budget.count(budget));
        RetentionPlan plan = policy.compress(ctx);
        assertEquals(List.of(), PlanValidator.violations(plan, ctx, policy.budgetMode()));
        long total = 0;
        for (String[] f : ref.get("target")) {
            int l = Integer.parseInt(f[1]);
            int kept0 = plan.keptCount(0, l, 0) - ctx.mandatory(0, l, 0).length;
            assertEquals(Double.parseDouble(f[2]), kept0, 1.0, "layer " + l + " keeps its target within rounding");
            for (int h = 0; h < shape.kvHeads(); h++) assertEquals(kept0, plan.keptCount(0, l, h) - ctx.mandatory(0, l, h).length, "heads of a layer keep the same count");
            total += (long) kept0 * shape.kvHeads();
        }
        assertEquals((long) shape.layers() * shape.kvHeads() * budget, total);
        for (String[] f : ref.get("rank")) {
            int l = Integer.parseInt(f[1]), h = Integer.parseInt(f[2]);
            int c = plan.keptCount(0, l, h) - ctx.mandatory(0, l, h).length;
            int[] expected = Arrays.stream(f, 3, 3 + c).mapToInt(Integer::parseInt).sorted().toArray();
            int[] keptVisual = Arrays.stream(plan.kept(0, l, h)).filter(p -> scenario.layout().row(0).isVisual(p)).toArray();
            assertArrayEquals(expected, keptVisual, "layer " + l + ", KV head " + h + " keeps its top " + c);
        }
    }
}
