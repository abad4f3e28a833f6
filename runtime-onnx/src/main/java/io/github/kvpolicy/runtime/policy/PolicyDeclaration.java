package io.github.kvpolicy.runtime.policy;

import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.provider.PolicyProvider;

import java.time.Duration;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/**
 * What a policy's provider promised, as the engine enforces it: its capabilities (a batch is only handed to a policy
 * with {@link Capability#BATCH}, a decoding-time schedule only run for one with {@link Capability#DECODING_TIME},
 * {@link Scope#ALL} only for {@link Capability#ALL_TOKEN_SCOPE}, concurrent calls only to {@link Capability#THREAD_SAFE})
 * and its per-call time limit.
 *
 * <p>{@link #undeclared()} is for policies that embedding code constructs itself, without a provider: capabilities are
 * then not enforced (the caller vouches for the policy) but the generator's default time limit still applies. Every
 * policy that comes through a {@link io.github.kvpolicy.api.provider.PolicyRegistry} (the CLI, plugins) should be run
 * with {@link #of(PolicyProvider)}. Immutable.
 *
 * @param capabilities  the declared capabilities; null means "not declared" (nothing enforced)
 * @param maxCallTime   the provider's promised bound on one {@code compress} call, if any
 */
public record PolicyDeclaration(Set<Capability> capabilities, Optional<Duration> maxCallTime) {
    public PolicyDeclaration {
        capabilities = capabilities == null ? null : Set.copyOf(capabilities);
        maxCallTime = maxCallTime == null ? Optional.empty() : maxCallTime;
    }

    /** The declaration of {@code provider}'s policies. */
    public static PolicyDeclaration of(PolicyProvider provider) {
        Set<Capability> caps = provider.capabilities();
        return new PolicyDeclaration(caps == null ? Set.of() : caps, provider.maxCallTime());
    }

    /** Nothing declared: capabilities not enforced, the generator's default time limit. */
    public static PolicyDeclaration undeclared() {
        return new PolicyDeclaration(null, Optional.empty());
    }

    /** Every capability (e.g. for the built-in reference policies in tests). */
    public static PolicyDeclaration all() {
        return new PolicyDeclaration(EnumSet.allOf(Capability.class), Optional.empty());
    }

    /** True if capabilities are enforced and {@code c} is declared, or if they are not enforced. */
    public boolean allows(Capability c) {
        return capabilities == null || capabilities.contains(c);
    }

    /** True if the engine must serialize calls to one instance. */
    public boolean serializeCalls() {
        return capabilities != null && !capabilities.contains(Capability.THREAD_SAFE);
    }

    /**
     * Checks that {@code policy} may run a request of {@code batchSize} rows under this declaration.
     *
     * @throws PolicyCapabilityException naming the policy, the missing capability and what to do instead
     */
    public void checkRequest(CompressionPolicy policy, int batchSize) {
        if (capabilities == null) return;
        if (batchSize > 1 && !capabilities.contains(Capability.BATCH)) {
            throw new PolicyCapabilityException(policy.name(), "policy '" + policy.name() + "' does not declare the BATCH capability, so it cannot run a batch of "
                    + batchSize + " rows; send one row per request");
        }
        Schedule s = policy.schedule();
        if (s != null && s.actsDuringDecoding() && !capabilities.contains(Capability.DECODING_TIME)) {
            throw new PolicyCapabilityException(policy.name(), "policy '" + policy.name() + "' schedules decoding-time actions (" + s
                    + ") but does not declare the DECODING_TIME capability");
        }
        if (policy.scope() == Scope.ALL && !capabilities.contains(Capability.ALL_TOKEN_SCOPE)) {
            throw new PolicyCapabilityException(policy.name(), "policy '" + policy.name() + "' has scope ALL but does not declare the ALL_TOKEN_SCOPE capability");
        }
    }
}
