package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.Map;

/** Idefics3 / SmolVLM (SmolVLMForConditionalGeneration, Idefics3ForConditionalGeneration): a SigLIP-style ViT with post-LayerNorm, the pixel-shuffle connector (scale_factor) and one bias-free projection (VitTower), with a Llama language model. Stateless singleton. */
public final class Idefics3Family extends DecoderFamily {
    /** The instance. */
    public static final Idefics3Family INSTANCE = new Idefics3Family();

    private Idefics3Family() {}

    @Override
    public String name() {
        return "idefics3";
    }

    @Override
    public void buildVision(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata) {
        VitTower.build(cfg, w, out, st, withFamily(metadata));
    }
}
