package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;

/** Qwen2 / Qwen2.5: q/k/v biases, usually θ = 10⁶ and tied embeddings for the small sizes. Stateless singleton. */
public final class Qwen2Family extends DecoderFamily {
    /** The instance. */
    public static final Qwen2Family INSTANCE = new Qwen2Family();

    private Qwen2Family() {}

    @Override
    public String name() {
        return "qwen2";
    }

    @Override
    void check(ModelConfig cfg) {
        if (!cfg.modelType().equals("qwen2")) {
            throw new IllegalArgumentException("the qwen2 family cannot build a model of type \"" + cfg.modelType() + "\"");
        }
    }
}
