package io.github.kvpolicy.policy.baselines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import org.junit.jupiter.api.Test;

/**
 * PyramidKV's per-layer budgets, with expected numbers worked out by hand from the schedule: B = 40, β = 20, 5 layers:
 * min = 40/20 = 2, max = 2·40 − 2 = 78, step (78 − 2)/4 = 19.
 */
class PyramidKvTest {
    static final ModelShape SHAPE = new ModelShape(5, 4, 2, 4);

    static int[][] perHeadCounts(RetentionPlan plan, SyntheticScenario sc, CompressionPolicy p, Budget b) {
        var ctx = sc.prefillContext(p, b);
        int[][] out = new int[SHAPE.layers()][SHAPE.kvHeads()];
        for (int l = 0; l < SHAPE.layers(); l++)
            for (int h = 0; h < SHAPE.kvHeads(); h++) out[l][h] = plan.keptCount(0, l, h) - ctx.mandatory(0, l, h).length;
        return out;
    }

    static void assertLayers(int[] expected, int[][] counts) {
        for (int l = 0; l < expected.length; l++)
            for (int h = 0; h < counts[l].length; h++) assertEquals(expected[l], counts[l][h], "layer " + l + ", KV head " + h);
    }

    @Test
    void layerBudgetsFollowTheLinearSchedule() {
        SyntheticScenario sc = SyntheticScenario.random(SHAPE, TokenLayout.of(RowLayout.of(4, 200, 40)), 1);
        CompressionPolicy p = TestSupport.policy("pyramidkv");
        RetentionPlan plan = TestSupport.prefill(p, sc, Budget.count(40));
        assertLayers(new int[] {78, 59, 40, 21, 2}, perHeadCounts(plan, sc, p, Budget.count(40)));
    }

    @Test
    void betaChangesTheSlope() {
        // β = 4: min = 10, max = 70, step 15
        SyntheticScenario sc = SyntheticScenario.random(SHAPE, TokenLayout.of(RowLayout.of(4, 200, 40)), 1);
        CompressionPolicy p = TestSupport.policy("pyramidkv", "beta", 4);
        assertLayers(new int[] {70, 55, 40, 25, 10}, perHeadCounts(TestSupport.prefill(p, sc, Budget.count(40)), sc, p, Budget.count(40)));
    }

    @Test
    void shortInputsFallBackToUniform() {
        // 70 visual candidates < 2·40: PyramidKV's q_len < 2(B − w) fall-back keeps B per layer (SnapKV)
        SyntheticScenario sc = SyntheticScenario.random(SHAPE, TokenLayout.of(RowLayout.of(4, 70, 40)), 1);
        CompressionPolicy p = TestSupport.policy("pyramidkv");
        assertLayers(new int[] {40, 40, 40, 40, 40}, perHeadCounts(TestSupport.prefill(p, sc, Budget.count(40)), sc, p, Budget.count(40)));
    }

    @Test
    void maxIsClampedToTheCandidates() {
        // scope all, window 32: 92 prompt tokens leave n = 60 candidates; n + w = 92 >= 80 but max = 78 >= 60, so
        // max = 60, min = 2·40 − 60 = 20: 60, 50, 40, 30, 20
        SyntheticScenario sc = SyntheticScenario.random(SHAPE, TokenLayout.of(RowLayout.of(2, 70, 20)), 1);
        CompressionPolicy p = TestSupport.policy("pyramidkv", "scope", "all");
        assertLayers(new int[] {60, 50, 40, 30, 20}, perHeadCounts(TestSupport.prefill(p, sc, Budget.count(40)), sc, p, Budget.count(40)));
    }

    @Test
    void scheduleFormula() {
        assertArrayEquals(new double[] {78, 59, 40, 21, 2}, Allocations.pyramid(5, 40, 200, 20, 0), 1e-9);
        assertArrayEquals(new double[] {7, 7}, Allocations.pyramid(2, 10, 7, 20, 0), 0, "a budget above the candidates keeps them all");
        assertArrayEquals(new double[] {10}, Allocations.pyramid(1, 10, 100, 20, 0), 0);
    }
}
