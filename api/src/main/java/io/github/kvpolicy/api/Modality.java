package io.github.kvpolicy.api;

/**
 * What a prompt position holds. Text before (or between) images is {@link #SYSTEM_TEXT}; text after the last
 * image is {@link #INSTRUCTION_TEXT} (the user's question); positions produced by decoding are {@link #GENERATED}.
 * A prompt without images has only instruction text.
 */
@Stable
public enum Modality {
    SYSTEM_TEXT,
    IMAGE,
    INSTRUCTION_TEXT,
    GENERATED;

    /** True for every modality except {@link #IMAGE}. */
    public boolean isText() {
        return this != IMAGE;
    }
}
