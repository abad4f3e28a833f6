package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.conformance.PolicyConformanceTestCase;

/** The kvpolicy conformance suite (contract level and up) applied to the shipped 'pyramidkv' policy with its default options. */
class PyramidKvConformanceTest extends PolicyConformanceTestCase {
    @Override
    protected PolicyProvider provider() {
        return new PyramidKvPolicyProvider();
    }
}
