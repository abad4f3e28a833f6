package io.github.kvpolicy.runtime.model.config;

import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.runtime.json.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The architecture of a supported model family, read from a Hugging Face {@code config.json}. Immutable and
 * thread-safe.
 *
 * <p>Families ({@link #SUPPORTED_ARCHITECTURES}): text decoders {@code llama} (incl. Llama 3 rope scaling),
 * {@code mistral}, {@code qwen2}, {@code qwen3}; vision-language {@code llava} (the testbed's grid tower, or a CLIP /
 * SigLIP ViT with the 2-layer projector), {@code llava_onevision} (SigLIP, anyres tiles), {@code smolvlm}/{@code idefics3}
 * (SigLIP-style ViT, pixel-shuffle connector), {@code qwen2_vl}/{@code qwen2_5_vl} (their ViTs; a Qwen2 language model
 * with M-RoPE, {@link RopeScaling#mropeSection()}), {@code gemma3} (SigLIP + average-pool projector, a
 * {@code gemma3_text} language model described by {@link #gemma3()}). Layouts: a flat CausalLM config, VLM nesting with
 * {@code text_config} and {@code vision_config}, or Qwen2-VL's flat config with a {@code vision_config}.
 * Both config styles are read: transformers-5 {@code rope_parameters: {rope_type, rope_theta, ...}} and the older
 * {@code rope_theta} + {@code rope_scaling: {type|rope_type, factor, ...}}. Required keys of a flat config:
 * {@code hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size, rms_norm_eps}; in a VLM's
 * {@code text_config} missing size keys take transformers' config-class defaults, as transformers does (the weights'
 * shapes are checked against the result before anything is built). Defaults follow
 * transformers: {@code num_key_value_heads = num_attention_heads}, {@code head_dim = hidden_size /
 * num_attention_heads}, {@code rope_theta = 10000}, {@code tie_word_embeddings = false}, q/k/v bias iff
 * {@code attention_bias} is true or the model type is {@code qwen2}; {@code qwen3} adds per-head q/k RMSNorm.
 * Anything not implemented (another architecture, rope type, activation, {@code mlp_bias}, sliding-window layers)
 * fails here, before any work, with one line naming the key, the value and what is supported.
 *
 * <p>Sliding windows: Gemma 3's per-layer windows ({@code layer_types} or {@code sliding_window_pattern}) are
 * implemented ({@link Gemma3TextConfig#layerWindows()}). A Mistral {@code sliding_window} is recorded in {@link #slidingWindow()} and in the decoder's
 * metadata; windowed attention is not implemented, so the runtime refuses (one line, before any work) a request whose
 * prompt plus new tokens exceed the window, and runs shorter ones exactly.
 *
 * @param modelType             decoder model type ({@code llama}, {@code mistral}, {@code qwen2}, {@code qwen3}; Qwen2-VL's
 *                              {@code qwen2_vl_text} and {@code qwen2_5_vl_text} are read as {@code qwen2})
 * @param hiddenSize            H, ≥ 1
 * @param intermediateSize      MLP width, ≥ 1
 * @param numLayers             L, ≥ 1
 * @param numHeads              query heads Hq, a multiple of {@code numKvHeads}
 * @param numKvHeads            KV heads Hkv, ≥ 1
 * @param headDim               D, even, ≥ 2
 * @param rmsNormEps            RMSNorm epsilon, &gt; 0
 * @param ropeTheta             rotary base θ, &gt; 0
 * @param vocabSize             V, ≥ 1
 * @param maxPositionEmbeddings context length the model was trained for, ≥ 1
 * @param tieWordEmbeddings     lm_head shares the token embedding matrix
 * @param qkvBias               q/k/v projections have biases
 * @param bosTokenId            begin-of-sequence id, or -1 when absent
 * @param eosTokenIds           end-of-sequence ids (possibly empty), unmodifiable
 * @param imageTokenId          image placeholder token ({@code image_token_index}/{@code image_token_id}), or -1
 * @param vision                the vision tower, or {@code null} for a text-only model
 * @param rope                  rotary frequency scaling ({@link RopeScaling#NONE} for plain RoPE)
 * @param slidingWindow         the attention window in tokens when the config declares one, else 0
 * @param architecture          the top-level {@code model_type} (one of {@link #SUPPORTED_ARCHITECTURES})
 * @param gemma3                Gemma 3's extra language-model settings; non-null iff {@code modelType} is {@code gemma3}
 */
public record ModelConfig(String modelType, int hiddenSize, int intermediateSize, int numLayers, int numHeads,
                          int numKvHeads, int headDim, double rmsNormEps, double ropeTheta, int vocabSize,
                          int maxPositionEmbeddings, boolean tieWordEmbeddings, boolean qkvBias, int bosTokenId,
                          List<Integer> eosTokenIds, int imageTokenId, VisionConfig vision, RopeScaling rope,
                          int slidingWindow, String architecture, Gemma3TextConfig gemma3) {

    /**
     * transformers' {@code LlamaConfig}/{@code MistralConfig}/{@code Qwen2Config}/{@code Qwen3Config}/{@code Gemma3TextConfig} defaults for the
     * size keys, applied to a VLM's {@code text_config} (never to a flat config, whose keys are required).
     */
    static final Map<String, Map<String, Object>> TEXT_DEFAULTS = Map.of(
            "llama", Map.of("hidden_size", 4096L, "intermediate_size", 11008L, "num_hidden_layers", 32L, "num_attention_heads", 32L,
                    "vocab_size", 32000L, "rms_norm_eps", 1e-6, "max_position_embeddings", 2048L),
            "mistral", Map.of("hidden_size", 4096L, "intermediate_size", 14336L, "num_hidden_layers", 32L, "num_attention_heads", 32L,
                    "num_key_value_heads", 8L, "vocab_size", 32000L, "rms_norm_eps", 1e-6, "max_position_embeddings", 131072L),
            "qwen2", Map.of("hidden_size", 4096L, "intermediate_size", 22016L, "num_hidden_layers", 32L, "num_attention_heads", 32L,
                    "vocab_size", 151936L, "rms_norm_eps", 1e-6, "max_position_embeddings", 32768L),
            "qwen3", Map.of("hidden_size", 4096L, "intermediate_size", 22016L, "num_hidden_layers", 32L, "num_attention_heads", 32L,
                    "head_dim", 128L, "vocab_size", 151936L, "rms_norm_eps", 1e-6, "max_position_embeddings", 32768L),
            "gemma3", Map.ofEntries(Map.entry("hidden_size", 2304L), Map.entry("intermediate_size", 9216L), Map.entry("num_hidden_layers", 26L),
                    Map.entry("num_attention_heads", 8L), Map.entry("num_key_value_heads", 4L), Map.entry("head_dim", 256L),
                    Map.entry("vocab_size", 262208L), Map.entry("rms_norm_eps", 1e-6), Map.entry("max_position_embeddings", 131072L),
                    Map.entry("rope_theta", 1000000.0), Map.entry("tie_word_embeddings", true)));

    /** Top-level {@code model_type} values this builder implements. */
    public static final List<String> SUPPORTED_ARCHITECTURES = List.of("llama", "mistral", "qwen2", "qwen3", "llava", "llava_onevision", "smolvlm", "idefics3", "qwen2_vl", "qwen2_5_vl", "gemma3");
    /** Language-model {@code model_type} values this builder implements. */
    public static final List<String> SUPPORTED_TEXT_TYPES = List.of("llama", "mistral", "qwen2", "qwen3", "gemma3");

    /**
     * The testbed's grid vision tower + LLaVA projector (see {@code testbed/README.md}).
     *
     * @param hiddenSize Dv, ≥ 1
     * @param gridSize   G; the image has N = G·G cells, ≥ 1
     * @param numShapes  shape-embedding rows, ≥ 1
     * @param numColors  colour-embedding rows, ≥ 1
     * @param numGlyphs  glyph-embedding rows, ≥ 1
     */
    public record GridVisionConfig(int hiddenSize, int gridSize, int numShapes, int numColors, int numGlyphs) implements VisionConfig {
        public GridVisionConfig {
            if (hiddenSize < 1 || gridSize < 1 || numShapes < 1 || numColors < 1 || numGlyphs < 1) {
                throw new IllegalArgumentException("vision config values must be >= 1: " + hiddenSize + ", " + gridSize
                        + ", " + numShapes + ", " + numColors + ", " + numGlyphs);
            }
        }

        /** N = G·G cells per image. */
        public int numCells() {
            return gridSize * gridSize;
        }
    }

    /** Every family but Gemma 3: the canonical constructor without {@link #gemma3()}. */
    public ModelConfig(String modelType, int hiddenSize, int intermediateSize, int numLayers, int numHeads,
                       int numKvHeads, int headDim, double rmsNormEps, double ropeTheta, int vocabSize,
                       int maxPositionEmbeddings, boolean tieWordEmbeddings, boolean qkvBias, int bosTokenId,
                       List<Integer> eosTokenIds, int imageTokenId, VisionConfig vision, RopeScaling rope,
                       int slidingWindow, String architecture) {
        this(modelType, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, rmsNormEps, ropeTheta,
                vocabSize, maxPositionEmbeddings, tieWordEmbeddings, qkvBias, bosTokenId, eosTokenIds, imageTokenId, vision,
                rope, slidingWindow, architecture, null);
    }

    /** The pre-family constructor: plain RoPE, no window, architecture {@code llava} with a grid tower else the model type. */
    public ModelConfig(String modelType, int hiddenSize, int intermediateSize, int numLayers, int numHeads,
                       int numKvHeads, int headDim, double rmsNormEps, double ropeTheta, int vocabSize,
                       int maxPositionEmbeddings, boolean tieWordEmbeddings, boolean qkvBias, int bosTokenId,
                       List<Integer> eosTokenIds, int imageTokenId, GridVisionConfig vision) {
        this(modelType, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, rmsNormEps, ropeTheta,
                vocabSize, maxPositionEmbeddings, tieWordEmbeddings, qkvBias, bosTokenId, eosTokenIds, imageTokenId, vision,
                RopeScaling.NONE, 0, vision == null ? modelType : "llava");
    }

    public ModelConfig {
        Objects.requireNonNull(modelType, "modelType");
        Objects.requireNonNull(rope, "rope");
        Objects.requireNonNull(architecture, "architecture");
        eosTokenIds = List.copyOf(eosTokenIds);
        check(SUPPORTED_TEXT_TYPES.contains(modelType), "model_type \"" + modelType + "\" is not supported, expected one of " + SUPPORTED_TEXT_TYPES);
        check(SUPPORTED_ARCHITECTURES.contains(architecture), "architecture \"" + architecture + "\" is not supported, expected one of " + SUPPORTED_ARCHITECTURES);
        check(hiddenSize >= 1, "hidden_size must be >= 1, got " + hiddenSize);
        check(intermediateSize >= 1, "intermediate_size must be >= 1, got " + intermediateSize);
        check(numLayers >= 1, "num_hidden_layers must be >= 1, got " + numLayers);
        check(numKvHeads >= 1, "num_key_value_heads must be >= 1, got " + numKvHeads);
        check(numHeads >= 1 && numHeads % numKvHeads == 0,
                "num_attention_heads (" + numHeads + ") must be a positive multiple of num_key_value_heads (" + numKvHeads + ")");
        check(headDim >= 2 && headDim % 2 == 0, "head_dim must be even and >= 2 (rotary halves), got " + headDim);
        check(rmsNormEps > 0 && Double.isFinite(rmsNormEps), "rms_norm_eps must be > 0, got " + rmsNormEps);
        check(ropeTheta > 0 && Double.isFinite(ropeTheta), "rope_theta must be > 0, got " + ropeTheta);
        check(vocabSize >= 1, "vocab_size must be >= 1, got " + vocabSize);
        check(maxPositionEmbeddings >= 1, "max_position_embeddings must be >= 1, got " + maxPositionEmbeddings);
        check(slidingWindow >= 0, "sliding_window must be >= 0, got " + slidingWindow);
        check((gemma3 != null) == modelType.equals("gemma3"), "gemma3 settings are given iff model_type is gemma3 (" + modelType + ")");
        check(gemma3 == null || gemma3.layerWindows().size() == numLayers, "layer_types must name " + numLayers + " layers");
    }

    private static void check(boolean ok, String msg) {
        if (!ok) throw new IllegalArgumentException("invalid model config: " + msg);
    }

    /** The attention shape for the policy SPI. */
    public ModelShape shape() {
        return new ModelShape(numLayers, numHeads, numKvHeads, headDim);
    }

    /** Qwen3-style per-head RMSNorm of queries and keys before the rotary embedding. */
    public boolean qkNorm() {
        return modelType.equals("qwen3");
    }

    /** The grid vision tower, if this model has one (empty for text models and ViT towers). */
    public Optional<GridVisionConfig> visionConfig() {
        return vision instanceof GridVisionConfig g ? Optional.of(g) : Optional.empty();
    }

    /** The Qwen2-VL vision tower, if this model has one. */
    public Optional<Qwen2VlVisionConfig> qwen2VlConfig() {
        return vision instanceof Qwen2VlVisionConfig q ? Optional.of(q) : Optional.empty();
    }

    /** The Hugging Face ViT tower, if this model has one. */
    public Optional<VitVisionConfig> vitConfig() {
        return vision instanceof VitVisionConfig v ? Optional.of(v) : Optional.empty();
    }

    /** Number of decoder parameters (embeddings, layers, final norm, lm_head unless tied). */
    public long decoderParamCount() {
        long h = hiddenSize;
        long q = (long) numHeads * headDim;
        long kv = (long) numKvHeads * headDim;
        long perLayer = 2 * h + h * q + 2 * h * kv + q * h + 3 * h * intermediateSize;
        if (qkvBias) perLayer += q + 2 * kv;
        if (qkNorm()) perLayer += 2L * headDim;
        if (gemma3 != null) perLayer += 2 * h + 2L * headDim; // pre/post feed-forward norms, q/k norms
        long embed = (long) vocabSize * h;
        return embed + numLayers * perLayer + h + (tieWordEmbeddings ? 0 : embed);
    }

    /** Reads and validates {@code config.json}. */
    public static ModelConfig read(Path configJson) {
        String text;
        try {
            text = Files.readString(configJson);
        } catch (IOException e) {
            throw new UncheckedIOException(configJson + ": cannot read model config", e);
        }
        return parse(Json.parseObject(text, configJson.toString()), configJson.toString());
    }

    /** Validates an already-parsed config object; {@code source} names it in errors. */
    @SuppressWarnings("unchecked")
    public static ModelConfig parse(Map<String, Object> root, String source) {
        Map<String, Object> text = root;
        String where = source;
        Reader top = new Reader(root, source);
        boolean nested = root.containsKey("text_config");
        if (nested) {
            Object tc = root.get("text_config");
            if (!(tc instanceof Map)) {
                throw new IllegalArgumentException(source + ": \"text_config\" must be an object, found " + Json.typeName(tc));
            }
            text = (Map<String, Object>) tc;
            where = source + " (text_config)";
        }
        Reader r = new Reader(text, where);
        String type = r.str("model_type", "llama");
        String arch = nested ? top.str("model_type", "llava") : type;
        boolean qwen2vl = arch.equals("qwen2_vl") || arch.equals("qwen2_5_vl");
        if (qwen2vl) type = "qwen2"; // Qwen2-VL's language model is Qwen2 (q/k/v bias) with M-RoPE
        boolean gemma = arch.equals("gemma3") || type.equals("gemma3_text");
        if (gemma) {
            if (!arch.equals("gemma3") || !type.equals("gemma3_text")) {
                throw new IllegalArgumentException(source + ": Gemma 3 needs model_type \"gemma3\" with a text_config of model_type "
                        + "\"gemma3_text\", found \"" + arch + "\" and \"" + type + "\"");
            }
            type = "gemma3";
        }
        if (nested && TEXT_DEFAULTS.containsKey(type)) {
            // VLM configs on the hub often leave the language model's sizes to transformers' config defaults
            // (llava-hf/llava-1.5-7b-hf names only max_position_embeddings, rms_norm_eps and vocab_size)
            Map<String, Object> merged = new LinkedHashMap<>(TEXT_DEFAULTS.get(type));
            text.forEach((k, val) -> {
                if (val != null) merged.put(k, val);
            });
            text = merged;
            r = new Reader(text, where);
        }
        if (!SUPPORTED_ARCHITECTURES.contains(arch) || (!nested && !qwen2vl && !SUPPORTED_TEXT_TYPES.contains(arch))) {
            throw new IllegalArgumentException(source + ": \"model_type\" is \"" + arch + "\", which is not supported; supported: "
                    + SUPPORTED_ARCHITECTURES);
        }
        if (!SUPPORTED_TEXT_TYPES.contains(type)) {
            throw new IllegalArgumentException(where + ": \"model_type\" is \"" + type + "\", expected one of " + SUPPORTED_TEXT_TYPES);
        }
        double[] theta = {r.optDouble("rope_theta", 10000.0)};
        Gemma3TextConfig gemma3 = null;
        RopeScaling rope;
        if (gemma) {
            double[] local = {r.optDouble("rope_local_base_freq", 10000.0)};
            rope = gemmaRope(r, where, theta, local);
            gemma3 = gemmaText(r, top, text, where, local[0]);
        } else {
            rope = parseRope(r, where, theta, qwen2vl);
        }
        if (qwen2vl && !rope.isMrope()) {
            throw new IllegalArgumentException(where + ": " + arch + " needs \"mrope_section\" in rope_parameters or rope_scaling");
        }
        String act = gemma ? "silu" : r.str("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new IllegalArgumentException(where + ": \"hidden_act\" is \"" + act + "\", expected \"silu\" (SwiGLU)");
        }
        if (r.bool("mlp_bias", false)) {
            throw new IllegalArgumentException(where + ": \"mlp_bias\": true is not supported, expected false");
        }
        if (r.bool("use_sliding_window", false)) {
            throw new IllegalArgumentException(where + ": \"use_sliding_window\": true is not supported (sliding-window attention), expected false");
        }
        if (!gemma && text.get("layer_types") instanceof List<?> lt) {
            for (Object o : lt) {
                if (!"full_attention".equals(o)) {
                    throw new IllegalArgumentException(where + ": \"layer_types\" holds \"" + o + "\"; only \"full_attention\" layers are supported");
                }
            }
        }
        int maxPos = r.optInt("max_position_embeddings", 2048);
        int window = 0;
        if (type.equals("mistral") && text.get("sliding_window") != null) {
            window = r.optInt("sliding_window", 0);
            if (window < 1) throw new IllegalArgumentException(where + ": \"sliding_window\" must be >= 1 or null, got " + window);
        }
        int hidden = r.reqInt("hidden_size");
        int heads = r.reqInt("num_attention_heads");
        int kvHeads = r.optInt("num_key_value_heads", heads);
        if (heads < 1 || hidden % Math.max(heads, 1) != 0 && text.get("head_dim") == null) {
            throw new IllegalArgumentException(where + ": hidden_size " + hidden + " is not divisible by num_attention_heads "
                    + heads + " and \"head_dim\" is absent");
        }
        int headDim = r.optInt("head_dim", heads >= 1 ? hidden / heads : 0);
        boolean tie = text.containsKey("tie_word_embeddings") ? r.bool("tie_word_embeddings", false)
                : top.bool("tie_word_embeddings", false);
        boolean bias = r.bool("attention_bias", type.equals("qwen2"));
        int bos = r.optIntOrNull("bos_token_id", top.optIntOrNull("bos_token_id", -1));
        List<Integer> eos = r.intOrList("eos_token_id");
        if (eos == null) eos = top.intOrList("eos_token_id");
        if (eos == null) eos = List.of();
        int image = top.optIntOrNull("image_token_index", top.optIntOrNull("image_token_id", -1));

        VisionConfig vision = null;
        Object vc = root.get("vision_config");
        if (vc != null) {
            if (!(vc instanceof Map)) {
                throw new IllegalArgumentException(source + ": \"vision_config\" must be an object, found " + Json.typeName(vc));
            }
            vision = parseVision(top, new Reader((Map<String, Object>) vc, source + " (vision_config)"), arch, source);
        } else if (nested || qwen2vl) {
            throw new IllegalArgumentException(source + ": model_type \"" + arch + "\" needs a \"vision_config\"");
        }
        try {
            return new ModelConfig(type, hidden, r.reqInt("intermediate_size"), r.reqInt("num_hidden_layers"), heads,
                    kvHeads, headDim, r.reqDouble("rms_norm_eps"), theta[0], r.reqInt("vocab_size"),
                    maxPos, tie, bias, bos, eos, image, vision, rope, window, arch, gemma3);
        } catch (IllegalArgumentException e) {
            if (e.getMessage().startsWith("invalid model config")) {
                throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
            }
            throw e;
        }
    }

    /**
     * Gemma 3's rotary settings: transformers 5 {@code rope_parameters: {full_attention: {...}, sliding_attention: {...}}}
     * or the older {@code rope_theta} + {@code rope_scaling} (global layers) and {@code rope_local_base_freq} (sliding
     * layers). Sets theta[0] (global) and local[0]; returns the global layers' scaling (sliding layers: plain RoPE).
     */
    @SuppressWarnings("unchecked")
    private static RopeScaling gemmaRope(Reader r, String where, double[] theta, double[] local) {
        Object params = r.m().get("rope_parameters");
        if (params instanceof Map<?, ?> pm && (pm.containsKey("full_attention") || pm.containsKey("sliding_attention"))) {
            RopeScaling global = RopeScaling.NONE;
            if (pm.get("full_attention") instanceof Map<?, ?> full) {
                Map<String, Object> wrapped = new LinkedHashMap<>();
                wrapped.put("rope_parameters", full);
                global = parseRope(new Reader(wrapped, where + " (rope_parameters.full_attention)"), where, theta, false);
            }
            if (pm.get("sliding_attention") instanceof Map<?, ?> sl) {
                Map<String, Object> wrapped = new LinkedHashMap<>();
                wrapped.put("rope_parameters", sl);
                if (!parseRope(new Reader(wrapped, where + " (rope_parameters.sliding_attention)"), where, local, false).isDefault()) {
                    throw new IllegalArgumentException(where + ": rope_parameters.sliding_attention has a rope type other than \"default\"; "
                            + "sliding layers support plain RoPE only");
                }
            }
            return global;
        }
        return parseRope(r, where, theta, false);
    }

    /** Gemma 3's layer windows, attention scale and softcaps; refuses what is not implemented. */
    private static Gemma3TextConfig gemmaText(Reader r, Reader top, Map<String, Object> text, String where, double localTheta) {
        String act = r.str("hidden_activation", r.str("hidden_act", "gelu_pytorch_tanh"));
        if (!act.equals("gelu_pytorch_tanh")) {
            throw new IllegalArgumentException(where + ": \"hidden_activation\" is \"" + act + "\", expected \"gelu_pytorch_tanh\"");
        }
        if (text.get("attn_logit_softcapping") != null) {
            throw new IllegalArgumentException(where + ": \"attn_logit_softcapping\" is not supported, expected null");
        }
        if (r.bool("use_bidirectional_attention", false)) {
            throw new IllegalArgumentException(where + ": \"use_bidirectional_attention\": true (EmbeddingGemma) is not supported, expected false");
        }
        int layers = r.reqInt("num_hidden_layers");
        int window = r.optInt("sliding_window", 4096);
        List<Integer> windows = new ArrayList<>();
        if (text.get("layer_types") instanceof List<?> lt) {
            for (Object o : lt) {
                if ("full_attention".equals(o)) windows.add(0);
                else if ("sliding_attention".equals(o)) windows.add(window);
                else throw new IllegalArgumentException(where + ": \"layer_types\" holds \"" + o + "\", expected full_attention or sliding_attention");
            }
            if (windows.size() != layers) {
                throw new IllegalArgumentException(where + ": \"layer_types\" names " + windows.size() + " layers, num_hidden_layers is " + layers);
            }
        } else {
            int pattern = r.optInt("sliding_window_pattern", r.optInt("_sliding_window_pattern", 6));
            for (int i = 0; i < layers; i++) windows.add(pattern > 0 && (i + 1) % pattern == 0 ? 0 : window);
        }
        if (window < 1 && windows.stream().anyMatch(x -> x != 0)) {
            throw new IllegalArgumentException(where + ": \"sliding_window\" must be >= 1, got " + window);
        }
        double softcap = text.get("final_logit_softcapping") == null ? 0 : r.reqDouble("final_logit_softcapping");
        try {
            return new Gemma3TextConfig(windows, localTheta, r.optDouble("query_pre_attn_scalar", 256), softcap,
                    top.optInt("mm_tokens_per_image", 256));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }

    /** rope_parameters (transformers 5) or rope_theta + rope_scaling (older); sets theta[0]. */
    @SuppressWarnings("unchecked")
    private static RopeScaling parseRope(Reader r, String where, double[] theta, boolean mropeAllowed) {
        Object params = r.m().get("rope_parameters");
        String key = "rope_parameters";
        if (params == null) {
            params = r.m().get("rope_scaling");
            key = "rope_scaling";
        }
        if (params == null) return RopeScaling.NONE;
        if (!(params instanceof Map)) {
            throw new IllegalArgumentException(where + ": \"" + key + "\" must be an object, found " + Json.typeName(params));
        }
        Reader p = new Reader((Map<String, Object>) params, where + " (" + key + ")");
        if (p.m().get("rope_theta") != null) theta[0] = p.reqDouble("rope_theta");
        String type = p.str("rope_type", p.str("type", "default"));
        if (p.m().containsKey("mrope_section") || type.equals("mrope")) {
            if (!mropeAllowed) {
                throw new IllegalArgumentException(where + ": \"" + key + "\" is multimodal RoPE (mrope_section), which is supported for "
                        + "qwen2_vl and qwen2_5_vl only; supported rope types: " + RopeScaling.SUPPORTED);
            }
            if (!(p.m().get("mrope_section") instanceof List<?> ms)) {
                throw new IllegalArgumentException(where + " (" + key + "): missing the list \"mrope_section\"");
            }
            List<Integer> sections = new ArrayList<>();
            for (Object o : ms) sections.add(p.toInt("mrope_section", o));
            if (!type.equals("default") && !type.equals("mrope")) {
                throw new IllegalArgumentException(where + ": \"" + key + "\" combines mrope_section with rope type \"" + type + "\"; only plain M-RoPE is supported");
            }
            try {
                return new RopeScaling("default", 1.0, 0, 0, 0, sections);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + " (" + key + "): " + e.getMessage(), e);
            }
        }
        if (!RopeScaling.SUPPORTED.contains(type)) {
            throw new IllegalArgumentException(where + ": \"" + key + "\" has rope type \"" + type + "\", which is not supported; "
                    + "supported rope types: " + RopeScaling.SUPPORTED);
        }
        try {
            return switch (type) {
                case "linear" -> new RopeScaling(type, p.reqDouble("factor"), 0, 0, 0);
                case "llama3" -> new RopeScaling(type, p.reqDouble("factor"), p.reqDouble("low_freq_factor"),
                        p.reqDouble("high_freq_factor"), p.reqInt("original_max_position_embeddings"));
                default -> RopeScaling.NONE;
            };
        } catch (IllegalArgumentException e) {
            if (e.getMessage().startsWith(where)) throw e;
            throw new IllegalArgumentException(where + " (" + key + "): " + e.getMessage(), e);
        }
    }

    private static VisionConfig parseVision(Reader top, Reader v, String arch, String source) {
        String vType = v.str("model_type", "?");
        if (arch.equals("qwen2_vl") || arch.equals("qwen2_5_vl")) {
            try {
                if (arch.equals("qwen2_5_vl")) {
                    List<Integer> full = v.intOrList("fullatt_block_indexes");
                    return new Qwen2VlVisionConfig(v.optInt("hidden_size", 1280), v.optInt("out_hidden_size", 3584), v.optInt("depth", 32),
                            v.optInt("num_heads", 16), v.optInt("intermediate_size", 3420), v.optInt("patch_size", 14),
                            v.optInt("spatial_merge_size", 2), v.optInt("temporal_patch_size", 2), v.optInt("in_channels", v.optInt("in_chans", 3)),
                            v.str("hidden_act", "silu"), true, v.optInt("window_size", 112), full == null ? List.of(7, 15, 23, 31) : full);
                }
                int embed = v.optInt("embed_dim", 1280);
                return new Qwen2VlVisionConfig(embed, v.optInt("hidden_size", 3584), v.optInt("depth", 32),
                        v.optInt("num_heads", 16), embed * v.optInt("mlp_ratio", 4), v.optInt("patch_size", 14), v.optInt("spatial_merge_size", 2),
                        v.optInt("temporal_patch_size", 2), v.optInt("in_channels", v.optInt("in_chans", 3)), v.str("hidden_act", "quick_gelu"),
                        false, 0, List.of());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(v.where() + ": " + e.getMessage(), e);
            }
        }
        if (v.m().containsKey("grid_size")) {
            if (!arch.equals("llava")) {
                throw new IllegalArgumentException(v.where() + ": the grid tower goes with model_type \"llava\", found \"" + arch + "\"");
            }
            return new GridVisionConfig(v.reqInt("hidden_size"), v.reqInt("grid_size"), v.reqInt("num_shapes"),
                    v.reqInt("num_colors"), v.reqInt("num_glyphs"));
        }
        boolean clip = vType.equals("clip_vision_model");
        boolean siglip = vType.equals("siglip_vision_model");
        boolean idefics = vType.equals("smolvlm_vision") || vType.equals("idefics3_vision");
        List<String> known = List.of("clip_vision_model", "siglip_vision_model", "smolvlm_vision", "idefics3_vision");
        if (!(clip || siglip || idefics)) {
            throw new IllegalArgumentException(v.where() + ": vision model_type \"" + vType + "\" is not supported, expected one of "
                    + known + " (or the grid tower, with grid_size)");
        }
        if (arch.equals("gemma3")) {
            if (!siglip) {
                throw new IllegalArgumentException(v.where() + ": vision model_type \"" + vType + "\" is not supported with model_type \"gemma3\", expected siglip_vision_model");
            }
            int layers = v.optInt("num_hidden_layers", 12);
            try {
                // SigLIP's last hidden state (post_layernorm) -> average pool to mm_tokens_per_image -> (1 + w) RMSNorm -> projection
                return new VitVisionConfig(vType, v.optInt("hidden_size", 768), v.optInt("intermediate_size", 3072), layers, layers,
                        v.optInt("num_attention_heads", 12), v.optInt("image_size", 224), v.optInt("patch_size", 16), v.optInt("num_channels", 3),
                        v.optDouble("layer_norm_eps", 1e-6), v.str("hidden_act", "gelu_pytorch_tanh"), false, false, true,
                        VitVisionConfig.Connector.AVG_POOL, "gelu", false, top.optInt("mm_tokens_per_image", 256), List.of(), 0);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(v.where() + ": " + e.getMessage(), e);
            }
        }
        boolean shuffle = arch.equals("smolvlm") || arch.equals("idefics3");
        boolean onevision = arch.equals("llava_onevision");
        boolean llava = arch.equals("llava") || onevision;
        if (shuffle != idefics || !(llava || shuffle)) {
            throw new IllegalArgumentException(v.where() + ": vision model_type \"" + vType + "\" does not go with model_type \"" + arch
                    + "\" (llava and llava_onevision take clip_vision_model or siglip_vision_model; smolvlm/idefics3 take smolvlm_vision/idefics3_vision)");
        }
        int layers = v.optInt("num_hidden_layers", 12);
        int layersRun = layers;
        boolean dropCls = false;
        List<List<Integer>> pinpoints = List.of();
        int anyresMax = 0;
        if (onevision) {
            String aspect = top.str("vision_aspect_ratio", "anyres_max_9");
            Object pp = top.m().get("image_grid_pinpoints");
            if (!aspect.startsWith("anyres_max_") || !(pp instanceof List<?> ppl) || ppl.isEmpty()) {
                throw new IllegalArgumentException(source + ": llava_onevision needs \"vision_aspect_ratio\": \"anyres_max_N\" and a non-empty "
                        + "\"image_grid_pinpoints\", found " + aspect + " and " + pp);
            }
            try {
                anyresMax = Integer.parseInt(aspect.substring("anyres_max_".length()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(source + ": \"vision_aspect_ratio\" is \"" + aspect + "\", expected anyres_max_N with an integer N");
            }
            List<List<Integer>> pins = new ArrayList<>();
            for (Object o : ppl) {
                List<Integer> pair = new ArrayList<>();
                if (o instanceof List<?> l) for (Object x : l) pair.add(top.toInt("image_grid_pinpoints", x));
                pins.add(pair);
            }
            pinpoints = pins;
        }
        if (llava) {
            Object fl = top.m().get("vision_feature_layer");
            if (fl instanceof List<?>) {
                throw new IllegalArgumentException(source + ": \"vision_feature_layer\" is a list (several layers concatenated), "
                        + "which is not supported; expected one integer");
            }
            int f = top.optInt("vision_feature_layer", -2);
            // hidden_states has layers + 1 entries (index 0 = the embeddings)
            layersRun = f < 0 ? layers + 1 + f : f;
            if (layersRun < 1 || layersRun > layers) {
                throw new IllegalArgumentException(source + ": \"vision_feature_layer\" " + f + " selects " + layersRun
                        + " encoder layers, expected a value selecting 1.." + layers);
            }
            String strategy = top.str("vision_feature_select_strategy", "default");
            if (!strategy.equals("default") && !strategy.equals("full")) {
                throw new IllegalArgumentException(source + ": \"vision_feature_select_strategy\" is \"" + strategy + "\", expected default or full");
            }
            dropCls = clip && strategy.equals("default");
        }
        int defHidden = idefics ? 1152 : 768;
        int defPatch = clip || idefics ? 32 : 16;
        try {
            return new VitVisionConfig(vType, v.optInt("hidden_size", defHidden), v.optInt("intermediate_size", 3072), layers,
                    layersRun, v.optInt("num_attention_heads", idefics ? 16 : 12), v.optInt("image_size", 224),
                    v.optInt("patch_size", defPatch), v.optInt("num_channels", 3), v.optDouble("layer_norm_eps", clip ? 1e-5 : 1e-6),
                    v.str("hidden_act", clip ? "quick_gelu" : "gelu_pytorch_tanh"), clip, dropCls, shuffle,
                    shuffle ? VitVisionConfig.Connector.PIXEL_SHUFFLE : VitVisionConfig.Connector.LLAVA_MLP,
                    top.str("projector_hidden_act", "gelu"), top.bool("multimodal_projector_bias", true),
                    shuffle ? top.optInt("scale_factor", 2) : 1, pinpoints, anyresMax);
        } catch (IllegalArgumentException e) {
            if (e.getMessage().startsWith("invalid vision config")) {
                throw new IllegalArgumentException(v.where() + ": " + e.getMessage(), e);
            }
            throw e;
        }
    }

    /**
     * This config as an HF-style JSON object (flat, or LLaVA-nested with text_config/vision_config when
     * there is a grid tower) that {@link #parse} reads back to an equal config.
     *
     * @throws UnsupportedOperationException for ViT towers (only random models, which have none, are written)
     */
    public Map<String, Object> toJson() {
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("model_type", modelType);
        t.put("architectures", List.of(switch (modelType) {
            case "qwen2" -> "Qwen2ForCausalLM";
            case "qwen3" -> "Qwen3ForCausalLM";
            case "mistral" -> "MistralForCausalLM";
            default -> "LlamaForCausalLM";
        }));
        t.put("hidden_size", hiddenSize);
        t.put("intermediate_size", intermediateSize);
        t.put("num_hidden_layers", numLayers);
        t.put("num_attention_heads", numHeads);
        t.put("num_key_value_heads", numKvHeads);
        t.put("head_dim", headDim);
        t.put("hidden_act", "silu");
        t.put("rms_norm_eps", rmsNormEps);
        t.put("rope_theta", ropeTheta);
        if (!rope.isDefault()) {
            Map<String, Object> rs = new LinkedHashMap<>();
            rs.put("rope_type", rope.type());
            rs.put("factor", rope.factor());
            if (rope.type().equals("llama3")) {
                rs.put("low_freq_factor", rope.lowFreqFactor());
                rs.put("high_freq_factor", rope.highFreqFactor());
                rs.put("original_max_position_embeddings", rope.originalMaxPositionEmbeddings());
            }
            t.put("rope_scaling", rs);
        }
        if (slidingWindow > 0) t.put("sliding_window", slidingWindow);
        t.put("vocab_size", vocabSize);
        t.put("max_position_embeddings", maxPositionEmbeddings);
        t.put("tie_word_embeddings", tieWordEmbeddings);
        t.put("attention_bias", qkvBias);
        if (bosTokenId >= 0) t.put("bos_token_id", bosTokenId);
        if (!eosTokenIds.isEmpty()) t.put("eos_token_id", eosTokenIds.size() == 1 ? eosTokenIds.get(0) : new ArrayList<>(eosTokenIds));
        if (vision == null) {
            return t;
        }
        if (!(vision instanceof GridVisionConfig grid)) {
            throw new UnsupportedOperationException("toJson writes text models and the grid tower only, not " + vision);
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model_type", "llava");
        root.put("architectures", List.of("LlavaForConditionalGeneration"));
        if (imageTokenId >= 0) root.put("image_token_index", imageTokenId);
        root.put("projector_hidden_act", "gelu");
        root.put("text_config", t);
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("model_type", "gridvqa_cell_tower");
        v.put("hidden_size", grid.hiddenSize());
        v.put("grid_size", grid.gridSize());
        v.put("num_patches", grid.numCells());
        v.put("num_shapes", grid.numShapes());
        v.put("num_colors", grid.numColors());
        v.put("num_glyphs", grid.numGlyphs());
        root.put("vision_config", v);
        return root;
    }

    /** Typed access to one JSON object with errors naming key and source. */
    private record Reader(Map<String, Object> m, String where) {
        Object req(String key) {
            if (!m.containsKey(key) || m.get(key) == null) {
                throw new IllegalArgumentException(where + ": missing required key \"" + key + "\"");
            }
            return m.get(key);
        }

        int toInt(String key, Object v) {
            if (!(v instanceof Long l) || l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(where + ": \"" + key + "\" must be an integer, found "
                        + Json.typeName(v) + " " + v);
            }
            return (int) (long) l;
        }

        int reqInt(String key) {
            return toInt(key, req(key));
        }

        int optInt(String key, int def) {
            Object v = m.get(key);
            return v == null ? def : toInt(key, v);
        }

        int optIntOrNull(String key, int def) {
            return optInt(key, def);
        }

        double toDouble(String key, Object v) {
            if (!(v instanceof Number n)) {
                throw new IllegalArgumentException(where + ": \"" + key + "\" must be a number, found " + Json.typeName(v));
            }
            return n.doubleValue();
        }

        double reqDouble(String key) {
            return toDouble(key, req(key));
        }

        double optDouble(String key, double def) {
            Object v = m.get(key);
            return v == null ? def : toDouble(key, v);
        }

        boolean bool(String key, boolean def) {
            Object v = m.get(key);
            if (v == null) return def;
            if (!(v instanceof Boolean b)) {
                throw new IllegalArgumentException(where + ": \"" + key + "\" must be true or false, found " + Json.typeName(v));
            }
            return b;
        }

        String str(String key, String def) {
            Object v = m.get(key);
            if (v == null) return def;
            if (!(v instanceof String s)) {
                throw new IllegalArgumentException(where + ": \"" + key + "\" must be a string, found " + Json.typeName(v));
            }
            return s;
        }

        List<Integer> intOrList(String key) {
            Object v = m.get(key);
            if (v == null) return null;
            if (v instanceof List<?> l) {
                List<Integer> out = new ArrayList<>();
                for (Object o : l) out.add(toInt(key, o));
                return out;
            }
            return List.of(toInt(key, v));
        }
    }
}
