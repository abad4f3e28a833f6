package io.github.kvpolicy.conformance;

import static io.github.kvpolicy.conformance.Check.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.testkit.engine.EngineExecutionResults;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;
import org.junit.platform.testkit.engine.Events;

/**
 * Proves the suite works: each deliberately broken policy fails exactly the checks meant to catch it (and nothing
 * else), and the reference policies pass every check, skipping only checks of capabilities they do not declare.
 */
class SuiteCatchesBrokenPoliciesTest {

    /** Broken policy → the checks that must fail (plan defects also fail the SPI's PlanValidator). */
    static final Map<Class<?>, Set<Check>> MATRIX = Map.ofEntries(
            Map.entry(Suites.OverBudget.class, EnumSet.of(BUDGET, VALIDATOR)),
            Map.entry(Suites.Unsorted.class, EnumSet.of(SORTED_UNIQUE, VALIDATOR)),
            Map.entry(Suites.Duplicates.class, EnumSet.of(SORTED_UNIQUE, VALIDATOR)),
            Map.entry(Suites.OutOfRange.class, EnumSet.of(CACHED, VALIDATOR)),
            Map.entry(Suites.EvictsText.class, EnumSet.of(OUT_OF_SCOPE_KEPT, VALIDATOR)),
            Map.entry(Suites.DropsProtected.class, EnumSet.of(PROTECTED_KEPT, VALIDATOR)),
            Map.entry(Suites.MutatesInput.class, EnumSet.of(NOT_MUTATED)),
            Map.entry(Suites.Nondeterministic.class, EnumSet.of(Check.DETERMINISTIC)),
            Map.entry(Suites.ThrowsOnImageOnly.class, EnumSet.of(COMPLETES)),
            Map.entry(Suites.IgnoresZeroBudget.class, EnumSet.of(BUDGET, VALIDATOR)),
            Map.entry(Suites.WrongLayerCount.class, EnumSet.of(PLAN_SHAPE, VALIDATOR)),
            Map.entry(Suites.TooSlow.class, EnumSet.of(CALL_TIME)),
            Map.entry(Suites.NotThreadSafe.class, EnumSet.of(Check.THREAD_SAFE)),
            Map.entry(Suites.UndeclaredDecoding.class, EnumSet.of(DECLARATIONS)),
            Map.entry(Suites.DecodingUnbounded.class, EnumSet.of(DECODING)),
            Map.entry(Suites.BadOptionDefault.class, EnumSet.of(OPTION_DEFAULTS)),
            Map.entry(Suites.RejectsOwnRange.class, EnumSet.of(OPTION_EXTREMES)),
            Map.entry(Suites.NotRegistered.class, EnumSet.of(SERVICE_REGISTRATION)),
            Map.entry(Suites.WrongSpiVersion.class, EnumSet.of(METADATA)),
            Map.entry(Suites.UndeclaredHeadWise.class, EnumSet.of(BUDGET_SPLIT)),
            Map.entry(Suites.BatchIgnoresLaterRows.class, EnumSet.of(Check.BATCH)),
            Map.entry(Suites.ClaimsLayerWise.class, EnumSet.of(LAYER_WISE)),
            Map.entry(Suites.ClaimsAllScope.class, EnumSet.of(ALL_TOKEN_SCOPE)),
            Map.entry(Suites.BadName.class, EnumSet.of(METADATA)),
            Map.entry(Suites.Misnamed.class, EnumSet.of(CREATES)),
            // v2 checks: each defect fails exactly its check
            Map.entry(Suites.BatchRowsLeak.class, EnumSet.of(BATCH_ROW_ALONE)),
            Map.entry(Suites.HooksDisagree.class, EnumSet.of(HOOKS_COMPOSE)),
            Map.entry(Suites.OverflowingScorer.class, EnumSet.of(SCORER_VARIES)),
            Map.entry(Suites.KeepsLowest.class, EnumSet.of(TOPK_ORDER)),
            Map.entry(Suites.WrongGrouping.class, EnumSet.of(GQA_GROUPING)),
            Map.entry(Suites.IgnoredOption.class, EnumSet.of(OPTIONS_EFFECT)),
            Map.entry(Suites.JvmSalted.class, EnumSet.of(ACROSS_JVMS)),
            Map.entry(Suites.CountsCalls.class, EnumSet.of(Check.DETERMINISTIC)),
            Map.entry(Suites.DecodingThrows.class, EnumSet.of(DECODING)),
            Map.entry(Suites.ClaimsQualityFloors.class, EnumSet.of(QUALITY)),
            Map.entry(Suites.AtMostWithoutFill.class, EnumSet.of(MIN_FILL)),
            Map.entry(Suites.UnderFills.class, EnumSet.of(MIN_FILL)));

