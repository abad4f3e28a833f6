package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.Map;

/**
 * Base of the families whose language model is the shared {@link TransformerDecoder}; subclasses add what is
 * architecture-specific (checks, a vision tower). Stateless.
 */
abstract class DecoderFamily implements ModelFamily {
    /** Checks that {@code cfg} is a config of this family (beyond what {@link ModelConfig#parse} checked). */
    void check(ModelConfig cfg) {
    }

    @Override
    public void buildDecoder(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata) {
        check(cfg);
        TransformerDecoder.buildDecoder(cfg, w, TextWeights.resolve(cfg, w), out, st, withFamily(metadata));
    }

    @Override
    public void buildEmbed(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage st, Map<String, String> metadata) {
        check(cfg);
        TransformerDecoder.buildEmbed(cfg, w, TextWeights.resolve(cfg, w), out, st, withFamily(metadata));
    }

    Map<String, String> withFamily(Map<String, String> metadata) {
        Map<String, String> m = new java.util.LinkedHashMap<>(metadata);
        m.put("kvpolicy.family", name());
        return m;
    }

    @Override
    public String toString() {
        return name();
    }
}
