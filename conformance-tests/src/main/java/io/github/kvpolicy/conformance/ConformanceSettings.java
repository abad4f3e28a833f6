package io.github.kvpolicy.conformance;

import java.util.Optional;
import java.util.function.Function;

/**
 * Settings of one conformance run, read from JUnit configuration parameters (which fall back to system
 * properties): {@value #SEED} (a long, or {@code random}; default {@value #DEFAULT_SEED}) and, for the
 * {@code validate} command, {@value #TARGET}. Immutable.
 *
 * @param seed       the base seed every scenario is derived from
 * @param randomSeed true if the seed was drawn at random for this run (it is still printed on failure)
 * @param target     the key of the provider registered by {@code validate}, if any
 */
public record ConformanceSettings(long seed, boolean randomSeed, Optional<String> target) {
    /** Configuration parameter / system property: the base seed, or {@code random}. */
    public static final String SEED = "kvpolicy.conformance.seed";
    /** Configuration parameter: which registered provider {@code validate} is testing. */
    public static final String TARGET = "kvpolicy.conformance.target";
    /** The seed used when none is given, so that CI runs are reproducible. */
    public static final long DEFAULT_SEED = 20250401L;

    public ConformanceSettings {
        target = target == null ? Optional.empty() : target;
    }

    /** The default settings: the default seed, no target. */
    public static ConformanceSettings defaults() {
        return new ConformanceSettings(DEFAULT_SEED, false, Optional.empty());
    }

    /**
     * Reads the settings from {@code parameters} (e.g. {@code ExtensionContext::getConfigurationParameter}).
     *
     * @throws IllegalArgumentException if the seed is neither a long nor {@code random}, naming the parameter
     */
    public static ConformanceSettings from(Function<String, Optional<String>> parameters) {
        Optional<String> seedText = parameters.apply(SEED).map(String::trim).filter(s -> !s.isEmpty());
        long seed = DEFAULT_SEED;
        boolean random = false;
        if (seedText.isPresent()) {
            if (seedText.get().equalsIgnoreCase("random")) {
                seed = new java.security.SecureRandom().nextLong() & Long.MAX_VALUE;
                random = true;
            } else {
                seed = parseSeed(seedText.get());
            }
        }
        return new ConformanceSettings(seed, random, parameters.apply(TARGET));
    }

    /** @throws IllegalArgumentException naming the text and the accepted forms */
    public static long parseSeed(String text) {
        try {
            return Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Invalid conformance seed '" + text + "' (" + SEED + " / --seed): expected a whole number such as 42, or 'random'");
        }
    }

    /** How to rerun with this seed. */
    public String reproduceHint() {
        return "reproduce with -D" + SEED + "=" + seed + " (or: validate --seed " + seed + ")";
    }
}
