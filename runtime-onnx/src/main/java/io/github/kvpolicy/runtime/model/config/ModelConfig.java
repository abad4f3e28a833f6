package io.github.kvpolicy.runtime.model.config;

import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.runtime.model.json.Json;

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
 * The architecture of a Llama/Qwen2-style decoder (optionally with the testbed's grid vision tower), read
 * from a Hugging Face style {@code config.json}. Immutable and thread-safe.
 *
 * <p>Accepted layouts: a flat Llama/Qwen2/Mistral config, or LLaVA-style nesting with {@code text_config}
 * (decoder keys) and {@code vision_config} (the grid tower, identified by {@code grid_size}). Required
 * keys: {@code hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size,
 * rms_norm_eps}. Defaults follow transformers: {@code num_key_value_heads = num_attention_heads},
 * {@code head_dim = hidden_size / num_attention_heads}, {@code rope_theta = 10000},
 * {@code tie_word_embeddings = false}, q/k/v bias iff {@code attention_bias} is true or the model type
 * is {@code qwen2}. Settings the builder does not implement (rope_scaling, a non-SiLU activation,
 * mlp_bias, sliding windows) are rejected with an error naming the key and the file.
 *
 * @param modelType             decoder model type ({@code llama}, {@code qwen2}, {@code mistral})
 * @param hiddenSize            H, ≥ 1
 * @param intermediateSize      MLP width, ≥ 1
 * @param numLayers             L, ≥ 1
 * @param numHeads              query heads Hq, a multiple of {@code numKvHeads}
 * @param numKvHeads            KV heads Hkv, ≥ 1
 * @param headDim               D, even, ≥ 2
 * @param rmsNormEps            RMSNorm epsilon, &gt; 0
 * @param ropeTheta             rotary base θ, &gt; 0
 * @param vocabSize             V, ≥ 1
 * @param maxPositionEmbeddings context length the model was trained for (informational), ≥ 1
 * @param tieWordEmbeddings     lm_head shares {@code model.embed_tokens.weight}
 * @param qkvBias               q/k/v projections have biases
 * @param bosTokenId            begin-of-sequence id, or -1 when absent
 * @param eosTokenIds           end-of-sequence ids (possibly empty), unmodifiable
 * @param imageTokenId          LLaVA {@code image_token_index}, or -1 when absent
 * @param vision                the grid vision tower, or {@code null} for a text-only model
 */
public record ModelConfig(String modelType, int hiddenSize, int intermediateSize, int numLayers, int numHeads,
                          int numKvHeads, int headDim, double rmsNormEps, double ropeTheta, int vocabSize,
                          int maxPositionEmbeddings, boolean tieWordEmbeddings, boolean qkvBias, int bosTokenId,
                          List<Integer> eosTokenIds, int imageTokenId, GridVisionConfig vision) {

    /**
     * The testbed's grid vision tower + LLaVA projector (see {@code testbed/README.md}).
     *
     * @param hiddenSize Dv, ≥ 1
     * @param gridSize   G; the image has N = G·G cells, ≥ 1
     * @param numShapes  shape-embedding rows, ≥ 1
     * @param numColors  colour-embedding rows, ≥ 1
     * @param numGlyphs  glyph-embedding rows, ≥ 1
     */
    public record GridVisionConfig(int hiddenSize, int gridSize, int numShapes, int numColors, int numGlyphs) {
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

    public ModelConfig {
        Objects.requireNonNull(modelType, "modelType");
        eosTokenIds = List.copyOf(eosTokenIds);
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
    }

    private static void check(boolean ok, String msg) {
        if (!ok) throw new IllegalArgumentException("invalid model config: " + msg);
    }

    /** The attention shape for the policy SPI. */
    public ModelShape shape() {
        return new ModelShape(numLayers, numHeads, numKvHeads, headDim);
    }

    /** Vision tower, if any. */
    public Optional<GridVisionConfig> visionConfig() {
        return Optional.ofNullable(vision);
    }

    /** Number of decoder parameters (embeddings, layers, final norm, lm_head unless tied). */
    public long decoderParamCount() {
        long h = hiddenSize;
        long q = (long) numHeads * headDim;
        long kv = (long) numKvHeads * headDim;
        long perLayer = 2 * h + h * q + 2 * h * kv + q * h + 3 * h * intermediateSize;
        if (qkvBias) perLayer += q + 2 * kv;
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
        if (root.containsKey("text_config")) {
            Object tc = root.get("text_config");
            if (!(tc instanceof Map)) {
                throw new IllegalArgumentException(source + ": \"text_config\" must be an object, found " + Json.typeName(tc));
            }
            text = (Map<String, Object>) tc;
            where = source + " (text_config)";
        }
        Reader r = new Reader(text, where);
        String type = r.str("model_type", "llama");
        if (!type.equals("llama") && !type.equals("qwen2") && !type.equals("mistral")) {
            throw new IllegalArgumentException(where + ": \"model_type\" is \"" + type + "\", expected llama, qwen2 or mistral");
        }
        if (text.get("rope_scaling") != null) {
            throw new IllegalArgumentException(where + ": \"rope_scaling\" " + text.get("rope_scaling")
                    + " is not supported, expected null or absent (plain RoPE)");
        }
        String act = r.str("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new IllegalArgumentException(where + ": \"hidden_act\" is \"" + act + "\", expected \"silu\" (SwiGLU)");
        }
        if (r.bool("mlp_bias", false)) {
            throw new IllegalArgumentException(where + ": \"mlp_bias\": true is not supported, expected false");
        }
        if (r.bool("use_sliding_window", false)) {
            throw new IllegalArgumentException(where + ": \"use_sliding_window\": true is not supported, expected false");
        }
        if (type.equals("mistral") && text.get("sliding_window") != null) {
            throw new IllegalArgumentException(where + ": \"sliding_window\" is not supported, expected null");
        }
        int hidden = r.reqInt("hidden_size");
        int heads = r.reqInt("num_attention_heads");
        int kvHeads = r.optInt("num_key_value_heads", heads);
        if (heads < 1 || hidden % Math.max(heads, 1) != 0 && !text.containsKey("head_dim")) {
            throw new IllegalArgumentException(where + ": hidden_size " + hidden + " is not divisible by num_attention_heads "
                    + heads + " and \"head_dim\" is absent");
        }
        int headDim = r.optInt("head_dim", heads >= 1 ? hidden / heads : 0);
        boolean tie = text.containsKey("tie_word_embeddings") ? r.bool("tie_word_embeddings", false)
                : new Reader(root, source).bool("tie_word_embeddings", false);
        boolean bias = r.bool("attention_bias", type.equals("qwen2"));
        int bos = r.optIntOrNull("bos_token_id", new Reader(root, source).optIntOrNull("bos_token_id", -1));
        List<Integer> eos = r.intOrList("eos_token_id");
        if (eos == null) eos = new Reader(root, source).intOrList("eos_token_id");
        if (eos == null) eos = List.of();
        int image = new Reader(root, source).optIntOrNull("image_token_index", -1);

        GridVisionConfig vision = null;
        Object vc = root.get("vision_config");
        if (vc != null) {
            if (!(vc instanceof Map)) {
                throw new IllegalArgumentException(source + ": \"vision_config\" must be an object, found " + Json.typeName(vc));
            }
            Reader v = new Reader((Map<String, Object>) vc, source + " (vision_config)");
            if (!((Map<String, Object>) vc).containsKey("grid_size")) {
                throw new IllegalArgumentException(source + " (vision_config): missing key \"grid_size\"; only the grid "
                        + "vision tower (model_type gridvqa_cell_tower) is supported, found model_type \""
                        + v.str("model_type", "?") + "\"");
            }
            vision = new GridVisionConfig(v.reqInt("hidden_size"), v.reqInt("grid_size"), v.reqInt("num_shapes"),
                    v.reqInt("num_colors"), v.reqInt("num_glyphs"));
        }
        try {
            return new ModelConfig(type, hidden, r.reqInt("intermediate_size"), r.reqInt("num_hidden_layers"), heads,
                    kvHeads, headDim, r.reqDouble("rms_norm_eps"), r.optDouble("rope_theta", 10000.0), r.reqInt("vocab_size"),
                    r.optInt("max_position_embeddings", 2048), tie, bias, bos, eos, image, vision);
        } catch (IllegalArgumentException e) {
            if (e.getMessage().startsWith("invalid model config")) {
                throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
            }
            throw e;
        }
    }

    /**
     * This config as an HF-style JSON object (flat, or LLaVA-nested with text_config/vision_config when
     * there is a vision tower) that {@link #parse} reads back to an equal config.
     */
    public Map<String, Object> toJson() {
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("model_type", modelType);
        t.put("architectures", List.of(modelType.equals("qwen2") ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
        t.put("hidden_size", hiddenSize);
        t.put("intermediate_size", intermediateSize);
        t.put("num_hidden_layers", numLayers);
        t.put("num_attention_heads", numHeads);
        t.put("num_key_value_heads", numKvHeads);
        t.put("head_dim", headDim);
        t.put("hidden_act", "silu");
        t.put("rms_norm_eps", rmsNormEps);
        t.put("rope_theta", ropeTheta);
        t.put("vocab_size", vocabSize);
        t.put("max_position_embeddings", maxPositionEmbeddings);
        t.put("tie_word_embeddings", tieWordEmbeddings);
        t.put("attention_bias", qkvBias);
        if (bosTokenId >= 0) t.put("bos_token_id", bosTokenId);
        if (!eosTokenIds.isEmpty()) t.put("eos_token_id", eosTokenIds.size() == 1 ? eosTokenIds.get(0) : new ArrayList<>(eosTokenIds));
        if (vision == null) {
            return t;
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model_type", "llava");
        root.put("architectures", List.of("LlavaForConditionalGeneration"));
        if (imageTokenId >= 0) root.put("image_token_index", imageTokenId);
        root.put("projector_hidden_act", "gelu");
        root.put("text_config", t);
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("model_type", "gridvqa_cell_tower");
        v.put("hidden_size", vision.hiddenSize());
        v.put("grid_size", vision.gridSize());
        v.put("num_patches", vision.numCells());
        v.put("num_shapes", vision.numShapes());
        v.put("num_colors", vision.numColors());
        v.put("num_glyphs", vision.numGlyphs());
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
