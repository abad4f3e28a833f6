package io.github.kvpolicy.runtime.model.config;

import java.util.List;

/**
 * The Qwen2-VL / Qwen2.5-VL vision tower ({@code Qwen2VisionTransformerPretrainedModel},
 * {@code Qwen2_5_VisionTransformerPretrainedModel}): patches of {@code temporalPatchSize × patchSize × patchSize}
 * pixels (flattened by the image processor, in merge-block order), a bias-free linear patch embedding, {@code depth}
 * pre-norm blocks with 2-D rotary attention (height and width positions), then the patch merger (norm,
 * {@code spatialMergeSize²} patches concatenated, Linear, GELU, Linear to the language model's hidden size).
 * Qwen2-VL: LayerNorm, {@code fc1/fc2} MLP, full attention. Qwen2.5-VL ({@code v25}): RMSNorm, SwiGLU MLP with biases,
 * attention within windows of {@code windowSize} pixels except in {@code fullAttentionBlocks}. Immutable.
 *
 * @param hiddenSize        tower width ({@code embed_dim}), a multiple of {@code numHeads}, ≥ 1
 * @param outHiddenSize     the merger's output width (the language model's hidden size)
 * @param depth             blocks, ≥ 1
 * @param numHeads          attention heads, ≥ 1
 * @param intermediateSize  MLP width, ≥ 1 (Qwen2-VL: embed_dim · mlp_ratio)
 * @param patchSize         patch side in pixels, ≥ 1
 * @param spatialMergeSize  patches merged per side into one token, ≥ 1
 * @param temporalPatchSize frames per patch, ≥ 1
 * @param inChannels        input channels
 * @param hiddenAct         block MLP activation ({@code quick_gelu}, {@code gelu}, {@code silu})
 * @param v25               the Qwen2.5-VL block (RMSNorm, SwiGLU, windowed attention)
 * @param windowSize        Qwen2.5-VL attention window in pixels (a multiple of patchSize · spatialMergeSize), 0 for none
 * @param fullAttentionBlocks Qwen2.5-VL blocks that attend over the whole image; unmodifiable
 */
public record Qwen2VlVisionConfig(int hiddenSize, int outHiddenSize, int depth, int numHeads, int intermediateSize, int patchSize,
                                  int spatialMergeSize, int temporalPatchSize, int inChannels, String hiddenAct,
                                  boolean v25, int windowSize, List<Integer> fullAttentionBlocks)
        implements VisionConfig {
    public Qwen2VlVisionConfig {
        if (hiddenSize < 1 || numHeads < 1 || hiddenSize % numHeads != 0 || (hiddenSize / numHeads) % 4 != 0) {
            throw new IllegalArgumentException("invalid vision config: embed_dim " + hiddenSize + " must be a multiple of num_heads "
                    + numHeads + " with a head dim divisible by 4 (2-D rotary halves)");
        }
        fullAttentionBlocks = List.copyOf(fullAttentionBlocks);
        if (v25 && (windowSize < patchSize * spatialMergeSize || windowSize % (patchSize * spatialMergeSize) != 0)) {
            throw new IllegalArgumentException("invalid vision config: window_size " + windowSize + " must be a positive multiple of patch_size x spatial_merge_size");
        }
        if (outHiddenSize < 1 || depth < 1 || intermediateSize < 1 || patchSize < 1 || spatialMergeSize < 1 || temporalPatchSize < 1 || inChannels < 1) {
            throw new IllegalArgumentException("invalid vision config: sizes must be >= 1, got hidden_size " + outHiddenSize + ", depth " + depth
                    + ", intermediate size " + intermediateSize + ", patch_size " + patchSize + ", spatial_merge_size " + spatialMergeSize
                    + ", temporal_patch_size " + temporalPatchSize + ", in_channels " + inChannels);
        }
        if (!List.of("quick_gelu", "gelu", "silu").contains(hiddenAct)) {
            throw new IllegalArgumentException("invalid vision config: hidden_act \"" + hiddenAct + "\" is not supported, expected quick_gelu, gelu or silu");
        }
    }

    /** Values per flattened patch: C · T · P · P. */
    public int patchValues() {
        return inChannels * temporalPatchSize * patchSize * patchSize;
    }

    /** Qwen2.5-VL: the window side in patches ({@code window_size / patch_size}, a multiple of the merge size). */
    public int windowPatches() {
        return windowSize / patchSize;
    }

    /** Head dimension of the tower's attention. */
    public int headDim() {
        return hiddenSize / numHeads;
    }

    /**
     * The (height, width) patch position of every patch of a (t, h, w) patch grid, in the processor's merge-block
     * order (transformers' {@code rot_pos_emb}): {@code [t·h·w][2]}.
     */
    public long[][] patchPositions(int t, int h, int w) {
        int m = spatialMergeSize;
        if (h % m != 0 || w % m != 0) {
            throw new IllegalArgumentException("image grid " + h + "x" + w + " is not divisible by spatial_merge_size " + m);
        }
        long[][] out = new long[t * h * w][];
        int k = 0;
        for (int tt = 0; tt < t; tt++) {
            for (int bh = 0; bh < h / m; bh++) {
                for (int bw = 0; bw < w / m; bw++) {
                    for (int ih = 0; ih < m; ih++) {
                        for (int iw = 0; iw < m; iw++) out[k++] = new long[]{bh * m + ih, bw * m + iw};
                    }
                }
            }
        }
        return out;
    }
}
