package io.github.kvpolicy.policy.baselines;

import static io.github.kvpolicy.policy.baselines.TestSupport.concat;
import static io.github.kvpolicy.policy.baselines.TestSupport.range;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.util.List;
import org.junit.jupiter.api.Test;

/** H2O, VL-Cache, PrefixKV and TOVA on hand-made tensors whose answer is known by construction. */
class AttentionBaselinesTest {

    // ---- H2O: 10 visual (0-9), 2 instruction (10-11); every query is 6·e0 and only token 2's key is e0.
    static TestSupport.HandMade h2oTensors(int extraQueries) {
        ModelShape s = new ModelShape(1, 1, 1, 4);
        TestSupport.HandMade t = new TestSupport.HandMade(s, RowLayout.of(0, 10, 2), extraQueries).keyAll(2, 1, 0, 0, 0);
        for (int p = 0; p < 12 + extraQueries; p++) t.queryAll(p, 6, 0, 0, 0);
        return t;
    }

    @Test
    void h2oKeepsHeavyHittersAndTheRecentHalf() {
        CompressionPolicy p = TestSupport.policy("h2o");
        assertEquals(QueryWindow.all(), p.queryWindow());
        // 2 recent visual tokens (8, 9); heavy hitters: 2 (attended by every later query) and 0 (seen by every query, the
        // causal accumulation favours it over 1, which has the same logits but one query fewer)
        RetentionPlan plan = TestSupport.prefill(p, h2oTensors(0).scenario(), Budget.count(4));
        assertArrayEquals(new int[] {0, 2, 8, 9, 10, 11}, plan.kept(0, 0, 0));
        RetentionPlan recentOnly = TestSupport.prefill(TestSupport.policy("h2o", "heavy-ratio", 0.0), h2oTensors(0).scenario(), Budget.count(4));
        assertArrayEquals(new int[] {6, 7, 8, 9, 10, 11}, recentOnly.kept(0, 0, 0));
    }

    @Test
    void h2oEvictsAsTheCacheGrowsButKeepsTheHeavyHitter() {
        CompressionPolicy p = TestSupport.policy("h2o", "scope", "all");
        assertEquals(Schedule.whenOverBudget(0), p.schedule());
        SyntheticScenario sc = h2oTensors(2).scenario();
        RetentionPlan plan = TestSupport.prefill(p, sc, Budget.count(4));
        assertArrayEquals(new int[] {0, 2, 10, 11}, plan.kept(0, 0, 0));
        sc.cache().compact(plan);
        float[][][] zero = {{new float[4]}};
        sc.cache().append(0, 12, zero, zero);
        sc.cache().append(0, 13, zero, zero);
        PolicyContext ctx = TestSupport.decodeContext(p, sc, Budget.count(4), 2);
        RetentionPlan next = p.compress(ctx);
        assertEquals(List.of(), PlanValidator.violations(next, ctx, p.budgetMode()));
        assertArrayEquals(new int[] {0, 2, 12, 13}, next.kept(0, 0, 0));
    }

    // ---- VL-Cache and PrefixKV: 2 layers, one head; 20 visual (0-19), 4 instruction (20-23). Layer 0: all zero, so
    // attention is flat. Layer 1: the instruction queries are 20·e0 and only token 5's key is e0 (logit 10, everything
    // else e^-10 relative to it: below 1% of the row maximum).
    static SyntheticScenario flatAndPeaked() {
        ModelShape s = new ModelShape(2, 1, 1, 4);
        TestSupport.HandMade t = new TestSupport.HandMade(s, RowLayout.of(0, 20, 4)).key(1, 0, 5, 1, 0, 0, 0);
        for (int p = 20; p < 24; p++) t.query(1, 0, p, 20, 0, 0, 0);
        return t.scenario();
    }

    @Test
    void vlCacheSparsityAndLayerBudgets() {
        CompressionPolicy p = TestSupport.policy("vl-cache");
        SyntheticScenario sc = flatAndPeaked();
        VlCachePolicyProvider.Analysis a = VlCachePolicyProvider.analyse(sc.prefillContext(p, Budget.count(10)), 0.01)[0];
        assertEquals(1.0, a.density()[0], 1e-12, "flat attention has no entry below 1% of its row maximum");
        // layer 1: per query q (20..23) q + 1 causal keys, one of them dense
        assertEquals(4.0 / (21 + 22 + 23 + 24), a.density()[1], 1e-12);
        RetentionPlan plan = TestSupport.prefill(p, sc, Budget.count(10));
        // 20 slots split 1 : 4/90 → 19.15 and 0.85 → 19 and 1
        assertEquals(19 + 4, plan.keptCount(0, 0, 0));
        assertArrayEquals(new int[] {5, 20, 21, 22, 23}, plan.kept(0, 1, 0));
    }

