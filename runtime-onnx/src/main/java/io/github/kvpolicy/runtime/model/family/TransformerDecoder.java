package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Attr;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Elem;
import io.github.kvpolicy.runtime.model.safetensors.DType;
import io.github.kvpolicy.runtime.model.safetensors.TensorInfo;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.github.kvpolicy.runtime.model.graph.GraphOps.gemm;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.initializer;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.kvInput;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.kvOutput;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.kvValue;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.matrix;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.publishFloat;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.scalar;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.toCompute;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.toFloat;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.rmsNorm;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.rope;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.storedBytes;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.transpose;

/**
 * The pre-norm transformer decoder shared by the Llama-style families (Llama, Mistral, Qwen2, Qwen3, and the language
 * model of every supported VLM), following the decoder contract.
 *
 * <p>Per layer: {@code h = RMSNorm(x)}; {@code q, k, v = h·Wᵀ (+ bias when cfg.qkvBias())}; with
 * {@code cfg.qkNorm()} (Qwen3) a per-head RMSNorm of q and k over D; rotary "rotate_half" with the inverse
 * frequencies of {@link io.github.kvpolicy.runtime.model.config.RopeScaling#inverseFrequencies} (default, linear,
 * llama3); grouped-query attention scored separately over the past and the new keys and joined in the softmax;
 * {@code x += o_proj(attn)}; {@code x += down(silu(gate(h2)) · up(h2))}. Finally {@code logits =
 * lm_head(RMSNorm(x[logits_index]))}.
 *
 * <p>With fp16 compute ({@link GraphOps.Storage#computeHalf()}) the norm outputs are cast to fp16 and every projection,
 * the rotary embedding, the scores and the weighted sum of values run in fp16 against the fp16 cache; the residual
 * stream, the RMSNorm statistics, the mask and the softmax stay fp32 (as transformers' {@code softmax(dtype=float32)}),
 * and {@code logits}/{@code queries} are cast to fp32 at the boundary. Stateless.
 */
public final class TransformerDecoder {
    private TransformerDecoder() {}

    private static final float MASK = -1e9f;

    /**
     * Extra decoder input of M-RoPE models (Qwen2-VL): i64 {@code [3, B, S]}, added to {@code position_ids} to give the
     * temporal, height and width rotary positions of every new token (all zero for text continuing a sequence).
     */
    public static final String ROPE_OFFSETS = "rope_offsets";

    /** Name → expected shape of every decoder weight, in build order (checked before anything is written). */
    static Map<String, long[]> expectedShapes(ModelConfig cfg, TextWeights tw) {
        int h = cfg.hiddenSize(), hq = cfg.numHeads(), hkv = cfg.numKvHeads(), d = cfg.headDim(), inter = cfg.intermediateSize();
        Map<String, long[]> expected = new LinkedHashMap<>();
        for (int i = 0; i < cfg.numLayers(); i++) {
            String p = tw.layer(i);
            expected.put(p + "input_layernorm.weight", new long[]{h});
            expected.put(p + "self_attn.q_proj.weight", new long[]{(long) hq * d, h});
            expected.put(p + "self_attn.k_proj.weight", new long[]{(long) hkv * d, h});
            expected.put(p + "self_attn.v_proj.weight", new long[]{(long) hkv * d, h});
            if (cfg.qkvBias()) {
                expected.put(p + "self_attn.q_proj.bias", new long[]{(long) hq * d});
                expected.put(p + "self_attn.k_proj.bias", new long[]{(long) hkv * d});
                expected.put(p + "self_attn.v_proj.bias", new long[]{(long) hkv * d});
            }
            if (cfg.qkNorm()) {
                expected.put(p + "self_attn.q_norm.weight", new long[]{d});
                expected.put(p + "self_attn.k_norm.weight", new long[]{d});
            }
            expected.put(p + "self_attn.o_proj.weight", new long[]{h, (long) hq * d});
            expected.put(p + "post_attention_layernorm.weight", new long[]{h});
            expected.put(p + "mlp.gate_proj.weight", new long[]{inter, h});
            expected.put(p + "mlp.up_proj.weight", new long[]{inter, h});
            expected.put(p + "mlp.down_proj.weight", new long[]{h, inter});
        }
        expected.put(tw.finalNorm(), new long[]{h});
        expected.put(tw.lmHead(), new long[]{cfg.vocabSize(), h});
        return expected;
    }

