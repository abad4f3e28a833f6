package io.github.kvpolicy.evaluation.gridvqa;

import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.evaluation.engine.Contender;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * GridVQA exact match of one policy at a few retentions, in memory (no files): what a quality check, such as the
 * conformance suite's quality level, needs to compare with a provider's declared floors. Uses the committed testbed
 * model and evaluation set ({@link TestbedPaths}); one intra-op thread, so results do not depend on the machine.
 */
public final class GridVqaQuality {
    private GridVqaQuality() {}

    /** Whether the testbed model and evaluation set are where {@link TestbedPaths} looks. */
    public static boolean available() {
        return Files.isRegularFile(TestbedPaths.model().resolve("config.json")) && Files.isRegularFile(TestbedPaths.model().resolve("vocab.json"))
                && Files.isRegularFile(TestbedPaths.evalSet());
    }

    /**
     * Exact match (share of examples answered exactly, in [0, 1]) of {@code policy} at each retention, on the first
     * {@code perFamily} examples of each GridVQA family (all if ≤ 0).
     *
     * @param registry creates the policy (and any nested ones) from {@code policy}
     * @return retention → exact match, ascending retentions
     * @throws IllegalArgumentException if the testbed is missing, the policy or its options are unknown, or a retention is not in (0, 1]
     */
    public static Map<Double, Double> exactMatch(PolicyRegistry registry, PolicyConfig policy, List<Double> retentions, int perFamily) {
        return exactMatch(c -> registry.create(c), policy, retentions, perFamily);
    }

    /**
     * As {@link #exactMatch(PolicyRegistry, PolicyConfig, List, int)}, the policy built by {@code factory} (called
     * once, with {@code policy}); for a harness that creates the policy under test from its provider.
     */
    public static Map<Double, Double> exactMatch(Function<PolicyConfig, CompressionPolicy> factory, PolicyConfig policy, List<Double> retentions, int perFamily) {
        for (double r : retentions) if (!(r > 0 && r <= 1)) throw new IllegalArgumentException("retention must be in (0, 1], got " + r);
        TestbedPaths.requireModel(TestbedPaths.model());
        List<GridVqa.Example> examples = Results.limitPerFamily(GridVqa.readExamples(TestbedPaths.evalSet()), perFamily);
        GridVqa task = GridVqa.load(TestbedPaths.model());
        List<Evaluation.Outcome> outcomes = new ArrayList<>();
        try (Generator g = Generator.open(ModelPackage.open(TestbedPaths.model()), GeneratorConfig.defaults().withIntraOpThreads(1))) {
            Evaluation.withPolicies(g, task, factory).run(examples, List.of(new Contender(policy.policy(), policy)), retentions, outcomes::add, null);
        }
        Map<Double, Double> out = new TreeMap<>();
        for (double r : retentions) {
            long n = outcomes.stream().filter(o -> o.retention() == r).count();
            long exact = outcomes.stream().filter(o -> o.retention() == r && o.exact()).count();
            out.put(r, exact / (double) n);
        }
        return out;
    }
}
