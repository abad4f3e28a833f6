package io.github.kvpolicy.runtime.ort;

/**
 * A non-null {@code OrtStatus} returned by an ONNX Runtime C API call: the call's name, ORT's
 * {@code OrtErrorCode} and ORT's own message.
 */
public final class OrtNativeException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private static final String[] CODES = {"ORT_OK", "ORT_FAIL", "ORT_INVALID_ARGUMENT", "ORT_NO_SUCHFILE", "ORT_NO_MODEL",
            "ORT_ENGINE_ERROR", "ORT_RUNTIME_EXCEPTION", "ORT_INVALID_PROTOBUF", "ORT_MODEL_LOADED", "ORT_NOT_IMPLEMENTED",
            "ORT_INVALID_GRAPH", "ORT_EP_FAIL"};

    private final int code;
    private final String ortMessage;

    public OrtNativeException(String call, int code, String ortMessage) {
        super(call + " failed (" + codeName(code) + "): " + ortMessage);
        this.code = code;
        this.ortMessage = ortMessage;
    }

    /** The {@code OrtErrorCode} value. */
    public int code() { return code; }

    /** ORT's message, unchanged. */
    public String ortMessage() { return ortMessage; }

    static String codeName(int code) {
        return code >= 0 && code < CODES.length ? CODES[code] : "code " + code;
    }
}
