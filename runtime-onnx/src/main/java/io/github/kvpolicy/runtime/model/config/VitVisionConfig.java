package io.github.kvpolicy.runtime.model.config;

import java.util.List;
import java.util.Objects;

/**
 * A Hugging Face ViT image tower (CLIP or SigLIP style) plus the connector that maps its features into the language
 * model's embedding space. Immutable.
 *
 * <p>Tower math (transformers {@code CLIPVisionTransformer} / {@code SiglipVisionTransformer}): non-overlapping
 * {@code patchSize × patchSize} convolution patches over a {@code imageSize × imageSize} image (row-major), an optional
 * class token prepended, learned position embeddings, an optional pre-LayerNorm, {@code layersRun} pre-norm encoder
 * layers ({@code x += out_proj(MHA(LN1(x)))}, {@code x += fc2(act(fc1(LN2(x))))}), an optional post-LayerNorm, and the
 * class token optionally dropped. Connectors: {@link Connector#LLAVA_MLP} ({@code linear_2(act(linear_1(f)))}) and
 * {@link Connector#PIXEL_SHUFFLE} (Idefics3: space-to-depth by {@code scaleFactor}, then one bias-free linear).
 *
 * @param modelType         the vision config's {@code model_type} (for messages)
 * @param hiddenSize        Dv, ≥ 1, a multiple of {@code numHeads}
 * @param intermediateSize  MLP width, ≥ 1
 * @param numLayers         encoder layers in the checkpoint, ≥ 1
 * @param layersRun         encoder layers whose output is used (1..numLayers), from {@code vision_feature_layer}
 * @param numHeads          attention heads, ≥ 1
 * @param imageSize         input side in pixels, a multiple of {@code patchSize}
 * @param patchSize         patch side in pixels, ≥ 1
 * @param numChannels       input channels (3)
 * @param layerNormEps      LayerNorm epsilon, &gt; 0
 * @param hiddenAct         encoder MLP activation: {@code quick_gelu}, {@code gelu}, {@code gelu_pytorch_tanh}
 * @param classToken        CLIP class token and pre-LayerNorm ({@code pre_layrnorm}) present
 * @param dropClassToken    drop the class token from the features ({@code vision_feature_select_strategy=default})
 * @param postLayerNorm     apply {@code post_layernorm} to the features (Idefics3/SmolVLM)
 * @param connector         projector kind
 * @param projectorAct      LLaVA projector activation ({@code gelu} or {@code gelu_pytorch_tanh}); unused otherwise
 * @param projectorBias     LLaVA projector linears have biases
 * @param scaleFactor       pixel-shuffle factor (≥ 1; 1 when unused); for {@link Connector#AVG_POOL} the tokens per image
 * @param gridPinpoints     LLaVA-OneVision anyres tilings as [height, width] pixel pairs (multiples of image_size);
 *                          empty without anyres; unmodifiable
 * @param anyresMaxPatches  the N of {@code vision_aspect_ratio = anyres_max_N} (≥ 1 with anyres, 0 without)
 */
