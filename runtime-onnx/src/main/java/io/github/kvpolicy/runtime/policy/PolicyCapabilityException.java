package io.github.kvpolicy.runtime.policy;


/** A request needs a capability its policy did not declare; the engine refused it before calling the policy. */
public final class PolicyCapabilityException extends PolicyFailureException {
    private static final long serialVersionUID = 1L;

    public PolicyCapabilityException(String policy, String message) {
        super(policy, message, null);
    }
}
