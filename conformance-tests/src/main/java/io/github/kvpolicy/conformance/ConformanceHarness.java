package io.github.kvpolicy.conformance;

import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.provider.PolicyOptions;
import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Runs one provider over the generated scenarios once and keeps the outcomes for every check of a
 * {@link PolicyConformanceTestCase}. Policies are created the way {@link PolicyRegistry#create} does (options
 * validated against the provider's schema, nested policies from {@code registry}), but without the registry's
 * name and SPI-version gate, so that metadata problems fail only the metadata check. Not thread-safe (one per test
 * class instance).
 */
public final class ConformanceHarness {
    /**
     * What happened on one scenario. {@code context} is built over a pristine copy of the inputs; {@code mutation}
     * says what {@code compress} changed in its inputs (the first difference), or is null if nothing changed.
     */
    public record Outcome(ScenarioSpec spec, CompressionPolicy policy, PolicyContext context, RetentionPlan plan, Throwable error,
                          String mutation, long nanos) {
        public boolean ok() { return error == null && plan != null; }

        public boolean mutated() { return mutation != null; }
    }

    private final PolicyProvider provider;
    private final Map<String, Object> options;
    private final PolicyRegistry registry;
    private final ConformanceSettings settings;
    private List<Outcome> contract;
    private List<Outcome> batch;

    public ConformanceHarness(PolicyProvider provider, Map<String, ?> options, PolicyRegistry registry, ConformanceSettings settings) {
        this.provider = Objects.requireNonNull(provider, "provider() returned null");
        this.options = new LinkedHashMap<>(options);
        this.registry = registry;
        this.settings = settings;
    }

    public PolicyProvider provider() { return provider; }
    public Map<String, Object> options() { return options; }
    public ConformanceSettings settings() { return settings; }

    /** A new policy with the test's options. */
    public CompressionPolicy create() {
        return create(options);
    }

    /** A new policy with {@code raw} options, validated against the provider's schema. */
    public CompressionPolicy create(Map<String, ?> raw) {
        PolicyOptions o = provider.options().validate(provider.name(), raw);
        CompressionPolicy p = provider.create(o, nested -> registry.create(nested));
        if (p == null) throw new IllegalStateException("Provider of policy '" + provider.name() + "' returned no policy from create()");
        return p;
    }

    /** The single-row contract scenarios, run once (lazily). */
    public List<Outcome> contractOutcomes() {
        if (contract == null) contract = run(ScenarioGenerator.contract(settings.seed()));
        return contract;
    }

    /** The ragged batch scenarios, run once (lazily). */
    public List<Outcome> batchOutcomes() {
        if (batch == null) batch = run(ScenarioGenerator.batch(settings.seed()));
        return batch;
    }

    private List<Outcome> run(List<ScenarioSpec> specs) {
        List<Outcome> out = new ArrayList<>(specs.size());
        for (ScenarioSpec spec : specs) out.add(runOne(spec));
        return out;
    }

    /** Creates a fresh policy and compresses {@code spec}'s prefill context once. */
    public Outcome runOne(ScenarioSpec spec) {
        CompressionPolicy policy;
        try {
            policy = create();
        } catch (RuntimeException | LinkageError e) {
            return new Outcome(spec, null, null, null, new IllegalStateException("creating the policy failed: " + e, e), null, 0);
        }
        SyntheticScenario scenario = spec.build();
        SyntheticScenario pristine = scenario.copy();
        PolicyContext ctx;
        try {
            ctx = scenario.context(policy, spec.budget(), Phase.PREFILL, 0);
        } catch (RuntimeException e) {
            return new Outcome(spec, policy, null, null, new IllegalStateException("building the context failed (policy declarations?): " + e, e), null, 0);
        }
        RetentionPlan plan = null;
        Throwable error = null;
        long t0 = System.nanoTime();
        try {
            plan = policy.compress(ctx);
            if (plan == null) error = new IllegalStateException("compress() returned null");
        } catch (RuntimeException | StackOverflowError | LinkageError e) {
            error = e;
        }
        long nanos = System.nanoTime() - t0;
        String mutation = scenario.cache().sameContent(pristine.cache()) ? null : pristine.cache().firstDifference(scenario.cache());
        if (mutation == null && !scenario.cache().sameContent(pristine.cache())) mutation = "the cache differs from a pristine copy";
        PolicyContext check = pristine.context(policy, spec.budget(), Phase.PREFILL, 0);
        return new Outcome(spec, policy, check, plan, error, mutation, nanos);
    }

    /** A message for a check failure: the policy, the problem, the scenario and how to reproduce. */
    public String failure(String problem, List<String> details) {
        StringBuilder sb = new StringBuilder("policy '").append(provider.name()).append("': ").append(problem);
        int shown = Math.min(3, details.size());
        for (int i = 0; i < shown; i++) sb.append("\n  - ").append(details.get(i));
        if (details.size() > shown) sb.append("\n  (and ").append(details.size() - shown).append(" more)");
        sb.append("\n  seed ").append(settings.seed()).append(settings.randomSeed() ? " (random)" : "").append(": ").append(settings.reproduceHint());
        return sb.toString();
    }

    /** One detail line: the scenario and what went wrong there. */
    public static String at(ScenarioSpec spec, String what) {
        return "scenario " + spec.describe() + ":\n      " + what;
    }

    /** The exception with its first stack frames, for messages. */
    public static String describe(Throwable e) {
        StringWriter w = new StringWriter();
        e.printStackTrace(new PrintWriter(w));
        String[] lines = w.toString().split("\\R");
        StringBuilder sb = new StringBuilder(lines[0]);
        for (int i = 1; i < Math.min(lines.length, 5); i++) sb.append(" | ").append(lines[i].trim());
        return sb.toString();
    }
}
