package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.Map;

/**
 * One model architecture: how its Hugging Face weights become the contract graphs ({@code docs/decoder-contract.md}).
 * Implementations are stateless singletons, safe to use from several threads on different output paths. Every
 * method checks the shapes of all the weights it needs before writing anything, and names the missing or mis-shaped
 * tensor and its file.
 */
public interface ModelFamily {
    /** The family's name as documented in {@code docs/models.md} (e.g. {@code llama}, {@code llava}). */
    String name();

    /** Builds {@code decoder.onnx} at {@code out}; {@code metadata} (the shared keys) is extended and stored. */
    void buildDecoder(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata);

    /** Builds {@code embed.onnx}: {@code input_ids} i64 [B,S] → {@code inputs_embeds} f32 [B,S,H]. */
    void buildEmbed(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata);

    /**
     * Builds {@code vision.onnx} for a model with a vision tower.
     *
     * @throws IllegalArgumentException for a text-only family
     */
    default void buildVision(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata) {
        throw new IllegalArgumentException("model family " + name() + " has no vision tower; cannot build vision.onnx");
    }
}
