package io.github.kvpolicy.policy.baselines;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * AdaKV over SnapKV (window 4, no pooling): 20 visual tokens (0-19), 4 instruction (20-23); one layer, two KV heads.
 * Head 0's window queries attend to 14 visual tokens (0-13, keys e0, queries 12·e0: each ≈ 1/14 of the attention);
 * head 1's queries are 0, so its attention is flat (≈ 1/22 each). Budget 6 per head: layer total 12, safeguard
 * ⌊0.2 · 12 / 2⌋ = 1 per head; the 10 other slots all go to head 0's attended tokens, which outscore head 1's.
 */
class AdaKvTest {
    static final ModelShape SHAPE = new ModelShape(1, 2, 2, 4);

    static SyntheticScenario scenario() {
        TestSupport.HandMade t = new TestSupport.HandMade(SHAPE, RowLayout.of(0, 20, 4));
        for (int p = 0; p < 14; p++) t.key(0, 0, p, 1, 0, 0, 0);
        for (int p = 20; p < 24; p++) t.query(0, 0, p, 12, 0, 0, 0);
        return t.scenario();
    }

    static CompressionPolicy adakv(Object... extra) {
        Map<String, Object> snap = TestSupport.map("policy", "snapkv", "window", 4, "kernel", 1);
        Object[] kv = new Object[extra.length + 2];
        kv[0] = "scorer";
        kv[1] = snap;
        System.arraycopy(extra, 0, kv, 2, extra.length);
        return TestSupport.policy("adakv", kv);
    }

    @Test
    void budgetMovesToTheConcentratedHeadButKeepsTheSafeguard() {
        RetentionPlan plan = TestSupport.prefill(adakv(), scenario(), Budget.count(6));
        int h0 = plan.keptCount(0, 0, 0) - 4, h1 = plan.keptCount(0, 0, 1) - 4; // minus the 4 instruction tokens
        assertEquals(12, h0 + h1);
        assertEquals(11, h0);
        assertEquals(1, h1, "the flat head keeps its safeguard share");
        assertArrayEquals(TestSupport.concat(TestSupport.range(0, 11), TestSupport.range(20, 24)), plan.kept(0, 0, 0));
    }

    @Test
    void alphaSetsTheSafeguardShare() {
        RetentionPlan plan = TestSupport.prefill(adakv("alpha", 0.5), scenario(), Budget.count(6));
        assertEquals(9, plan.keptCount(0, 0, 0) - 4);
        assertEquals(3, plan.keptCount(0, 0, 1) - 4);
        RetentionPlan none = TestSupport.prefill(adakv("alpha", 0.0), scenario(), Budget.count(6));
        assertEquals(12, none.keptCount(0, 0, 0) - 4);
        assertEquals(0, none.keptCount(0, 0, 1) - 4);
    }

    @Test
    void splitOfSortedScores() {
        // head 0: 0.9, 0.8, 0.1; head 1: 0.5, 0.4, 0.3; 4 slots, α = 0.5 → 1 each, then 0.8 and 0.4
        int[] c = AdaKvAllocator.split(4, 0.5, new float[][] {{0.1f, 0.8f, 0.9f}, {0.3f, 0.4f, 0.5f}});
        assertArrayEquals(new int[] {2, 2}, c);
        assertArrayEquals(new int[] {2, 3}, AdaKvAllocator.split(5, 0.0, new float[][] {{0.1f, 0.8f, 0.9f}, {0.3f, 0.4f, 0.5f}}), "top 5: 0.9, 0.8 | 0.5, 0.4, 0.3");
        assertArrayEquals(new int[] {3, 3}, AdaKvAllocator.split(100, 0.2, new float[][] {{0.1f, 0.8f, 0.9f}, {0.3f, 0.4f, 0.5f}}), "clamped to the candidates");
        assertArrayEquals(new int[] {2, 2}, AdaKvAllocator.split(4, 0.0, new float[][] {{0.1f, 0.8f, 0.9f}, {0.3f, 0.4f, 0.5f}}));
    }

    @Test
    void layerTotalsComeFromTheNestedAllocator() {
        SyntheticScenario sc = SyntheticScenario.random(new ModelShape(5, 4, 2, 4),
                io.github.kvpolicy.api.TokenLayout.of(RowLayout.of(4, 200, 40)), 1);
        RetentionPlan plan = TestSupport.prefill(TestSupport.policy("adakv", "scorer", "pyramidkv"), sc, Budget.count(40));
        int[] expected = {78, 59, 40, 21, 2};
        for (int l = 0; l < 5; l++) {
            int total = plan.keptCount(0, l, 0) + plan.keptCount(0, l, 1) - 2 * (4 + 40);
            assertEquals(2 * expected[l], total, "layer " + l);
            int floor = (int) Math.floor(0.2 * 2 * expected[l] / 2);
            assertTrue(plan.keptCount(0, l, 0) - 44 >= floor && plan.keptCount(0, l, 1) - 44 >= floor);
        }
    }
}
