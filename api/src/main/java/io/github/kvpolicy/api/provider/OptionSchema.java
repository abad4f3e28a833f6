package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Stable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The options of a policy, in declaration order; names unique. Immutable. */
@Stable
public final class OptionSchema {
    private static final OptionSchema EMPTY = new OptionSchema(List.of());
    private final Map<String, OptionSpec> specs = new LinkedHashMap<>();

    private OptionSchema(List<OptionSpec> list) {
        for (OptionSpec s : list) {
            if (specs.put(s.name(), s) != null) throw new IllegalArgumentException("duplicate option '" + s.name() + "'");
        }
    }

    public static OptionSchema of(OptionSpec... specs) {
        return new OptionSchema(List.of(specs));
    }

    public static OptionSchema empty() {
        return EMPTY;
    }

    public List<OptionSpec> specs() {
        return List.copyOf(specs.values());
    }

    public Optional<OptionSpec> spec(String name) {
        return Optional.ofNullable(specs.get(name));
    }

    /**
     * Validates {@code raw} options (unknown names, values, missing required options) and fills in defaults.
     *
     * @throws InvalidOptionException naming the option, the value and what is allowed
     */
    public PolicyOptions validate(String policy, Map<String, ?> raw) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, ?> e : raw.entrySet()) {
            OptionSpec s = specs.get(e.getKey());
            if (s == null) {
                throw new InvalidOptionException("Unknown option '" + e.getKey() + "' for policy '" + policy + "'. Known options: "
                        + (specs.isEmpty() ? "(none)" : String.join(", ", specs.keySet())));
            }
            if (e.getValue() == null) throw new InvalidOptionException("Invalid value 'null' for option '" + s.name() + "' of policy '" + policy + "': expected " + s.expectation());
            out.put(s.name(), s.coerce(policy, e.getValue()));
        }
        for (OptionSpec s : specs.values()) {
            if (!out.containsKey(s.name())) {
                if (s.defaultValue() == null) throw new InvalidOptionException("Missing option '" + s.name() + "' for policy '" + policy + "': expected " + s.expectation());
                out.put(s.name(), s.defaultValue());
            }
        }
        return new PolicyOptions(policy, out);
    }
}
