package io.github.kvpolicy.policy.baselines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every policy and wrapper, under both scopes where offered, on random scenarios: budgets 0, 1, a typical ratio and
 * more than the candidates; GQA, MHA and a single head; a batch whose rows differ in length and layout (several images,
 * no image, no instruction text). Every plan must pass {@link PlanValidator} with the policy's budget mode, repeat
 * exactly (determinism), and decoding-time policies must stay valid after tokens are generated.
 */
class PlanValidityTest {
    static final List<ModelShape> SHAPES = List.of(new ModelShape(3, 4, 2, 8), new ModelShape(2, 3, 3, 4), new ModelShape(1, 1, 1, 4));
    static final TokenLayout BATCH = new TokenLayout(List.of(
            RowLayout.of(3, 24, 6),
            RowLayout.builder().text(2).image(5).text(1).image(9).text(4).build(),
            RowLayout.of(0, 7, 40),
            RowLayout.of(0, 0, 10),
            RowLayout.builder().text(3).image(6).build()));
    static final List<Budget> BUDGETS = List.of(Budget.count(0), Budget.count(1), Budget.ratio(0.3), Budget.count(100_000));

    static List<PolicyConfig> configs() {
        List<PolicyConfig> out = new ArrayList<>();
        for (String name : List.of("full", "random", "streamingllm", "h2o", "snapkv", "pyramidkv", "adakv", "vl-cache", "prefixkv", "knorm", "tova",
                "layer-budgets", "decoding")) {
            out.add(PolicyConfig.of(name));
            if (!name.equals("full")) out.add(new PolicyConfig(name, Map.of("scope", "all")));
        }
        out.add(new PolicyConfig("snapkv", Map.of("window", 4, "kernel", 3, "pooling", "max", "head-aggregation", "max")));
        out.add(new PolicyConfig("adakv", Map.of("scorer", Map.of("policy", "pyramidkv", "window", 8))));
        out.add(new PolicyConfig("adakv", Map.of("scorer", "vl-cache", "scope", "all")));
        out.add(new PolicyConfig("adakv", Map.of("scorer", Map.of("policy", "layer-budgets", "scorer", "h2o"))));
        out.add(new PolicyConfig("layer-budgets", Map.of("schedule", "uniform", "scorer", "knorm")));
        out.add(new PolicyConfig("decoding", Map.of("scorer", "h2o", "scope", "all", "trigger", "every", "every", 2)));
        out.add(new PolicyConfig("decoding", Map.of("scorer", "prefixkv", "scope", "all")));
        out.add(new PolicyConfig("prefixkv", Map.of("queries", "last", "window", 5)));
        out.add(new PolicyConfig("prefixkv", Map.of("queries", "instruction", "scope", "all")));
        out.add(new PolicyConfig("h2o", Map.of("heavy-ratio", 0.0, "trigger", "prefill")));
        out.add(new PolicyConfig("streamingllm", Map.of("sinks", 0, "scope", "all")));
        return out;
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (PolicyConfig c : configs()) for (int s = 0; s < SHAPES.size(); s++) out.add(Arguments.of(c, s));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} on shape {1}")
    @MethodSource("cases")
    void plansAreValidDeterministicAndStayValidWhileDecoding(PolicyConfig config, int shapeIndex) {
        ModelShape shape = SHAPES.get(shapeIndex);
        CompressionPolicy policy = TestSupport.REGISTRY.create(config);
        for (Budget budget : BUDGETS) {
            int generated = 4;
            SyntheticScenario sc = TestSupport.randomWithDecode(shape, BATCH, generated, 11 + shapeIndex);
            PolicyContext ctx = sc.prefillContext(policy, budget);
            RetentionPlan plan = policy.compress(ctx);
            assertEquals(List.of(), PlanValidator.violations(plan, ctx, policy.budgetMode()), config + " at " + budget + " on " + shape);
            assertEquals(plan, policy.compress(sc.prefillContext(policy, budget)), "same inputs and seed must give the same plan: " + config);
            if (!policy.schedule().actsDuringDecoding()) continue;
            sc.cache().compact(plan);
            TestSupport.appendGenerated(sc, generated, 99);
            PolicyContext dctx = TestSupport.decodeContext(policy, sc, budget, generated);
            RetentionPlan dplan = policy.compress(dctx);
            assertEquals(List.of(), PlanValidator.violations(dplan, dctx, policy.budgetMode()), config + " while decoding at " + budget + " on " + shape);
            if (policy.scope() == Scope.ALL) {
                for (int r = 0; r < BATCH.batchSize(); r++) {
                    long cap = (long) shape.layers() * shape.kvHeads() * dctx.budgetTokens(r);
                    long keptCandidates = 0;
                    for (int l = 0; l < shape.layers(); l++)
                        for (int h = 0; h < shape.kvHeads(); h++) {
                            int[] kept = dplan.kept(r, l, h);
                            for (int c : dctx.candidates(r, l, h)) if (java.util.Arrays.binarySearch(kept, c) >= 0) keptCandidates++;
                        }
                    assertTrue(keptCandidates <= cap, config + ": row " + r + " keeps " + keptCandidates + " > " + cap + " after decoding");
                }
            }
        }
    }
}
