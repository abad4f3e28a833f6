package io.github.kvpolicy.conformance;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Settings of one conformance run, read from JUnit configuration parameters (which fall back to system
 * properties): {@value #SEED} (a long, or {@code random}; default {@value #DEFAULT_SEED}), {@value #OPT_OUT}
 * (levels explicitly not run, each with a reason) and, for the {@code validate} command, {@value #TARGET}. Immutable.
 *
 * <p>Opt-outs are the only way a level that cannot run (e.g. the end-to-end fixture model is missing) becomes a
 * skip instead of a failure; the reason is printed with every check it skips.
 *
 * @param seed       the base seed every scenario is derived from
 * @param randomSeed true if the seed was drawn at random for this run (it is still printed on failure)
 * @param target     the key of the provider registered by {@code validate}, if any
 * @param optOuts    level label ({@value #LEVEL_END_TO_END}, {@value #LEVEL_QUALITY}) → the non-blank reason it is not run
 */
public record ConformanceSettings(long seed, boolean randomSeed, Optional<String> target, Map<String, String> optOuts) {
    /** Configuration parameter / system property: the base seed, or {@code random}. */
    public static final String SEED = "kvpolicy.conformance.seed";
    /** Configuration parameter: which registered provider {@code validate} is testing. */
    public static final String TARGET = "kvpolicy.conformance.target";
    /**
     * Configuration parameter / system property: levels not to run, {@code level=reason[;level=reason]}, e.g.
     * {@code end-to-end=no ONNX Runtime for this platform}. Levels: {@value #LEVEL_END_TO_END}, {@value #LEVEL_QUALITY}.
     */
    public static final String OPT_OUT = "kvpolicy.conformance.opt-out";
    /** Configuration parameter: {@code true} if {@value #SEED} was drawn at random by {@code validate} (it says so in messages). */
    public static final String RANDOM_SEED = "kvpolicy.conformance.random-seed";
    /** The end-to-end level (runtime-onnx on the tiny fixture model). */
    public static final String LEVEL_END_TO_END = "end-to-end";
    /** The quality level (accuracy floors on the testbed model). */
    public static final String LEVEL_QUALITY = "quality";
    /** The seed used when none is given, so that CI runs are reproducible. */
    public static final long DEFAULT_SEED = 20250401L;

    public ConformanceSettings {
        target = target == null ? Optional.empty() : target;
        optOuts = optOuts == null ? Map.of() : Map.copyOf(optOuts);
    }

    /** The default settings: the default seed, no target, no opt-outs. */
    public static ConformanceSettings defaults() {
        return new ConformanceSettings(DEFAULT_SEED, false, Optional.empty(), Map.of());
    }

    /** Why {@code level} is not run, if it was opted out. */
    public Optional<String> optOut(String level) {
        return Optional.ofNullable(optOuts.get(level));
    }

    /**
     * Parses {@code level=reason[;level=reason…]}.
     *
     * @throws IllegalArgumentException naming the entry if a level is unknown or a reason is blank
     */
    public static Map<String, String> parseOptOuts(String text) {
        Map<String, String> out = new LinkedHashMap<>();
        if (text == null || text.isBlank()) return out;
        for (String entry : text.split(";")) {
            if (entry.isBlank()) continue;
            int eq = entry.indexOf('=');
            String level = (eq < 0 ? entry : entry.substring(0, eq)).trim();
            String reason = eq < 0 ? "" : entry.substring(eq + 1).trim();
            if (!level.equals(LEVEL_END_TO_END) && !level.equals(LEVEL_QUALITY)) {
                throw new IllegalArgumentException("Invalid opt-out '" + entry.trim() + "' (" + OPT_OUT + " / --skip-level): unknown level '" + level
                        + "'; levels that can be opted out: " + LEVEL_END_TO_END + ", " + LEVEL_QUALITY);
            }
            if (reason.isEmpty()) {
                throw new IllegalArgumentException("Invalid opt-out '" + entry.trim() + "' (" + OPT_OUT + " / --skip-level): give a reason, e.g. "
                        + level + "=no ONNX Runtime on this platform");
            }
            out.put(level, reason);
        }
        return out;
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
        random |= parameters.apply(RANDOM_SEED).map(v -> v.trim().equalsIgnoreCase("true")).orElse(false);
        return new ConformanceSettings(seed, random, parameters.apply(TARGET), parseOptOuts(parameters.apply(OPT_OUT).orElse(null)));
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
