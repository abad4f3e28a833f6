package io.github.kvpolicy.cli.arch;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Checks every rule of {@link ArchitectureRules} over the production classes of all modules. */
class ArchitectureTest {
    private static JavaClasses production;

    @BeforeAll
    static void importClasses() {
        production = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("io.github.kvpolicy");
    }

    static Stream<ArchRule> rules() {
        return Stream.of(ArchitectureRules.API_DEPENDS_ONLY_ON_THE_JDK, ArchitectureRules.DISCOVERY_LIVES_IN_THE_HOST, ArchitectureRules.POLICIES_DEPEND_ONLY_ON_THE_API,
                ArchitectureRules.POLICY_MODULES_ARE_INDEPENDENT, ArchitectureRules.RUNTIME_DEPENDS_ON_NO_CONCRETE_POLICY,
                ArchitectureRules.GUICE_ONLY_IN_COMPOSITION_ROOTS, ArchitectureRules.SPI_TYPES_CARRY_A_STABILITY_MARKER,
                ArchitectureRules.NO_PACKAGE_CYCLES, ArchitectureRules.ONE_DECODE_PATH);
    }

    @Test
    void importSeesEveryModule() {
        for (String pkg : new String[] {"io.github.kvpolicy.api", "io.github.kvpolicy.host", "io.github.kvpolicy.runtime",
                "io.github.kvpolicy.policy.aircache", "io.github.kvpolicy.policy.baselines", "io.github.kvpolicy.conformance", "io.github.kvpolicy.cli",
                "io.github.kvpolicy.processing"}) {
            assertTrue(production.containPackage(pkg), "no production classes imported from " + pkg);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rules")
    void holds(ArchRule rule) {
        rule.check(production);
    }
}
