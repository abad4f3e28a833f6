package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.config.VitVisionConfig;

import java.util.List;

/** Picks the {@link ModelFamily} that builds a config's graphs. Stateless. */
public final class Families {
    private Families() {}

    /** Every family, in documentation order. */
    public static final List<ModelFamily> ALL = List.of(LlamaFamily.INSTANCE, MistralFamily.INSTANCE, Qwen2Family.INSTANCE,
            Qwen3Family.INSTANCE, LlavaFamily.INSTANCE, LlavaOnevisionFamily.INSTANCE, Idefics3Family.INSTANCE, Qwen2VlFamily.INSTANCE, GridLlavaFamily.INSTANCE,
            Gemma3Family.INSTANCE);

    /**
     * The family of {@code cfg}.
     *
     * @throws IllegalArgumentException naming the architecture and the supported ones when none fits
     */
    public static ModelFamily of(ModelConfig cfg) {
        if (cfg.gemma3() != null) return Gemma3Family.INSTANCE;
        if (cfg.vision() == null) {
            return switch (cfg.modelType()) {
                case "llama" -> LlamaFamily.INSTANCE;
                case "mistral" -> MistralFamily.INSTANCE;
                case "qwen2" -> Qwen2Family.INSTANCE;
                case "qwen3" -> Qwen3Family.INSTANCE;
                default -> throw unsupported(cfg);
            };
        }
        if (cfg.vision() instanceof ModelConfig.GridVisionConfig) return GridLlavaFamily.INSTANCE;
        if (cfg.vision() instanceof io.github.kvpolicy.runtime.model.config.Qwen2VlVisionConfig) return Qwen2VlFamily.INSTANCE;
        VitVisionConfig v = (VitVisionConfig) cfg.vision();
        return switch (v.connector()) {
            case LLAVA_MLP -> v.anyres() ? LlavaOnevisionFamily.INSTANCE : LlavaFamily.INSTANCE;
            case PIXEL_SHUFFLE -> Idefics3Family.INSTANCE;
            case AVG_POOL -> Gemma3Family.INSTANCE;
        };
    }

    private static IllegalArgumentException unsupported(ModelConfig cfg) {
        return new IllegalArgumentException("model architecture \"" + cfg.architecture() + "\" (language model \"" + cfg.modelType()
                + "\") is not supported; supported: " + ModelConfig.SUPPORTED_ARCHITECTURES);
    }
}
