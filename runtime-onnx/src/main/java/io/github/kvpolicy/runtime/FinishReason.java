package io.github.kvpolicy.runtime;

/** Why a row stopped generating. */
public enum FinishReason {
    /** It produced one of the request's stop tokens (not included in its output). */
    STOP,
    /** It reached the request's maximum of new tokens. */
    LENGTH
}
