package io.github.kvpolicy.api;

/** The version of this SPI. A provider declares the version it was written against; the host loads it only if equal. */
@Stable
public final class SpiVersion {
    /** The SPI version implemented by this build of {@code kvpolicy-api}. */
    public static final int CURRENT = 1;

    private SpiVersion() {}
}
