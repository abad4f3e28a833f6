package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Stable;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** Validated option values of one policy, every option present (defaults filled in). Immutable. */
@Stable
public final class PolicyOptions {
    private final String policy;
    private final Map<String, Object> values;

    PolicyOptions(String policy, Map<String, Object> values) {
        this.policy = policy;
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    public Map<String, Object> asMap() { return values; }

    public int getInt(String name) { return (Integer) get(name); }

    public double getDouble(String name) { return (Double) get(name); }

    public boolean getBoolean(String name) { return (Boolean) get(name); }

    public String getString(String name) { return (String) get(name); }

    public PolicyConfig getPolicy(String name) { return (PolicyConfig) get(name); }

    private Object get(String name) {
        Object v = values.get(name);
        if (v == null) throw new IllegalArgumentException("Policy '" + policy + "' has no option '" + name + "'; options: " + values.keySet());
        return v;
    }

    @Override
    public String toString() {
        return values.toString();
    }
}
