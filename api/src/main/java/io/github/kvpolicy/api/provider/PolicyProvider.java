package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Experimental;
import io.github.kvpolicy.api.SpiVersion;
import io.github.kvpolicy.api.Stable;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;

/**
 * The {@link java.util.ServiceLoader} service a policy plugin publishes (in
 * {@code META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider}). Implementations must have a public
 * no-argument constructor, be thread-safe and cheap to construct; extending {@link AbstractPolicyProvider}
 * validates the name.
 */
@Stable
public interface PolicyProvider {
    /** Unique policy name: lower-case letters, digits and single hyphens, starting with a letter, at most 40 characters. */
    String name();

    /** The plugin's own version, e.g. {@code 1.0.0}. */
    String version();

    /**
     * The SPI version the plugin was written against; must equal the host's {@link SpiVersion#CURRENT}. Override it
     * as {@code return SpiVersion.CURRENT;} in your provider: the constant is compiled into your class, so the host
     * sees the version you built against and refuses a mismatch with one line. The default (not overridden) is
     * answered by the host's own SPI and cannot detect a mismatch; such providers are loaded as "not declared".
     */
    default int spiVersion() {
        return SpiVersion.CURRENT;
    }

    /** One sentence: what the policy does, and its source (paper) if any. */
    String description();

    /** The options {@link #create} accepts; default none. */
    default OptionSchema options() {
        return OptionSchema.empty();
    }

    /** What the policy supports; the conformance suite checks exactly these. Default: deterministic only. */
    default Set<Capability> capabilities() {
        return Set.of(Capability.DETERMINISTIC);
    }

    /** An upper bound on one {@code compress} call on the conformance suite's scenarios, if the plugin promises one. */
    default Optional<Duration> maxCallTime() {
        return Optional.empty();
    }

    /**
     * Accuracy the policy promises on the testbed model at a retention, if any; checked by the suite's quality level.
     *
     * @return map from visual retention (0..1] to minimum exact-match accuracy (0..1)
     */
    @Experimental
    default java.util.Map<Double, Double> qualityFloors() {
        return java.util.Map.of();
    }

    /**
     * Creates a policy. {@code options} are already validated against {@link #options()} and hold every option,
     * defaults filled in. Nested policies are created through {@code context}.
     */
    CompressionPolicy create(PolicyOptions options, CreationContext context);
}