    /** Reference policy → the checks it must skip (undeclared capabilities, levels without a fixture). */
    static final Map<Class<?>, Set<Check>> REFERENCE_SKIPS = Map.of(
            Suites.ReferenceAtMost.class, EnumSet.of(OPTION_DEFAULTS, OUT_OF_RANGE_OPTION, OPTION_EXTREMES, PROTECTED_KEPT, BUDGET_SPLIT, Check.THREAD_SAFE,
                    Check.BATCH, BATCH_ROW_ALONE, OPTIONS_EFFECT, LAYER_WISE, HEAD_WISE, ALL_TOKEN_SCOPE, CALL_TIME, DECODING, E2E_DECODING, QUALITY),
            Suites.ReferenceKeyNorm.class, EnumSet.of(MIN_FILL, PROTECTED_KEPT, LAYER_WISE, HEAD_WISE, ALL_TOKEN_SCOPE, DECODING, E2E_DECODING, QUALITY),
            Suites.ReferenceKeyNormWithSinks.class, EnumSet.of(MIN_FILL, LAYER_WISE, HEAD_WISE, ALL_TOKEN_SCOPE, DECODING, E2E_DECODING, QUALITY),
            Suites.ReferenceWindow.class, EnumSet.of(MIN_FILL, OUT_OF_SCOPE_KEPT, LAYER_WISE, HEAD_WISE, CALL_TIME, QUALITY),
            Suites.ReferencePyramid.class, EnumSet.of(MIN_FILL, OPTION_DEFAULTS, OUT_OF_RANGE_OPTION, OPTION_EXTREMES, PROTECTED_KEPT, BUDGET_SPLIT,
                    Check.THREAD_SAFE, Check.BATCH, BATCH_ROW_ALONE, OPTIONS_EFFECT, ALL_TOKEN_SCOPE, CALL_TIME, DECODING, E2E_DECODING, QUALITY));

    static EngineExecutionResults run(Class<?> suite) {
        return EngineTestKit.engine("junit-jupiter").selectors(selectClass(suite)).execute();
    }

    static EngineExecutionResults run(Class<?> suite, String key, String value) {
        return EngineTestKit.engine("junit-jupiter").configurationParameter(key, value).selectors(selectClass(suite)).execute();
    }

    static String message(Event e) {
        return e.getPayload(TestExecutionResult.class).flatMap(TestExecutionResult::getThrowable).map(Throwable::getMessage).orElse("")
                .replaceFirst("^Assumption failed: ", "");
    }

    /** The failure message of {@code check} in {@code events} (which must have failed). */
    static String failureOf(EngineExecutionResults events, Check check) {
        return events.testEvents().failed().stream().filter(e -> checks(Stream.of(e)).contains(check)).map(SuiteCatchesBrokenPoliciesTest::message)
                .findFirst().orElseThrow(() -> new AssertionError(check + " did not fail:\n" + reasons(events.testEvents())));
    }

    static Set<Check> checks(Stream<Event> events) {
        return events.map(e -> e.getTestDescriptor().getSource().filter(MethodSource.class::isInstance)
                        .map(s -> ((MethodSource) s).getMethodName()).orElse("?"))
                .map(m -> Check.byMethodName(m).orElseThrow(() -> new AssertionError("unknown check method " + m)))
                .collect(Collectors.toCollection(() -> EnumSet.noneOf(Check.class)));
    }

    static String reasons(Events events) {
        return events.failed().stream().map(e -> e.getTestDescriptor().getDisplayName() + ": "
                + e.getPayload(TestExecutionResult.class).flatMap(TestExecutionResult::getThrowable).map(Throwable::getMessage).orElse(""))
                .collect(Collectors.joining("\n"));
    }

