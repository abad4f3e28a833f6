package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;

/** Mistral: the Llama block; a declared sliding window is accepted only when it never takes effect (window ≥ max_position_embeddings, checked by ModelConfig). Stateless singleton. */
public final class MistralFamily extends DecoderFamily {
    /** The instance. */
    public static final MistralFamily INSTANCE = new MistralFamily();

    private MistralFamily() {}

    @Override
    public String name() {
        return "mistral";
    }

    @Override
    void check(ModelConfig cfg) {
        if (!cfg.modelType().equals("mistral")) {
            throw new IllegalArgumentException("the mistral family cannot build a model of type \"" + cfg.modelType() + "\"");
        }
    }
}
