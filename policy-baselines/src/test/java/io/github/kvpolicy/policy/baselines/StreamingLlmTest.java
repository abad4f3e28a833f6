package io.github.kvpolicy.policy.baselines;

import static io.github.kvpolicy.policy.baselines.TestSupport.concat;
import static io.github.kvpolicy.policy.baselines.TestSupport.kept;
import static io.github.kvpolicy.policy.baselines.TestSupport.range;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.util.List;
import org.junit.jupiter.api.Test;

/** StreamingLLM: 3 system tokens (0-2), 10 visual (3-12), 5 instruction (13-17). Attention plays no part. */
class StreamingLlmTest {
    static final ModelShape SHAPE = new ModelShape(2, 2, 2, 4);
    static final RowLayout LAYOUT = RowLayout.of(3, 10, 5);

    @Test
    void allScopeKeepsFourSinksAndTheRecentTail() {
        CompressionPolicy p = TestSupport.policy("streamingllm", "scope", "all");
        RetentionPlan plan = TestSupport.prefill(p, SyntheticScenario.random(SHAPE, TokenLayout.of(LAYOUT), 3), Budget.count(5));
        for (int l = 0; l < 2; l++) for (int h = 0; h < 2; h++) assertArrayEquals(concat(range(0, 4), range(13, 18)), kept(plan, l, h));
    }

    @Test
    void visualScopeSinksAreTheFirstVisualTokens() {
        RetentionPlan plan = TestSupport.prefill(TestSupport.policy("streamingllm"), SyntheticScenario.random(SHAPE, TokenLayout.of(LAYOUT), 3), Budget.count(2));
        assertArrayEquals(concat(range(0, 3), range(3, 7), new int[] {11, 12}, range(13, 18)), kept(plan, 1, 0));
    }

    @Test
    void decodingKeepsTheCacheAtSinksPlusTheWindow() {
        CompressionPolicy p = TestSupport.policy("streamingllm", "scope", "all");
        assertEquals(Schedule.whenOverBudget(0), p.schedule());
        SyntheticScenario sc = TestSupport.randomWithDecode(SHAPE, TokenLayout.of(LAYOUT), 3, 5);
        sc.cache().compact(TestSupport.prefill(p, sc, Budget.count(5)));
        TestSupport.appendGenerated(sc, 3, 6); // positions 18, 19, 20
        PolicyContext ctx = TestSupport.decodeContext(p, sc, Budget.count(5), 3);
        assertEquals(5, ctx.budgetTokens(0), "the budget stays the one resolved at prefill");
        RetentionPlan plan = p.compress(ctx);
        assertEquals(List.of(), PlanValidator.violations(plan, ctx, p.budgetMode()));
        assertArrayEquals(concat(range(0, 4), range(16, 21)), kept(plan, 0, 1));
        assertTrue(plan.isHeadUniform(0, 0));
    }

    @Test
    void sinksOptionChangesTheProtection() {
        CompressionPolicy p = TestSupport.policy("streamingllm", "scope", "all", "sinks", 1, "trigger", "prefill");
        assertEquals(Schedule.onceAfterPrefill(), p.schedule());
        RetentionPlan plan = TestSupport.prefill(p, SyntheticScenario.random(SHAPE, TokenLayout.of(LAYOUT), 3), Budget.count(3));
        assertArrayEquals(new int[] {0, 15, 16, 17}, kept(plan, 0, 0));
    }
}
