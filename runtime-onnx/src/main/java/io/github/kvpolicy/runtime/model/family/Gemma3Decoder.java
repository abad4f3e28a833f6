package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.Gemma3TextConfig;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.config.RopeScaling;
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

import static io.github.kvpolicy.runtime.model.graph.GraphOps.activation;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.gemm;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.initializer;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.kvInput;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.kvValue;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.matrix;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.publishFloat;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.scalar;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.toCompute;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.toFloat;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.rope;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.storedBytes;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.transpose;

/**
 * The Gemma 3 language model ({@code gemma3_text}) as a contract decoder graph, and its scaled embedding graph.
 *
 * <p>Per layer: {@code h = RMSNorm₁₊w(x)}; q, k, v projections (no bias); per-head {@code RMSNorm₁₊w} of q and k over
 * D; rotary "rotate_half" with the local θ on sliding layers and the global θ (and rope scaling) on global layers;
 * scores scaled by {@code query_pre_attn_scalar^-1/2}; {@code x += RMSNorm₁₊w(o_proj(attn))} (post-attention norm);
 * {@code x += RMSNorm₁₊w(down(gelu_tanh(gate(h2)) · up(h2)))} with {@code h2 = RMSNorm₁₊w(x)} (pre/post feed-forward
 * norms). Finally {@code logits = lm_head(RMSNorm₁₊w(x[logits_index]))}, soft-capped when configured. {@code
 * RMSNorm₁₊w(x) = x / sqrt(mean(x²) + eps) · (1 + w)}.
 *
 * <p>Masking (beyond the contract's causal + input/past masks): two extra inputs, named in
 * {@code docs/decoder-contract.md}. {@code image_group} i64 {@code [B, S]} gives each new token's image index (−1 for
 * text); two new tokens of the same image attend to each other in both directions (transformers'
 * {@code token_type_ids} rule). On a sliding layer {@code i} with window W a query at position t sees only keys at
 * positions p with {@code t - p < W}: for new keys p comes from {@code position_ids}, for cached keys from
 * {@code past_position.{i}} i64 {@code [B, Hkv, P_i]} (the slot's original position; only sliding layers take it).
 * The image rule wins over the window (as transformers ORs the two).
 *
 * <p>With fp16 compute (as {@link TransformerDecoder}) projections and attention matmuls run in fp16; the residual
 * stream, every RMSNorm (including the post-attention and post-feed-forward norms of a projection's output), the
 * GELU, the mask, the softmax and the logit soft-cap stay fp32. Stateless.
 */
public final class Gemma3Decoder {
    private Gemma3Decoder() {}

    private static final float MASK = -1e9f;

    /** Decoder input: per new token, its image's index in the prompt, or −1 for text. */
    public static final String IMAGE_GROUP = "image_group";
    /** Decoder input prefix of a sliding layer's cached key positions ({@code past_position.{i}}). */
    public static final String PAST_POSITION = "past_position.";

    /** {@code x / sqrt(mean(x²) + eps) · (1 + w)} over the last axis (Gemma's RMSNorm). */
    static String rmsNormPlusOne(OnnxGraph g, WeightStore w, String x, String weight, String eps) {
        String ms = g.node("ReduceMean", List.of(g.op("Mul", x, x)), Attr.ints("axes", -1), Attr.i("keepdims", 1));
        String norm = g.op("Div", x, g.op("Sqrt", g.op("Add", ms, eps)));
        String onePlus = g.op("Add", initializer(g, w, w.info(weight), false), g.scalarF32("one_f", 1f));
        return g.op("Mul", norm, onePlus);
    }

    static Map<String, long[]> expectedShapes(ModelConfig cfg, TextWeights tw) {
        int h = cfg.hiddenSize(), hq = cfg.numHeads(), hkv = cfg.numKvHeads(), d = cfg.headDim(), inter = cfg.intermediateSize();
        Map<String, long[]> expected = new LinkedHashMap<>();
        for (int i = 0; i < cfg.numLayers(); i++) {
            String p = tw.layer(i);
            for (String n : List.of("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm")) {
                expected.put(p + n + ".weight", new long[]{h});
            }
            expected.put(p + "self_attn.q_proj.weight", new long[]{(long) hq * d, h});
            expected.put(p + "self_attn.k_proj.weight", new long[]{(long) hkv * d, h});
            expected.put(p + "self_attn.v_proj.weight", new long[]{(long) hkv * d, h});
            expected.put(p + "self_attn.q_norm.weight", new long[]{d});
            expected.put(p + "self_attn.k_norm.weight", new long[]{d});
            expected.put(p + "self_attn.o_proj.weight", new long[]{h, (long) hq * d});
            expected.put(p + "mlp.gate_proj.weight", new long[]{inter, h});
            expected.put(p + "mlp.up_proj.weight", new long[]{inter, h});
            expected.put(p + "mlp.down_proj.weight", new long[]{h, inter});
        }
        expected.put(tw.finalNorm(), new long[]{h});
        expected.put(tw.lmHead(), new long[]{cfg.vocabSize(), h});
        return expected;
    }

