package io.github.kvpolicy.policy.aircache;

import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.conformance.PolicyConformanceTestCase;

/** The kvpolicy conformance suite (contract level and up) applied to the shipped 'aircache' policy with its default options. */
class AirCacheConformanceTest extends PolicyConformanceTestCase {
    @Override
    protected PolicyProvider provider() {
        return new AirCachePolicyProvider();
    }
}
