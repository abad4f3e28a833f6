package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsException;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.util.List;

/**
 * Where a checkpoint keeps its language-model weights. Hugging Face layouts differ by family and by transformers
 * version: {@code model.*} (CausalLM), {@code language_model.model.*} + {@code language_model.lm_head.*} (VLM
 * checkpoints published before transformers 4.52), {@code model.language_model.*} + {@code lm_head.*} (newer VLMs),
 * {@code model.text_model.*} (Idefics3/SmolVLM). The first prefix holding {@code embed_tokens.weight} wins. Immutable.
 *
 * @param prefix    prefix of {@code embed_tokens}, {@code layers.N.*} and {@code norm}
 * @param embedding the token-embedding tensor name
 * @param lmHead    the output projection tensor name (the embedding when tied)
 */
public record TextWeights(String prefix, String embedding, String lmHead) {
    /** Language-model prefixes tried, in order. */
    public static final List<String> PREFIXES = List.of("model.", "language_model.model.", "model.language_model.", "model.text_model.");
    private static final List<String> HEADS = List.of("lm_head.weight", "language_model.lm_head.weight");

    /** Resolves the layout of {@code w}; the error lists what was looked for. */
    public static TextWeights resolve(ModelConfig cfg, WeightStore w) {
        for (String p : PREFIXES) {
            String emb = p + "embed_tokens.weight";
            if (!w.contains(emb)) continue;
            if (cfg.tieWordEmbeddings()) return new TextWeights(p, emb, emb);
            for (String h : HEADS) {
                if (w.contains(h)) return new TextWeights(p, emb, h);
            }
            throw new SafetensorsException(w + ": missing the output projection, looked for " + HEADS
                    + " (config.json has tie_word_embeddings=false)");
        }
        throw new SafetensorsException(w + ": no token embedding found, looked for \"embed_tokens.weight\" under the prefixes " + PREFIXES);
    }

    /** Prefix of decoder layer {@code i}, ending in a dot. */
    public String layer(int i) {
        return prefix + "layers." + i + ".";
    }

    /** The final norm's weight. */
    public String finalNorm() {
        return prefix + "norm.weight";
    }

    /** Whether the output projection is the token embedding. */
    public boolean tied() {
        return lmHead.equals(embedding);
    }
}
