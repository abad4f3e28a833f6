package io.github.kvpolicy.runtime.model.onnx;

/** Version of the graph builders; part of the build-cache fingerprint and of each model's metadata. */
public final class ModelBuilderVersion {
    /** Bump whenever the graphs produced for the same weights change. */
    public static final String VERSION = "2.3";
    /** The decoder contract version the graphs implement ({@code docs/decoder-contract.md}). */
    public static final int CONTRACT = 1;

    private ModelBuilderVersion() {}
}
