package io.github.kvpolicy.runtime.model.config;

/**
 * The vision side of a vision-language model: either the testbed's grid tower ({@link ModelConfig.GridVisionConfig},
 * input {@code pixel_attributes}) or a Hugging Face ViT with its projector ({@link VitVisionConfig}, input
 * {@code pixel_values}). Implementations are immutable records.
 */
public sealed interface VisionConfig permits ModelConfig.GridVisionConfig, VitVisionConfig, Qwen2VlVisionConfig {
    /** Vision hidden size Dv, ≥ 1. */
    int hiddenSize();
}
