package io.github.kvpolicy.conformance.cli;

import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.conformance.ConformanceSettings;
import io.github.kvpolicy.conformance.PolicyConformanceTestCase;

/**
 * The conformance suite for a provider loaded from a plugin JAR by {@link Validate}: the provider is the one
 * registered in {@link ValidationTargets} under the configuration parameter {@value ConformanceSettings#TARGET}.
 * Not meant to be run directly.
 */
public class ExternalPolicyConformance extends PolicyConformanceTestCase {
    private ValidationTargets.Target target() {
        String key = settings().target().orElseThrow(() -> new IllegalStateException(
                "ExternalPolicyConformance needs the configuration parameter " + ConformanceSettings.TARGET + "; run it through Validate"));
        return ValidationTargets.get(key);
    }

    @Override
    protected PolicyProvider provider() {
        return target().provider();
    }

    @Override
    protected PolicyRegistry registry(PolicyProvider underTest) {
        return target().registry();
    }
}
