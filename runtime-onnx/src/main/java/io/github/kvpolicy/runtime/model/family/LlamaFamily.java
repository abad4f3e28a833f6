package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;

/** Llama 2/3 and compatible (TinyLlama, Vicuna, Llama 3.x with llama3 rope scaling): plain q/k/v projections, untied or tied head. Stateless singleton. */
public final class LlamaFamily extends DecoderFamily {
    /** The instance. */
    public static final LlamaFamily INSTANCE = new LlamaFamily();

    private LlamaFamily() {}

    @Override
    public String name() {
        return "llama";
    }

    @Override
    void check(ModelConfig cfg) {
        if (!cfg.modelType().equals("llama")) {
            throw new IllegalArgumentException("the llama family cannot build a model of type \"" + cfg.modelType() + "\"");
        }
    }
}