    /**
     * The end-to-end checks skip when the runtime fixture is unavailable, and pass when it is: both are
     * acceptable here, so they are left out of the comparisons.
     */
    static Set<Check> withoutEndToEnd(Set<Check> s) {
        Set<Check> c = EnumSet.noneOf(Check.class);
        for (Check x : s) if (x.level() != Check.Level.END_TO_END) c.add(x);
        return c;
    }

    @TestFactory
    Stream<DynamicTest> eachBrokenPolicyFailsExactlyTheCheckMeantToCatchIt() {
        return MATRIX.entrySet().stream().sorted(Map.Entry.comparingByKey((a, b) -> a.getSimpleName().compareTo(b.getSimpleName())))
                .map(e -> DynamicTest.dynamicTest(e.getKey().getSimpleName() + " fails " + e.getValue(), () -> {
                    // the end-to-end level is left out of these comparisons, so it is opted out (with a reason) to save time
                    EngineExecutionResults events = run(e.getKey(), ConformanceSettings.OPT_OUT, "end-to-end=not compared for the broken fixtures");
                    assertEquals(0, events.containerEvents().failed().count(), () -> "container failures: " + reasons(events.containerEvents()));
                    Set<Check> failed = withoutEndToEnd(checks(events.testEvents().failed().stream()));
                    assertEquals(e.getValue(), failed, () -> "failed checks of " + e.getKey().getSimpleName() + ":\n" + reasons(events.testEvents()));
                    // every failure names the policy and the seed to reproduce with
                    events.testEvents().failed().stream().forEach(f -> {
                        String m = f.getPayload(TestExecutionResult.class).flatMap(TestExecutionResult::getThrowable).map(Throwable::getMessage).orElse("");
                        assertTrue(m.contains("policy '") && m.contains("-D" + ConformanceSettings.SEED + "=" + ConformanceSettings.DEFAULT_SEED), m);
                    });
                }));
    }

    @TestFactory
    Stream<DynamicTest> referencePoliciesPassEveryCheckAndSkipOnlyUndeclaredOnes() {
        return REFERENCE_SKIPS.entrySet().stream().sorted(Map.Entry.comparingByKey((a, b) -> a.getSimpleName().compareTo(b.getSimpleName())))
                .map(e -> DynamicTest.dynamicTest(e.getKey().getSimpleName(), () -> {
                    EngineExecutionResults events = run(e.getKey());
                    assertEquals(0, events.containerEvents().failed().count(), () -> reasons(events.containerEvents()));
                    assertEquals(0, events.testEvents().failed().count(), () -> "failures:\n" + reasons(events.testEvents()));
                    Set<Check> skipped = withoutEndToEnd(checks(events.testEvents().aborted().stream()));
                    assertEquals(withoutEndToEnd(e.getValue()), skipped);
                    Set<Check> passed = withoutEndToEnd(checks(events.testEvents().succeeded().stream()));
                    Set<Check> all = EnumSet.allOf(Check.class);
                    all.removeAll(skipped);
                    assertEquals(withoutEndToEnd(all), passed);
                    // end-to-end checks pass, or skip because the capability is undeclared or the fixture model is unavailable
                    events.testEvents().aborted().stream().filter(a -> checks(Stream.of(a)).iterator().next().level() == Check.Level.END_TO_END)
                            .forEach(a -> {
                                String m = a.getPayload(TestExecutionResult.class).flatMap(TestExecutionResult::getThrowable).map(Throwable::getMessage).orElse("");
                                assertTrue(m.contains("is not declared") || m.contains("opted out"), m);
                            });
                    // every skip carries a reason
                    events.testEvents().aborted().stream().forEach(a -> assertTrue(a.getPayload(TestExecutionResult.class)
                            .flatMap(TestExecutionResult::getThrowable).map(Throwable::getMessage).filter(m -> m.length() > 20).isPresent()));
                }));
    }

