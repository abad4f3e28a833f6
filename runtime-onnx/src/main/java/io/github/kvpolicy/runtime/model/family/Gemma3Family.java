package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.Map;

/**
 * Gemma 3 (Gemma3ForConditionalGeneration, {@code gemma3}): a SigLIP tower whose last hidden state is average-pooled
 * to {@code mm_tokens_per_image} tokens, (1 + w) RMS-normed and projected ({@link VitTower}, connector
 * {@code AVG_POOL}); the language model is {@link Gemma3Decoder} (sliding-window and global layers, bidirectional
 * attention among one image's tokens, {@code query_pre_attn_scalar}, (1 + w) RMSNorm, sandwich norms, GELU-tanh MLP,
 * √H-scaled embeddings, tied head, optional final soft-capping). Stateless singleton.
 */
public final class Gemma3Family implements ModelFamily {
    /** The instance. */
    public static final Gemma3Family INSTANCE = new Gemma3Family();

    private Gemma3Family() {}

    @Override
    public String name() {
        return "gemma3";
    }

    private static void check(ModelConfig cfg) {
        if (cfg.gemma3() == null) {
            throw new IllegalArgumentException("the gemma3 family cannot build a model of type \"" + cfg.modelType() + "\"");
        }
    }

    private Map<String, String> withFamily(Map<String, String> metadata) {
        Map<String, String> m = new java.util.LinkedHashMap<>(metadata);
        m.put("kvpolicy.family", name());
        return m;
    }

    @Override
    public void buildDecoder(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata) {
        check(cfg);
        Gemma3Decoder.buildDecoder(cfg, w, TextWeights.resolve(cfg, w), out, st, withFamily(metadata));
    }

    @Override
    public void buildEmbed(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata) {
        check(cfg);
        Gemma3Decoder.buildEmbed(cfg, w, TextWeights.resolve(cfg, w), out, st, withFamily(metadata));
    }

    @Override
    public void buildVision(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata) {
        check(cfg);
        VitTower.build(cfg, w, out, st, withFamily(metadata));
    }

    @Override
    public String toString() {
        return name();
    }
}
