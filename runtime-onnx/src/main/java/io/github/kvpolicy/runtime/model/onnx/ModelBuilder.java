package io.github.kvpolicy.runtime.model.onnx;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.onnx.OnnxGraph.Attr;
import io.github.kvpolicy.runtime.model.onnx.OnnxGraph.Elem;
import io.github.kvpolicy.runtime.model.safetensors.DType;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsException;
import io.github.kvpolicy.runtime.model.safetensors.TensorInfo;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds the contract graphs ({@code docs/decoder-contract.md}, version {@value ModelBuilderVersion#CONTRACT}) from
 * HF-named weights: {@code decoder.onnx}, {@code embed.onnx} and, for models with the grid vision tower,
 * {@code vision.onnx}.
 *
 * <p>Math (HF Llama/Qwen2): RMSNorm {@code x / sqrt(mean(x²) + eps) · w}; rotary "rotate_half"
 * (non-interleaved) with {@code inv_freq[i] = θ^(-2i/D)} and cos/sin computed in-graph from
 * {@code position_ids}; grouped-query attention (query head {@code h} reads KV head {@code h / (Hq/Hkv)});
 * SwiGLU MLP; the past and the new keys are scored separately and joined only inside the softmax.
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
     */
    public record BuildOptions(boolean keepHalfWeights, long externalDataThreshold) {
        /**
         * fp32 weights, external data above 64 MiB (measured on small-100m: external data builds 3x faster and
         * ONNX Runtime opens it 2.5x faster than the same weights embedded in the protobuf).
         */
        public static final BuildOptions DEFAULT = new BuildOptions(false, 64L << 20);

        public BuildOptions {
            if (externalDataThreshold < 0 || externalDataThreshold > (1L << 31) - (1L << 24)) {
                throw new IllegalArgumentException("externalDataThreshold must be in [0, ~2 GB), got " + externalDataThreshold);
            }
        }
    }

    private static final float MASK = -1e9f;
    private static final int CHUNK = 1 << 18; // floats per streamed chunk (1 MiB)

    // ==================================================================== decoder

    /** Builds {@code decoder.onnx} at {@code out} (plus {@code out + ".data"} when external). */
    public static void buildDecoder(ModelConfig cfg, WeightStore w, Path out, BuildOptions opt) {
        final int h = cfg.hiddenSize();
        final int hq = cfg.numHeads();
        final int hkv = cfg.numKvHeads();
        final int d = cfg.headDim();
        final int groups = hq / hkv;
        final int inter = cfg.intermediateSize();
        final int layers = cfg.numLayers();
        final int vocab = cfg.vocabSize();

        // -------- check every weight's shape before writing anything
        Map<String, long[]> expected = new LinkedHashMap<>();
        for (int i = 0; i < layers; i++) {
            String p = "model.layers." + i + ".";
            expected.put(p + "input_layernorm.weight", new long[]{h});
            expected.put(p + "self_attn.q_proj.weight", new long[]{(long) hq * d, h});
            expected.put(p + "self_attn.k_proj.weight", new long[]{(long) hkv * d, h});
            expected.put(p + "self_attn.v_proj.weight", new long[]{(long) hkv * d, h});
            if (cfg.qkvBias()) {
                expected.put(p + "self_attn.q_proj.bias", new long[]{(long) hq * d});
                expected.put(p + "self_attn.k_proj.bias", new long[]{(long) hkv * d});
                expected.put(p + "self_attn.v_proj.bias", new long[]{(long) hkv * d});
            }
            expected.put(p + "self_attn.o_proj.weight", new long[]{h, (long) hq * d});
            expected.put(p + "post_attention_layernorm.weight", new long[]{h});
            expected.put(p + "mlp.gate_proj.weight", new long[]{inter, h});
            expected.put(p + "mlp.up_proj.weight", new long[]{inter, h});
            expected.put(p + "mlp.down_proj.weight", new long[]{h, inter});
        }
        expected.put("model.norm.weight", new long[]{h});
        String lmHead = lmHeadName(cfg, w);
        expected.put(lmHead, new long[]{vocab, h});
        long bytes = 0;
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            TensorInfo t = w.require(e.getKey(), e.getValue());
            bytes += storedBytes(t, opt);
        }

        OnnxGraph g = newGraph("kvpolicy_decoder", out, bytes, opt);
        try {
            String embeds = g.input("inputs_embeds", Elem.FLOAT, "batch", "seq", h);
            g.input("position_ids", Elem.INT64, "batch", "seq");
            g.input("input_mask", Elem.FLOAT, "batch", "seq");
            g.input("query_index", Elem.INT64, "w");
            g.input("logits_index", Elem.INT64, "batch");
            for (int i = 0; i < layers; i++) {
                g.input("past_key." + i, Elem.FLOAT, "batch", hkv, "past_" + i, d);
                g.input("past_value." + i, Elem.FLOAT, "batch", hkv, "past_" + i, d);
                g.input("past_mask." + i, Elem.FLOAT, "batch", hkv, "past_" + i);
            }

            // -------- shared shapes and constants
            String bs = g.node("Shape", List.of(embeds), Attr.i("end", 2));
            String shapeQ = g.node("Concat", List.of(bs, g.constI64("dims_q", false, hq, d)), Attr.i("axis", 0));
            String shapeKv = g.node("Concat", List.of(bs, g.constI64("dims_kv", false, hkv, d)), Attr.i("axis", 0));
            String shapeBsh = g.node("Concat", List.of(bs, g.constI64("dims_h", false, h)), Attr.i("axis", 0));
            String flatH = g.constI64("flat_h", false, -1, h);
            String flatQ = g.constI64("flat_q", false, -1, (long) hq * d);
            String grouped = g.constI64("grouped", false, 0, hkv, -1, d);
            String ungrouped = g.constI64("ungrouped", false, 0, hq, -1, d);
            String eps = g.scalarF32("eps", (float) cfg.rmsNormEps());
            String scale = g.scalarF32("scale", (float) (1.0 / Math.sqrt(d)));
            String ax0 = g.constI64("axes0", false, 0);
            String ax1 = g.constI64("axes1", false, 1);
            String ax2 = g.constI64("axes2", false, 2);
            String ax3 = g.constI64("axes3", false, 3);
            String axLast = g.constI64("axes_last", false, -1);
            String zeroI = g.constI64("zero", false, 0);
            String halfD = g.constI64("half_d", false, d / 2);
            String fullD = g.constI64("full_d", false, d);
            String maxI = g.constI64("int_max", false, Long.MAX_VALUE);

            // -------- rotary tables: emb = pos * [inv_freq, inv_freq]  -> cos/sin [B,1,S,D]
            float[] inv = new float[d];
            for (int i = 0; i < d / 2; i++) {
                float expo = (float) (2 * i) / (float) d;
                float f = 1.0f / (float) Math.pow(cfg.ropeTheta(), expo);
                inv[i] = f;
                inv[i + d / 2] = f;
            }
            String invFreq = g.constF32("inv_freq", new long[]{d}, inv);
            String pos = g.node("Cast", List.of("position_ids"), Attr.i("to", Elem.FLOAT.onnxType()));
            String emb = g.op("Mul", g.op("Unsqueeze", pos, axLast), invFreq);       // [B,S,D]
            String cos = g.op("Unsqueeze", g.op("Cos", emb), ax1);                    // [B,1,S,D]
            String sin = g.op("Unsqueeze", g.op("Sin", emb), ax1);

            // -------- new-token mask [B,1,G*S,S]: causal + input_mask (additive)
            String s1 = g.node("Shape", List.of(embeds), Attr.i("start", 1), Attr.i("end", 2));
            String sScalar = g.op("Squeeze", s1, ax0);
            String range = g.op("Range", g.constI64("r0", true, 0), sScalar, g.constI64("r1", true, 1));
            String future = g.op("Greater", g.op("Unsqueeze", range, ax0), g.op("Unsqueeze", range, ax1)); // [S,S] t > s
            String causal = g.op("Where", future, g.scalarF32("neg", MASK), g.scalarF32("zero_f", 0f));
            String inMask = g.op("Unsqueeze", "input_mask", g.constI64("axes12", false, 1, 2));          // [B,1,1,S]
            String newMask = g.op("Add", causal, inMask);                                             // [B,1,S,S]
            if (groups > 1) {
                newMask = g.op("Tile", newMask, g.constI64("tile_g", false, 1, 1, groups, 1));          // [B,1,G*S,S]
            }

            String x = g.op("Reshape", embeds, flatH);                                               // [B*S,H]
            for (int i = 0; i < layers; i++) {
                String p = "model.layers." + i + ".";
                String hN = rmsNorm(g, w, x, p + "input_layernorm.weight", eps, axLast);
                String q = gemm(g, w, hN, p + "self_attn.q_proj", cfg.qkvBias(), opt);
                String k = gemm(g, w, hN, p + "self_attn.k_proj", cfg.qkvBias(), opt);
                String v = gemm(g, w, hN, p + "self_attn.v_proj", cfg.qkvBias(), opt);
                String qT = transpose(g, g.op("Reshape", q, shapeQ), null, 0, 2, 1, 3);                // [B,Hq,S,D]
                String kT = transpose(g, g.op("Reshape", k, shapeKv), null, 0, 2, 1, 3);               // [B,Hkv,S,D]
                transpose(g, g.op("Reshape", v, shapeKv), "present_value." + i, 0, 2, 1, 3);
                String qR = rope(g, qT, cos, sin, zeroI, halfD, fullD, ax3, null);
                String kR = rope(g, kT, cos, sin, zeroI, halfD, fullD, ax3, "present_key." + i);
                g.nodeNamed("Gather", "queries." + i, List.of(qR, "query_index"), Attr.i("axis", 2));

                String qg = g.op("Reshape", g.op("Mul", qR, scale), grouped);                          // [B,Hkv,G*S,D]
                String sPast = g.op("MatMul", qg, transpose(g, "past_key." + i, null, 0, 1, 3, 2));    // [B,Hkv,GS,P]
                sPast = g.op("Add", sPast, g.op("Unsqueeze", "past_mask." + i, ax2));
                String sNew = g.op("MatMul", qg, transpose(g, kR, null, 0, 1, 3, 2));                 // [B,Hkv,GS,S]
                sNew = g.op("Add", sNew, newMask);
                String probs = g.node("Softmax", List.of(g.node("Concat", List.of(sPast, sNew), Attr.i("axis", -1))),
                        Attr.i("axis", -1));
                String pLen = g.node("Shape", List.of("past_key." + i), Attr.i("start", 2), Attr.i("end", 3));
                String pPast = g.op("Slice", probs, zeroI, pLen, ax3);
                String pNew = g.op("Slice", probs, pLen, maxI, ax3);
                String o = g.op("Add", g.op("MatMul", pPast, "past_value." + i), g.op("MatMul", pNew, "present_value." + i));
                o = transpose(g, g.op("Reshape", o, ungrouped), null, 0, 2, 1, 3);                     // [B,S,Hq,D]
                String attn = gemm(g, w, g.op("Reshape", o, flatQ), p + "self_attn.o_proj", false, opt);
                x = g.op("Add", x, attn);

                String h2 = rmsNorm(g, w, x, p + "post_attention_layernorm.weight", eps, axLast);
                String gate = gemm(g, w, h2, p + "mlp.gate_proj", false, opt);
                String up = gemm(g, w, h2, p + "mlp.up_proj", false, opt);
                String act = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), up);
                x = g.op("Add", x, gemm(g, w, act, p + "mlp.down_proj", false, opt));
            }
            String x3 = g.op("Reshape", x, shapeBsh);                                                // [B,S,H]
            String last = g.node("GatherND", List.of(x3, g.op("Unsqueeze", "logits_index", axLast)), Attr.i("batch_dims", 1));
            String normed = rmsNorm(g, w, last, "model.norm.weight", eps, axLast);
            String head = matrix(g, w, lmHead, opt);
            g.nodeNamed("Gemm", "logits", List.of(normed, head), Attr.i("transB", 1));

            g.output("logits", Elem.FLOAT, "batch", vocab);
            for (int i = 0; i < layers; i++) {
                g.output("present_key." + i, Elem.FLOAT, "batch", hkv, "seq", d);
                g.output("present_value." + i, Elem.FLOAT, "batch", hkv, "seq", d);
                g.output("queries." + i, Elem.FLOAT, "batch", hq, "w", d);
            }
            Map<String, String> meta = baseMetadata(cfg, "decoder", opt, w);
            meta.put("kvpolicy.rope_theta", Double.toString(cfg.ropeTheta()));
            meta.put("kvpolicy.rms_norm_eps", Double.toString(cfg.rmsNormEps()));
            meta.put("kvpolicy.qkv_bias", Boolean.toString(cfg.qkvBias()));
            meta.put("kvpolicy.tied_embeddings", Boolean.toString(lmHead.equals("model.embed_tokens.weight")));
            g.save(out, meta);
        } catch (RuntimeException e) {
            g.abandon();
            throw e;
        }
    }

    /** lm_head.weight, or the embedding when tied (or when lm_head is absent and the config says tied). */
    private static String lmHeadName(ModelConfig cfg, WeightStore w) {
        if (cfg.tieWordEmbeddings()) {
            return "model.embed_tokens.weight";
        }
        if (!w.contains("lm_head.weight")) {
            throw new SafetensorsException(w + ": missing tensor \"lm_head.weight\" (config.json has tie_word_embeddings=false)");
        }
        return "lm_head.weight";
    }

    // ====================================================================== embed

    /** Builds {@code embed.onnx}: {@code input_ids} i64 [B,S] → {@code inputs_embeds} f32 [B,S,H]. */
    public static void buildEmbed(ModelConfig cfg, WeightStore w, Path out, BuildOptions opt) {
        TensorInfo t = w.require("model.embed_tokens.weight", cfg.vocabSize(), cfg.hiddenSize());
        OnnxGraph g = newGraph("kvpolicy_embed", out, storedBytes(t, opt), opt);
        try {
            g.input("input_ids", Elem.INT64, "batch", "seq");
            boolean half = opt.keepHalfWeights() && t.dtype() != DType.F32;
            String table = initializer(g, w, t, half);
            if (half) {
                String gathered = g.node("Gather", List.of(table, "input_ids"), Attr.i("axis", 0));
                g.nodeNamed("Cast", "inputs_embeds", List.of(gathered), Attr.i("to", Elem.FLOAT.onnxType()));
            } else {
                g.nodeNamed("Gather", "inputs_embeds", List.of(table, "input_ids"), Attr.i("axis", 0));
            }
            g.output("inputs_embeds", Elem.FLOAT, "batch", "seq", cfg.hiddenSize());
            g.save(out, baseMetadata(cfg, "embed", opt, w));
        } catch (RuntimeException e) {
            g.abandon();
            throw e;
        }
    }

    // ===================================================================== vision

    /**
     * Builds {@code vision.onnx}: {@code pixel_attributes} i64 [B,N,3] (shape, colour, glyph id per cell,
     * row-major over the G×G grid, N = G·G) → {@code image_embeds} f32 [B,N,H]. Math:
     * {@code e = shape_embed[s] + color_embed[c] + glyph_embed[g] + pos_embed[cell]};
     * {@code h = e + Conv2d_3x3_pad1(e)} over the [Dv,G,G] grid; {@code linear_2(gelu_erf(linear_1(h)))}.
     */
    public static void buildVision(ModelConfig cfg, WeightStore w, Path out, BuildOptions opt) {
        ModelConfig.GridVisionConfig vc = cfg.visionConfig().orElseThrow(
                () -> new IllegalArgumentException("model config has no vision_config; cannot build vision.onnx"));
        int dv = vc.hiddenSize();
        int gs = vc.gridSize();
        int n = vc.numCells();
        int h = cfg.hiddenSize();
        String[] names = {"vision_tower.shape_embed.weight", "vision_tower.color_embed.weight",
                "vision_tower.glyph_embed.weight", "vision_tower.pos_embed", "vision_tower.conv.weight",
                "vision_tower.conv.bias", "multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_1.bias",
                "multi_modal_projector.linear_2.weight", "multi_modal_projector.linear_2.bias"};
        long[][] shapes = {{vc.numShapes(), dv}, {vc.numColors(), dv}, {vc.numGlyphs(), dv}, {n, dv}, {dv, dv, 3, 3},
                {dv}, {h, dv}, {h}, {h, h}, {h}};
        long bytes = 0;
        for (int i = 0; i < names.length; i++) {
            TensorInfo t = w.require(names[i], shapes[i]);
            bytes += t.numel() * 4;
        }
        OnnxGraph g = newGraph("kvpolicy_vision", out, bytes, opt);
        try {
            g.input("pixel_attributes", Elem.INT64, "batch", n, 3);
            String e = null;
            for (int a = 0; a < 3; a++) {
                String ids = g.node("Gather", List.of("pixel_attributes", g.constI64("attr", true, a)), Attr.i("axis", 2));
                String table = initializer(g, w, w.info(names[a]), false);
                String emb = g.node("Gather", List.of(table, ids), Attr.i("axis", 0));      // [B,N,Dv]
                e = e == null ? emb : g.op("Add", e, emb);
            }
            e = g.op("Add", e, initializer(g, w, w.info("vision_tower.pos_embed"), false));
            String grid = g.op("Reshape", transpose(g, e, null, 0, 2, 1), g.constI64("grid", false, 0, dv, gs, gs));
            String conv = g.node("Conv", List.of(grid, initializer(g, w, w.info("vision_tower.conv.weight"), false),
                            initializer(g, w, w.info("vision_tower.conv.bias"), false)),
                    Attr.ints("kernel_shape", 3, 3), Attr.ints("pads", 1, 1, 1, 1));
            String hv = g.op("Add", grid, conv);                                                    // [B,Dv,G,G]
            String cells = transpose(g, g.op("Reshape", hv, g.constI64("cells", false, 0, dv, n)), null, 0, 2, 1);
            String flat = g.op("Reshape", cells, g.constI64("flat_dv", false, -1, dv));            // [B*N,Dv]
            String l1 = gemm(g, w, flat, "multi_modal_projector.linear_1", true, opt);
            String half = g.op("Mul", l1, g.scalarF32("half", 0.5f));
            String erf = g.op("Erf", g.op("Mul", l1, g.scalarF32("inv_sqrt2", (float) (1.0 / Math.sqrt(2.0)))));
            String gelu = g.op("Mul", half, g.op("Add", erf, g.scalarF32("one", 1f)));
            String l2 = gemm(g, w, gelu, "multi_modal_projector.linear_2", true, opt);
            g.nodeNamed("Reshape", "image_embeds", List.of(l2, g.constI64("out_shape", false, -1, n, h)));
            g.output("image_embeds", Elem.FLOAT, "batch", n, h);
            Map<String, String> meta = baseMetadata(cfg, "vision", opt, w);
            meta.put("kvpolicy.vision_hidden_size", Integer.toString(dv));
            meta.put("kvpolicy.grid_size", Integer.toString(gs));
            g.save(out, meta);
        } catch (RuntimeException ex) {
            g.abandon();
            throw ex;
        }
    }

    // ==================================================================== helpers

    private static OnnxGraph newGraph(String name, Path out, long bytes, BuildOptions opt) {
        try {
            if (out.getParent() != null) Files.createDirectories(out.getParent());
            Path ext = out.resolveSibling(out.getFileName() + ".data");
            Files.deleteIfExists(ext);
            return new OnnxGraph(name, bytes > opt.externalDataThreshold() ? ext : null);
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot prepare output", e);
        }
    }

    private static Map<String, String> baseMetadata(ModelConfig cfg, String kind, BuildOptions opt, WeightStore w) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("kvpolicy.contract", Integer.toString(ModelBuilderVersion.CONTRACT));
        m.put("kvpolicy.builder", ModelBuilderVersion.VERSION);
        m.put("kvpolicy.graph", kind);
        m.put("kvpolicy.layers", Integer.toString(cfg.numLayers()));
        m.put("kvpolicy.query_heads", Integer.toString(cfg.numHeads()));
        m.put("kvpolicy.kv_heads", Integer.toString(cfg.numKvHeads()));
        m.put("kvpolicy.head_dim", Integer.toString(cfg.headDim()));
        m.put("kvpolicy.hidden_size", Integer.toString(cfg.hiddenSize()));
        m.put("kvpolicy.vocab_size", Integer.toString(cfg.vocabSize()));
        m.put("kvpolicy.weights", opt.keepHalfWeights() ? "half-matrices" : "fp32");
        return m;
    }

    private static long storedBytes(TensorInfo t, BuildOptions opt) {
        boolean half = opt.keepHalfWeights() && t.dtype() != DType.F32 && t.shape().length == 2;
        return t.numel() * (half ? 2 : 4);
    }

    private static String transpose(OnnxGraph g, String in, String outName, long... perm) {
        return outName == null ? g.node("Transpose", List.of(in), Attr.ints("perm", perm))
                : g.nodeNamed("Transpose", outName, List.of(in), Attr.ints("perm", perm));
    }

    /** x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1] along the last axis. */
    private static String rope(OnnxGraph g, String x, String cos, String sin, String zero, String halfD, String fullD,
                               String ax3, String outName) {
        String x1 = g.op("Slice", x, zero, halfD, ax3);
        String x2 = g.op("Slice", x, halfD, fullD, ax3);
        String rot = g.node("Concat", List.of(g.op("Neg", x2), x1), Attr.i("axis", 3));
        List<String> in = List.of(g.op("Mul", x, cos), g.op("Mul", rot, sin));
        return outName == null ? g.node("Add", in) : g.nodeNamed("Add", outName, in);
    }

    private static String rmsNorm(OnnxGraph g, WeightStore w, String x, String weight, String eps, String axLast) {
        String ms = g.node("ReduceMean", List.of(g.op("Mul", x, x)), Attr.ints("axes", -1), Attr.i("keepdims", 1));
        String norm = g.op("Div", x, g.op("Sqrt", g.op("Add", ms, eps)));
        return g.op("Mul", norm, initializer(g, w, w.info(weight), false));
    }

    /** y = x·Wᵀ (+ b) with W [out,in] from {@code prefix + ".weight"}. */
    private static String gemm(OnnxGraph g, WeightStore w, String x, String prefix, boolean bias, BuildOptions opt) {
        List<String> in = new ArrayList<>(List.of(x, matrix(g, w, prefix + ".weight", opt)));
        if (bias) in.add(initializer(g, w, w.info(prefix + ".bias"), false));
        return g.node("Gemm", in, Attr.i("transB", 1));
    }

    /** A 2-D weight as a float value: the initializer itself, or a Cast of its half-precision copy. */
    private static String matrix(OnnxGraph g, WeightStore w, String name, BuildOptions opt) {
        TensorInfo t = w.info(name);
        boolean half = opt.keepHalfWeights() && t.dtype() != DType.F32;
        String init = g.has(name) ? name : initializer(g, w, t, half);
        if (!half) return init;
        String cast = name + ".f32";
        return g.has(cast) ? cast : g.nodeNamed("Cast", cast, List.of(init), Attr.i("to", Elem.FLOAT.onnxType()));
    }

    /**
     * Adds weight {@code t} as an initializer named like the tensor: F32 data (F32 copied, F16/BF16 widened
     * in 1 MiB chunks), or, when {@code half}, the raw 2-byte data with type FLOAT16/BFLOAT16.
     */
    private static String initializer(OnnxGraph g, WeightStore w, TensorInfo t, boolean half) {
        String name = t.name();
        if (half) {
            Elem type = t.dtype() == DType.F16 ? Elem.FLOAT16 : Elem.BFLOAT16;
            MemorySegment seg = w.segment(name);
            return g.initializer(name, type, t.shape(), t.byteSize(), out -> copySegment(seg, out));
        }
        long numel = t.numel();
        if (t.dtype() == DType.F32) {
            MemorySegment seg = w.segment(name);
            return g.initializer(name, Elem.FLOAT, t.shape(), numel * 4, out -> copySegment(seg, out));
        }
        return g.initializer(name, Elem.FLOAT, t.shape(), numel * 4, out -> {
            float[] buf = new float[(int) Math.min(CHUNK, Math.max(numel, 1))];
            ByteBuffer bb = ByteBuffer.allocate(buf.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (long from = 0; from < numel; from += buf.length) {
                int c = (int) Math.min(buf.length, numel - from);
                w.readFloats(name, from, buf, 0, c);
                bb.clear();
                bb.asFloatBuffer().put(buf, 0, c);
                out.write(bb.array(), 0, c * 4);
            }
        });
    }

    private static void copySegment(MemorySegment seg, OutputStream out) throws IOException {
        byte[] buf = new byte[1 << 20];
        long size = seg.byteSize();
        for (long off = 0; off < size; off += buf.length) {
            int c = (int) Math.min(buf.length, size - off);
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, off, buf, 0, c);
            out.write(buf, 0, c);
        }
    }
}