public record VitVisionConfig(String modelType, int hiddenSize, int intermediateSize, int numLayers, int layersRun,
                              int numHeads, int imageSize, int patchSize, int numChannels, double layerNormEps,
                              String hiddenAct, boolean classToken, boolean dropClassToken, boolean postLayerNorm,
                              Connector connector, String projectorAct, boolean projectorBias, int scaleFactor,
                              List<List<Integer>> gridPinpoints, int anyresMaxPatches)
        implements VisionConfig {
    /** Encoder activations implemented. */
    public static final List<String> ACTIVATIONS = List.of("quick_gelu", "gelu", "gelu_pytorch_tanh");

    /** How tower features reach the language model. */
    public enum Connector {
        /** LLaVA's 2-layer MLP projector. */
        LLAVA_MLP,
        /** Idefics3/SmolVLM pixel shuffle + linear. */
        PIXEL_SHUFFLE,
        /**
         * Gemma 3: the patch grid average-pooled to {@code scaleFactor} tokens per image (a square number whose side
         * divides the patches per side), then a (1 + w) RMSNorm and a bias-free projection ({@code x · W}).
         */
        AVG_POOL
    }

    public VitVisionConfig {
        Objects.requireNonNull(modelType, "modelType");
        Objects.requireNonNull(connector, "connector");
        check(hiddenSize >= 1 && numHeads >= 1 && hiddenSize % numHeads == 0,
                "hidden_size " + hiddenSize + " must be a positive multiple of num_attention_heads " + numHeads);
        check(intermediateSize >= 1, "intermediate_size must be >= 1, got " + intermediateSize);
        check(numLayers >= 1, "num_hidden_layers must be >= 1, got " + numLayers);
        check(layersRun >= 1 && layersRun <= numLayers, "vision_feature_layer selects " + layersRun
                + " encoder layers, expected 1.." + numLayers);
        check(patchSize >= 1 && imageSize >= patchSize && imageSize % patchSize == 0,
                "image_size " + imageSize + " must be a positive multiple of patch_size " + patchSize);
        check(numChannels >= 1, "num_channels must be >= 1, got " + numChannels);
        check(layerNormEps > 0, "layer_norm_eps must be > 0, got " + layerNormEps);
        check(ACTIVATIONS.contains(hiddenAct), "hidden_act \"" + hiddenAct + "\" is not supported, expected one of " + ACTIVATIONS);
        check(scaleFactor >= 1, "scale_factor must be >= 1, got " + scaleFactor);
        gridPinpoints = gridPinpoints.stream().map(List::copyOf).toList();
        for (List<Integer> pp : gridPinpoints) {
            check(pp.size() == 2 && pp.get(0) >= imageSize && pp.get(1) >= imageSize && pp.get(0) % imageSize == 0 && pp.get(1) % imageSize == 0,
                    "image_grid_pinpoints entry " + pp + " must be [height, width], multiples of image_size " + imageSize);
        }
        check(gridPinpoints.isEmpty() == (anyresMaxPatches == 0) && anyresMaxPatches >= 0,
                "anyres needs both image_grid_pinpoints and vision_aspect_ratio anyres_max_N (N >= 1), got "
                        + gridPinpoints + " and " + anyresMaxPatches);
        if (connector == Connector.AVG_POOL) {
            int side = imageSize / patchSize, t = (int) Math.round(Math.sqrt(scaleFactor));
            check(t * t == scaleFactor && side % t == 0, "mm_tokens_per_image " + scaleFactor + " must be a square whose side divides the "
                    + side + " patches per side");
        } else if (connector == Connector.PIXEL_SHUFFLE) {
            int side = imageSize / patchSize; // fields are not assigned yet inside the compact constructor
            check(side % scaleFactor == 0, "scale_factor " + scaleFactor + " must divide the " + side + " patches per side");
        } else {
            check(List.of("gelu", "gelu_pytorch_tanh").contains(projectorAct),
                    "projector_hidden_act \"" + projectorAct + "\" is not supported, expected gelu or gelu_pytorch_tanh");
        }
    }

    private static void check(boolean ok, String msg) {
        if (!ok) throw new IllegalArgumentException("invalid vision config: " + msg);
    }

    /** Whether images arrive as anyres tiles (LLaVA-OneVision): base image + tiles, unpadded, with image_newline. */
    public boolean anyres() {
        return anyresMaxPatches > 0;
    }

    /** Patches per image side. */
    public int patchesPerSide() {
        return imageSize / patchSize;
    }

    /** Patches per image (without a class token). */
    public int numPatches() {
        return patchesPerSide() * patchesPerSide();
    }

    /** Tower output positions per image (patches, plus the class token when kept). */
    public int towerTokens() {
        return numPatches() + (classToken && !dropClassToken ? 1 : 0);
    }

    /** Language-model tokens per image after the connector. */
    public int tokensPerImage() {
        return switch (connector) {
            case PIXEL_SHUFFLE -> numPatches() / (scaleFactor * scaleFactor);
            case AVG_POOL -> scaleFactor;
            case LLAVA_MLP -> towerTokens();
        };
    }

    /** Head dimension of the tower's attention. */
    public int headDim() {
        return hiddenSize / numHeads;
    }
}
