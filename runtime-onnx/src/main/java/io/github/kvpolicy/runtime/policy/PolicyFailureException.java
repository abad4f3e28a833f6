package io.github.kvpolicy.runtime.policy;

/**
 * A compression policy threw while it was computing its plan; the request fails, the {@link io.github.kvpolicy.runtime.Generator} stays usable.
 * (A plan that breaks the SPI's rules fails with {@link io.github.kvpolicy.api.InvalidPlanException} instead.)
 */
public class PolicyFailureException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String policy;

    public PolicyFailureException(String policy, String message, Throwable cause) {
        super(message, cause);
        this.policy = policy;
    }

    /** The failing policy's name. */
    public String policy() {
        return policy;
    }
}
