package io.github.kvpolicy.policy.baselines;

import static io.github.kvpolicy.policy.baselines.TestSupport.concat;
import static io.github.kvpolicy.policy.baselines.TestSupport.kept;
import static io.github.kvpolicy.policy.baselines.TestSupport.range;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import org.junit.jupiter.api.Test;

/**
 * SnapKV on hand-made tensors: 2 system tokens (0-1), 10 visual (2-11), 4 instruction (12-15). Every window query is
 * {@code 8·e0}; the key of visual token 7 is {@code e0} and of system token 1 {@code 0.5·e0}, every other key is 0. So
 * the window attends most to 7, then to 1, and equally little to everything else.
 */
class SnapKvTest {
    static final ModelShape SHAPE = new ModelShape(2, 4, 2, 4);
    static final RowLayout LAYOUT = RowLayout.of(2, 10, 4);

    static SyntheticScenario scenario() {
        TestSupport.HandMade t = new TestSupport.HandMade(SHAPE, LAYOUT).keyAll(7, 1, 0, 0, 0).keyAll(1, 0.5f, 0, 0, 0);
        for (int p = 12; p < 16; p++) t.queryAll(p, 8, 0, 0, 0);
        return t.scenario();
    }

    @Test
    void allScopeProtectsTheWindowAndKeepsTheAttendedTokens() {
        CompressionPolicy p = TestSupport.policy("snapkv", "scope", "all", "window", 4, "kernel", 1);
        assertEquals(Scope.ALL, p.scope());
        assertEquals(Protection.sinksAndRecent(0, 4), p.protection());
        assertEquals(QueryWindow.last(4), p.queryWindow());
        RetentionPlan plan = TestSupport.prefill(p, scenario(), Budget.count(2));
        for (int l = 0; l < 2; l++) for (int h = 0; h < 2; h++) assertArrayEquals(new int[] {1, 7, 12, 13, 14, 15}, kept(plan, l, h));
    }

    @Test
    void poolingKeepsTheNeighbourhoodOfTheAttendedToken() {
        // kernel 3: 6, 7 and 8 all pool to (A + 2b)/3, above every other candidate
        RetentionPlan plan = TestSupport.prefill(TestSupport.policy("snapkv", "scope", "all", "window", 4, "kernel", 3), scenario(), Budget.count(3));
        assertArrayEquals(new int[] {6, 7, 8, 12, 13, 14, 15}, kept(plan, 0, 0));
        // without pooling the third slot goes to the system token 1, then the earliest of the ties (0)
        RetentionPlan raw = TestSupport.prefill(TestSupport.policy("snapkv", "scope", "all", "window", 4, "kernel", 1), scenario(), Budget.count(3));
        assertArrayEquals(new int[] {0, 1, 7, 12, 13, 14, 15}, kept(raw, 0, 0));
    }

    @Test
    void visualScopeKeepsAllTextAndTheAttendedVisualToken() {
        CompressionPolicy p = TestSupport.policy("snapkv", "window", 4, "kernel", 1);
        assertEquals(Scope.VISUAL, p.scope());
        assertEquals(Protection.none(), p.protection());
        RetentionPlan plan = TestSupport.prefill(p, scenario(), Budget.count(1));
        assertArrayEquals(concat(new int[] {0, 1, 7}, range(12, 16)), kept(plan, 1, 1));
    }

    @Test
    void visualTokensInsideTheWindowAreKeptFirst() {
        // window 6 reaches back to visual tokens 10 and 11: SnapKV always keeps its window
        CompressionPolicy p = TestSupport.policy("snapkv", "window", 6, "kernel", 1);
        SyntheticScenario sc = scenario();
        RetentionPlan plan = TestSupport.prefill(p, sc, Budget.count(3));
        assertArrayEquals(concat(new int[] {0, 1, 7, 10, 11}, range(12, 16)), kept(plan, 0, 0));
    }

    @Test
    void poolingMatchesPyTorchAvgAndMaxPool1d() {
        // F.avg_pool1d(x, 3, stride=1, padding=1) (count_include_pad) and F.max_pool1d(x, 3, 1, 1) of [3, 0, 0, 6, 0]
        float[] x = {3, 0, 0, 6, 0};
        assertArrayEquals(new float[] {1, 1, 2, 2, 2}, SnapKvScorer.pool(x, 3, false), 1e-6f);
        assertArrayEquals(new float[] {3, 3, 6, 6, 6}, SnapKvScorer.pool(x, 3, true), 0f);
        assertArrayEquals(new float[] {0.6f, 1.8f, 1.8f, 1.2f, 1.2f}, SnapKvScorer.pool(x, 5, false), 1e-6f);
        assertArrayEquals(x, SnapKvScorer.pool(x, 1, false), 0f);
    }
}