    @Test
    void prefixKvMeetsTheBudgetAndGivesTheConcentratedLayerFewerTokens() {
        // layer 0 here is the peaked one: mirror the tensors
        ModelShape s = new ModelShape(2, 1, 1, 4);
        TestSupport.HandMade t = new TestSupport.HandMade(s, RowLayout.of(0, 20, 4)).key(0, 0, 5, 1, 0, 0, 0);
        for (int p = 20; p < 24; p++) t.query(0, 0, p, 20, 0, 0, 0);
        CompressionPolicy p = TestSupport.policy("prefixkv", "queries", "instruction");
        RetentionPlan plan = TestSupport.prefill(p, t.scenario(), Budget.count(5));
        // 10 slots: layer 0 reaches any level below ~0.99998 with its one token, layer 1 needs ⌈20p⌉: k = 1 + 9
        assertArrayEquals(new int[] {5, 20, 21, 22, 23}, plan.kept(0, 0, 0));
        assertEquals(9 + 4, plan.keptCount(0, 1, 0));
    }

    @Test
    void prefixKvLevelSearch() {
        double[][] cum = {{0, 0.5, 0.75, 0.9}, {0, 0.25, 0.5, 0.75}};
        assertArrayEquals(new int[] {2, 3}, PrefixKvPolicyProvider.layerCounts(cum, 5), "level in (0.5, 0.75]");
        assertArrayEquals(new int[] {2, 2}, PrefixKvPolicyProvider.layerCounts(cum, 4), "level 0.5 gives 3; the tie at 0.5 goes to the lower layer");
        assertArrayEquals(new int[] {4, 4}, PrefixKvPolicyProvider.layerCounts(cum, 100));
        assertArrayEquals(new int[] {0, 0}, PrefixKvPolicyProvider.layerCounts(cum, 0));
        assertArrayEquals(new double[] {0, 0.5, 0.75, 0.875}, PrefixKvPolicyProvider.cumulativeBefore(new double[] {4, 2, 1, 1}), 1e-12);
    }

    @Test
    void tovaAveragesTheLastQueryOverHeads() {
        // 8 visual (0-7), 2 instruction (8-9). Query head 0 of the last token is 10·e0 and KV head 0's key of token 3 is e0;
        // query head 1 is flat. Averaged over heads, token 3 wins in both KV heads (KV head 1 alone would keep token 0).
        ModelShape s = new ModelShape(1, 2, 2, 4);
        TestSupport.HandMade t = new TestSupport.HandMade(s, RowLayout.of(0, 8, 2)).key(0, 0, 3, 1, 0, 0, 0).query(0, 0, 9, 10, 0, 0, 0);
        CompressionPolicy p = TestSupport.policy("tova");
        assertEquals(QueryWindow.last(1), p.queryWindow());
        RetentionPlan plan = TestSupport.prefill(p, t.scenario(), Budget.count(1));
        assertArrayEquals(new int[] {3, 8, 9}, plan.kept(0, 0, 0));
        assertArrayEquals(new int[] {3, 8, 9}, plan.kept(0, 0, 1));
        assertTrue(plan.isHeadUniform(0, 0));
        // with scope all the single slot per head still goes to token 3, and the text is evicted too
        RetentionPlan all = TestSupport.prefill(TestSupport.policy("tova", "scope", "all"), t.scenario(), Budget.count(1));
        assertArrayEquals(new int[] {3}, all.kept(0, 0, 0));
    }

    @Test
    void knormKeepsTheLowestKeyNorms() {
        // 10 visual (0-9), 2 instruction. KV head 0: ‖k_i‖ = 10 − i (keep the last three); KV head 1: ‖k_i‖ = i + 1 (keep 0-2).
        ModelShape s = new ModelShape(1, 2, 2, 4);
        TestSupport.HandMade t = new TestSupport.HandMade(s, RowLayout.of(0, 10, 2));
        for (int i = 0; i < 10; i++) t.key(0, 0, i, 0, 10 - i, 0, 0).key(0, 1, i, 0, 0, 0, -(i + 1));
        RetentionPlan plan = TestSupport.prefill(TestSupport.policy("knorm"), t.scenario(), Budget.count(3));
        assertArrayEquals(concat(range(7, 10), range(10, 12)), plan.kept(0, 0, 0));
        assertArrayEquals(concat(range(0, 3), range(10, 12)), plan.kept(0, 0, 1));
    }
}
