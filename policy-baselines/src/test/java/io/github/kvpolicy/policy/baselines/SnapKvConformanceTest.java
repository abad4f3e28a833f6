package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.conformance.PolicyConformanceTestCase;

/** The kvpolicy conformance suite (contract level and up) applied to the shipped 'snapkv' policy with its default options. */
class SnapKvConformanceTest extends PolicyConformanceTestCase {
    @Override
    protected PolicyProvider provider() {
        return new SnapKvPolicyProvider();
    }
}