    /** cos/sin tables {@code [B,1,S,D]} for one rotary base. */
    private static String[] rotary(OnnxGraph g, RopeScaling rs, double theta, int d, String tag, String posF, String axLast, String ax1) {
        float[] half = rs.inverseFrequencies(d, theta);
        float[] inv = new float[d];
        for (int i = 0; i < d / 2; i++) {
            inv[i] = half[i];
            inv[i + d / 2] = half[i];
        }
        String emb = g.op("Mul", g.op("Unsqueeze", posF, axLast), g.constF32("inv_freq_" + tag, new long[]{d}, inv));
        return new String[]{g.op("Unsqueeze", g.op("Cos", emb), ax1), g.op("Unsqueeze", g.op("Sin", emb), ax1)};
    }

    /** The cos/sin pair in the compute type. */
    private static String[] inCompute(OnnxGraph g, GraphOps.Storage opt, String[] cosSin) {
        return new String[]{toCompute(g, opt, cosSin[0]), toCompute(g, opt, cosSin[1])};
    }

    /** Builds {@code decoder.onnx} at {@code out} (plus {@code out + ".data"} when external). */
    public static void buildDecoder(ModelConfig cfg, WeightStore w, TextWeights tw, Path out, GraphOps.Storage opt,
                                    Map<String, String> metadata) {
        Gemma3TextConfig gc = cfg.gemma3();
        final int h = cfg.hiddenSize(), hq = cfg.numHeads(), hkv = cfg.numKvHeads(), d = cfg.headDim();
        final int groups = hq / hkv, layers = cfg.numLayers(), vocab = cfg.vocabSize();
        long bytes = 0;
        for (Map.Entry<String, long[]> e : expectedShapes(cfg, tw).entrySet()) bytes += storedBytes(w.require(e.getKey(), e.getValue()), opt);

        OnnxGraph g = GraphOps.newGraph("kvpolicy_decoder", out, bytes, opt);
        try {
            String embeds = g.input("inputs_embeds", Elem.FLOAT, "batch", "seq", h);
            g.input("position_ids", Elem.INT64, "batch", "seq");
            g.input("input_mask", Elem.FLOAT, "batch", "seq");
            g.input("query_index", Elem.INT64, "w");
            g.input("logits_index", Elem.INT64, "batch");
            g.input(IMAGE_GROUP, Elem.INT64, "batch", "seq");
            for (int i = 0; i < layers; i++) {
                kvInput(g, opt, "past_key." + i, "batch", hkv, "past_" + i, d);
                kvInput(g, opt, "past_value." + i, "batch", hkv, "past_" + i, d);
                g.input("past_mask." + i, Elem.FLOAT, "batch", hkv, "past_" + i);
                if (gc.window(i) > 0) g.input(PAST_POSITION + i, Elem.INT64, "batch", hkv, "past_" + i);
            }

            String bs = g.node("Shape", List.of(embeds), Attr.i("end", 2));
            String shapeQ = g.node("Concat", List.of(bs, g.constI64("dims_q", false, hq, d)), Attr.i("axis", 0));
            String shapeKv = g.node("Concat", List.of(bs, g.constI64("dims_kv", false, hkv, d)), Attr.i("axis", 0));
            String shapeBsh = g.node("Concat", List.of(bs, g.constI64("dims_h", false, h)), Attr.i("axis", 0));
            String flatH = g.constI64("flat_h", false, -1, h);
            String flatQ = g.constI64("flat_q", false, -1, (long) hq * d);
            String grouped = g.constI64("grouped", false, 0, hkv, -1, d);
            String ungrouped = g.constI64("ungrouped", false, 0, hq, -1, d);
            String eps = g.scalarF32("eps", (float) cfg.rmsNormEps());
            String scale = scalar(g, opt, "scale", (float) gc.attentionScale());
            String ax0 = g.constI64("axes0", false, 0);
            String ax1 = g.constI64("axes1", false, 1);
            String ax2 = g.constI64("axes2", false, 2);
            String ax3 = g.constI64("axes3", false, 3);
            String axLast = g.constI64("axes_last", false, -1);
            String zeroI = g.constI64("zero", false, 0);
            String halfD = g.constI64("half_d", false, d / 2);
            String fullD = g.constI64("full_d", false, d);
            String maxI = g.constI64("int_max", false, Long.MAX_VALUE);
            String negF = g.scalarF32("neg", MASK);
            String zeroF = g.scalarF32("zero_f", 0f);
            String tileG = g.constI64("tile_g", false, 1, 1, groups, 1);

            String posF = g.node("Cast", List.of("position_ids"), Attr.i("to", Elem.FLOAT.onnxType()));
            String[] globalRope = inCompute(g, opt, rotary(g, cfg.rope(), cfg.ropeTheta(), d, "global", posF, axLast, ax1));
            String[] localRope = gc.hasSlidingLayers() ? inCompute(g, opt, rotary(g, RopeScaling.NONE, gc.localRopeTheta(), d, "local", posF, axLast, ax1)) : null;

            // -------- new-token masks [B,1,G*S,S]: (causal [∧ window]) ∨ same image, + input_mask
            String s1 = g.node("Shape", List.of(embeds), Attr.i("start", 1), Attr.i("end", 2));
            String range = g.op("Range", g.constI64("r0", true, 0), g.op("Squeeze", s1, ax0), g.constI64("r1", true, 1));
            String past = g.op("Not", g.op("Greater", g.op("Unsqueeze", range, ax0), g.op("Unsqueeze", range, ax1))); // [S,S] t <= s
            String grp = IMAGE_GROUP;
            String same = g.op("And", g.op("Equal", g.op("Unsqueeze", grp, ax2), g.op("Unsqueeze", grp, ax1)),
                    g.op("Greater", g.op("Unsqueeze", grp, ax2), g.constI64("minus1", true, -1)));            // [B,S,S]
            String inMask = g.op("Unsqueeze", "input_mask", g.constI64("axes12", false, 1, 2));                  // [B,1,1,S]
            String diffNew = g.op("Sub", g.op("Unsqueeze", "position_ids", ax2), g.op("Unsqueeze", "position_ids", ax1)); // [B,S,S] t-p
            String posQ4 = g.op("Unsqueeze", "position_ids", g.constI64("axes13", false, 1, 3));                 // [B,1,S,1]
            Map<Integer, String> newMasks = new LinkedHashMap<>();
            for (int i = 0; i < layers; i++) {
                int win = gc.window(i);
                if (newMasks.containsKey(win)) continue;
                String allowed = past;
                if (win > 0) allowed = g.op("And", past, g.op("Less", diffNew, g.constI64("window", true, win)));
                allowed = g.op("Or", allowed, same);
                String m = g.op("Add", g.op("Unsqueeze", g.op("Where", allowed, zeroF, negF), ax1), inMask);   // [B,1,S,S]
                newMasks.put(win, groups > 1 ? g.op("Tile", m, tileG) : m);
            }

            String x = g.op("Reshape", embeds, flatH);
            for (int i = 0; i < layers; i++) {
                String p = tw.layer(i);
                int win = gc.window(i);
                String[] cs = win > 0 ? localRope : globalRope;
                String hN = toCompute(g, opt, rmsNormPlusOne(g, w, x, p + "input_layernorm.weight", eps));
                String q4 = g.op("Reshape", gemm(g, w, hN, p + "self_attn.q_proj", false, opt), shapeQ);
                String k4 = g.op("Reshape", gemm(g, w, hN, p + "self_attn.k_proj", false, opt), shapeKv);
                q4 = toCompute(g, opt, rmsNormPlusOne(g, w, toFloat(g, opt, q4), p + "self_attn.q_norm.weight", eps));
                k4 = toCompute(g, opt, rmsNormPlusOne(g, w, toFloat(g, opt, k4), p + "self_attn.k_norm.weight", eps));
                String qT = transpose(g, q4, null, 0, 2, 1, 3);
                String kT = transpose(g, k4, null, 0, 2, 1, 3);
                transpose(g, g.op("Reshape", gemm(g, w, hN, p + "self_attn.v_proj", false, opt), shapeKv), kvValue(opt, "present_value." + i), 0, 2, 1, 3);
                String qR = rope(g, qT, cs[0], cs[1], zeroI, halfD, fullD, ax3, null);
                String kR = rope(g, kT, cs[0], cs[1], zeroI, halfD, fullD, ax3, kvValue(opt, "present_key." + i));
                publishFloat(g, opt, g.node("Gather", List.of(qR, "query_index"), Attr.i("axis", 2)), "queries." + i);

                String qg = g.op("Reshape", g.op("Mul", qR, scale), grouped);
                String sPast = toFloat(g, opt, g.op("MatMul", qg, transpose(g, kvValue(opt, "past_key." + i), null, 0, 1, 3, 2)));
                sPast = g.op("Add", sPast, g.op("Unsqueeze", "past_mask." + i, ax2));
                if (win > 0) {
                    // cached keys further back than the window: t - p >= W, on original positions
                    String diff = g.op("Sub", posQ4, g.op("Unsqueeze", PAST_POSITION + i, ax2));              // [B,Hkv,S,P]
                    String outside = g.op("Where", g.op("Less", diff, g.constI64("window", true, win)), zeroF, negF);
                    sPast = g.op("Add", sPast, groups > 1 ? g.op("Tile", outside, tileG) : outside);
                }
                String sNew = g.op("Add", toFloat(g, opt, g.op("MatMul", qg, transpose(g, kR, null, 0, 1, 3, 2))), newMasks.get(win));
                String probs = toCompute(g, opt, g.node("Softmax", List.of(g.node("Concat", List.of(sPast, sNew), Attr.i("axis", -1))), Attr.i("axis", -1)));
                String pLen = g.node("Shape", List.of(kvValue(opt, "past_key." + i)), Attr.i("start", 2), Attr.i("end", 3));
                String o = g.op("Add", g.op("MatMul", g.op("Slice", probs, zeroI, pLen, ax3), kvValue(opt, "past_value." + i)),
                        g.op("MatMul", g.op("Slice", probs, pLen, maxI, ax3), kvValue(opt, "present_value." + i)));
                o = transpose(g, g.op("Reshape", o, ungrouped), null, 0, 2, 1, 3);
                String attn = gemm(g, w, g.op("Reshape", o, flatQ), p + "self_attn.o_proj", false, opt);
                x = g.op("Add", x, rmsNormPlusOne(g, w, toFloat(g, opt, attn), p + "post_attention_layernorm.weight", eps));

                String h2 = toCompute(g, opt, rmsNormPlusOne(g, w, x, p + "pre_feedforward_layernorm.weight", eps));
                String gelu = toCompute(g, opt, activation(g, toFloat(g, opt, gemm(g, w, h2, p + "mlp.gate_proj", false, opt)), "gelu_pytorch_tanh"));
                String act = g.op("Mul", gelu, gemm(g, w, h2, p + "mlp.up_proj", false, opt));
                String mlp = gemm(g, w, act, p + "mlp.down_proj", false, opt);
                x = g.op("Add", x, rmsNormPlusOne(g, w, toFloat(g, opt, mlp), p + "post_feedforward_layernorm.weight", eps));
            }
            String x3 = g.op("Reshape", x, shapeBsh);
            String last = g.node("GatherND", List.of(x3, g.op("Unsqueeze", "logits_index", axLast)), Attr.i("batch_dims", 1));
            String normed = toCompute(g, opt, rmsNormPlusOne(g, w, last, tw.finalNorm(), eps));
            String head = matrix(g, w, tw.lmHead(), opt);
            if (gc.finalLogitSoftcap() > 0) {
                String cap = g.scalarF32("softcap", (float) gc.finalLogitSoftcap());
                String raw = toFloat(g, opt, g.node("Gemm", List.of(normed, head), Attr.i("transB", 1)));
                g.nodeNamed("Mul", "logits", List.of(g.op("Tanh", g.op("Div", raw, cap)), cap));
            } else {
                publishFloat(g, opt, g.node("Gemm", List.of(normed, head), Attr.i("transB", 1)), "logits");
            }

            TransformerDecoder.declareDecoderOutputs(g, opt, layers, hq, hkv, d, vocab);
            Map<String, String> meta = new LinkedHashMap<>(metadata);
            meta.put("kvpolicy.rope_theta", Double.toString(cfg.ropeTheta()));
            meta.put("kvpolicy.rope_type", cfg.rope().type());
            meta.put("kvpolicy.rms_norm_eps", Double.toString(cfg.rmsNormEps()));
            meta.put("kvpolicy.qkv_bias", "false");
            meta.put("kvpolicy.qk_norm", "true");
            meta.put("kvpolicy.tied_embeddings", Boolean.toString(tw.tied()));
            meta.put("kvpolicy.layer_windows", gc.layerWindows().toString().replace(" ", ""));
            meta.put("kvpolicy.local_rope_theta", Double.toString(gc.localRopeTheta()));
            meta.put("kvpolicy.attention_scale", Double.toString(gc.attentionScale()));
            meta.put("kvpolicy.image_bidirectional", "true");
            if (gc.finalLogitSoftcap() > 0) meta.put("kvpolicy.final_logit_softcapping", Double.toString(gc.finalLogitSoftcap()));
            g.save(out, meta);
        } catch (RuntimeException e) {
            g.abandon();
            throw e;
        }
    }

    /** Builds {@code embed.onnx}: the token embedding scaled by √H (in f32, as transformers' scaled embedding). */
    public static void buildEmbed(ModelConfig cfg, WeightStore w, TextWeights tw, Path out, GraphOps.Storage opt,
                                  Map<String, String> metadata) {
        TransformerDecoder.buildEmbed(cfg, w, tw, out, opt, metadata, (float) Math.sqrt(cfg.hiddenSize()));
    }
}
