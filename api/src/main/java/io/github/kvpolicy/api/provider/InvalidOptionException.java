package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Stable;

/** An unknown option, or a value outside what the option allows; the message names both. */
@Stable
public class InvalidOptionException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public InvalidOptionException(String message) {
        super(message);
    }
}
