package com.example.kvpolicy;

import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.conformance.PolicyConformanceTestCase;

/** Runs the whole kvpolicy conformance suite against this plugin's policy. */
class KeyNormPolicyConformanceTest extends PolicyConformanceTestCase {
    @Override
    protected PolicyProvider provider() {
        return new KeyNormPolicyProvider();
    }
}
