package io.github.kvpolicy.runtime.ort;

import java.util.Locale;

/** Where ONNX Runtime executes the graphs. */
public enum Device {
    /** The CPU execution provider (always available). */
    CPU,
    /** The CUDA execution provider; needs the {@code onnxruntime_gpu} artifact ({@code -Pgpu}) and a CUDA device. */
    CUDA;

    /**
     * Parses {@code cpu} or {@code cuda} (case-insensitive).
     *
     * @throws IllegalArgumentException naming the text and the accepted values
     */
    public static Device parse(String text) {
        String t = text == null ? "" : text.trim().toUpperCase(Locale.ROOT);
        for (Device d : values()) if (d.name().equals(t)) return d;
        throw new IllegalArgumentException("Invalid device '" + text + "': expected one of cpu, cuda");
    }
}
