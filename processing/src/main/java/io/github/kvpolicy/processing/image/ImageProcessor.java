package io.github.kvpolicy.processing.image;

/**
 * A model family's image preprocessing, configured from {@code preprocessor_config.json} (and the model's
 * {@code config.json} for the visual token count). Implementations are immutable and thread-safe.
 */
public interface ImageProcessor {
    /** The family name, e.g. {@code clip}, {@code siglip}, {@code llava_onevision}, {@code qwen2_vl}, {@code gemma3}, {@code smolvlm}. */
    String family();

    /** Preprocesses one RGB image. */
    ProcessedImage process(RgbImage image);
}
