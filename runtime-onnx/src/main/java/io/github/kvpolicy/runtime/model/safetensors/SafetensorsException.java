package io.github.kvpolicy.runtime.model.safetensors;

/**
 * A safetensors file is malformed or does not hold what the caller needs. The message always names
 * the file, and the tensor where one is involved, and says what was expected.
 */
public final class SafetensorsException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
