package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Stable;

/** A plugin could not be loaded (duplicate name, broken JAR, wrong SPI version); the message names the JARs involved. */
@Stable
public class PolicyLoadException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public PolicyLoadException(String message) {
        super(message);
    }

    public PolicyLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
