package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Stable;

/** No provider has the requested name; the message lists the available ones. */
@Stable
public class UnknownPolicyException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public UnknownPolicyException(String message) {
        super(message);
    }
}
