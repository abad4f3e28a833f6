package io.github.kvpolicy.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class PlanValidatorTest {
    // 2 text, 10 visual, 3 instruction tokens; 2 layers, 2 KV heads
    private final ModelShape shape = new ModelShape(2, 4, 2, 4);
    private final TokenLayout layout = TokenLayout.of(RowLayout.of(2, 10, 3));

    private PolicyContext ctx(Budget budget) {
        return SimplePolicyContext.builder().layout(layout).cache(TestCache.full(shape, layout)).probe(TestCache.noProbe()).budget(budget).build();
    }

    private static RetentionPlan uniform(int[] kept) {
        RetentionPlan.Builder b = RetentionPlan.builder(1, 2, 2);
        for (int l = 0; l < 2; l++) b.setLayer(0, l, kept);
        return b.build();
    }

    @Test
    void validPlanHasNoViolations() {
        // B = round(0.3 * 10) = 3 visual tokens per layer and head; text always kept
        RetentionPlan plan = uniform(new int[] {0, 1, 2, 5, 9, 12, 13, 14});
        assertEquals(List.of(), PlanValidator.violations(plan, ctx(Budget.ratio(0.3)), BudgetMode.EXACT));
    }

    @Test
    void exactMessages() {
        PolicyContext c = ctx(Budget.ratio(0.3));
        InvalidPlanException unsorted = assertThrows(InvalidPlanException.class,
                () -> PlanValidator.check("demo", uniform(new int[] {0, 1, 5, 2, 9, 12, 13, 14}), c, BudgetMode.EXACT));
        assertEquals("Invalid retention plan from policy 'demo': row 0, layer 0, KV head 0: positions must be strictly ascending, but 2 follows 5 at index 3 (and 3 more)", unsorted.getMessage());

        InvalidPlanException outOfRange = assertThrows(InvalidPlanException.class,
                () -> PlanValidator.check("demo", uniform(new int[] {0, 1, 2, 5, 9, 12, 13, 14, 15}), c, BudgetMode.EXACT));
        assertEquals("Invalid retention plan from policy 'demo': row 0, layer 0, KV head 0: position 15 is not in the cache (cached: 15 positions in [0, 14]) (and 3 more)", outOfRange.getMessage());

        InvalidPlanException text = assertThrows(InvalidPlanException.class,
                () -> PlanValidator.check("demo", uniform(new int[] {0, 2, 5, 9, 12, 13, 14}), c, BudgetMode.EXACT));
        assertEquals("Invalid retention plan from policy 'demo': row 0, layer 0, KV head 0: position 1 (SYSTEM_TEXT) must be kept: it is outside the policy's scope VISUAL (and 3 more)", text.getMessage());

        InvalidPlanException over = assertThrows(InvalidPlanException.class,
                () -> PlanValidator.check("demo", uniform(new int[] {0, 1, 2, 3, 5, 9, 12, 13, 14}), c, BudgetMode.EXACT));
        assertEquals("Invalid retention plan from policy 'demo': row 0: keeps 16 candidate tokens over all layers and KV heads, but an exact budget of 3 per layer and head (30.0%) requires 12", over.getMessage());

        InvalidPlanException atMost = assertThrows(InvalidPlanException.class,
                () -> PlanValidator.check("demo", uniform(new int[] {0, 1, 2, 3, 5, 9, 12, 13, 14}), c, BudgetMode.AT_MOST));
        assertEquals("Invalid retention plan from policy 'demo': row 0: keeps 16 candidate tokens over all layers and KV heads, over the budget of 3 per layer and head (30.0%), at most 12", atMost.getMessage());
        // under budget is fine for AT_MOST
        assertEquals(List.of(), PlanValidator.violations(uniform(new int[] {0, 1, 12, 13, 14}), c, BudgetMode.AT_MOST));

        RetentionPlan wrongShape = RetentionPlan.builder(1, 3, 2).setLayer(0, 0, new int[0]).setLayer(0, 1, new int[0]).setLayer(0, 2, new int[0]).build();
        InvalidPlanException shapeErr = assertThrows(InvalidPlanException.class, () -> PlanValidator.check("demo", wrongShape, c, BudgetMode.EXACT));
        assertEquals("Invalid retention plan from policy 'demo': plan has 1 rows × 3 layers × 2 KV heads, expected 1 × 2 × 2", shapeErr.getMessage());
    }

    @Test
    void budgetMayMoveBetweenLayersAndHeadsWhenExact() {
        PolicyContext c = ctx(Budget.count(3)); // total 12 over 2 layers × 2 heads
        RetentionPlan.Builder b = RetentionPlan.builder(1, 2, 2);
        b.set(0, 0, 0, new int[] {0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14}); // 6 visual
        b.set(0, 0, 1, new int[] {0, 1, 2, 3, 4, 12, 13, 14});          // 3
        b.set(0, 1, 0, new int[] {0, 1, 2, 3, 12, 13, 14});             // 2
        b.set(0, 1, 1, new int[] {0, 1, 11, 12, 13, 14});               // 1
        assertEquals(List.of(), PlanValidator.violations(b.build(), c, BudgetMode.EXACT));
    }

    @Test
    void protectedTokensMustBeKept() {
        PolicyContext c = SimplePolicyContext.builder().layout(layout).cache(TestCache.full(shape, layout)).probe(TestCache.noProbe())
                .budget(Budget.count(2)).protection(Protection.sinksAndRecent(1, 1)).build();
        // candidates: visual 3..10 (2 and 11 are the first/last visual → protected)
        assertEquals(8, c.candidates(0, 0, 0).length);
        List<String> v = PlanValidator.violations(uniform(new int[] {0, 1, 2, 5, 6, 12, 13, 14}), c, BudgetMode.EXACT);
        assertTrue(v.get(0).equals("row 0, layer 0, KV head 0: position 11 (IMAGE) must be kept: it is protected"), v.toString());
    }

    @Test
    void zeroBudgetKeepsOnlyMandatory() {
        PolicyContext c = ctx(Budget.ratio(0));
        assertEquals(List.of(), PlanValidator.violations(uniform(new int[] {0, 1, 12, 13, 14}), c, BudgetMode.EXACT));
        assertEquals(1, PlanValidator.violations(uniform(new int[] {0, 1, 2, 12, 13, 14}), c, BudgetMode.EXACT).size());
    }
}
