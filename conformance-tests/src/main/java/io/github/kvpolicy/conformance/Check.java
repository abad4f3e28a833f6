package io.github.kvpolicy.conformance;

import io.github.kvpolicy.api.Capability;
import java.util.Optional;

/**
 * Every check of the conformance suite: the name of its test method in {@link PolicyConformanceTestCase}, what it
 * asserts, its level, and the capability it needs (checks of an undeclared capability are skipped with a reason).
 */
public enum Check {
    METADATA("metadataIsValid", Level.CONTRACT, null,
            "name matches [a-z][a-z0-9]*(-[a-z0-9]+)* (≤ 40 chars), version and description non-blank, spiVersion == SpiVersion.CURRENT, maxCallTime > 0, quality floors in (0, 1]"),
    SERVICE_REGISTRATION("providerIsRegisteredAsService", Level.CONTRACT, null,
            "ServiceLoader finds the provider through META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider of its own class loader"),
    OPTION_DEFAULTS("optionDefaultsSatisfyTheirOwnSchema", Level.CONTRACT, null,
            "every option default is accepted by the option's own type and range (OptionSpec.coerce)"),
    CREATES("createsWithDefaultOptions", Level.CONTRACT, null,
            "create() with the test's options returns a policy named like the provider, with non-null scope, protection, schedule, query window and budget mode"),
    DECLARATIONS("declarationsMatchCapabilities", Level.CONTRACT, null,
            "a schedule acting during decoding declares DECODING_TIME, and Scope.ALL declares ALL_TOKEN_SCOPE"),
    UNKNOWN_OPTION("unknownOptionIsRejected", Level.CONTRACT, null,
            "an unknown option fails with InvalidOptionException naming the option"),
    OUT_OF_RANGE_OPTION("outOfRangeOptionValuesAreRejected", Level.CONTRACT, null,
            "values outside an option's range (or enum, or boolean) fail with InvalidOptionException naming the option"),
    OPTION_EXTREMES("optionExtremesAreAccepted", Level.CONTRACT, null,
            "every option at its min, max (and every enum value) creates a policy whose plan passes the PlanValidator"),
    COMPLETES("compressCompletesOnEveryScenario", Level.CONTRACT, null,
            "compress() returns a plan, without throwing, on every generated scenario (all layouts, shapes and budgets)"),
    PLAN_SHAPE("planHasTheContextShape", Level.CONTRACT, null,
            "the plan has the context's rows × layers × KV heads"),
    SORTED_UNIQUE("keptPositionsAreSortedAndUnique", Level.CONTRACT, null,
            "kept positions of every (row, layer, KV head) are strictly ascending (sorted, no duplicates)"),
    CACHED("keptPositionsAreCached", Level.CONTRACT, null,
            "every kept position is in range and currently cached in that (row, layer, KV head)"),
    OUT_OF_SCOPE_KEPT("outOfScopeTokensAreKept", Level.CONTRACT, null,
            "a visual-only policy (Scope.VISUAL) never evicts a text or generated token"),
    PROTECTED_KEPT("protectedTokensAreKept", Level.CONTRACT, null,
            "every token the policy's Protection declares (sinks, recent, modalities) is kept"),
    BUDGET("budgetIsHonoured", Level.CONTRACT, null,
            "per row, kept candidates summed over layers and KV heads = min(L·H·B, candidates) (EXACT) or ≤ L·H·B (AT_MOST), B resolved independently"),
    VALIDATOR("planPassesPlanValidator", Level.CONTRACT, null,
            "PlanValidator.violations(plan, context, policy.budgetMode()) is empty on every scenario"),
    MIN_FILL("atMostPolicyKeepsItsMinimumFill", Level.CONTRACT, null,
            "an AT_MOST policy declares minimumFill() in (0, 1] and keeps, per row, at least ⌊fill · min(L·H·B, candidates)⌋ candidates"),
    BUDGET_SPLIT("budgetSplitMatchesCapabilities", Level.CONTRACT, null,
            "with an EXACT budget at prefill, every (layer, KV head) keeps the uniform share (±1) unless LAYER_WISE/HEAD_WISE_BUDGETS is declared"),
    NOT_MUTATED("inputsAreNotMutated", Level.CONTRACT, null,
            "compress() leaves the cache (positions, keys, values, queries) bit-for-bit unchanged"),
    DETERMINISTIC("sameInputsAndSeedGiveSamePlan", Level.CONTRACT, io.github.kvpolicy.api.Capability.DETERMINISTIC,
            "a fresh instance, a repeated call, and calls interleaved with another scenario on one instance return equal plans (no hidden state)"),
    ACROSS_JVMS("samePlanInAnotherJvm", Level.CONTRACT, io.github.kvpolicy.api.Capability.DETERMINISTIC,
            "a second, fresh JVM computes the same plans (no per-JVM salt, identity hash or clock in the plan)"),
    THREAD_SAFE("concurrentCallsMatchSequentialCalls", Level.CONTRACT, io.github.kvpolicy.api.Capability.THREAD_SAFE,
            "one instance called from 4 threads at once returns the sequential plans (or valid plans if not DETERMINISTIC), without throwing"),
    BATCH("batchRowsOfDifferentLengthsAreHandled", Level.CONTRACT, io.github.kvpolicy.api.Capability.BATCH,
            "batches of 2–3 rows of different (and of equal) lengths and layouts: plans pass the PlanValidator and every row's budget"),
    BATCH_ROW_ALONE("batchRowPlanEqualsRowAlone", Level.CONTRACT, io.github.kvpolicy.api.Capability.BATCH,
            "a batch row's plan equals its plan alone (row 0 as a batch of one) and does not change when the other rows change (needs DETERMINISTIC too)"),
    HOOKS_COMPOSE("compressEqualsItsHooks", Level.CONTRACT, io.github.kvpolicy.api.Capability.DETERMINISTIC,
            "compress() returns evictor().evict(ctx, scorer().score(ctx), allocator().allocate(ctx, scores))"),
    SCORER_VARIES("scorerIsNotConstant", Level.CONTRACT, null,
            "on no scenario does the scorer give every candidate of every (layer, KV head) the same score (the synthetic probe never does)"),
    TOPK_ORDER("keptTokensOutrankEvicted", Level.CONTRACT, null,
            "with the Evictor.topK() evictor, no evicted candidate scores higher than a kept one of its (row, layer, KV head), under the policy's own scores"),
    GQA_GROUPING("queryHeadGroupingMatchesHeadMapping", Level.CONTRACT, io.github.kvpolicy.api.Capability.DETERMINISTIC,
            "permuting the query heads inside each KV group (query head q belongs to KV head q / groupSize) leaves the plan unchanged"),
    OPTIONS_EFFECT("optionsChangeThePlan", Level.CONTRACT, null,
            "every numeric, enum and boolean option changes the plan or the declarations on some scenario, unless declared '[no plan effect]'"),
    LAYER_WISE("layerWiseBudgetsDiffer", Level.CONTRACT, io.github.kvpolicy.api.Capability.LAYER_WISE_BUDGETS,
            "on some scenario, kept candidates per layer differ by more than rounding (> KV heads)"),
    HEAD_WISE("headWiseBudgetsDiffer", Level.CONTRACT, io.github.kvpolicy.api.Capability.HEAD_WISE_BUDGETS,
            "on some scenario, kept candidates of the KV heads of one layer differ by more than 1"),
    ALL_TOKEN_SCOPE("allTokenScopeIsHonoured", Level.CONTRACT, io.github.kvpolicy.api.Capability.ALL_TOKEN_SCOPE,
            "with Scope.ALL (the default, or option scope=all) plans pass the PlanValidator and text tokens are really evicted at budget 0"),
    CALL_TIME("declaredCallTimeIsRespected", Level.CONTRACT, null,
            "the median of 5 compress() calls on the mid-size scenario is within maxCallTime(), and no call on a contract scenario no larger takes 10× it"),
    DECODING("decodingKeepsCacheWithinBound", Level.CONTRACT, io.github.kvpolicy.api.Capability.DECODING_TIME,
            "driven over 64 synthetic decode steps (320 on one scenario) at its schedule, compress() does not throw, every plan is valid and kept candidates stay ≤ L·H·(B + slack)"),
    E2E_GENERATION("endToEndGenerationCompletes", Level.END_TO_END, null,
            "through runtime-onnx on the tiny fixture model, generation completes at several retentions"),
    E2E_SHRINKS("endToEndCacheShrinksToPlan", Level.END_TO_END, null,
            "through runtime-onnx, the cache after the policy acts holds exactly the plan's kept tokens"),
    E2E_DECODING("endToEndDecodingStaysWithinBound", Level.END_TO_END, io.github.kvpolicy.api.Capability.DECODING_TIME,
            "through runtime-onnx, a decoding-time policy keeps the cache within its bound over a long generation"),
    QUALITY("qualityFloorsAreMet", Level.QUALITY, null,
            "accuracy on the testbed model at each declared retention is at least the declared floor (fails while it cannot run, unless opted out)");

    /** The suite's levels. */
    public enum Level { CONTRACT, END_TO_END, QUALITY }

    private final String method;
    private final Level level;
    private final Capability capability;
    private final String asserts;

    Check(String method, Level level, Capability capability, String asserts) {
        this.method = method;
        this.level = level;
        this.capability = capability;
        this.asserts = asserts;
    }

    /** The name of the test method in {@link PolicyConformanceTestCase}. */
    public String methodName() { return method; }

    public Level level() { return level; }

    /** The capability this check needs, if any. */
    public Optional<Capability> capability() { return Optional.ofNullable(capability); }

    /** What the check asserts, in one sentence. */
    public String asserts() { return asserts; }

    /** The check whose test method is {@code methodName}, if any. */
    public static Optional<Check> byMethodName(String methodName) {
        for (Check c : values()) if (c.method.equals(methodName)) return Optional.of(c);
        return Optional.empty();
    }
}