    /** Builds {@code decoder.onnx} at {@code out} (plus {@code out + ".data"} when external). */
    public static void buildDecoder(ModelConfig cfg, WeightStore w, TextWeights tw, Path out, GraphOps.Storage opt,
                                    Map<String, String> metadata) {
        final int h = cfg.hiddenSize();
        final int hq = cfg.numHeads();
        final int hkv = cfg.numKvHeads();
        final int d = cfg.headDim();
        final int groups = hq / hkv;
        final int layers = cfg.numLayers();
        final int vocab = cfg.vocabSize();

        long bytes = 0;
        for (Map.Entry<String, long[]> e : expectedShapes(cfg, tw).entrySet()) {
            TensorInfo t = w.require(e.getKey(), e.getValue());
            bytes += storedBytes(t, opt);
        }

        OnnxGraph g = GraphOps.newGraph("kvpolicy_decoder", out, bytes, opt);
        try {
            String embeds = g.input("inputs_embeds", Elem.FLOAT, "batch", "seq", h);
            g.input("position_ids", Elem.INT64, "batch", "seq");
            g.input("input_mask", Elem.FLOAT, "batch", "seq");
            g.input("query_index", Elem.INT64, "w");
            g.input("logits_index", Elem.INT64, "batch");
            boolean mrope = cfg.rope().isMrope();
            if (mrope) g.input(ROPE_OFFSETS, Elem.INT64, 3, "batch", "seq");
            for (int i = 0; i < layers; i++) {
                kvInput(g, opt, "past_key." + i, "batch", hkv, "past_" + i, d);
                kvInput(g, opt, "past_value." + i, "batch", hkv, "past_" + i, d);
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
            String scale = scalar(g, opt, "scale", (float) (1.0 / Math.sqrt(d)));
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
            float[] half = cfg.rope().inverseFrequencies(d, cfg.ropeTheta());
            float[] inv = new float[d];
            for (int i = 0; i < d / 2; i++) {
                inv[i] = half[i];
                inv[i + d / 2] = half[i];
            }
            String invFreq = g.constF32("inv_freq", new long[]{d}, inv);
            String emb;
            if (mrope) {
                // three position components (t, h, w) = position_ids + rope_offsets; dimension j follows component comp[j]
                String pos3 = g.op("Add", g.op("Unsqueeze", "position_ids", ax0), ROPE_OFFSETS);          // [3,B,S]
                String pos3f = g.node("Cast", List.of(pos3), Attr.i("to", Elem.FLOAT.onnxType()));
                String comp = g.constI64("mrope_comp", false, cfg.rope().mropeComponents(d));
                String perDim = g.node("Gather", List.of(pos3f, comp), Attr.i("axis", 0));                  // [D,B,S]
                emb = g.op("Mul", transpose(g, perDim, null, 1, 2, 0), invFreq);                            // [B,S,D]
            } else {
                String pos = g.node("Cast", List.of("position_ids"), Attr.i("to", Elem.FLOAT.onnxType()));
                emb = g.op("Mul", g.op("Unsqueeze", pos, axLast), invFreq);                               // [B,S,D]
            }
            String cos = toCompute(g, opt, g.op("Unsqueeze", g.op("Cos", emb), ax1));  // [B,1,S,D]
            String sin = toCompute(g, opt, g.op("Unsqueeze", g.op("Sin", emb), ax1));

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
                String p = tw.layer(i);
                String hN = toCompute(g, opt, rmsNorm(g, w, x, p + "input_layernorm.weight", eps, axLast));
                String q = gemm(g, w, hN, p + "self_attn.q_proj", cfg.qkvBias(), opt);
                String k = gemm(g, w, hN, p + "self_attn.k_proj", cfg.qkvBias(), opt);
                String v = gemm(g, w, hN, p + "self_attn.v_proj", cfg.qkvBias(), opt);
                String q4 = g.op("Reshape", q, shapeQ);                                              // [B,S,Hq,D]
                String k4 = g.op("Reshape", k, shapeKv);                                             // [B,S,Hkv,D]
                if (cfg.qkNorm()) {
                    q4 = toCompute(g, opt, rmsNorm(g, w, toFloat(g, opt, q4), p + "self_attn.q_norm.weight", eps, axLast));
                    k4 = toCompute(g, opt, rmsNorm(g, w, toFloat(g, opt, k4), p + "self_attn.k_norm.weight", eps, axLast));
                }
                String qT = transpose(g, q4, null, 0, 2, 1, 3);                                      // [B,Hq,S,D]
                String kT = transpose(g, k4, null, 0, 2, 1, 3);                                      // [B,Hkv,S,D]
                transpose(g, g.op("Reshape", v, shapeKv), kvValue(opt, "present_value." + i), 0, 2, 1, 3);
                String qR = rope(g, qT, cos, sin, zeroI, halfD, fullD, ax3, null);
                String kR = rope(g, kT, cos, sin, zeroI, halfD, fullD, ax3, kvValue(opt, "present_key." + i));
                publishFloat(g, opt, g.node("Gather", List.of(qR, "query_index"), Attr.i("axis", 2)), "queries." + i);

                String qg = g.op("Reshape", g.op("Mul", qR, scale), grouped);                          // [B,Hkv,G*S,D]
                String sPast = toFloat(g, opt, g.op("MatMul", qg, transpose(g, kvValue(opt, "past_key." + i), null, 0, 1, 3, 2))); // [B,Hkv,GS,P]
                sPast = g.op("Add", sPast, g.op("Unsqueeze", "past_mask." + i, ax2));
                String sNew = toFloat(g, opt, g.op("MatMul", qg, transpose(g, kR, null, 0, 1, 3, 2))); // [B,Hkv,GS,S]
                sNew = g.op("Add", sNew, newMask);
                String probs = toCompute(g, opt, g.node("Softmax", List.of(g.node("Concat", List.of(sPast, sNew), Attr.i("axis", -1))),
                        Attr.i("axis", -1)));
                String pLen = g.node("Shape", List.of(kvValue(opt, "past_key." + i)), Attr.i("start", 2), Attr.i("end", 3));
                String pPast = g.op("Slice", probs, zeroI, pLen, ax3);
                String pNew = g.op("Slice", probs, pLen, maxI, ax3);
                String o = g.op("Add", g.op("MatMul", pPast, kvValue(opt, "past_value." + i)), g.op("MatMul", pNew, kvValue(opt, "present_value." + i)));
                o = transpose(g, g.op("Reshape", o, ungrouped), null, 0, 2, 1, 3);                     // [B,S,Hq,D]
                String attn = gemm(g, w, g.op("Reshape", o, flatQ), p + "self_attn.o_proj", false, opt);
                x = g.op("Add", x, toFloat(g, opt, attn));

                String h2 = toCompute(g, opt, rmsNorm(g, w, x, p + "post_attention_layernorm.weight", eps, axLast));
                String gate = gemm(g, w, h2, p + "mlp.gate_proj", false, opt);
                String up = gemm(g, w, h2, p + "mlp.up_proj", false, opt);
                String act = g.op("Mul", g.op("Mul", gate, g.op("Sigmoid", gate)), up);
                x = g.op("Add", x, toFloat(g, opt, gemm(g, w, act, p + "mlp.down_proj", false, opt)));
            }
            String x3 = g.op("Reshape", x, shapeBsh);                                                // [B,S,H]
            String last = g.node("GatherND", List.of(x3, g.op("Unsqueeze", "logits_index", axLast)), Attr.i("batch_dims", 1));
            String normed = toCompute(g, opt, rmsNorm(g, w, last, tw.finalNorm(), eps, axLast));
            String head = matrix(g, w, tw.lmHead(), opt);
            publishFloat(g, opt, g.node("Gemm", List.of(normed, head), Attr.i("transB", 1)), "logits");

            declareDecoderOutputs(g, opt, layers, hq, hkv, d, vocab);
            Map<String, String> meta = new LinkedHashMap<>(metadata);
            meta.put("kvpolicy.rope_theta", Double.toString(cfg.ropeTheta()));
            meta.put("kvpolicy.rope_type", cfg.rope().isMrope() ? "mrope" : cfg.rope().type());
            if (cfg.rope().isMrope()) meta.put("kvpolicy.mrope_section", cfg.rope().mropeSection().toString());
            meta.put("kvpolicy.rms_norm_eps", Double.toString(cfg.rmsNormEps()));
            meta.put("kvpolicy.qkv_bias", Boolean.toString(cfg.qkvBias()));
            meta.put("kvpolicy.qk_norm", Boolean.toString(cfg.qkNorm()));
            meta.put("kvpolicy.tied_embeddings", Boolean.toString(tw.tied()));
            if (cfg.slidingWindow() > 0) meta.put("kvpolicy.sliding_window", Integer.toString(cfg.slidingWindow()));
            g.save(out, meta);
        } catch (RuntimeException e) {
            g.abandon();
            throw e;
        }
    }

