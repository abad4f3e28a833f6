package io.github.kvpolicy.runtime.model.onnx;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.family.Families;
import io.github.kvpolicy.runtime.model.family.ModelFamily;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Builds the contract graphs ({@code docs/decoder-contract.md}, version {@value ModelBuilderVersion#CONTRACT}) from
 * Hugging Face weights: {@code decoder.onnx}, {@code embed.onnx} and, for vision-language models,
 * {@code vision.onnx}. The architecture-specific work is done by the config's
 * {@link io.github.kvpolicy.runtime.model.family.ModelFamily} ({@link Families#of}); this class is the entry point
 * that adds the shared metadata and the build options.
 *
 * <p>Weights keep their HF {@code [out, in]} layout and feed {@code Gemm(transB=1)}, so they are copied
 * (or widened) byte-for-byte, never transposed in Java, and the heap holds at most one 1 MiB chunk at a time.
 * With {@link BuildOptions#keepHalfWeights()} the 2-D matrices of F16/BF16 checkpoints are stored in their
 * source half type and widened by a {@code Cast} node; everything else (norms, biases, F32 sources) is F32.
 * When the stored weights exceed {@link BuildOptions#externalDataThreshold()} bytes they are written to
 * {@code <graph>.onnx.data} next to the model (ONNX external data); ONNX Runtime loads it from the model's
 * directory.
 *
 * <p>Stateless; methods may run concurrently on different output paths.
 */
public final class ModelBuilder {
    private ModelBuilder() {}

    /**
     * Build options.
     *
     * @param keepHalfWeights       store F16/BF16 matrices as half and Cast in-graph (halves the file size;
     *                              ONNX Runtime's constant folding may widen them at session start unless the
     *                              runtime disables it)
     * @param externalDataThreshold stored-weight size in bytes above which weights go to external data
     *                              (must be below 2 GB, the protobuf limit); 0 forces external data
     * @param precision             numeric precision of the decoder and embedding graphs ({@link Precision})
     */
    public record BuildOptions(boolean keepHalfWeights, long externalDataThreshold, Precision precision) {
        /**
         * fp32 weights, external data above 64 MiB (measured on small-100m: external data builds 3x faster and
         * ONNX Runtime opens it 2.5x faster than the same weights embedded in the protobuf).
         */
        public static final BuildOptions DEFAULT = new BuildOptions(false, 64L << 20);

        /** fp32 precision. */
        public BuildOptions(boolean keepHalfWeights, long externalDataThreshold) {
            this(keepHalfWeights, externalDataThreshold, Precision.FP32);
        }

        /** These options with KV type {@code t}. */
        public BuildOptions withPrecision(Precision t) {
            return new BuildOptions(keepHalfWeights, externalDataThreshold, t);
        }

        public BuildOptions {
            java.util.Objects.requireNonNull(precision, "precision");
            if (externalDataThreshold < 0 || externalDataThreshold > (1L << 31) - (1L << 24)) {
                throw new IllegalArgumentException("externalDataThreshold must be in [0, ~2 GB), got " + externalDataThreshold);
            }
        }
    }

    /**
     * Numeric precision of the built decoder and embedding graphs (the vision tower is always fp32). Recorded as
     * decoder metadata {@code kvpolicy.precision} (and {@code kvpolicy.kv_dtype}, the K/V element type).
     * <ul>
     * <li>{@code FP32}: weights, activations and the KV cache in fp32 (the CPU default).</li>
     * <li>{@code FP16_KV} ({@code fp16-kv}): only the KV cache ({@code past_key/value.*}, {@code present_key/value.*})
     *     is fp16, cast to fp32 at the graph boundary; every matmul, norm and softmax runs in fp32. Halves the
     *     cache; the only numerical change is the rounding of cached K/V.</li>
     * <li>{@code FP16}: weight matrices (converted at build time from F32/BF16 sources; a value beyond fp16's range
     *     fails the build), every projection, the attention matmuls and the KV cache in fp16 — what a GPU runs
     *     fast. Kept in fp32: the residual stream, RMSNorm statistics, the attention mask and softmax, the MLP's
     *     GELU (Gemma), the embedding output and the {@code logits}/{@code queries} outputs (so the contract's
     *     boundary types do not change). On a CPU, ONNX Runtime runs fp16 nodes it has no kernel for through
     *     inserted casts (correct, not fast).</li>
     * </ul>
     */
    public enum Precision {
        FP32("fp32"), FP16_KV("fp16-kv"), FP16("fp16");

        private final String label;

        Precision(String label) { this.label = label; }

        /** {@code fp32}, {@code fp16-kv} or {@code fp16}: the configuration value and the build folder suffix. */
        public String label() { return label; }

        /** Whether the KV cache is fp16. */
        public boolean kvHalf() { return this != FP32; }

        /** Whether weights and projections are fp16. */
        public boolean computeHalf() { return this == FP16; }

        /** Parses {@code fp32}, {@code fp16-kv} or {@code fp16} (case-insensitive, a few aliases), failing in one line naming the value. */
        public static Precision parse(String s) {
            return switch (s == null ? "" : s.trim().toLowerCase(java.util.Locale.ROOT)) {
                case "fp32", "float32", "f32" -> FP32;
                case "fp16-kv", "fp16_kv", "kv-fp16" -> FP16_KV;
                case "fp16", "float16", "f16", "half" -> FP16;
                default -> throw new IllegalArgumentException("dtype must be fp32, fp16-kv or fp16, got \"" + s + "\"");
            };
        }
    }

    /** The storage of the decoder and embedding graphs ({@code precision} applies there). */
    private static GraphOps.Storage storage(BuildOptions opt) {
        return new GraphOps.Storage(opt.keepHalfWeights(), opt.externalDataThreshold(), opt.precision().kvHalf(),
                opt.precision().computeHalf());
    }

    /** The vision tower's storage: fp32 arithmetic whatever the precision (it runs once per image, at prefill). */
    private static GraphOps.Storage visionStorage(BuildOptions opt) {
        return new GraphOps.Storage(opt.keepHalfWeights(), opt.externalDataThreshold(), false, false);
    }

    /** The family that builds {@code cfg} (fails naming the architecture and the supported ones). */
    public static ModelFamily family(ModelConfig cfg) {
        return Families.of(cfg);
    }

    /** Builds {@code decoder.onnx} at {@code out} (plus {@code out + ".data"} when external). */
    public static void buildDecoder(ModelConfig cfg, WeightStore w, Path out, BuildOptions opt) {
        family(cfg).buildDecoder(cfg, w, out, storage(opt), baseMetadata(cfg, "decoder", opt));
    }

    /** Builds {@code embed.onnx}: {@code input_ids} i64 [B,S] → {@code inputs_embeds} f32 [B,S,H]. */
    public static void buildEmbed(ModelConfig cfg, WeightStore w, Path out, BuildOptions opt) {
        family(cfg).buildEmbed(cfg, w, out, storage(opt), baseMetadata(cfg, "embed", opt));
    }

    /**
     * Builds {@code vision.onnx}: for the testbed's grid tower {@code pixel_attributes} i64 [B,N,3] →
     * {@code image_embeds} f32 [B,N,H]; for a ViT tower {@code pixel_values} f32 [B,C,S,S] → {@code image_embeds}
     * f32 [B,T,H] (see the family classes).
     */
    public static void buildVision(ModelConfig cfg, WeightStore w, Path out, BuildOptions opt) {
        if (cfg.vision() == null) {
            throw new IllegalArgumentException("model config has no vision_config; cannot build vision.onnx");
        }
        family(cfg).buildVision(cfg, w, out, visionStorage(opt), baseMetadata(cfg, "vision", opt));
    }

    private static Map<String, String> baseMetadata(ModelConfig cfg, String kind, BuildOptions opt) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("kvpolicy.contract", Integer.toString(ModelBuilderVersion.CONTRACT));
        m.put("kvpolicy.builder", ModelBuilderVersion.VERSION);
        m.put("kvpolicy.graph", kind);
        m.put("kvpolicy.architecture", cfg.architecture());
        m.put("kvpolicy.layers", Integer.toString(cfg.numLayers()));
        m.put("kvpolicy.query_heads", Integer.toString(cfg.numHeads()));
        m.put("kvpolicy.kv_heads", Integer.toString(cfg.numKvHeads()));
        m.put("kvpolicy.head_dim", Integer.toString(cfg.headDim()));
        m.put("kvpolicy.hidden_size", Integer.toString(cfg.hiddenSize()));
        m.put("kvpolicy.vocab_size", Integer.toString(cfg.vocabSize()));
        m.put("kvpolicy.weights", opt.keepHalfWeights() ? "half-matrices" : "fp32");
        if (kind.equals("decoder")) {
            m.put("kvpolicy.precision", opt.precision().label());
            m.put("kvpolicy.kv_dtype", opt.precision().kvHalf() ? "fp16" : "fp32");
        }
        if (kind.equals("embed") && opt.precision().computeHalf()) m.put("kvpolicy.precision", opt.precision().label());
        return m;
    }
}
