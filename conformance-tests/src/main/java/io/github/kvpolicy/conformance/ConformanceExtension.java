package io.github.kvpolicy.conformance;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestInstancePostProcessor;

/**
 * Hands the run's {@link ConformanceSettings} (from JUnit configuration parameters, which fall back to system
 * properties) to each {@link PolicyConformanceTestCase} instance right after it is created. Stateless.
 */
public final class ConformanceExtension implements TestInstancePostProcessor {
    @Override
    public void postProcessTestInstance(Object testInstance, ExtensionContext context) {
        if (testInstance instanceof PolicyConformanceTestCase t) {
            t.configure(ConformanceSettings.from(context::getConfigurationParameter));
        }
    }
}
