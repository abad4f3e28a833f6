package io.github.kvpolicy.policy.baselines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.api.provider.InvalidOptionException;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import org.junit.jupiter.api.Test;

/** Full, Random and the composition wrappers (layer-budgets, decoding, scope propagation). */
class WrappersAndSimpleBaselinesTest {
    static final ModelShape SHAPE = new ModelShape(2, 2, 1, 4);
    static SyntheticScenario scenario(long seed) {
        return SyntheticScenario.random(SHAPE, TokenLayout.of(RowLayout.of(3, 20, 5), RowLayout.of(1, 30, 2)), seed);
    }

    @Test
    void fullKeepsEverythingAtAnyBudget() {
        SyntheticScenario sc = scenario(1);
        RetentionPlan plan = TestSupport.prefill(TestSupport.policy("full"), sc, Budget.count(0));
        assertEquals(RetentionPlan.keepAll(sc.cache()), plan);
    }

    @Test
    void randomIsSeededAndUniform() {
        CompressionPolicy p = TestSupport.policy("random");
        RetentionPlan a = TestSupport.prefill(p, scenario(1), Budget.count(5));
        RetentionPlan b = TestSupport.prefill(p, scenario(2), Budget.count(5));
        assertNotEquals(a, b, "another seed draws another subset");
        for (int l = 0; l < 2; l++) {
            assertEquals(5 + 8, a.keptCount(0, l, 0));
            assertEquals(5 + 3, a.keptCount(1, l, 0));
        }
        assertNotEquals(java.util.Arrays.toString(a.kept(0, 0, 0)), java.util.Arrays.toString(a.kept(0, 1, 0)), "layers draw independently");
    }

    @Test
    void layerBudgetsWithExplicitWeights() {
        CompressionPolicy p = TestSupport.policy("layer-budgets", "weights", "3, 1", "scorer", "knorm");
        RetentionPlan plan = TestSupport.prefill(p, scenario(1), Budget.count(4));
        assertEquals(6 + 8, plan.keptCount(0, 0, 0));
        assertEquals(2 + 8, plan.keptCount(0, 1, 0));
        assertEquals("layer-budgets", p.name());
    }

    @Test
    void layerBudgetsWeightsMustMatchTheLayers() {
        CompressionPolicy p = TestSupport.policy("layer-budgets", "weights", "1,1,1");
        SyntheticScenario sc = scenario(1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.compress(sc.prefillContext(p, Budget.count(4))));
        assertTrue(e.getMessage().contains("'weights'") && e.getMessage().contains("3 weights") && e.getMessage().contains("2 layers"), e.getMessage());
        for (String bad : new String[] {"1,x", "-1,2", "0,0"}) {
            InvalidOptionException ie = assertThrows(InvalidOptionException.class, () -> TestSupport.policy("layer-budgets", "weights", bad));
            assertTrue(ie.getMessage().contains("'weights'"), ie.getMessage());
        }
    }

    @Test
    void layerBudgetsPyramidEqualsPyramidKv() {
        SyntheticScenario sc = SyntheticScenario.random(new ModelShape(5, 4, 2, 4), TokenLayout.of(RowLayout.of(4, 200, 40)), 1);
        RetentionPlan wrapped = TestSupport.prefill(TestSupport.policy("layer-budgets"), sc, Budget.count(40));
        RetentionPlan pyramid = TestSupport.prefill(TestSupport.policy("pyramidkv"), sc, Budget.count(40));
        assertEquals(pyramid, wrapped);
        RetentionPlan uniform = TestSupport.prefill(TestSupport.policy("layer-budgets", "schedule", "uniform"), sc, Budget.count(40));
        assertEquals(TestSupport.prefill(TestSupport.policy("snapkv"), sc, Budget.count(40)), uniform);
    }

    @Test
    void decodingWrapperChangesOnlyTheSchedule() {
        CompressionPolicy p = TestSupport.policy("decoding", "scorer", "knorm", "trigger", "every", "every", 8);
        assertEquals(Schedule.everySteps(8), p.schedule());
        assertEquals("decoding", p.name());
        SyntheticScenario sc = scenario(3);
        assertEquals(TestSupport.prefill(TestSupport.policy("knorm"), sc, Budget.count(4)), TestSupport.prefill(p, sc, Budget.count(4)));
        assertEquals(Schedule.whenOverBudget(3), TestSupport.policy("decoding", "slack", 3).schedule());
        InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> TestSupport.policy("decoding", "trigger", "prefill"));
        assertTrue(e.getMessage().contains("'trigger'"), e.getMessage());
    }

    @Test
    void wrapperScopeIsPassedToTheNestedPolicy() {
        CompressionPolicy p = TestSupport.policy("adakv", "scope", "all", "scorer", TestSupport.map("policy", "snapkv", "window", 8));
        assertEquals(Scope.ALL, p.scope());
        assertEquals(Protection.sinksAndRecent(0, 8), p.protection(), "SnapKV's window is protected under scope all");
        assertEquals(Scope.VISUAL, TestSupport.policy("adakv").scope());
        assertEquals(Scope.ALL, TestSupport.policy("decoding", "scorer", TestSupport.map("policy", "h2o", "scope", "all")).scope(), "inherit");
        InvalidOptionException e = assertThrows(InvalidOptionException.class,
                () -> TestSupport.policy("decoding", "scope", "all", "scorer", TestSupport.map("policy", "h2o", "scope", "visual")));
        assertTrue(e.getMessage().contains("'scope'") && e.getMessage().contains("h2o"), e.getMessage());
        InvalidOptionException full = assertThrows(InvalidOptionException.class, () -> TestSupport.policy("adakv", "scope", "all", "scorer", "full"));
        assertTrue(full.getMessage().contains("'scope'"), full.getMessage());
    }
}
