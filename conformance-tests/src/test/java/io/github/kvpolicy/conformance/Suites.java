package io.github.kvpolicy.conformance;

import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.conformance.fixtures.BrokenPolicies;
import io.github.kvpolicy.conformance.fixtures.ReferencePolicies;
import java.util.Map;

/**
 * The suite applied to the reference and broken fixture policies, one nested class each. Nested classes are not
 * run by Surefire directly; {@link SuiteCatchesBrokenPoliciesTest} runs them with EngineTestKit.
 */
final class Suites {
    private Suites() {}

    static class ReferenceKeyNorm extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new ReferencePolicies.KeyNorm(); }
    }

    static class ReferenceKeyNormWithSinks extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new ReferencePolicies.KeyNorm(); }
        @Override protected Map<String, Object> options() { return Map.of("sinks", 3, "prefer", "smallest"); }
    }

    static class ReferenceWindow extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new ReferencePolicies.Window(); }
    }

    static class ReferencePyramid extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new ReferencePolicies.Pyramid(); }
    }

    static class OverBudget extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.OverBudget(); }
    }

    static class Unsorted extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.Unsorted(); }
    }

    static class Duplicates extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.Duplicates(); }
    }

    static class OutOfRange extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.OutOfRange(); }
    }

    static class EvictsText extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.EvictsText(); }
    }

    static class DropsProtected extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.DropsProtected(); }
    }

    static class MutatesInput extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.MutatesInput(); }
    }

    static class Nondeterministic extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.Nondeterministic(); }
    }

    static class ThrowsOnImageOnly extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.ThrowsOnImageOnly(); }
    }

    static class IgnoresZeroBudget extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.IgnoresZeroBudget(); }
    }

    static class WrongLayerCount extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.WrongLayerCount(); }
    }

    static class TooSlow extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.TooSlow(); }
    }

    static class NotThreadSafe extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.NotThreadSafe(); }
    }

    static class UndeclaredDecoding extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.UndeclaredDecoding(); }
    }

    static class DecodingUnbounded extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.DecodingUnbounded(); }
    }

    static class BadOptionDefault extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.BadOptionDefault(); }
    }

    static class RejectsOwnRange extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.RejectsOwnRange(); }
    }

    static class NotRegistered extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.NotRegistered(); }
    }

    static class WrongSpiVersion extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.WrongSpiVersion(); }
    }

    static class UndeclaredHeadWise extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.UndeclaredHeadWise(); }
    }

    static class BatchIgnoresLaterRows extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.BatchIgnoresLaterRows(); }
    }

    static class ClaimsLayerWise extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.ClaimsLayerWise(); }
    }

    static class ClaimsAllScope extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.ClaimsAllScope(); }
    }

    static class BadName extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.BadName(); }
    }

    static class Misnamed extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.Misnamed(); }
    }

    static class BatchRowsLeak extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.BatchRowsLeak(); }
    }

    static class HooksDisagree extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.HooksDisagree(); }
    }

    static class OverflowingScorer extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.OverflowingScorer(); }
    }

    static class KeepsLowest extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.KeepsLowest(); }
    }

    static class WrongGrouping extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.WrongGrouping(); }
    }

    static class IgnoredOption extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.IgnoredOption(); }
    }

    static class JvmSalted extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.JvmSalted(); }
    }

    static class CountsCalls extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.CountsCalls(); }
    }

    static class DecodingThrows extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.DecodingThrows(); }
    }

    static class ClaimsQualityFloors extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.ClaimsQualityFloors(); }
    }

    static class AtMostWithoutFill extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.AtMostWithoutFill(); }
    }

    static class UnderFills extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new BrokenPolicies.UnderFills(); }
    }

    static class ReferenceAtMost extends PolicyConformanceTestCase {
        @Override protected PolicyProvider provider() { return new ReferencePolicies.AtMost(); }
    }
}
