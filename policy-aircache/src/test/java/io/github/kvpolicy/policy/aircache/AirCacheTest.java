package io.github.kvpolicy.policy.aircache;

import io.github.kvpolicy.host.plugin.ProviderDiscovery;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.api.provider.InvalidOptionException;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.conformance.synthetic.SyntheticCache;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * AirCache on hand-made tensors. Layout: system 0-1, visual 2-9 (N_v = 8), instruction 10-13; two layers, two query
 * heads sharing one KV head, head dim 4. The last instruction token (13) queries {@code 10·e0} and token 11's key is
 * {@code e0}, so the last token attends to 11 far above the other instruction tokens: the elite set is {11} in every
 * layer. What 11's query attends to among the visual tokens is set per layer.
 */
class AirCacheTest {
    static final PolicyRegistry REGISTRY = ProviderDiscovery.fromClassLoader(AirCacheTest.class.getClassLoader());
    static final ModelShape SHAPE = new ModelShape(2, 2, 1, 4);
    static final RowLayout LAYOUT = RowLayout.of(2, 8, 4);

    static CompressionPolicy aircache(Object... kv) {
        Map<String, Object> o = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) o.put((String) kv[i], kv[i + 1]);
        return REGISTRY.create(new PolicyConfig("aircache", o));
    }

    /** Tensors: elite set {11}; {@code visualKeys[l][p]} is the key of visual token p in layer l (channel 1), 11's query is 10·e1. */
    static SyntheticScenario scenario(float[][] visualKeys) {
        int n = LAYOUT.promptLength(), d = 4;
        float[][][][] k = new float[1][2][1][n * d], v = new float[1][2][1][n * d], q = new float[1][2][2][n * d];
        for (int l = 0; l < 2; l++) {
            k[0][l][0][11 * d] = 1;                                         // key of 11 = e0
            for (int p = 2; p < 10; p++) k[0][l][0][p * d + 1] = visualKeys[l][p - 2];
            for (int h = 0; h < 2; h++) {
                q[0][l][h][13 * d] = 10;                                    // last token → 11
                q[0][l][h][11 * d + 1] = 10;                                // elite token → visual keys along e1
            }
        }
        return SyntheticScenario.of(SHAPE, TokenLayout.of(LAYOUT), new SyntheticCache(SHAPE, k, v, q), 5);
    }

    static final float[] PEAK_AT_5 = {0, 0, 0, 1, 0, 0, 0, 0};   // visual position 5
    static final float[] FLAT = new float[8];
    static final float[] ALL_BUT_9 = {1, 1, 1, 1, 1, 1, 1, 0};   // negative skew: one low outlier

    static RetentionPlan run(CompressionPolicy p, SyntheticScenario sc, Budget b) {
        PolicyContext ctx = sc.prefillContext(p, b);
        RetentionPlan plan = p.compress(ctx);
        assertEquals(List.of(), PlanValidator.violations(plan, ctx, p.budgetMode()));
        return plan;
    }

    static int visualKept(RetentionPlan plan, int layer) {
        return (int) java.util.Arrays.stream(plan.kept(0, layer, 0)).filter(LAYOUT::isVisual).count();
    }

    @Test
    void declarations() {
        CompressionPolicy p = aircache();
        assertEquals(Scope.VISUAL, p.scope());
        assertEquals(Protection.none(), p.protection());
        assertEquals(Schedule.onceAfterPrefill(), p.schedule());
        assertEquals(QueryWindow.instructionText(), p.queryWindow());
        assertEquals(QueryWindow.all(), aircache("window", "last-k-visual").queryWindow());
        PolicyProvider provider = REGISTRY.provider("aircache");
        assertEquals("0.1.0", provider.version());
        assertEquals(Set.of(Capability.DETERMINISTIC, Capability.BATCH, Capability.THREAD_SAFE, Capability.LAYER_WISE_BUDGETS), provider.capabilities());
        assertTrue(provider.description().contains("2503.23956"));
        assertEquals(0.9, provider.options().spec("alpha").orElseThrow().defaultValue());
    }

    @Test
    void theEliteSetIsTheInstructionTokenTheLastTokenAttendsTo() {
        AirCacheAnalysis.Row row = AirCacheAnalysis.analyse(scenario(new float[][] {PEAK_AT_5, FLAT}).prefillContext(aircache(), Budget.count(1)),
                AirCacheSettings.defaults())[0];
        assertArrayEquals(new int[] {11}, row.window()[0]);
        assertArrayEquals(new int[] {11}, row.window()[1]);
        // α = 0: every instruction token is elite
        AirCacheAnalysis.Row all = AirCacheAnalysis.analyse(scenario(new float[][] {PEAK_AT_5, FLAT}).prefillContext(aircache(), Budget.count(1)),
                new AirCacheSettings(0.0, Budget.count(0), false, AirCacheSettings.Window.ELITE, 8, AirCacheSettings.Allocation.UNIFORM))[0];
        assertArrayEquals(new int[] {10, 11, 12, 13}, all.window()[0]);
    }

    /** The window listener sees the elite set the analysis chose, per row and layer, and does not change the plan. */
    @Test
    void theWindowListenerReportsTheEliteSetAndLeavesThePlanAlone() {
        SyntheticScenario sc = scenario(new float[][] {PEAK_AT_5, FLAT});
        AirCachePolicy plain = (AirCachePolicy) aircache();
        List<int[][][]> seen = new java.util.ArrayList<>();
        AirCachePolicy reporting = plain.reportingWindows(seen::add);
        RetentionPlan a = run(plain, sc, Budget.count(2)), b = run(reporting, sc, Budget.count(2));
        assertEquals(1, seen.size(), "one report per compress call");
        assertEquals(1, seen.get(0).length, "one row");
        assertArrayEquals(new int[] {11}, seen.get(0)[0][0]);
        assertArrayEquals(new int[] {11}, seen.get(0)[0][1]);
        for (int l = 0; l < 2; l++) assertArrayEquals(a.kept(0, l, 0), b.kept(0, l, 0), "layer " + l);
        seen.get(0)[0][0][0] = 99; // the report is a copy: changing it changes nothing inside the policy
        assertArrayEquals(b.kept(0, 0, 0), run(reporting, sc, Budget.count(2)).kept(0, 0, 0));
        assertArrayEquals(new int[] {11}, seen.get(1)[0][0]);
    }

    @Test
    void aVisualTokenTheEliteWindowAttendsToIsKept() {
        SyntheticScenario sc = scenario(new float[][] {PEAK_AT_5, PEAK_AT_5});
        RetentionPlan plan = run(aircache("allocation", "uniform"), sc, Budget.count(1));
        for (int l = 0; l < 2; l++) assertArrayEquals(new int[] {0, 1, 5, 10, 11, 12, 13}, plan.kept(0, l, 0), "layer " + l);
        // ablation: the last text token alone (13) does not look at the visual tokens, so the earliest one is kept
        RetentionPlan last = run(aircache("allocation", "uniform", "window", "last-k-text", "window-k", 1), sc, Budget.count(1));
        assertArrayEquals(new int[] {0, 1, 2, 10, 11, 12, 13}, last.kept(0, 0, 0));
        // all instruction text: 11 is among the queries, so 5 still wins
        RetentionPlan allText = run(aircache("allocation", "uniform", "window", "all-text"), sc, Budget.count(1));
        assertArrayEquals(new int[] {0, 1, 5, 10, 11, 12, 13}, allText.kept(0, 0, 0));
    }

    @Test
    void aLayerWithSkewedImportanceGetsMoreBudgetThanAFlatOne() {
        SyntheticScenario sc = scenario(new float[][] {PEAK_AT_5, FLAT});
        AirCacheAnalysis.Row row = AirCacheAnalysis.analyse(sc.prefillContext(aircache(), Budget.count(2)), AirCacheSettings.defaults())[0];
        assertTrue(row.skewness()[0] > 2, "one dominant token: strongly positive skewness, got " + row.skewness()[0]);
        assertTrue(Double.isNaN(row.skewness()[1]), "flat importance has no skewness");
        // strength: layer 0 puts (e^5 + 7)/(e^5 + 8) of the elite query's attention on visual tokens, layer 1 8/9
        double s0 = (Math.exp(5) + 7) / (Math.exp(5) + 8), s1 = 8.0 / 9;
        assertEquals(s0, row.strength()[0], 1e-6);
        assertEquals(s1, row.strength()[1], 1e-6);
        double mean = (s0 + s1) / 2;
        assertEquals(0.5 * (s0 / mean + 2), row.weights()[0], 1e-6, "skewness' = 2 for the only skewed layer");
        assertEquals(0.5 * (s1 / mean + 0), row.weights()[1], 1e-6);
        RetentionPlan plan = run(aircache(), sc, Budget.count(2));
        // 4 slots: 4·w/2 = 3.06 and 0.94 → 3 and 1
        assertEquals(3, visualKept(plan, 0));
        assertEquals(1, visualKept(plan, 1));
        assertTrue(java.util.Arrays.binarySearch(plan.kept(0, 0, 0), 5) >= 0);
    }

    @Test
    void negativeSkewnessIsClampedToZero() {
        SyntheticScenario sc = scenario(new float[][] {PEAK_AT_5, ALL_BUT_9});
        AirCacheAnalysis.Row row = AirCacheAnalysis.analyse(sc.prefillContext(aircache(), Budget.count(3)), AirCacheSettings.defaults())[0];
        assertTrue(row.skewness()[1] < 0, "seven high and one low: negative skewness, got " + row.skewness()[1]);
        RetentionPlan plan = run(aircache("allocation", "skewness", "min-per-layer", "1"), sc, Budget.count(3));
        assertEquals(1, visualKept(plan, 1), "weight 0: only the minimum");
        assertEquals(5, visualKept(plan, 0));
        // and the negatively skewed layer keeps its most important token (not 9)
        assertArrayEquals(new int[] {0, 1, 2, 10, 11, 12, 13}, plan.kept(0, 1, 0));
    }

    @Test
    void layersAreClampedToTheVisualTokensAndTheRestRedistributed() {
        SyntheticScenario sc = scenario(new float[][] {PEAK_AT_5, FLAT});
        // skewness weights 2 and 0: layer 0 wants all 12 slots but holds 8 visual tokens; the other 4 go to layer 1
        RetentionPlan plan = run(aircache("allocation", "skewness", "min-per-layer", "0"), sc, Budget.count(6));
        assertEquals(8, visualKept(plan, 0));
        assertEquals(4, visualKept(plan, 1));
    }

    @Test
    void minimumPerLayerAsRatioOrCount() {
        SyntheticScenario sc = scenario(new float[][] {PEAK_AT_5, FLAT});
        assertEquals(0, visualKept(run(aircache("allocation", "skewness", "min-per-layer", "0"), sc, Budget.count(4)), 1));
        assertEquals(2, visualKept(run(aircache("allocation", "skewness", "min-per-layer", "50%"), sc, Budget.count(4)), 1));
        assertEquals(3, visualKept(run(aircache("allocation", "skewness", "min-per-layer", "3"), sc, Budget.count(4)), 1));
        assertEquals(4, visualKept(run(aircache("allocation", "skewness", "min-per-layer", "100"), sc, Budget.count(4)), 1), "a count is capped at B");
    }

    @Test
    void allocationAblations() {
        SyntheticScenario sc = scenario(new float[][] {PEAK_AT_5, FLAT});
        RetentionPlan uniform = run(aircache("allocation", "uniform"), sc, Budget.count(3));
        assertEquals(3, visualKept(uniform, 0));
        assertEquals(3, visualKept(uniform, 1));
        // pyramid over 2 layers: 2 − 1/20 and 1/20 of B = 3 → 5.85 and 0.15 → 6 and 0 (min 10% of 3 rounds to 0)
        RetentionPlan pyramid = run(aircache("allocation", "pyramid"), sc, Budget.count(3));
        assertEquals(6, visualKept(pyramid, 0));
        assertEquals(0, visualKept(pyramid, 1));
        // strength only: s0 > s1, so layer 0 gets more but not everything
        RetentionPlan strength = run(aircache("allocation", "strength"), sc, Budget.count(3));
        assertEquals(6, visualKept(strength, 0) + visualKept(strength, 1));
        assertTrue(visualKept(strength, 0) >= visualKept(strength, 1));
    }

    @Test
    void headAggregationMeanOrMax() {
        // Keys: visual 5 = e1, visual 8 = e2. Elite query (11), head 0: 4·e1; head 1: 8.06·e1 + 8.7·e2. Over the 9 keys
        // (visual ∪ {11}) head 0 gives 5 → 0.480, 8 → 0.065; head 1 gives 5 → 0.400, 8 → 0.551 (NumPy). Mean: 5 (0.440)
        // beats 8 (0.308); max: 8 (0.551) beats 5 (0.480).
        int n = LAYOUT.promptLength(), d = 4;
        float[][][][] k = new float[1][2][1][n * d], v = new float[1][2][1][n * d], q = new float[1][2][2][n * d];
        for (int l = 0; l < 2; l++) {
            k[0][l][0][11 * d] = 1;
            k[0][l][0][5 * d + 1] = 1;
            k[0][l][0][8 * d + 2] = 1;
            for (int h = 0; h < 2; h++) q[0][l][h][13 * d] = 10;
            q[0][l][0][11 * d + 1] = 4f;
            q[0][l][1][11 * d + 1] = 8.06f;
            q[0][l][1][11 * d + 2] = 8.7f;
        }
        SyntheticScenario sc = SyntheticScenario.of(SHAPE, TokenLayout.of(LAYOUT), new SyntheticCache(SHAPE, k, v, q), 5);
        RetentionPlan mean = run(aircache("allocation", "uniform"), sc, Budget.count(1));
        assertArrayEquals(new int[] {0, 1, 5, 10, 11, 12, 13}, mean.kept(0, 0, 0));
        RetentionPlan max = run(aircache("allocation", "uniform", "head-aggregation", "max"), sc, Budget.count(1));
        assertArrayEquals(new int[] {0, 1, 8, 10, 11, 12, 13}, max.kept(0, 0, 0));
    }

    @Test
    void optionErrorsNameTheOption() {
        Map<String, Object> bad = Map.of("alpha", 1.5, "min-per-layer", "lots", "head-aggregation", "median", "window", "elite-ish", "window-k", 0,
                "allocation", "magic");
        bad.forEach((opt, value) -> {
            InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> aircache(opt, value), opt);
            assertTrue(e.getMessage().contains("'" + opt + "'") && e.getMessage().contains("aircache"), e.getMessage());
        });
        InvalidOptionException budget = assertThrows(InvalidOptionException.class, () -> aircache("budget", "10%"));
        assertTrue(budget.getMessage().contains("'budget'"), budget.getMessage());
        InvalidOptionException ratio = assertThrows(InvalidOptionException.class, () -> aircache("min-per-layer", "150%"));
        assertTrue(ratio.getMessage().contains("'min-per-layer'"), ratio.getMessage());
    }
}
