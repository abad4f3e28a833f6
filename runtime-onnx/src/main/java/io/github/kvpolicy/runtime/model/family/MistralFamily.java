package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;

/**
 * Mistral: the Llama block. A declared {@code sliding_window} is recorded in the decoder's metadata; the runtime runs
 * sequences that fit in the window (where windowed and full attention agree) and refuses longer ones. Stateless
 * singleton.
 */
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
