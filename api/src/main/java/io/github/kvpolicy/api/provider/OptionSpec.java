package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Stable;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * One typed option of a policy: name, type, default, allowed range or values, description. Immutable.
 *
 * @param name         kebab-case name, e.g. {@code window-size}
 * @param type         value type
 * @param defaultValue the default (of the type's Java class: Integer, Double, Boolean, String, PolicyConfig), or
 *                     null if the option is required
 * @param min          inclusive lower bound for numbers, or null
 * @param max          inclusive upper bound for numbers, or null
 * @param allowed      the allowed words of an {@link OptionType#ENUM}; empty otherwise
 * @param description  one sentence
 */
@Stable
public record OptionSpec(String name, OptionType type, Object defaultValue, Double min, Double max, List<String> allowed, String description) {
    private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9]*(-[a-z0-9]+)*");

    public OptionSpec {
        if (name == null || !NAME.matcher(name).matches()) throw new IllegalArgumentException("Invalid option name '" + name + "': expected kebab-case such as 'window-size'");
        Objects.requireNonNull(type, "type");
        allowed = List.copyOf(allowed);
        Objects.requireNonNull(description, "description");
        if (type == OptionType.ENUM && allowed.isEmpty()) throw new IllegalArgumentException("enum option '" + name + "' needs allowed values");
    }

    public static OptionSpec integer(String name, int defaultValue, int min, int max, String description) {
        return new OptionSpec(name, OptionType.INTEGER, defaultValue, (double) min, (double) max, List.of(), description);
    }

    public static OptionSpec decimal(String name, double defaultValue, double min, double max, String description) {
        return new OptionSpec(name, OptionType.DOUBLE, defaultValue, min, max, List.of(), description);
    }

    public static OptionSpec bool(String name, boolean defaultValue, String description) {
        return new OptionSpec(name, OptionType.BOOLEAN, defaultValue, null, null, List.of(), description);
    }

    public static OptionSpec string(String name, String defaultValue, String description) {
        return new OptionSpec(name, OptionType.STRING, defaultValue, null, null, List.of(), description);
    }

    public static OptionSpec choice(String name, String defaultValue, List<String> allowed, String description) {
        return new OptionSpec(name, OptionType.ENUM, defaultValue, null, null, allowed, description);
    }

    /** A nested policy; {@code defaultPolicy} may be null (then required). */
    public static OptionSpec policy(String name, PolicyConfig defaultPolicy, String description) {
        return new OptionSpec(name, OptionType.POLICY, defaultPolicy, null, null, List.of(), description);
    }

    /** What this option accepts, in words, e.g. {@code "an integer in [1, 64]"}. */
    public String expectation() {
        return switch (type) {
            case INTEGER -> "an integer" + range();
            case DOUBLE -> "a number" + range();
            case BOOLEAN -> "true or false";
            case STRING -> "a string";
            case ENUM -> "one of " + String.join(", ", allowed);
            case POLICY -> "a policy name or a map with a 'policy' key and its options";
        };
    }

    private String range() {
        if (min == null && max == null) return "";
        if (type == OptionType.INTEGER) {
            return " in [" + (min == null ? "-inf" : Long.toString(min.longValue())) + ", " + (max == null ? "inf" : Long.toString(max.longValue())) + "]";
        }
        return " in [" + (min == null ? "-inf" : min) + ", " + (max == null ? "inf" : max) + "]";
    }

    /**
     * Converts a raw configuration value (from YAML, a flag or code) to this option's Java type.
     *
     * @throws InvalidOptionException "Invalid value 'v' for option 'o' of policy 'p': expected ..."
     */
    public Object coerce(String policy, Object raw) {
        try {
            Object v = switch (type) {
                case INTEGER -> {
                    long l;
                    if (raw instanceof Number n) {
                        double d = n.doubleValue();
                        if (d != Math.rint(d)) throw new IllegalArgumentException();
                        l = n.longValue();
                    } else l = Long.parseLong(raw.toString().trim());
                    if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE || (min != null && l < min) || (max != null && l > max)) throw new IllegalArgumentException();
                    yield (int) l;
                }
                case DOUBLE -> {
                    double d = raw instanceof Number n ? n.doubleValue() : Double.parseDouble(raw.toString().trim());
                    if (!Double.isFinite(d) || (min != null && d < min) || (max != null && d > max)) throw new IllegalArgumentException();
                    yield d;
                }
                case BOOLEAN -> {
                    if (raw instanceof Boolean b) yield b;
                    String s = raw.toString().trim().toLowerCase(Locale.ROOT);
                    if (!s.equals("true") && !s.equals("false")) throw new IllegalArgumentException();
                    yield Boolean.parseBoolean(s);
                }
                case STRING -> {
                    if (raw instanceof Map<?, ?> || raw instanceof List<?>) throw new IllegalArgumentException();
                    yield raw.toString();
                }
                case ENUM -> {
                    String s = raw.toString().trim().toLowerCase(Locale.ROOT);
                    if (!allowed.contains(s)) throw new IllegalArgumentException();
                    yield s;
                }
                case POLICY -> PolicyConfig.from(raw);
            };
            return v;
        } catch (RuntimeException e) {
            throw new InvalidOptionException("Invalid value '" + raw + "' for option '" + name + "' of policy '" + policy + "': expected " + expectation());
        }
    }
}
