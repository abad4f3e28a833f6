package io.github.kvpolicy.processing.error;

/**
 * Bad input to the processing module: a missing or malformed model file, an unreadable image, a template
 * that does not render. The message is one line that names the input and says what was expected.
 */
public final class ProcessingException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ProcessingException(String message) {
        super(message);
    }

    public ProcessingException(String message, Throwable cause) {
        super(message, cause);
    }
}
