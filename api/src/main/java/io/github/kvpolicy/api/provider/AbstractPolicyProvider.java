package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.Stable;
import java.util.Objects;
import java.util.regex.Pattern;

/** Base provider that validates its name (and version and description) in the constructor. */
@Stable
public abstract class AbstractPolicyProvider implements PolicyProvider {
    private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9]*(-[a-z0-9]+)*");
    private final String name;
    private final String version;
    private final String description;

    protected AbstractPolicyProvider(String name, String version, String description) {
        this.name = checkName(name);
        this.version = Objects.requireNonNull(version, "version");
        if (version.isBlank()) throw new IllegalArgumentException("Policy '" + name + "' has a blank version");
        this.description = Objects.requireNonNull(description, "description");
    }

    /**
     * @return {@code name} if valid
     * @throws IllegalArgumentException naming the name and the rule
     */
    public static String checkName(String name) {
        if (name == null || name.length() > 40 || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("Invalid policy name '" + name
                    + "': expected lower-case letters, digits and single hyphens, starting with a letter, at most 40 characters (e.g. 'snapkv', 'ada-kv')");
        }
        return name;
    }

    @Override public final String name() { return name; }
    @Override public final String version() { return version; }
    @Override public final String description() { return description; }

    @Override
    public String toString() {
        return name + " " + version;
    }
}
