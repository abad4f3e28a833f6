package io.github.kvpolicy.runtime.model.config;

import java.util.List;
import java.util.Objects;

/**
 * What a Gemma 3 language model ({@code gemma3_text}) adds to the Llama-style fields of {@link ModelConfig}. Immutable.
 *
 * <p>Invariants: {@code layerWindows} has one entry per decoder layer, 0 for a global ({@code full_attention}) layer and
 * the window W ≥ 1 for a {@code sliding_attention} layer (a query at original position t sees keys at original
 * positions p with {@code t - W < p ≤ t}); global layers use {@link ModelConfig#ropeTheta()} and
 * {@link ModelConfig#rope()}, sliding layers plain RoPE with {@code localRopeTheta}; attention scores are scaled by
 * {@code queryPreAttnScalar^-1/2}; {@code finalLogitSoftcap} is 0 when the config sets none.
 *
 * @param layerWindows       per layer: 0 (global) or the sliding window W ≥ 1
 * @param localRopeTheta     rotary base of the sliding layers, &gt; 0
 * @param queryPreAttnScalar attention scores are multiplied by {@code queryPreAttnScalar^-1/2}, &gt; 0
 * @param finalLogitSoftcap  {@code logits = c·tanh(logits / c)} when &gt; 0; 0 for none
 * @param mmTokensPerImage   language-model tokens per image after the average-pool projector (0 for a text-only model)
 */
public record Gemma3TextConfig(List<Integer> layerWindows, double localRopeTheta, double queryPreAttnScalar,
                               double finalLogitSoftcap, int mmTokensPerImage) {
    public Gemma3TextConfig {
        layerWindows = List.copyOf(Objects.requireNonNull(layerWindows, "layerWindows"));
        for (int w : layerWindows) {
            if (w < 0) throw new IllegalArgumentException("invalid gemma3 config: sliding window must be >= 1, got " + w);
        }
        if (!(localRopeTheta > 0) || !(queryPreAttnScalar > 0) || !(finalLogitSoftcap >= 0) || mmTokensPerImage < 0) {
            throw new IllegalArgumentException("invalid gemma3 config: rope_local_base_freq " + localRopeTheta + ", query_pre_attn_scalar "
                    + queryPreAttnScalar + ", final_logit_softcapping " + finalLogitSoftcap + ", mm_tokens_per_image " + mmTokensPerImage);
        }
    }

    /** The window of layer {@code layer}, 0 for a global layer. */
    public int window(int layer) {
        return layerWindows.get(layer);
    }

    /** Whether any layer is a sliding-window layer. */
    public boolean hasSlidingLayers() {
        return layerWindows.stream().anyMatch(w -> w > 0);
    }

    /** The attention score scale {@code queryPreAttnScalar^-1/2}. */
    public double attentionScale() {
        return 1.0 / Math.sqrt(queryPreAttnScalar);
    }
}
