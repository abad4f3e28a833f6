package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.Map;

/** LLaVA-1.5 style models (LlavaForConditionalGeneration): a CLIP or SigLIP ViT (class token, pre-LayerNorm, the features of vision_feature_layer, class token dropped for select strategy default) and the 2-layer GELU projector (VitTower), with any supported language model. The image features replace the image-token positions in order. Stateless singleton. */
public final class LlavaFamily extends DecoderFamily {
    /** The instance. */
    public static final LlavaFamily INSTANCE = new LlavaFamily();

    private LlavaFamily() {}

    @Override
    public String name() {
        return "llava";
    }

    @Override
    public void buildVision(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata) {
        VitTower.build(cfg, w, out, st, withFamily(metadata));
    }
}
