package io.github.kvpolicy.api;

import java.util.List;

/** A retention plan broke the SPI's rules; the message names the policy and the first violation. */
@Stable
public class InvalidPlanException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient List<String> violations;

    public InvalidPlanException(String policy, List<String> violations) {
        super(message(policy, violations));
        this.violations = List.copyOf(violations);
    }

    /** Every violation found, each naming the row, layer and head. */
    public List<String> violations() {
        return violations;
    }

    private static String message(String policy, List<String> v) {
        String head = "Invalid retention plan from policy '" + policy + "': " + (v.isEmpty() ? "unknown violation" : v.get(0));
        return v.size() > 1 ? head + " (and " + (v.size() - 1) + " more)" : head;
    }
}
