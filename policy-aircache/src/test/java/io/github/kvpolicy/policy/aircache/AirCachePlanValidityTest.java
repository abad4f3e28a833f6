package io.github.kvpolicy.policy.aircache;

import io.github.kvpolicy.host.plugin.ProviderDiscovery;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * AirCache and every ablation on random scenarios: budgets 0, 1, 30% and above the candidates; GQA, MHA and one head; a
 * batch whose rows differ in length and layout (two images, no image, no instruction text). Every plan passes
 * {@link PlanValidator}, repeats exactly, and is a compaction of the visual tokens only.
 */
class AirCachePlanValidityTest {
    static final PolicyRegistry REGISTRY = ProviderDiscovery.fromClassLoader(AirCachePlanValidityTest.class.getClassLoader());
    static final List<ModelShape> SHAPES = List.of(new ModelShape(3, 4, 2, 8), new ModelShape(2, 3, 3, 4), new ModelShape(1, 1, 1, 4));
    static final TokenLayout BATCH = new TokenLayout(List.of(
            RowLayout.of(3, 24, 6),
            RowLayout.builder().text(2).image(5).text(1).image(9).text(4).build(),
            RowLayout.of(0, 7, 40),
            RowLayout.of(0, 0, 10),
            RowLayout.builder().text(3).image(6).build()));

    static Stream<Arguments> cases() {
        List<Map<String, Object>> configs = List.of(Map.of(), Map.of("window", "last-k-text", "window-k", 2), Map.of("window", "all-text"),
                Map.of("window", "last-k-visual", "window-k", 3), Map.of("allocation", "strength"), Map.of("allocation", "skewness", "min-per-layer", "0"),
                Map.of("allocation", "uniform"), Map.of("allocation", "pyramid", "head-aggregation", "max"), Map.of("alpha", 0.0, "min-per-layer", "2"));
        List<Arguments> out = new ArrayList<>();
        for (Map<String, Object> c : configs) for (int s = 0; s < SHAPES.size(); s++) out.add(Arguments.of(c, s));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} on shape {1}")
    @MethodSource("cases")
    void plansAreValidAndDeterministic(Map<String, Object> options, int shapeIndex) {
        CompressionPolicy p = REGISTRY.create(new PolicyConfig("aircache", options));
        for (Budget b : List.of(Budget.count(0), Budget.count(1), Budget.ratio(0.3), Budget.count(100_000))) {
            SyntheticScenario sc = SyntheticScenario.random(SHAPES.get(shapeIndex), BATCH, 3 + shapeIndex);
            PolicyContext ctx = sc.prefillContext(p, b);
            RetentionPlan plan = p.compress(ctx);
            assertEquals(List.of(), PlanValidator.violations(plan, ctx, p.budgetMode()), options + " at " + b);
            assertEquals(plan, p.compress(sc.prefillContext(p, b)));
            // the hooks used separately give the same plan as the one-pass compress
            assertEquals(plan, p.evictor().evict(ctx, p.scorer().score(ctx), p.allocator().allocate(ctx, p.scorer().score(ctx))));
        }
    }

    @Test
    void aRowWithoutInstructionTextKeepsItsEarliestVisualTokens() {
        SyntheticScenario sc = SyntheticScenario.random(new ModelShape(2, 2, 1, 4), TokenLayout.of(RowLayout.builder().text(3).image(6).build()), 1);
        CompressionPolicy p = REGISTRY.create(PolicyConfig.of("aircache"));
        PolicyContext ctx = sc.prefillContext(p, Budget.count(2));
        RetentionPlan plan = p.compress(ctx);
        assertEquals(List.of(), PlanValidator.violations(plan, ctx, p.budgetMode()));
        for (int l = 0; l < 2; l++) assertArrayEquals(new int[] {0, 1, 2, 3, 4}, plan.kept(0, l, 0), "equal layers, earliest visual tokens");
    }
}
