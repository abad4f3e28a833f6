package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Stable;

/** The value types of policy options. */
@Stable
public enum OptionType {
    /** A 32-bit integer, optionally within [min, max]. */
    INTEGER,
    /** A finite double, optionally within [min, max]. */
    DOUBLE,
    BOOLEAN,
    STRING,
    /** One of a fixed set of lower-case words. */
    ENUM,
    /** A nested policy configuration ({@link PolicyConfig}), e.g. the scorer a wrapper composes. */
    POLICY
}
