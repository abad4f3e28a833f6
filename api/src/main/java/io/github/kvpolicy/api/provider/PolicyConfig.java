package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Stable;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A policy selection: its name and raw option values (not yet validated). Nested configurations (options of
 * type {@link OptionType#POLICY}) are PolicyConfigs too. Immutable.
 */
@Stable
public record PolicyConfig(String policy, Map<String, Object> options) {
    public PolicyConfig {
        Objects.requireNonNull(policy, "policy");
        options = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(options));
    }

    public static PolicyConfig of(String policy) {
        return new PolicyConfig(policy, Map.of());
    }

    /**
     * Reads a configuration value: a policy name, or a map with a {@code policy} key whose other keys are its options
     * (an {@code options} sub-map is accepted too).
     *
     * @throws IllegalArgumentException if it is neither
     */
    public static PolicyConfig from(Object raw) {
        if (raw instanceof PolicyConfig pc) return pc;
        if (raw instanceof String s && !s.isBlank()) return of(s.trim());
        if (raw instanceof Map<?, ?> m && m.get("policy") instanceof String name) {
            Map<String, Object> opts = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                String k = String.valueOf(e.getKey());
                if (k.equals("policy")) continue;
                if (k.equals("options") && e.getValue() instanceof Map<?, ?> sub) {
                    for (Map.Entry<?, ?> o : sub.entrySet()) opts.put(String.valueOf(o.getKey()), o.getValue());
                } else opts.put(k, e.getValue());
            }
            return new PolicyConfig(name, opts);
        }
        throw new IllegalArgumentException("expected a policy name or a map with a 'policy' key, got: " + raw);
    }

    @Override
    public String toString() {
        return options.isEmpty() ? policy : policy + options;
    }
}
