package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;

/** Qwen3: per-head RMSNorm of queries and keys (q_norm/k_norm) before the rotary embedding, explicit head_dim, no q/k/v bias. Stateless singleton. */
public final class Qwen3Family extends DecoderFamily {
    /** The instance. */
    public static final Qwen3Family INSTANCE = new Qwen3Family();

    private Qwen3Family() {}

    @Override
    public String name() {
        return "qwen3";
    }

    @Override
    void check(ModelConfig cfg) {
        if (!cfg.modelType().equals("qwen3")) {
            throw new IllegalArgumentException("the qwen3 family cannot build a model of type \"" + cfg.modelType() + "\"");
        }
    }
}