    @org.junit.jupiter.api.Test
    void undeclaredCapabilityChecksAreSkippedWithAReasonNamingTheCapability() {
        EngineExecutionResults events = run(Suites.ReferenceKeyNorm.class);
        List<String> reasons = events.testEvents().aborted().stream()
                .filter(e -> checks(Stream.of(e)).contains(DECODING))
                .map(e -> e.getPayload(TestExecutionResult.class).flatMap(TestExecutionResult::getThrowable).orElseThrow().getMessage()).toList();
        assertEquals(1, reasons.size());
        assertTrue(reasons.getFirst().contains("DECODING_TIME is not declared"), reasons.getFirst());
    }

    @org.junit.jupiter.api.Test
    void aRequiredLevelIsSkippedOnlyWhenOptedOutAndTheReasonIsShown() {
        EngineExecutionResults events = run(Suites.ReferenceKeyNorm.class, ConformanceSettings.OPT_OUT, "end-to-end=the test opts out on purpose");
        List<String> reasons = events.testEvents().aborted().stream().filter(e -> checks(Stream.of(e)).contains(E2E_GENERATION)).map(SuiteCatchesBrokenPoliciesTest::message).toList();
        assertEquals(List.of("level end-to-end opted out: the test opts out on purpose"), reasons);
        assertEquals(0, events.testEvents().failed().count(), () -> reasons(events.testEvents()));
        // the quality level measures the declared floors on the testbed: an over-promise fails
        String measured = failureOf(run(Suites.ClaimsQualityFloors.class), QUALITY);
        assertTrue(measured.contains("below the declared floor 0.900") && measured.contains("at 10.0% retention"), measured);
        // without a testbed model (and without the opt-out), declared quality floors are a failure, not a skip
        String saved = System.getProperty("kvpolicy.testbed");
        String m;
        System.setProperty("kvpolicy.testbed", "/nonexistent/kvpolicy-testbed");
        try {
            m = failureOf(run(Suites.ClaimsQualityFloors.class), QUALITY);
        } finally {
            if (saved == null) System.clearProperty("kvpolicy.testbed");
            else System.setProperty("kvpolicy.testbed", saved);
        }
        assertTrue(m.contains("cannot run") && m.contains(ConformanceSettings.OPT_OUT + "=quality=<reason>"), m);
        // and with it, a skip naming the reason
        EngineExecutionResults optedOut = run(Suites.ClaimsQualityFloors.class, ConformanceSettings.OPT_OUT, "quality=no testbed model in this build");
        assertEquals(0, optedOut.testEvents().failed().count(), () -> reasons(optedOut.testEvents()));
        assertTrue(optedOut.testEvents().aborted().stream().map(SuiteCatchesBrokenPoliciesTest::message)
                .anyMatch(x -> x.equals("level quality opted out: no testbed model in this build")));
    }

    @org.junit.jupiter.api.Test
    void failuresNameTheFirstDifferenceAndTheCause() {
        String det = failureOf(run(Suites.CountsCalls.class), Check.DETERMINISTIC);
        assertTrue(det.contains("first difference:") && det.contains("keeps position") && det.contains("scenario seed"), det);
        String mut = failureOf(run(Suites.MutatesInput.class), NOT_MUTATED);
        assertTrue(mut.contains("after compress(), row 0, layer 0, KV head 0: the cached positions changed"), mut);
        String dec = failureOf(run(Suites.DecodingThrows.class), DECODING);
        assertTrue(dec.contains("compress() threw on") && !dec.contains("left the bound") && dec.contains("decode-time scratch buffer exhausted"), dec);
        String gqa = failureOf(run(Suites.WrongGrouping.class), GQA_GROUPING);
        assertTrue(gqa.contains("q % kvHeads") && gqa.contains("first difference:"), gqa);
    }

    @org.junit.jupiter.api.Test
    void everyCheckIsATestMethodOfTheSuite() throws Exception {
        Set<String> methods = new TreeSet<>();
        for (var m : PolicyConformanceTestCase.class.getDeclaredMethods()) if (m.isAnnotationPresent(org.junit.jupiter.api.Test.class)) methods.add(m.getName());
        Set<String> checks = new TreeSet<>();
        for (Check c : Check.values()) checks.add(c.methodName());
        assertEquals(checks, methods);
        assertTrue(MATRIX.size() >= 37);
    }
}