    /** Builds {@code embed.onnx}: {@code input_ids} i64 [B,S] → {@code inputs_embeds} f32 [B,S,H] (a Gather). */
    public static void buildEmbed(ModelConfig cfg, WeightStore w, TextWeights tw, Path out, GraphOps.Storage opt,
                                  Map<String, String> metadata) {
        buildEmbed(cfg, w, tw, out, opt, metadata, 1f);
    }

    /**
     * Builds {@code embed.onnx}: the embedding rows of {@code input_ids} (widened to f32 when stored half) times
     * {@code scale} (1 = no multiplication; Gemma scales by √H, recorded as {@code kvpolicy.embed_scale}).
     */
    public static void buildEmbed(ModelConfig cfg, WeightStore w, TextWeights tw, Path out, GraphOps.Storage opt,
                                  Map<String, String> metadata, float scale) {
        TensorInfo t = w.require(tw.embedding(), cfg.vocabSize(), cfg.hiddenSize());
        OnnxGraph g = GraphOps.newGraph("kvpolicy_embed", out, storedBytes(t, opt), opt);
        try {
            g.input("input_ids", Elem.INT64, "batch", "seq");
            boolean halfW = opt.computeHalf() || opt.keepHalfWeights() && t.dtype() != DType.F32;
            String table = opt.computeHalf() ? GraphOps.fp16Initializer(g, w, t, t.name()) : initializer(g, w, t, halfW);
            String x = g.node("Gather", List.of(table, "input_ids"), Attr.i("axis", 0));
            if (halfW) x = g.node("Cast", List.of(x), Attr.i("to", Elem.FLOAT.onnxType()));
            if (scale != 1f) x = g.op("Mul", x, g.scalarF32("embed_scale", scale));
            g.nodeNamed("Identity", "inputs_embeds", List.of(x));
            g.output("inputs_embeds", Elem.FLOAT, "batch", "seq", cfg.hiddenSize());
            Map<String, String> meta = new LinkedHashMap<>(metadata);
            if (scale != 1f) meta.put("kvpolicy.embed_scale", Float.toString(scale));
            g.save(out, meta);
        } catch (RuntimeException e) {
            g.abandon();
            throw e;
        }
    }

    /** Declares the decoder contract's outputs: {@code logits} [B,V] and per layer present K/V [B,Hkv,S,D] and queries [B,Hq,W,D]. */
    static void declareDecoderOutputs(OnnxGraph g, GraphOps.Storage opt, int layers, int hq, int hkv, int d, int vocab) {
        g.output("logits", Elem.FLOAT, "batch", vocab);
        for (int i = 0; i < layers; i++) {
            kvOutput(g, opt, "present_key." + i);
            kvOutput(g, opt, "present_value." + i);
            g.output("present_key." + i, opt.kvElem(), "batch", hkv, "seq", d);
            g.output("present_value." + i, opt.kvElem(), "batch", hkv, "seq", d);
            g.output("queries." + i, Elem.FLOAT, "batch", hq, "w", d);
        }
    }
}
