package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.Map;

/**
 * LLaVA-OneVision (LlavaOnevisionForConditionalGeneration): a SigLIP ViT and the 2-layer GELU projector run per anyres
 * tile by {@code vision.onnx} (which also outputs {@code image_newline}), and the tiles packed into image tokens in
 * Java by {@link AnyresLayout}; a Qwen2 (or other supported) language model. Stateless singleton.
 */
public final class LlavaOnevisionFamily extends DecoderFamily {
    /** The instance. */
    public static final LlavaOnevisionFamily INSTANCE = new LlavaOnevisionFamily();

    private LlavaOnevisionFamily() {}

    @Override
    public String name() {
        return "llava_onevision";
    }

    @Override
    public void buildVision(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata) {
        VitTower.build(cfg, w, out, st, withFamily(metadata));
    }
}
