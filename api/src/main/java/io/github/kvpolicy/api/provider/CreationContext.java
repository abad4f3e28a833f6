package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Stable;

/** Engine services a provider may use while creating a policy. */
@Stable
public interface CreationContext {
    /**
     * Creates a nested policy (e.g. the scorer a head-wise wrapper composes) from the same registry.
     *
     * @throws UnknownPolicyException or {@link InvalidOptionException} as for a top-level policy
     */
    CompressionPolicy create(PolicyConfig nested);
}
