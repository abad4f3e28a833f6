package io.github.kvpolicy.conformance.cli;

import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Hands providers loaded by {@link Validate} to {@link ExternalPolicyConformance}: {@code validate} registers a
 * provider under a fresh key and passes the key as the configuration parameter
 * {@value io.github.kvpolicy.conformance.ConformanceSettings#TARGET}. Thread-safe.
 */
public final class ValidationTargets {
    /** A provider under test and the registry its nested policies come from. */
    public record Target(PolicyProvider provider, PolicyRegistry registry) {}

    private static final Map<String, Target> TARGETS = new ConcurrentHashMap<>();
    private static final AtomicLong NEXT = new AtomicLong();

    private ValidationTargets() {}

    /** Registers {@code target}; returns its key. Call {@link #remove} when the run is over. */
    public static String register(Target target) {
        String key = target.provider().name() + "#" + NEXT.incrementAndGet();
        TARGETS.put(key, target);
        return key;
    }

    /** @throws IllegalStateException naming the key if nothing is registered under it */
    public static Target get(String key) {
        Target t = TARGETS.get(key);
        if (t == null) throw new IllegalStateException("no policy registered for validation under '" + key + "'; run ExternalPolicyConformance through Validate");
        return t;
    }

    public static void remove(String key) {
        TARGETS.remove(key);
    }
}
