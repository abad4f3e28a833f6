package io.github.kvpolicy.api.provider;

import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.SpiVersion;
import io.github.kvpolicy.api.Stable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Policy providers by name. The registry only holds what it is given ({@link Builder#add}, {@link Builder#problem}):
 * finding providers (ServiceLoader over the class path or one class loader per plugin JAR) is the host's job
 * ({@code io.github.kvpolicy.host.plugin.ProviderDiscovery}), so this stable SPI type carries no discovery policy. A
 * provider with an invalid name or targeting another SPI version becomes a {@link LoadProblem} and does not stop the
 * others; two providers with one name fail the build naming both sources. Immutable and thread-safe once built.
 */
@Stable
public final class PolicyRegistry {
    private static final int MAX_NESTING = 8;

    /** A provider and where it came from (a JAR path, or "class path"). */
    @Stable
    public record Registration(PolicyProvider provider, String source) {}

    /** A plugin or provider that could not be loaded, and why. */
    @Stable
    public record LoadProblem(String source, String message) {
        @Override
        public String toString() {
            return source + ": " + message;
        }
    }

    private final Map<String, Registration> byName;
    private final List<LoadProblem> problems;

    private PolicyRegistry(Map<String, Registration> byName, List<LoadProblem> problems) {
        this.byName = Collections.unmodifiableMap(new TreeMap<>(byName));
        this.problems = List.copyOf(problems);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Registered policy names, sorted. */
    public List<String> names() {
        return List.copyOf(byName.keySet());
    }

    public List<Registration> registrations() {
        return List.copyOf(byName.values());
    }

    /** Plugins or providers that failed to load. */
    public List<LoadProblem> problems() {
        return problems;
    }

    /** @throws UnknownPolicyException "Unknown policy 'x'. Available policies: a, b" */
    public PolicyProvider provider(String name) {
        return registration(name).provider();
    }

    /** @throws UnknownPolicyException as {@link #provider} */
    public Registration registration(String name) {
        Registration r = byName.get(name);
        if (r == null) {
            throw new UnknownPolicyException("Unknown policy '" + name + "'. Available policies: "
                    + (byName.isEmpty() ? "(none)" : String.join(", ", byName.keySet())));
        }
        return r;
    }

    /**
     * Validates the options of {@code config} (and of nested policies) and creates the policy.
     *
     * @throws UnknownPolicyException if a policy name is unknown
     * @throws InvalidOptionException if an option is unknown or its value not allowed
     */
    public CompressionPolicy create(PolicyConfig config) {
        return create(config, 0);
    }

    private CompressionPolicy create(PolicyConfig config, int depth) {
        if (depth > MAX_NESTING) throw new InvalidOptionException("Policy configuration nested deeper than " + MAX_NESTING + " levels at '" + config.policy() + "'");
        PolicyProvider p = provider(config.policy());
        PolicyOptions options = p.options().validate(p.name(), config.options());
        CompressionPolicy policy = p.create(options, nested -> create(nested, depth + 1));
        if (policy == null) throw new IllegalStateException("Provider of policy '" + p.name() + "' returned no policy");
        return policy;
    }

    /** Collects providers; {@link #build()} fails on a duplicate name. */
    @Stable
    public static final class Builder {
        private final Map<String, Registration> byName = new TreeMap<>();
        private final List<LoadProblem> problems = new ArrayList<>();
        private final List<String> duplicates = new ArrayList<>();
        /** {@link #declaredSpiVersion} of a provider that does not override {@code spiVersion()}. */
        static final int UNDECLARED = Integer.MIN_VALUE;

        private Builder() {}

        /** Adds {@code provider}, found in {@code source}; an invalid name or SPI version becomes a load problem. */
        public Builder add(PolicyProvider provider, String source) {
            String name;
            try {
                name = AbstractPolicyProvider.checkName(provider.name());
            } catch (RuntimeException e) {
                problems.add(new LoadProblem(source, e.getMessage()));
                return this;
            }
            int target = declaredSpiVersion(provider);
            if (target != UNDECLARED && target != SpiVersion.CURRENT) {
                problems.add(new LoadProblem(source, "policy '" + name + "' targets SPI version " + target
                        + ", but this kvpolicy implements SPI version " + SpiVersion.CURRENT));
                return this;
            }
            Registration previous = byName.putIfAbsent(name, new Registration(provider, source));
            if (previous != null) {
                duplicates.add("Duplicate policy name '" + name + "': provided by " + previous.source() + " and by " + source);
            }
            return this;
        }

        /**
         * The SPI version {@code provider} was compiled against, or {@link #UNDECLARED}. Only an override of
         * {@link PolicyProvider#spiVersion()} in the plugin's own class tells: {@code SpiVersion.CURRENT} is a
         * compile-time constant, so an override returns the version of the SPI the plugin was built with, while the
         * interface's default method (loaded from the host's SPI) can only ever return the host's own version.
         */
        static int declaredSpiVersion(PolicyProvider provider) {
            try {
                Class<?> owner = provider.getClass().getMethod("spiVersion").getDeclaringClass();
                if (owner.getName().startsWith("io.github.kvpolicy.api.")) return UNDECLARED;
                return provider.spiVersion();
            } catch (NoSuchMethodException | SecurityException e) {
                return UNDECLARED;
            }
        }

        /** Records a plugin that could not be loaded at all. */
        public Builder problem(String source, String message) {
            problems.add(new LoadProblem(source, message));
            return this;
        }

        /** @throws PolicyLoadException if two providers share a name, naming both sources */
        public PolicyRegistry build() {
            if (!duplicates.isEmpty()) throw new PolicyLoadException(String.join("; ", duplicates));
            return new PolicyRegistry(byName, problems);
        }
    }
}
