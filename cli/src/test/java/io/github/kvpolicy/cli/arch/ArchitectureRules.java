package io.github.kvpolicy.cli.arch;

import io.github.kvpolicy.processing.error.ProcessingException;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.lang.ArchRule;

/**
 * kvpolicy's architecture rules, one named constant each, checked over the production classes of every module by
 * {@link ArchitectureTest}; {@link ArchitectureRulesCanFailTest} shows each one failing on a violating fixture.
 */
public final class ArchitectureRules {
    private ArchitectureRules() {}

    public static final ArchRule API_DEPENDS_ONLY_ON_THE_JDK = classes()
            .that().resideInAPackage("io.github.kvpolicy.api..")
            .should().onlyDependOnClassesThat().resideInAnyPackage("java..", "io.github.kvpolicy.api..")
            .as("The SPI (io.github.kvpolicy.api) depends only on java.* and on itself");

    public static final ArchRule DISCOVERY_LIVES_IN_THE_HOST = noClasses()
            .that().resideInAPackage("io.github.kvpolicy.api..")
            .should().dependOnClassesThat().haveFullyQualifiedName("java.util.ServiceLoader")
            .as("The stable SPI holds no discovery: finding providers (ServiceLoader) is the host's job (host.plugin.ProviderDiscovery)");

    public static final ArchRule POLICIES_DEPEND_ONLY_ON_THE_API = classes()
            .that().resideInAPackage("io.github.kvpolicy.policy..")
            .should().onlyDependOnClassesThat().resideInAnyPackage("java..", "io.github.kvpolicy.api..", "io.github.kvpolicy.policy..")
            .as("Policy modules depend only on the SPI and the JDK (never on the runtime, the host, Guice or ONNX Runtime)");

    public static final ArchRule POLICY_MODULES_ARE_INDEPENDENT = slices()
            .matching("io.github.kvpolicy.policy.(*)..")
            .should().notDependOnEachOther()
            .as("Policy modules do not depend on each other");

    public static final ArchRule RUNTIME_DEPENDS_ON_NO_CONCRETE_POLICY = noClasses()
            .that().resideInAnyPackage("io.github.kvpolicy.runtime..", "io.github.kvpolicy.host..")
            .should().dependOnClassesThat().resideInAPackage("io.github.kvpolicy.policy..")
            .as("The runtime and the host depend on no concrete policy (policies arrive through the SPI)");

    public static final ArchRule GUICE_ONLY_IN_COMPOSITION_ROOTS = noClasses()
            .that().resideOutsideOfPackages("io.github.kvpolicy.cli..", "io.github.kvpolicy.runtime.inject..")
            .should().dependOnClassesThat().resideInAPackage("com.google.inject..")
            .as("Guice appears only in the composition roots (cli, runtime.inject)");

    public static final ArchRule SPI_TYPES_CARRY_A_STABILITY_MARKER = classes()
            .that().resideInAPackage("io.github.kvpolicy.api..").and().arePublic()
            .should().beAnnotatedWith("io.github.kvpolicy.api.Stable").orShould().beAnnotatedWith("io.github.kvpolicy.api.Experimental")
            .as("Every public SPI type is marked @Stable or @Experimental");

    public static final ArchRule NO_PACKAGE_CYCLES = slices()
            .matching("io.github.kvpolicy.(**)")
            .should().beFreeOfCycles()
            .as("kvpolicy's packages are free of cycles");

    /**
     * One decode path: the production code that generates ({@code runtime}'s root package with {@code GenerationSession}
     * and {@code Generator}, the policy driver, the benchmark, cli, evaluation, conformance, host) decodes only through
     * the resident {@code runtime.ort.OrtDecoder}; the host {@code KvCache}/{@code PastTensors}/{@code ModelSessions.decode}
     * path is the tests' reference (and {@code OrtCrossCheck}'s and the model verifier's).
     */
    public static final ArchRule ONE_DECODE_PATH = noClasses()
            .that().resideInAnyPackage("io.github.kvpolicy.runtime", "io.github.kvpolicy.runtime.policy..", "io.github.kvpolicy.runtime.bench..",
                    "io.github.kvpolicy.cli..", "io.github.kvpolicy.evaluation..", "io.github.kvpolicy.conformance..", "io.github.kvpolicy.host..")
            .should().dependOnClassesThat().haveFullyQualifiedName("io.github.kvpolicy.runtime.cache.KvCache")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("io.github.kvpolicy.runtime.decode.PastTensors")
            .orShould().callMethodWhere(new DescribedPredicate<JavaMethodCall>("ModelSessions.decode") {
                @Override
                public boolean test(JavaMethodCall c) {
                    return c.getName().equals("decode") && c.getTargetOwner().getName().equals("io.github.kvpolicy.runtime.decode.ModelSessions");
                }
            })
            .as("Generation decodes only through the resident OrtDecoder (KvCache, PastTensors and ModelSessions.decode are the host reference path)");
}
