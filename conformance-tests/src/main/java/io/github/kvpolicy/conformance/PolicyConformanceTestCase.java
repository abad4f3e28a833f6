package io.github.kvpolicy.conformance;

import io.github.kvpolicy.host.plugin.ProviderDiscovery;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.kvpolicy.api.BudgetMode;
import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.SpiVersion;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.InvalidOptionException;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.OptionType;
import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.conformance.ConformanceHarness.Outcome;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The kvpolicy conformance suite (TCK) as a JUnit 5 base class. A plugin's own build extends it and overrides
 * one factory method:
 *
 * <pre>{@code
 * class MyPolicyConformanceTest extends PolicyConformanceTestCase {
 *     @Override protected PolicyProvider provider() { return new MyPolicyProvider(); }
 * }
 * }</pre>
 *
 * <p>Every check is one test method (see {@link Check} for the list and what each asserts). Scenario checks run
 * the policy once over the seeded scenarios of {@link ScenarioGenerator} (the seed is
 * {@value ConformanceSettings#SEED}, printed in every failure) and judge the recorded plans. Checks that need a
 * capability the provider does not declare are <em>skipped with a reason</em> (a JUnit assumption); a declared
 * capability that fails is a failure. One instance per class ({@link TestInstance.Lifecycle#PER_CLASS}); the
 * policy is created fresh for each scenario.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@ExtendWith(ConformanceExtension.class)
public abstract class PolicyConformanceTestCase {
    /** Synthetic decode steps driven by the DECODING_TIME check. */
    public static final int DECODE_STEPS = 64;

    private ConformanceSettings settings = ConformanceSettings.defaults();
    private ConformanceHarness harness;
    private Map<String, Boolean> reproduced; // scenario (kind#index) → a fresh instance reproduced its plan

    /** The provider under test (called once per test class instance). */
    protected abstract PolicyProvider provider();

    /** Raw options the policy is created with (validated against the provider's schema); default none. */
    protected Map<String, Object> options() {
        return Map.of();
    }

    /**
     * The registry nested policies ({@link OptionType#POLICY} options) are created from. Default: every provider
     * {@link ServiceLoader} finds through the provider's class loader, with {@link #provider()} itself for its name.
     */
    protected PolicyRegistry registry(PolicyProvider underTest) {
        PolicyRegistry.Builder b = PolicyRegistry.builder().add(underTest, "under test");
        try {
            PolicyRegistry found = ProviderDiscovery.fromClassLoader(underTest.getClass().getClassLoader());
            for (PolicyRegistry.Registration r : found.registrations()) {
                if (!r.provider().name().equals(underTest.name())) b.add(r.provider(), r.source());
            }
        } catch (RuntimeException e) {
            // duplicate names among other providers: nested policies then resolve to the provider under test only
        }
        return b.build();
    }

    /**
     * Options that by design never change the plan or the declarations (e.g. a thread count), exempt from
     * {@code optionsChangeThePlan}. Default: none. (A plugin validated from its JAR declares this by putting
     * {@value #NO_PLAN_EFFECT} in the option's description.)
     */
    protected Set<String> optionsWithoutPlanEffect() {
        return Set.of();
    }

    /** The marker in an option's description that declares it does not affect the plan. */
    public static final String NO_PLAN_EFFECT = "[no plan effect]";

    /** Called by {@link ConformanceExtension} before any check runs. */
    final void configure(ConformanceSettings s) {
        this.settings = s;
        this.harness = null;
        this.reproduced = null;
    }

    /** The settings of this run (seed, target). */
    protected final ConformanceSettings settings() {
        return settings;
    }

    /** The harness for this instance, created on first use. */
    protected final ConformanceHarness harness() {
        if (harness == null) {
            PolicyProvider p = provider();
            if (p == null) throw new IllegalStateException(getClass().getName() + ".provider() returned null");
            harness = new ConformanceHarness(p, options(), registry(p), settings);
        }
        return harness;
    }

    private Set<Capability> capabilities() {
        Set<Capability> c = harness().provider().capabilities();
        return c == null ? Set.of() : c;
    }

    private void assumeDeclared(Capability c) {
        assumeTrue(capabilities().contains(c), () -> "capability " + c + " is not declared by '" + harness().provider().name()
                + "' (declared: " + capabilities() + "): check skipped");
    }

    private CompressionPolicy defaultPolicy() {
        try {
            return harness().create();
        } catch (RuntimeException e) {
            assumeTrue(false, "the policy cannot be created with its default options (see createsWithDefaultOptions): " + e);
            throw e;
        }
    }

    // ---------------------------------------------------------------- metadata and options

    @Test
    @Order(1)
    @DisplayName("[contract] metadata: name, version, description, SPI version, time budget, quality floors")
    public void metadataIsValid() {
        PolicyProvider p = harness().provider();
        List<String> problems = new ArrayList<>();
        try {
            AbstractPolicyProvider.checkName(p.name());
        } catch (RuntimeException e) {
            problems.add(e.getMessage());
        }
        if (p.version() == null || p.version().isBlank()) problems.add("version() is blank");
        if (p.description() == null || p.description().isBlank()) problems.add("description() is blank");
        if (p.spiVersion() != SpiVersion.CURRENT) {
            problems.add("spiVersion() is " + p.spiVersion() + ", but this kvpolicy implements SPI version " + SpiVersion.CURRENT
                    + " (hosts refuse to load it)");
        }
        if (p.capabilities() == null) problems.add("capabilities() is null");
        if (p.options() == null) problems.add("options() is null (return OptionSchema.empty())");
        Optional<Duration> t = p.maxCallTime();
        if (t == null) problems.add("maxCallTime() is null (return Optional.empty())");
        else if (t.isPresent() && (t.get().isNegative() || t.get().isZero())) problems.add("maxCallTime() is " + t.get() + ", expected > 0");
        Map<Double, Double> floors = p.qualityFloors();
        if (floors == null) problems.add("qualityFloors() is null (return Map.of())");
        else floors.forEach((retention, floor) -> {
            if (retention == null || !(retention > 0 && retention <= 1)) problems.add("quality floor retention " + retention + " is not in (0, 1]");
            if (floor == null || !(floor >= 0 && floor <= 1)) problems.add("quality floor " + floor + " at retention " + retention + " is not in [0, 1]");
        });
        assertTrue(problems.isEmpty(), () -> harness().failure("invalid provider metadata", problems));
    }

    @Test
    @Order(2)
    @DisplayName("[contract] the provider is registered in META-INF/services")
    public void providerIsRegisteredAsService() {
        PolicyProvider p = harness().provider();
        ClassLoader cl = p.getClass().getClassLoader();
        List<String> found = new ArrayList<>();
        boolean registered = false;
        for (ServiceLoader.Provider<PolicyProvider> sp : ServiceLoader.load(PolicyProvider.class, cl).stream().toList()) {
            found.add(sp.type().getName());
            registered |= sp.type() == p.getClass();
        }
        boolean ok = registered;
        assertTrue(ok, () -> harness().failure("ServiceLoader does not find " + p.getClass().getName() + ": list it in "
                + "META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider (it needs a public no-argument constructor)",
                List.of("providers found through its class loader: " + (found.isEmpty() ? "none" : String.join(", ", found)))));
    }

    @Test
    @Order(3)
    @DisplayName("[contract] option defaults satisfy their own schema")
    public void optionDefaultsSatisfyTheirOwnSchema() {
        List<OptionSpec> specs = harness().provider().options().specs();
        assumeTrue(!specs.isEmpty(), "the policy declares no options");
        List<String> problems = new ArrayList<>();
        for (OptionSpec s : specs) {
            if (s.defaultValue() == null) continue; // required: supplied by options()
            try {
                Object v = s.coerce(harness().provider().name(), s.defaultValue());
                if (s.type() != OptionType.POLICY && !v.equals(s.defaultValue())) {
                    problems.add("option '" + s.name() + "': default " + s.defaultValue() + " (" + s.defaultValue().getClass().getSimpleName()
                            + ") is not a value of type " + s.type() + " (coerces to " + v + ")");
                }
            } catch (RuntimeException e) {
                problems.add("option '" + s.name() + "': default " + s.defaultValue() + " is rejected by its own schema: " + e.getMessage());
            }
        }
        assertTrue(problems.isEmpty(), () -> harness().failure("invalid option defaults", problems));
    }

    @Test
    @Order(4)
    @DisplayName("[contract] creates a policy with the default options")
    public void createsWithDefaultOptions() {
        CompressionPolicy p;
        try {
            p = harness().create();
        } catch (RuntimeException e) {
            fail(harness().failure("create() with options " + harness().options() + " failed", List.of(ConformanceHarness.describe(e))), e);
            return;
        }
        List<String> problems = new ArrayList<>();
        if (!harness().provider().name().equals(p.name())) problems.add("policy.name() is '" + p.name() + "', expected the provider's name");
        if (p.scope() == null) problems.add("scope() is null");
        if (p.protection() == null) problems.add("protection() is null");
        if (p.schedule() == null) problems.add("schedule() is null");
        if (p.queryWindow() == null) problems.add("queryWindow() is null");
        if (p.budgetMode() == null) problems.add("budgetMode() is null");
        assertTrue(problems.isEmpty(), () -> harness().failure("invalid policy declarations", problems));
    }

    @Test
    @Order(5)
    @DisplayName("[contract] schedule and scope match the declared capabilities")
    public void declarationsMatchCapabilities() {
        CompressionPolicy p = defaultPolicy();
        List<String> problems = new ArrayList<>();
        if (p.schedule() != null && p.schedule().actsDuringDecoding() && !capabilities().contains(Capability.DECODING_TIME)) {
            problems.add("its schedule " + p.schedule() + " acts during decoding, but DECODING_TIME is not declared");
        }
        if (p.scope() == Scope.ALL && !capabilities().contains(Capability.ALL_TOKEN_SCOPE)) {
            problems.add("its scope is ALL (it may evict text), but ALL_TOKEN_SCOPE is not declared");
        }
        assertTrue(problems.isEmpty(), () -> harness().failure("undeclared behaviour", problems));
    }

    @Test
    @Order(6)
    @DisplayName("[contract] an unknown option is rejected, naming it")
    public void unknownOptionIsRejected() {
        String bad = "no-such-option-zz9";
        Map<String, Object> raw = new LinkedHashMap<>(harness().options());
        raw.put(bad, 1);
        try {
            harness().create(raw);
            fail(harness().failure("unknown option '" + bad + "' was accepted", List.of()));
        } catch (InvalidOptionException e) {
            assertTrue(String.valueOf(e.getMessage()).contains(bad),
                    () -> harness().failure("the error for an unknown option does not name it", List.of(String.valueOf(e.getMessage()))));
        }
    }

    /** Out-of-range (or non-member) raw values for {@code s}; empty if it has no bound. */
    private static List<Object> invalidValues(OptionSpec s) {
        List<Object> out = new ArrayList<>();
        switch (s.type()) {
            case INTEGER -> {
                if (s.max() != null && s.max() < Integer.MAX_VALUE) out.add((int) (s.max().longValue() + 1));
                if (s.min() != null && s.min() > Integer.MIN_VALUE) out.add((int) (s.min().longValue() - 1));
                out.add("not-a-number");
            }
            case DOUBLE -> {
                if (s.max() != null) out.add(s.max() + Math.max(1.0, Math.abs(s.max())));
                if (s.min() != null) out.add(s.min() - Math.max(1.0, Math.abs(s.min())));
                out.add(Double.NaN);
            }
            case ENUM -> out.add("no-such-value-zz9");
            case BOOLEAN -> out.add("maybe");
            case STRING, POLICY -> { }
        }
        return out;
    }

    @Test
    @Order(7)
    @DisplayName("[contract] out-of-range option values are rejected, naming the option")
    public void outOfRangeOptionValuesAreRejected() {
        List<OptionSpec> bounded = harness().provider().options().specs().stream().filter(s -> !invalidValues(s).isEmpty()).toList();
        assumeTrue(!bounded.isEmpty(), "the policy declares no numeric, enum or boolean options");
        List<String> problems = new ArrayList<>();
        for (OptionSpec s : bounded) {
            for (Object v : invalidValues(s)) {
                Map<String, Object> raw = new LinkedHashMap<>(harness().options());
                raw.put(s.name(), v);
                try {
                    harness().create(raw);
                    problems.add("option '" + s.name() + "' accepted " + v + " (expected " + s.expectation() + ")");
                } catch (InvalidOptionException e) {
                    if (!String.valueOf(e.getMessage()).contains(s.name())) problems.add("the error for " + s.name() + "=" + v + " does not name the option: " + e.getMessage());
                } catch (RuntimeException e) {
                    problems.add(s.name() + "=" + v + " failed with " + e + " instead of InvalidOptionException");
                }
            }
        }
        assertTrue(problems.isEmpty(), () -> harness().failure("option values outside the schema are not rejected properly", problems));
    }

    /** The extreme valid raw values of {@code s}. */
    static List<Object> extremes(OptionSpec s) {
        List<Object> out = new ArrayList<>();
        switch (s.type()) {
            case INTEGER -> {
                if (s.min() != null) out.add(s.min().intValue());
                if (s.max() != null) out.add(s.max().intValue());
            }
            case DOUBLE -> {
                if (s.min() != null) out.add(s.min());
                if (s.max() != null) out.add(s.max());
            }
            case ENUM -> out.addAll(s.allowed());
            case BOOLEAN -> out.addAll(List.of(true, false));
            case STRING, POLICY -> { }
        }
        return out;
    }

    @Test
    @Order(8)
    @DisplayName("[contract] every option at its extremes creates a working policy")
    public void optionExtremesAreAccepted() {
        List<OptionSpec> specs = harness().provider().options().specs().stream().filter(s -> !extremes(s).isEmpty()).toList();
        assumeTrue(!specs.isEmpty(), "the policy declares no options with bounds or choices");
        ScenarioSpec small = ScenarioGenerator.contract(settings.seed()).stream()
                .filter(s -> s.kind().equals("several-images") && s.budget().toString().equals("25.0%")).findFirst().orElseThrow();
        List<String> problems = new ArrayList<>();
        for (OptionSpec s : specs) {
            for (Object v : extremes(s)) {
                Map<String, Object> raw = new LinkedHashMap<>(harness().options());
                raw.put(s.name(), v);
                String where = s.name() + "=" + v;
                CompressionPolicy p;
                try {
                    p = harness().create(raw);
                } catch (InvalidOptionException e) {
                    if (!String.valueOf(e.getMessage()).contains(s.name())) problems.add(where + " (allowed by the schema) was rejected without naming the option: " + e.getMessage());
                    continue; // a documented interaction with another option
                } catch (RuntimeException e) {
                    problems.add(where + " is allowed by the schema (" + s.expectation() + ") but create() failed: " + ConformanceHarness.describe(e));
                    continue;
                }
                try {
                    SyntheticScenario scn = small.build();
                    PolicyContext ctx = scn.context(p, small.budget(), Phase.PREFILL, 0);
                    RetentionPlan plan = p.compress(ctx);
                    List<String> v2 = PlanValidator.violations(plan, ctx, p.budgetMode());
                    if (!v2.isEmpty()) problems.add(ConformanceHarness.at(small, where + ": invalid plan: " + v2.getFirst()));
                } catch (RuntimeException e) {
                    problems.add(ConformanceHarness.at(small, where + ": compress() threw " + ConformanceHarness.describe(e)));
                }
            }
        }
        assertTrue(problems.isEmpty(), () -> harness().failure("option values the schema allows do not work", problems));
    }

    // ---------------------------------------------------------------- plans over the generated scenarios

    /** Contract outcomes that produced a plan of the right shape (others are judged by their own checks). */
    private List<Outcome> wellShaped() {
        List<Outcome> out = harness().contractOutcomes().stream()
                .filter(o -> o.ok() && PlanRules.shape(o.plan(), o.context()).isEmpty()).toList();
        assumeTrue(!out.isEmpty(), "no scenario produced a plan of the right shape (see compressCompletesOnEveryScenario and planHasTheContextShape)");
        return out;
    }

    /** Well-shaped outcomes of prompts within {@link ScenarioGenerator#REPEAT_LIMIT}: those the suite calls again. */
    private List<Outcome> repeatable() {
        return wellShaped().stream().filter(o -> o.spec().maxPromptLength() <= ScenarioGenerator.REPEAT_LIMIT).toList();
    }

    /** Every {@code k}-th element, from the first. */
    private static <T> List<T> every(List<T> all, int k) {
        List<T> out = new ArrayList<>();
        for (int i = 0; i < all.size(); i += k) out.add(all.get(i));
        return out;
    }

    private void judge(String problem, List<Outcome> outcomes, Function<Outcome, Optional<String>> rule) {
        List<String> failures = new ArrayList<>();
        for (Outcome o : outcomes) rule.apply(o).ifPresent(v -> failures.add(ConformanceHarness.at(o.spec(), v)));
        assertTrue(failures.isEmpty(), () -> harness().failure(problem + " on " + failures.size() + " of " + outcomes.size() + " scenarios", failures));
    }

    @Test
    @Order(10)
    @DisplayName("[contract] compress() completes on every scenario (all layouts, shapes, budgets)")
    public void compressCompletesOnEveryScenario() {
        judge("compress() failed", harness().contractOutcomes(),
                o -> o.ok() ? Optional.empty() : Optional.of(o.error() == null ? "no plan" : "threw " + ConformanceHarness.describe(o.error())));
    }

    @Test
    @Order(11)
    @DisplayName("[contract] the plan has the context's rows × layers × KV heads")
    public void planHasTheContextShape() {
        List<Outcome> ok = harness().contractOutcomes().stream().filter(Outcome::ok).toList();
        assumeTrue(!ok.isEmpty(), "no scenario produced a plan (see compressCompletesOnEveryScenario)");
        judge("the plan has the wrong shape", ok, o -> PlanRules.shape(o.plan(), o.context()));
    }

    @Test
    @Order(12)
    @DisplayName("[contract] kept positions are sorted and unique")
    public void keptPositionsAreSortedAndUnique() {
        judge("kept positions are not strictly ascending", wellShaped(), o -> PlanRules.sortedUnique(o.plan(), o.context()));
    }

    @Test
    @Order(13)
    @DisplayName("[contract] kept positions are in range and cached")
    public void keptPositionsAreCached() {
        judge("kept positions are not cached", wellShaped(), o -> PlanRules.cached(o.plan(), o.context()));
    }

    @Test
    @Order(14)
    @DisplayName("[contract] a visual-only policy never evicts a text token")
    public void outOfScopeTokensAreKept() {
        Scope scope = defaultPolicy().scope();
        assumeTrue(scope != Scope.ALL, "the policy's scope is ALL: every token may be evicted");
        judge("tokens outside the policy's scope were evicted", wellShaped(),
                o -> PlanRules.outOfScopeKept(o.plan(), o.context(), o.policy().scope(), o.policy().protection()));
    }

    @Test
    @Order(15)
    @DisplayName("[contract] protected tokens (sinks, recent, modalities) are kept")
    public void protectedTokensAreKept() {
        Protection prot = defaultPolicy().protection();
        assumeTrue(prot != null && !prot.isNone(), "the policy declares no protection");
        judge("protected tokens were evicted", wellShaped(),
                o -> PlanRules.protectedKept(o.plan(), o.context(), o.policy().scope(), o.policy().protection()));
    }

    @Test
    @Order(16)
    @DisplayName("[contract] the budget is honoured exactly as the budget mode declares")
    public void budgetIsHonoured() {
        judge("the budget is not honoured", wellShaped(), o -> PlanRules.budget(o.plan(), o.context(), o.spec().budget(),
                o.policy().budgetMode(), o.policy().scope(), o.policy().protection()));
    }

    @Test
    @Order(17)
    @DisplayName("[contract] every plan passes the SPI's PlanValidator")
    public void planPassesPlanValidator() {
        List<Outcome> ok = harness().contractOutcomes().stream().filter(Outcome::ok).toList();
        assumeTrue(!ok.isEmpty(), "no scenario produced a plan (see compressCompletesOnEveryScenario)");
        judge("PlanValidator rejects the plan", ok, o -> {
            List<String> v = PlanValidator.violations(o.plan(), o.context(), o.policy().budgetMode());
            return v.isEmpty() ? Optional.empty() : Optional.of(v.getFirst() + (v.size() > 1 ? " (and " + (v.size() - 1) + " more)" : ""));
        });
    }

    @Test
    @Order(17)
    @DisplayName("[contract] an AT_MOST policy keeps at least its declared minimum fill")
    public void atMostPolicyKeepsItsMinimumFill() {
        CompressionPolicy p = defaultPolicy();
        assumeTrue(p.budgetMode() == BudgetMode.AT_MOST, "the policy's budget mode is EXACT: budgetIsHonoured requires the exact total");
        double fill = p.minimumFill();
        assertTrue(fill > 0 && fill <= 1, () -> harness().failure("the budget mode is AT_MOST but minimumFill() is " + fill
                + ": declare the fraction in (0, 1] of min(L·H·B, candidates) the policy keeps at least, so that 'at most' cannot mean 'nothing'", List.of()));
        judge("an AT_MOST policy kept less than its declared minimum fill " + fill, wellShaped(), o -> {
            int[][][] kept = PlanRules.keptCandidates(o.plan(), o.context(), o.policy().scope(), o.policy().protection());
            for (int r = 0; r < kept.length; r++) {
                long k = 0;
                for (int[] l : kept[r]) for (int x : l) k += x;
                long exact = o.context().exactTotal(r);
                long floor = (long) Math.floor(fill * exact);
                if (k < floor) {
                    return Optional.of("row " + r + ": keeps " + k + " candidates, below ⌊" + fill + " · " + exact + "⌋ = " + floor
                            + " (the exact total min(L·H·B, candidates) is " + exact + ")");
                }
            }
            return Optional.empty();
        });
    }

    @Test
    @Order(18)
    @DisplayName("[contract] budgets are split uniformly over layers and heads unless declared otherwise")
    public void budgetSplitMatchesCapabilities() {
        boolean layerWise = capabilities().contains(Capability.LAYER_WISE_BUDGETS);
        boolean headWise = capabilities().contains(Capability.HEAD_WISE_BUDGETS);
        assumeTrue(!(layerWise && headWise), "LAYER_WISE_BUDGETS and HEAD_WISE_BUDGETS are both declared: any split is allowed");
        CompressionPolicy p = defaultPolicy();
        assumeTrue(p.budgetMode() == BudgetMode.EXACT, "the policy's budget mode is AT_MOST: per-head counts may vary");
        judge("the budget split differs between layers or heads without the capability", wellShaped(), o -> {
            int[][][] k = PlanRules.keptCandidates(o.plan(), o.context(), o.policy().scope(), o.policy().protection());
            int heads = o.spec().shape().kvHeads();
            for (int r = 0; r < k.length; r++) {
                if (!layerWise && !headWise) {
                    int[] flat = Arrays.stream(k[r]).flatMapToInt(Arrays::stream).toArray();
                    int min = Arrays.stream(flat).min().orElse(0), max = Arrays.stream(flat).max().orElse(0);
                    if (max - min > 1) return Optional.of("row " + r + ": (layer, KV head)s keep between " + min + " and " + max
                            + " candidates (" + Arrays.deepToString(k[r]) + "); declare LAYER_WISE_BUDGETS / HEAD_WISE_BUDGETS or split uniformly");
                } else if (layerWise) {
                    for (int l = 0; l < k[r].length; l++) {
                        int min = Arrays.stream(k[r][l]).min().orElse(0), max = Arrays.stream(k[r][l]).max().orElse(0);
                        if (max - min > 1) return Optional.of("row " + r + ", layer " + l + ": KV heads keep between " + min + " and " + max
                                + " candidates, but HEAD_WISE_BUDGETS is not declared");
                    }
                } else {
                    int[] layers = Arrays.stream(k[r]).mapToInt(a -> Arrays.stream(a).sum()).toArray();
                    int min = Arrays.stream(layers).min().orElse(0), max = Arrays.stream(layers).max().orElse(0);
                    if (max - min > heads) return Optional.of("row " + r + ": layers keep between " + min + " and " + max
                            + " candidates " + Arrays.toString(layers) + ", but LAYER_WISE_BUDGETS is not declared");
                }
            }
            return Optional.empty();
        });
    }

    @Test
    @Order(19)
    @DisplayName("[contract] compress() does not modify its inputs")
    public void inputsAreNotMutated() {
        List<Outcome> ran = harness().contractOutcomes().stream().filter(o -> o.policy() != null && o.context() != null).toList();
        judge("compress() modified the cache it was given (positions, keys, values or queries)", ran,
                o -> o.mutated() ? Optional.of("after compress(), " + o.mutation()) : Optional.empty());
    }

    @Test
    @Order(20)
    @DisplayName("[capability DETERMINISTIC] same inputs and seed give the same plan")
    public void sameInputsAndSeedGiveSamePlan() {
        assumeDeclared(Capability.DETERMINISTIC);
        List<Outcome> subset = every(repeatable(), 3);
        judge("the plan changed between calls with the same inputs and seed", subset, o -> {
            try {
                CompressionPolicy fresh = harness().create();
                RetentionPlan a = fresh.compress(o.spec().build().context(fresh, o.spec().budget(), Phase.PREFILL, 0));
                String d = PlanRules.firstDifference(o.plan(), a, "the first instance", "a fresh instance");
                if (d != null) return Optional.of(d);
                RetentionPlan b = fresh.compress(o.spec().build().context(fresh, o.spec().budget(), Phase.PREFILL, 0));
                d = PlanRules.firstDifference(o.plan(), b, "the first call", "a repeated call on the same instance");
                if (d != null) return Optional.of(d);
                // interleaved with another scenario of the same budget on the same instance: no state carried between calls
                Outcome other = subset.get((subset.indexOf(o) + 1) % subset.size());
                RetentionPlan c = fresh.compress(other.spec().build().context(fresh, other.spec().budget(), Phase.PREFILL, 0));
                d = PlanRules.firstDifference(other.plan(), c, "scenario #" + other.spec().index() + " alone",
                        "scenario #" + other.spec().index() + " called after #" + o.spec().index() + " on one instance");
                if (d != null) return Optional.of(d);
                RetentionPlan e = fresh.compress(o.spec().build().context(fresh, o.spec().budget(), Phase.PREFILL, 0));
                d = PlanRules.firstDifference(o.plan(), e, "the first call", "a call after scenario #" + other.spec().index() + " on the same instance");
                return Optional.ofNullable(d);
            } catch (RuntimeException e) {
                return Optional.of("a repeated call threw " + ConformanceHarness.describe(e));
            }
        });
    }

    @Test
    @Order(29)
    @DisplayName("[capability DETERMINISTIC] a second JVM computes the same plans")
    public void samePlanInAnotherJvm() {
        assumeDeclared(Capability.DETERMINISTIC);
        assumeReproducible();
        List<Outcome> subset = every(repeatable(), 6).stream().filter(this::reproduces).toList();
        assumeTrue(!subset.isEmpty(), "no scenario produced a reproducible plan of the right shape (see sameInputsAndSeedGiveSamePlan)");
        SecondJvm.Result r;
        try {
            r = SecondJvm.run(harness(), subset.stream().map(Outcome::spec).toList());
        } catch (IllegalArgumentException e) {
            assumeTrue(false, "the test's options cannot be handed to a second JVM: " + e.getMessage());
            return;
        }
        SecondJvm.Result res = r;
        assertTrue(res.error() == null, () -> harness().failure("the policy could not be run in a second JVM", List.of(res.error())));
        judge("a second JVM computed a different plan", subset, o -> {
            Long fp = res.fingerprints().get(o.spec().index());
            if (fp == null) return Optional.of("the second JVM returned no plan for it");
            return fp == SecondJvm.fingerprint(o.plan()) ? Optional.empty()
                    : Optional.of("plan fingerprints differ (this JVM " + Long.toHexString(SecondJvm.fingerprint(o.plan())) + ", a fresh JVM "
                    + Long.toHexString(fp) + "): the plan depends on per-JVM state (a static random salt, identity hash codes, the clock?)");
        });
    }

    @Test
    @Order(21)
    @DisplayName("[capability THREAD_SAFE] concurrent calls on one instance match sequential calls")
    public void concurrentCallsMatchSequentialCalls() throws InterruptedException {
        assumeDeclared(Capability.THREAD_SAFE);
        List<Outcome> ok = harness().contractOutcomes().stream().filter(o -> o.ok() && o.spec().maxPromptLength() < 200).toList();
        assumeTrue(!ok.isEmpty(), "no scenario produced a plan (see compressCompletesOnEveryScenario)");
        List<Outcome> subset = new ArrayList<>();
        for (int i = 0; i < ok.size() && subset.size() < 16; i += Math.max(1, ok.size() / 16)) subset.add(ok.get(i));
        // thread safety on a long prompt too (a policy's buffers may be shared only beyond some length)
        Outcome longOne = harness().runOne(ScenarioGenerator.longForThreads(settings.seed()));
        if (longOne.ok()) subset.add(longOne);
        boolean deterministic = capabilities().contains(Capability.DETERMINISTIC);
        CompressionPolicy shared = harness().create();
        int threads = 4, rounds = 3;
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int offset = t;
            Thread th = Thread.ofPlatform().name("conformance-" + t).unstarted(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                for (int round = 0; round < rounds; round++) {
                    for (int i = 0; i < subset.size(); i++) {
                        Outcome o = subset.get((i + offset * 5 + round) % subset.size());
                        try {
                            RetentionPlan plan = shared.compress(o.context());
                            if (deterministic && !o.plan().equals(plan)) {
                                failures.add(ConformanceHarness.at(o.spec(), "thread " + offset + ": " + PlanRules.firstDifference(o.plan(), plan, "the sequential call", "the concurrent call")));
                            } else if (!deterministic) {
                                List<String> v = PlanValidator.violations(plan, o.context(), shared.budgetMode());
                                if (!v.isEmpty()) failures.add(ConformanceHarness.at(o.spec(), "thread " + offset + ": invalid plan: " + v.getFirst()));
                            }
                        } catch (RuntimeException e) {
                            failures.add(ConformanceHarness.at(o.spec(), "thread " + offset + " threw " + ConformanceHarness.describe(e)));
                        }
                    }
                }
            });
            ts.add(th);
            th.start();
        }
        start.countDown();
        for (Thread th : ts) {
            th.join(TimeUnit.SECONDS.toMillis(120));
            if (th.isAlive()) failures.add("thread " + th.getName() + " did not finish within 120 s (deadlock?)");
        }
        List<String> f = List.copyOf(failures);
        assertTrue(f.isEmpty(), () -> harness().failure("concurrent compress() calls on one instance went wrong (" + f.size() + " of "
                + threads * rounds * subset.size() + " calls)", f));
    }

    @Test
    @Order(22)
    @DisplayName("[capability BATCH] batches of rows of different lengths")
    public void batchRowsOfDifferentLengthsAreHandled() {
        assumeDeclared(Capability.BATCH);
        judge("a ragged batch was mishandled", harness().batchOutcomes(), o -> {
            if (!o.ok()) return Optional.of(o.error() == null ? "no plan" : "threw " + ConformanceHarness.describe(o.error()));
            Optional<String> s = PlanRules.shape(o.plan(), o.context());
            if (s.isPresent()) return s;
            List<String> v = PlanValidator.violations(o.plan(), o.context(), o.policy().budgetMode());
            if (!v.isEmpty()) return Optional.of("PlanValidator: " + v.getFirst());
            return PlanRules.budget(o.plan(), o.context(), o.spec().budget(), o.policy().budgetMode(), o.policy().scope(), o.policy().protection());
        });
    }

    @Test
    @Order(23)
    @DisplayName("[capability LAYER_WISE_BUDGETS] budgets differ between layers")
    public void layerWiseBudgetsDiffer() {
        assumeDeclared(Capability.LAYER_WISE_BUDGETS);
        List<String> looked = new ArrayList<>();
        for (Outcome o : wellShaped()) {
            if (o.spec().shape().layers() < 2) continue;
            int[][][] k = PlanRules.keptCandidates(o.plan(), o.context(), o.policy().scope(), o.policy().protection());
            int[] layers = Arrays.stream(k[0]).mapToInt(a -> Arrays.stream(a).sum()).toArray();
            int min = Arrays.stream(layers).min().orElse(0), max = Arrays.stream(layers).max().orElse(0);
            if (max - min > o.spec().shape().kvHeads()) return;
            looked.add(o.spec().describe() + ": " + Arrays.toString(layers));
        }
        fail(harness().failure("LAYER_WISE_BUDGETS is declared, but on no scenario did layers keep counts differing by more than rounding",
                looked));
    }

    @Test
    @Order(24)
    @DisplayName("[capability HEAD_WISE_BUDGETS] budgets differ between the KV heads of a layer")
    public void headWiseBudgetsDiffer() {
        assumeDeclared(Capability.HEAD_WISE_BUDGETS);
        List<String> looked = new ArrayList<>();
        for (Outcome o : wellShaped()) {
            if (o.spec().shape().kvHeads() < 2) continue;
            int[][][] k = PlanRules.keptCandidates(o.plan(), o.context(), o.policy().scope(), o.policy().protection());
            for (int[] layer : k[0]) {
                if (Arrays.stream(layer).max().orElse(0) - Arrays.stream(layer).min().orElse(0) > 1) return;
            }
            looked.add(o.spec().describe() + ": " + Arrays.deepToString(k[0]));
        }
        fail(harness().failure("HEAD_WISE_BUDGETS is declared, but on no scenario did the KV heads of a layer keep counts differing by more than 1",
                looked));
    }

    @Test
    @Order(25)
    @DisplayName("[capability ALL_TOKEN_SCOPE] with Scope.ALL, plans are valid and text is really evicted")
    public void allTokenScopeIsHonoured() {
        assumeDeclared(Capability.ALL_TOKEN_SCOPE);
        Map<String, Object> raw = new LinkedHashMap<>(harness().options());
        CompressionPolicy p = harness().create(raw);
        if (p.scope() != Scope.ALL) {
            Optional<OptionSpec> scopeOption = harness().provider().options().spec("scope");
            if (scopeOption.isEmpty() || scopeOption.get().type() != OptionType.ENUM || !scopeOption.get().allowed().contains("all")) {
                fail(harness().failure("ALL_TOKEN_SCOPE is declared, but the policy's scope is " + p.scope()
                        + " and it has no enum option 'scope' accepting 'all'", List.of()));
            }
            raw.put("scope", "all");
            p = harness().create(raw);
            assertEquals(Scope.ALL, p.scope(), () -> harness().failure("with scope=all the policy's scope() is still not ALL", List.of()));
        }
        List<ScenarioSpec> specs = ScenarioGenerator.contract(settings.seed()).stream()
                .filter(s -> (s.kind().equals("text-only") || s.kind().equals("one-image") || s.kind().equals("several-images"))
                        && (s.budget().toString().equals("0") || s.budget().toString().equals("25.0%"))).toList();
        List<String> failures = new ArrayList<>();
        boolean evictedText = false;
        for (ScenarioSpec spec : specs) {
            CompressionPolicy fresh = harness().create(raw);
            PolicyContext ctx = spec.build().context(fresh, spec.budget(), Phase.PREFILL, 0);
            RetentionPlan plan;
            try {
                plan = fresh.compress(ctx);
            } catch (RuntimeException e) {
                failures.add(ConformanceHarness.at(spec, "threw " + ConformanceHarness.describe(e)));
                continue;
            }
            List<String> v = PlanValidator.violations(plan, ctx, fresh.budgetMode());
            if (!v.isEmpty()) {
                failures.add(ConformanceHarness.at(spec, "PlanValidator: " + v.getFirst()));
                continue;
            }
            PlanRules.budget(plan, ctx, spec.budget(), fresh.budgetMode(), Scope.ALL, fresh.protection())
                    .ifPresent(b -> failures.add(ConformanceHarness.at(spec, b)));
            int[] kept = plan.kept(0, 0, 0);
            for (int t : ctx.cache().positions(0, 0, 0)) evictedText |= ctx.layout().row(0).modality(t).isText() && Arrays.binarySearch(kept, t) < 0;
        }
        assertTrue(failures.isEmpty(), () -> harness().failure("with Scope.ALL, plans are invalid", failures));
        assertTrue(evictedText, () -> harness().failure("with Scope.ALL the policy never evicted a text token, even at budget 0",
                specs.stream().map(ScenarioSpec::describe).toList()));
    }

    @Test
    @Order(26)
    @DisplayName("[contract] the declared maxCallTime() is respected on the mid-size scenario")
    public void declaredCallTimeIsRespected() {
        Optional<Duration> declared = harness().provider().maxCallTime();
        assumeTrue(declared != null && declared.isPresent(), "the provider declares no maxCallTime()");
        ScenarioSpec spec = ScenarioGenerator.midSize(settings.seed());
        CompressionPolicy p = harness().create();
        SyntheticScenario scn = spec.build();
        PolicyContext ctx = scn.context(p, spec.budget(), Phase.PREFILL, 0);
        long[] nanos = new long[5];
        try {
            p.compress(ctx); // warm-up
            for (int i = 0; i < nanos.length; i++) {
                long t0 = System.nanoTime();
                p.compress(ctx);
                nanos[i] = System.nanoTime() - t0;
            }
        } catch (RuntimeException e) {
            fail(harness().failure("compress() threw on the mid-size scenario", List.of(ConformanceHarness.at(spec, ConformanceHarness.describe(e)))), e);
        }
        Arrays.sort(nanos);
        Duration median = Duration.ofNanos(nanos[nanos.length / 2]);
        long limit = declared.get().toNanos() * 10;
        List<String> slow = new ArrayList<>();
        for (Outcome o : harness().contractOutcomes()) {
            boolean noLarger = o.spec().maxPromptLength() <= spec.maxPromptLength() && o.spec().shape().layers() <= spec.shape().layers()
                    && o.spec().shape().queryHeads() <= spec.shape().queryHeads() && o.spec().shape().headDim() <= spec.shape().headDim();
            if (noLarger && o.spec().index() > 0 && o.nanos() > limit) {
                slow.add(ConformanceHarness.at(o.spec(), "one compress() call took " + o.nanos() / 1_000_000 + " ms"));
            }
        }
        assertTrue(slow.isEmpty(), () -> harness().failure("compress() took more than 10× the declared maxCallTime() of " + declared.get().toMillis()
                + " ms on " + slow.size() + " contract scenarios no larger than the mid-size one", slow));
        assertTrue(median.compareTo(declared.get()) <= 0, () -> harness().failure("the median compress() time " + median.toMillis() + " ms (of "
                + Arrays.stream(nanos).mapToObj(n -> (n / 1_000_000) + " ms").toList() + ") exceeds the declared maxCallTime() of "
                + declared.get().toMillis() + " ms", List.of(ConformanceHarness.at(spec, "mid-size scenario"))));
    }

    @Test
    @Order(27)
    @DisplayName("[capability DECODING_TIME] over many decode steps the cache stays within budget + slack")
    public void decodingKeepsCacheWithinBound() {
        assumeDeclared(Capability.DECODING_TIME);
        CompressionPolicy p = defaultPolicy();
        assertTrue(p.schedule().actsDuringDecoding(), () -> harness().failure("DECODING_TIME is declared, but the schedule "
                + p.schedule() + " never acts during decoding", List.of()));
        List<ScenarioSpec> specs = ScenarioGenerator.decoding(settings.seed(), DECODE_STEPS, capabilities().contains(Capability.BATCH));
        List<String> failures = new ArrayList<>();
        int threw = 0, invalid = 0, bound = 0;
        for (ScenarioSpec spec : specs) {
            Optional<String> v;
            try {
                v = DecodingDriver.run(harness().create(), spec, spec.maxGenerated());
            } catch (RuntimeException e) {
                v = Optional.of("the decoding run threw " + ConformanceHarness.describe(e));
            }
            if (v.isEmpty()) continue;
            String m = v.get();
            if (m.contains("threw")) threw++;
            else if (m.contains("invalid plan")) invalid++;
            else bound++;
            failures.add(ConformanceHarness.at(spec, m));
        }
        List<String> kinds = new ArrayList<>();
        if (threw > 0) kinds.add("compress() threw on " + threw);
        if (invalid > 0) kinds.add("returned an invalid plan on " + invalid);
        if (bound > 0) kinds.add("left the bound L·H·(B + allowance) on " + bound);
        assertTrue(failures.isEmpty(), () -> harness().failure("decoding-time compression failed: " + String.join(", ", kinds) + " of "
                + specs.size() + " scenarios", failures));
    }

    // ---------------------------------------------------------------- semantic checks

    /** A fresh policy's plan for a fresh copy of {@code scn}. */
    private RetentionPlan planOf(SyntheticScenario scn, ScenarioSpec spec) {
        CompressionPolicy p = harness().create();
        return p.compress(scn.context(p, spec.budget(), Phase.PREFILL, 0));
    }

    /**
     * True if a fresh instance reproduces {@code o}'s plan. Checks that compare plans skip outcomes that are not
     * reproducible: that defect is reported once, by {@code sameInputsAndSeedGiveSamePlan}.
     */
    private boolean reproduces(Outcome o) {
        if (reproduced == null) reproduced = new java.util.HashMap<>();
        return reproduced.computeIfAbsent(o.spec().kind() + "#" + o.spec().index(), i -> {
            try {
                return o.plan().equals(planOf(o.spec().build(), o.spec()));
            } catch (RuntimeException e) {
                return false;
            }
        });
    }

    /**
     * Skips the calling check if a fresh instance does not reproduce the plans (on every third repeatable
     * scenario): a policy whose plans are not reproducible fails {@code sameInputsAndSeedGiveSamePlan}, and checks
     * that compare plans cannot tell its other defects from chance.
     */
    private void assumeReproducible() {
        boolean all = every(repeatable(), 3).stream().allMatch(this::reproduces);
        assumeTrue(all, "a fresh instance does not reproduce the policy's plans (see sameInputsAndSeedGiveSamePlan): plans cannot be compared");
    }

    @Test
    @Order(30)
    @DisplayName("[capability BATCH] a batch row's plan equals its plan alone and ignores the other rows")
    public void batchRowPlanEqualsRowAlone() {
        assumeDeclared(Capability.BATCH);
        assumeDeclared(Capability.DETERMINISTIC);
        assumeReproducible();
        List<Outcome> ok = harness().batchOutcomes().stream().filter(o -> o.ok() && PlanRules.shape(o.plan(), o.context()).isEmpty()).toList();
        assumeTrue(!ok.isEmpty(), "no batch scenario produced a plan of the right shape (see batchRowsOfDifferentLengthsAreHandled)");
        judge("a batch row's plan depends on the other rows of the batch", ok, o -> {
            if (!reproduces(o)) return Optional.empty();
            ScenarioSpec spec = o.spec();
            SyntheticScenario batch = spec.build();
            int n = spec.layout().batchSize();
            try {
                // row 0 alone: a batch of one
                RetentionPlan alone = planOf(SyntheticScenario.stack(new SyntheticScenario[] {batch}, new int[] {0}, spec.seed()), spec);
                String d = PlanRules.firstRowDifference(o.plan(), 0, alone, 0, "the batch", "row 0 alone");
                if (d != null) return Optional.of(d);
                // each row at its own index, every other row replaced by a different prompt
                long seed = ScenarioGenerator.derive(spec.seed(), "replacement", 0);
                java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
                List<io.github.kvpolicy.api.RowLayout> rows = new ArrayList<>();
                for (int i = 0; i < n; i++) rows.add(ScenarioGenerator.row(i % 2 == 0 ? ScenarioGenerator.LayoutKind.SEVERAL_IMAGES
                        : ScenarioGenerator.LayoutKind.ONE_IMAGE, rnd));
                SyntheticScenario other = SyntheticScenario.random(spec.shape(), new io.github.kvpolicy.api.TokenLayout(rows), seed);
                for (int r = 0; r < n; r++) {
                    SyntheticScenario[] src = new SyntheticScenario[n];
                    int[] rowOf = new int[n];
                    for (int i = 0; i < n; i++) { src[i] = i == r ? batch : other; rowOf[i] = i; }
                    RetentionPlan mixed = planOf(SyntheticScenario.stack(src, rowOf, spec.seed()), spec);
                    d = PlanRules.firstRowDifference(o.plan(), r, mixed, r, "the batch", "the same row beside other prompts");
                    if (d != null) return Optional.of(d);
                }
                return Optional.empty();
            } catch (RuntimeException e) {
                return Optional.of("compress() threw on a re-assembled batch: " + ConformanceHarness.describe(e));
            }
        });
    }

    @Test
    @Order(31)
    @DisplayName("[capability DETERMINISTIC] compress() equals evictor(scorer, allocator)")
    public void compressEqualsItsHooks() {
        assumeDeclared(Capability.DETERMINISTIC);
        assumeReproducible();
        judge("compress() differs from evictor().evict(ctx, scorer().score(ctx), allocator().allocate(ctx, scores))", every(repeatable(), 3), o -> {
            if (!reproduces(o)) return Optional.empty();
            CompressionPolicy p = harness().create();
            PolicyContext ctx = o.spec().build().context(p, o.spec().budget(), Phase.PREFILL, 0);
            if (p.scorer() == null || p.allocator() == null || p.evictor() == null) {
                return Optional.of("a hook is null (scorer " + p.scorer() + ", allocator " + p.allocator() + ", evictor " + p.evictor() + ")");
            }
            String stage = "scorer().score";
            try {
                io.github.kvpolicy.api.TokenScores scores = p.scorer().score(ctx);
                stage = "allocator().allocate";
                io.github.kvpolicy.api.BudgetAllocation alloc = p.allocator().allocate(ctx, scores);
                stage = "evictor().evict";
                RetentionPlan hooks = p.evictor().evict(ctx, scores, alloc);
                return Optional.ofNullable(PlanRules.firstDifference(o.plan(), hooks, "compress()", "the hooks"));
            } catch (RuntimeException e) {
                return Optional.of(stage + " threw " + ConformanceHarness.describe(e) + " (compress() did not)");
            }
        });
    }

    /** True if every value equals the first (NaN equal to NaN). */
    private static boolean constant(float[] v) {
        for (int i = 1; i < v.length; i++) if (Float.compare(v[i], v[0]) != 0) return false;
        return true;
    }

    @Test
    @Order(32)
    @DisplayName("[contract] the scorer is not constant where its inputs are not")
    public void scorerIsNotConstant() {
        List<String> constantOn = new ArrayList<>();
        int judged = 0;
        for (Outcome o : repeatable()) {
            CompressionPolicy p = harness().create();
            PolicyContext ctx = o.spec().build().context(p, o.spec().budget(), Phase.PREFILL, 0);
            io.github.kvpolicy.api.TokenScores scores;
            try {
                scores = p.scorer().score(ctx);
            } catch (RuntimeException e) {
                continue; // a scorer that throws is judged by compressEqualsItsHooks
            }
            int heads = 0, flat = 0;
            String example = null;
            io.github.kvpolicy.api.QueryWindow.Kind window = p.queryWindow().kind();
            for (int r = 0; r < ctx.layout().batchSize(); r++) {
                // a policy that scores by attention may score flat where its window offers no query (e.g. no instruction text)
                int[] queries = ctx.probe().queryPositions(r);
                if (window != io.github.kvpolicy.api.QueryWindow.Kind.NONE && queries.length == 0) continue;
                for (int l = 0; l < ctx.shape().layers(); l++)
                    for (int h = 0; h < ctx.shape().kvHeads(); h++) {
                        float[] v = scores.get(r, l, h);
                        if (v == null || v.length < 2) continue;
                        // ... and may keep (score alike) every candidate that is itself one of its window's queries
                        if (window == io.github.kvpolicy.api.QueryWindow.Kind.LAST || window == io.github.kvpolicy.api.QueryWindow.Kind.INSTRUCTION_TEXT) {
                            boolean allQueries = true;
                            for (int c : ctx.candidates(r, l, h)) allQueries &= Arrays.binarySearch(queries, c) >= 0;
                            if (allQueries) continue;
                        }
                        heads++;
                        if (constant(v)) { flat++; if (example == null) example = PlanRules.where(r, l, h) + ": all " + v.length + " candidates score " + v[0]; }
                    }
            }
            if (heads == 0) continue;
            judged++;
            if (flat == heads) constantOn.add(ConformanceHarness.at(o.spec(), "every (layer, KV head) with 2+ candidates has constant scores, e.g. " + example));
        }
        assumeTrue(judged > 0, "on no scenario does the policy have two candidates in one (layer, KV head): nothing to rank");
        int n = judged;
        assertTrue(constantOn.isEmpty(), () -> harness().failure("the scorer gives all candidates the same score on " + constantOn.size() + " of " + n
                + " scenarios although the keys, values and attention differ (top-k then keeps the earliest positions whatever the cache holds;"
                + " NaN or overflow mapped to a constant?)", constantOn));
    }

    /** The order {@link io.github.kvpolicy.api.Evictor#topIndices} ranks by: larger is better; -0 equals 0. */
    private static int rank(float v) {
        int bits = Float.floatToIntBits(v == 0.0f ? 0.0f : v);
        return bits >= 0 ? bits : bits ^ 0x7fffffff;
    }

    @Test
    @Order(33)
    @DisplayName("[contract] with the top-k evictor, kept tokens outrank evicted ones under the policy's own scores")
    public void keptTokensOutrankEvicted() {
        CompressionPolicy p0 = defaultPolicy();
        assumeTrue(p0.evictor() != null && p0.evictor().getClass() == io.github.kvpolicy.api.Evictor.topK().getClass(),
                "the policy's evictor is not Evictor.topK(): it may keep any candidates");
        List<Outcome> subset = repeatable();
        int[] judged = {0};
        judge("an evicted candidate outranks a kept one under the policy's own scores (its evictor is Evictor.topK())", subset, o -> {
            CompressionPolicy p = harness().create();
            PolicyContext ctx = o.spec().build().context(p, o.spec().budget(), Phase.PREFILL, 0);
            io.github.kvpolicy.api.TokenScores scores, again;
            try {
                scores = p.scorer().score(ctx);
                again = p.scorer().score(o.spec().build().context(p, o.spec().budget(), Phase.PREFILL, 0));
            } catch (RuntimeException e) {
                return Optional.empty(); // judged by compressEqualsItsHooks
            }
            for (int r = 0; r < ctx.layout().batchSize(); r++)
                for (int l = 0; l < ctx.shape().layers(); l++)
                    for (int h = 0; h < ctx.shape().kvHeads(); h++)
                        if (!Arrays.equals(scores.get(r, l, h), again.get(r, l, h))) return Optional.empty(); // scores not reproducible here
            judged[0]++;
            for (int r = 0; r < ctx.layout().batchSize(); r++)
                for (int l = 0; l < ctx.shape().layers(); l++)
                    for (int h = 0; h < ctx.shape().kvHeads(); h++) {
                        int[] cand = o.context().candidates(r, l, h);
                        float[] v = scores.get(r, l, h);
                        int[] kept = o.plan().kept(r, l, h);
                        Arrays.sort(kept);
                        int worstKept = -1, bestEvicted = -1;
                        for (int i = 0; i < cand.length && i < v.length; i++) {
                            boolean k = Arrays.binarySearch(kept, cand[i]) >= 0;
                            if (k && (worstKept < 0 || rank(v[i]) < rank(v[worstKept]))) worstKept = i;
                            if (!k && (bestEvicted < 0 || rank(v[i]) > rank(v[bestEvicted]))) bestEvicted = i;
                        }
                        if (worstKept >= 0 && bestEvicted >= 0 && rank(v[bestEvicted]) > rank(v[worstKept])) {
                            return Optional.of(PlanRules.where(r, l, h) + ": evicted position " + cand[bestEvicted] + " (score " + v[bestEvicted]
                                    + ") outranks kept position " + cand[worstKept] + " (score " + v[worstKept] + ")");
                        }
                    }
            return Optional.empty();
        });
        assumeTrue(judged[0] > 0, "the scorer never gave the same scores twice on one input: the ranking cannot be judged");
    }

    @Test
    @Order(34)
    @DisplayName("[capability DETERMINISTIC] query heads are grouped onto KV heads as the HeadMapping contract says")
    public void queryHeadGroupingMatchesHeadMapping() {
        assumeDeclared(Capability.DETERMINISTIC);
        assumeReproducible();
        List<ScenarioSpec> specs = ScenarioGenerator.grouped(settings.seed());
        List<String> failures = new ArrayList<>();
        for (ScenarioSpec spec : specs) {
            int g = spec.shape().groupSize(), q = spec.shape().queryHeads();
            int[] perm = new int[q];
            for (int i = 0; i < q; i++) perm[i] = (i / g) * g + (i % g + 1) % g; // rotate inside each group
            try {
                RetentionPlan plain = planOf(spec.build(), spec);
                if (!plain.equals(planOf(spec.build(), spec))) continue; // not reproducible: sameInputsAndSeedGiveSamePlan reports it
                RetentionPlan rotated = planOf(spec.build().withQueryHeads(perm), spec);
                String d = PlanRules.firstDifference(plain, rotated, "the original queries", "the queries rotated inside each KV group");
                if (d != null) failures.add(ConformanceHarness.at(spec, d));
            } catch (RuntimeException e) {
                failures.add(ConformanceHarness.at(spec, "compress() threw " + ConformanceHarness.describe(e)));
            }
        }
        assertTrue(failures.isEmpty(), () -> harness().failure("the plan changed when query heads were permuted inside their KV group on " + failures.size()
                + " of " + specs.size() + " grouped-query scenarios: query head q belongs to KV head q / groupSize (HeadMapping), and KV_MEAN/MAX/SUM are "
                + "symmetric in a group — does the policy group query heads as q % kvHeads?", failures));
    }

    /** Valid values of {@code s} other than its default (and other than the test's own value). */
    private static List<Object> alternatives(OptionSpec s, Object current) {
        List<Object> out = new ArrayList<>();
        for (Object v : extremes(s)) if (!String.valueOf(v).equals(String.valueOf(current))) out.add(v);
        if ((s.type() == OptionType.INTEGER || s.type() == OptionType.DOUBLE) && s.min() != null && s.max() != null) {
            Object mid = s.type() == OptionType.INTEGER ? (Object) (int) Math.round((s.min() + s.max()) / 2) : (Object) ((s.min() + s.max()) / 2);
            if (!String.valueOf(mid).equals(String.valueOf(current))) out.add(mid);
        }
        return out;
    }

    @Test
    @Order(35)
    @DisplayName("[contract] every option has an effect on the plan or the declarations")
    public void optionsChangeThePlan() {
        List<OptionSpec> specs = harness().provider().options().specs().stream()
                .filter(s -> s.type() != OptionType.STRING && s.type() != OptionType.POLICY)
                .filter(s -> !optionsWithoutPlanEffect().contains(s.name()) && !s.description().contains(NO_PLAN_EFFECT)).toList();
        assumeTrue(!specs.isEmpty(), "the policy declares no numeric, enum or boolean option that claims a plan effect");
        List<ScenarioSpec> scenarios = ScenarioGenerator.optionProbes(settings.seed(), capabilities().contains(Capability.BATCH));
        CompressionPolicy base = harness().create();
        List<RetentionPlan> basePlans = new ArrayList<>();
        for (ScenarioSpec spec : scenarios) {
            try {
                basePlans.add(planOf(spec.build(), spec));
            } catch (RuntimeException e) {
                basePlans.add(null);
            }
        }
        List<String> problems = new ArrayList<>();
        for (OptionSpec s : specs) {
            Object current = harness().options().getOrDefault(s.name(), s.defaultValue());
            List<Object> tried = new ArrayList<>();
            boolean effect = false;
            for (Object v : alternatives(s, current)) {
                Map<String, Object> raw = new LinkedHashMap<>(harness().options());
                raw.put(s.name(), v);
                CompressionPolicy p;
                try {
                    p = harness().create(raw);
                } catch (RuntimeException e) {
                    continue; // rejected in combination with another option: judged by optionExtremesAreAccepted
                }
                tried.add(v);
                if (!java.util.Objects.equals(p.scope(), base.scope()) || !java.util.Objects.equals(p.protection(), base.protection())
                        || !java.util.Objects.equals(p.schedule(), base.schedule()) || !java.util.Objects.equals(p.queryWindow(), base.queryWindow())
                        || p.budgetMode() != base.budgetMode()) {
                    effect = true;
                    break;
                }
                for (int i = 0; i < scenarios.size() && !effect; i++) {
                    ScenarioSpec spec = scenarios.get(i);
                    try {
                        RetentionPlan plan = p.compress(spec.build().context(p, spec.budget(), Phase.PREFILL, 0));
                        effect = !plan.equals(basePlans.get(i));
                    } catch (RuntimeException e) {
                        effect = true; // it changed something; compressCompletesOnEveryScenario / optionExtremesAreAccepted judge the throw
                    }
                }
                if (effect) break;
            }
            // an option may act only together with another one (e.g. a window size with a window kind): try each
            // alternative beside every alternative value of the other enum and boolean options
            for (OptionSpec other : harness().provider().options().specs()) {
                if (effect || other.name().equals(s.name()) || (other.type() != OptionType.ENUM && other.type() != OptionType.BOOLEAN)) continue;
                for (Object ov : alternatives(other, harness().options().getOrDefault(other.name(), other.defaultValue()))) {
                    Map<String, Object> ctxRaw = new LinkedHashMap<>(harness().options());
                    ctxRaw.put(other.name(), ov);
                    CompressionPolicy ref;
                    try {
                        ref = harness().create(ctxRaw);
                    } catch (RuntimeException e) {
                        continue;
                    }
                    for (Object v : alternatives(s, current)) {
                        Map<String, Object> raw = new LinkedHashMap<>(ctxRaw);
                        raw.put(s.name(), v);
                        try {
                            CompressionPolicy p = harness().create(raw);
                            effect = !java.util.Objects.equals(p.schedule(), ref.schedule()) || !java.util.Objects.equals(p.queryWindow(), ref.queryWindow())
                                    || !java.util.Objects.equals(p.protection(), ref.protection()) || !java.util.Objects.equals(p.scope(), ref.scope());
                            for (int i = 0; i < scenarios.size() && !effect; i++) {
                                ScenarioSpec spec = scenarios.get(i);
                                effect = !p.compress(spec.build().context(p, spec.budget(), Phase.PREFILL, 0))
                                        .equals(ref.compress(spec.build().context(ref, spec.budget(), Phase.PREFILL, 0)));
                            }
                        } catch (RuntimeException e) {
                            effect = true;
                        }
                        if (effect) break;
                    }
                    if (effect) break;
                }
            }
            if (!effect && !tried.isEmpty()) {
                problems.add("option '" + s.name() + "' (" + s.expectation() + ", now " + current + "): the values " + tried + " give the same declarations "
                        + "and the same plans on all " + scenarios.size() + " probe scenarios, alone and beside every value of the other enum and boolean options;"
                        + " if it really has no effect on plans, say so: put "
                        + NO_PLAN_EFFECT + " in its description");
            }
        }
        assertTrue(problems.isEmpty(), () -> harness().failure("options without any effect", problems));
    }

    // ---------------------------------------------------------------- end-to-end and quality levels

    @Test
    @Order(40)
    @Tag("end-to-end")
    @DisplayName("[end-to-end] generation completes at several retentions (runtime-onnx, tiny model)")
    public void endToEndGenerationCompletes() {
        EndToEnd.generationCompletes(harness());
    }

    @Test
    @Order(41)
    @Tag("end-to-end")
    @DisplayName("[end-to-end] the runtime's cache shrinks to the plan")
    public void endToEndCacheShrinksToPlan() {
        EndToEnd.cacheShrinksToPlan(harness());
    }

    @Test
    @Order(42)
    @Tag("end-to-end")
    @DisplayName("[end-to-end, capability DECODING_TIME] the cache stays within its bound over a long generation")
    public void endToEndDecodingStaysWithinBound() {
        assumeDeclared(Capability.DECODING_TIME);
        EndToEnd.decodingStaysWithinBound(harness());
    }

    @Test
    @Order(50)
    @Tag("quality")
    @DisplayName("[quality] accuracy at the declared retentions meets the declared floors")
    public void qualityFloorsAreMet() {
        Map<Double, Double> floors = harness().provider().qualityFloors();
        assumeTrue(floors != null && !floors.isEmpty(), "the provider declares no qualityFloors()");
        Optional<String> optOut = settings.optOut(ConformanceSettings.LEVEL_QUALITY);
        assumeTrue(optOut.isEmpty(), () -> "level " + ConformanceSettings.LEVEL_QUALITY + " opted out: " + optOut.orElse(""));
        if (!io.github.kvpolicy.evaluation.gridvqa.GridVqaQuality.available()) {
            fail(harness().failure("quality floors " + floors + " are declared, but the quality level cannot run: no GridVQA testbed model at "
                    + io.github.kvpolicy.evaluation.gridvqa.TestbedPaths.model() + " (set -Dkvpolicy.testbed=DIR or run from the distribution); a declared "
                    + "level cannot be skipped silently — opt out explicitly with -D" + ConformanceSettings.OPT_OUT
                    + "=quality=<reason> (validate: --skip-level quality=<reason>), or declare no floors", List.of()));
        }
        String name = harness().provider().name();
        Map<Double, Double> measured = io.github.kvpolicy.evaluation.gridvqa.GridVqaQuality.exactMatch(c -> harness().create(Map.of()),
                io.github.kvpolicy.api.provider.PolicyConfig.of(name), new ArrayList<>(new java.util.TreeSet<>(floors.keySet())), QUALITY_SLICE_PER_FAMILY);
        List<String> problems = new ArrayList<>();
        for (Map.Entry<Double, Double> f : new java.util.TreeMap<>(floors).entrySet()) {
            double got = measured.get(f.getKey());
            if (got + 1e-9 < f.getValue()) {
                problems.add(String.format(java.util.Locale.ROOT, "exact match %.3f at %.1f%% retention is below the declared floor %.3f", got, 100 * f.getKey(), f.getValue()));
            }
        }
        assertTrue(problems.isEmpty(), () -> harness().failure("quality floors not met on the GridVQA slice (default options; the first " + QUALITY_SLICE_PER_FAMILY
                + " held-out examples of each family; measured " + measured + ")", problems));
    }

    /** Examples per GridVQA family in the quality level's fixed slice (24 in all; about a second per retention). */
    public static final int QUALITY_SLICE_PER_FAMILY = 8;
}
