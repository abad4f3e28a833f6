package org.acme;

import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.provider.AbstractPolicyProvider;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.PolicyOptions;

/** A plugin that uses a class outside the SPI (the suite's SyntheticCache): the isolated loader must refuse it. */
public final class LeakyProvider extends AbstractPolicyProvider {
    private static final Class<?> INTERNAL = io.github.kvpolicy.conformance.synthetic.SyntheticCache.class;

    public LeakyProvider() {
        super("acme-leaky", "0.1", "Uses a non-SPI class " + INTERNAL.getSimpleName() + ".");
    }

    @Override
    public CompressionPolicy create(PolicyOptions options, CreationContext context) {
        throw new UnsupportedOperationException();
    }
}
