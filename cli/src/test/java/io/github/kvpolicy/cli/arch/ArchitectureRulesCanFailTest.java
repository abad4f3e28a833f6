package io.github.kvpolicy.cli.arch;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.lang.ArchRule;
import io.github.kvpolicy.api.archfixture.ApiDiscoveringProviders;
import io.github.kvpolicy.api.archfixture.ApiUsingGuice;
import io.github.kvpolicy.archfixture.cyclea.A;
import io.github.kvpolicy.archfixture.cycleb.B;
import io.github.kvpolicy.cli.archfixture.HostDecoding;
import io.github.kvpolicy.policy.fixturea.PolicyUsingRuntime;
import io.github.kvpolicy.policy.fixtureb.OtherPolicy;
import io.github.kvpolicy.runtime.archfixture.RuntimeUsingPolicy;
import org.junit.jupiter.api.Test;

/** Each rule fails on a deliberately violating fixture (test classes, excluded from {@link ArchitectureTest}). */
class ArchitectureRulesCanFailTest {
    private static final JavaClasses FIXTURES = new ClassFileImporter().importClasses(
            ApiUsingGuice.class, ApiDiscoveringProviders.class, PolicyUsingRuntime.class, OtherPolicy.class, RuntimeUsingPolicy.class,
            A.class, B.class, HostDecoding.class);

    private static void assertViolated(ArchRule rule, String offendingClass) {
        AssertionError e = assertThrows(AssertionError.class, () -> rule.check(FIXTURES), rule.getDescription());
        assertTrue(e.getMessage().contains(rule.getDescription()), e.getMessage());
        assertTrue(e.getMessage().contains(offendingClass), "expected " + offendingClass + " in: " + e.getMessage());
    }

    @Test void apiRule() { assertViolated(ArchitectureRules.API_DEPENDS_ONLY_ON_THE_JDK, ApiUsingGuice.class.getName()); }

    @Test void discoveryRule() { assertViolated(ArchitectureRules.DISCOVERY_LIVES_IN_THE_HOST, ApiDiscoveringProviders.class.getName()); }

    @Test void policyRule() { assertViolated(ArchitectureRules.POLICIES_DEPEND_ONLY_ON_THE_API, PolicyUsingRuntime.class.getName()); }

    @Test void policyIndependenceRule() { assertViolated(ArchitectureRules.POLICY_MODULES_ARE_INDEPENDENT, PolicyUsingRuntime.class.getName()); }

    @Test void runtimeRule() { assertViolated(ArchitectureRules.RUNTIME_DEPENDS_ON_NO_CONCRETE_POLICY, RuntimeUsingPolicy.class.getName()); }

    @Test void guiceRule() { assertViolated(ArchitectureRules.GUICE_ONLY_IN_COMPOSITION_ROOTS, RuntimeUsingPolicy.class.getName()); }

    @Test void stabilityMarkerRule() { assertViolated(ArchitectureRules.SPI_TYPES_CARRY_A_STABILITY_MARKER, ApiUsingGuice.class.getName()); }

    @Test void oneDecodePathRule() { assertViolated(ArchitectureRules.ONE_DECODE_PATH, HostDecoding.class.getName()); }

    @Test void cycleRule() { assertViolated(ArchitectureRules.NO_PACKAGE_CYCLES, A.class.getName()); }
}
