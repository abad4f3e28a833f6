package io.github.kvpolicy.api;

/** When a policy is being called. */
@Stable
public enum Phase {
    /** Right after the prompt was prefilled. */
    PREFILL,
    /** During decoding, at a trigger of the policy's {@link Schedule}. */
    DECODE
}
