package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.config.Qwen2VlVisionConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Attr;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Elem;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.github.kvpolicy.runtime.model.graph.GraphOps.activation;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.gemm;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.initializer;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.layerNorm;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.rope;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.storedBytes;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.transpose;

/**
 * Qwen2-VL and Qwen2.5-VL (Qwen2VLForConditionalGeneration, Qwen2_5_VLForConditionalGeneration): a Qwen2 language model with M-RoPE (the decoder takes the extra input
 * {@link TransformerDecoder#ROPE_OFFSETS}) and the Qwen2-VL vision tower. {@code vision.onnx}: {@code pixel_values} f32
 * {@code [N, C·T·P·P]} (one image's patches, flattened by the image processor in merge-block order) and
 * {@code vision_position_ids} i64 {@code [N, 2]} (each patch's row and column, {@link Qwen2VlVisionConfig#patchPositions})
 * → {@code image_embeds} f32 {@code [N / merge², H]}. All patches of one call attend to each other, so one call must hold
 * one image. Stateless singleton.
 */
public final class Qwen2VlFamily extends DecoderFamily {
    /** The instance. */
    public static final Qwen2VlFamily INSTANCE = new Qwen2VlFamily();
    /** Tower prefixes tried in order (legacy, then transformers ≥ 4.52). */
    public static final List<String> PREFIXES = List.of("visual.", "model.visual.");

    private Qwen2VlFamily() {}

    /**
     * transformers' {@code get_rope_index} for images: the (temporal, height, width) rotary positions {@code [3][L]} of
     * a prompt. Text runs count up from the next position; a run of image tokens for a (t, h, w) patch grid gets
     * {@code start + (ti, hi, wi)} over its (t, h/m, w/m) merged grid, and the text after it continues at
     * {@code start + max(t, h/m, w/m)}.
     *
     * @param grids one {t, h, w} patch grid per image, in prompt order
     * @throws IllegalArgumentException when the image-token runs do not match the grids
     */
    public static long[][] ropePositions(long[] ids, long imageToken, List<int[]> grids, int merge) {
        long[][] pos = new long[3][ids.length];
        long next = 0;
        int image = 0;
        for (int i = 0; i < ids.length; ) {
            if (ids[i] != imageToken) {
                for (int c = 0; c < 3; c++) pos[c][i] = next;
                next++;
                i++;
                continue;
            }
            if (image >= grids.size()) throw new IllegalArgumentException("the prompt has more image-token runs than the " + grids.size() + " image grid(s)");
            int[] g = grids.get(image++);
            int t = g[0], h = g[1] / merge, w = g[2] / merge;
            if (i + t * h * w > ids.length) throw new IllegalArgumentException("image " + image + " needs " + t * h * w + " image tokens, the prompt ends first");
            for (int tt = 0; tt < t; tt++) {
                for (int hh = 0; hh < h; hh++) {
                    for (int ww = 0; ww < w; ww++, i++) {
                        if (ids[i] != imageToken) throw new IllegalArgumentException("image " + image + " needs " + t * h * w + " consecutive image tokens");
                        pos[0][i] = next + tt;
                        pos[1][i] = next + hh;
                        pos[2][i] = next + ww;
                    }
                }
            }
            next += Math.max(t, Math.max(h, w));
        }
        if (image != grids.size()) throw new IllegalArgumentException("the prompt has " + image + " image-token run(s) for " + grids.size() + " image grid(s)");
        return pos;
    }

    /**
     * The runtime's {@code rope_offsets} for positions {@code pos} {@code [3][L]}: every position shifted by the same
     * amount so that the next token's position is L (where the runtime continues), which leaves every relative
     * position, and so the attention, unchanged: {@code offsets[c][p] = pos[c][p] + L - (max + 1) - p}.
     */
    public static long[][] ropeOffsets(long[][] pos) {
        int l = pos[0].length;
        long max = -1;
        for (long[] row : pos) for (long v : row) max = Math.max(max, v);
        long shift = l - (max + 1);
        long[][] off = new long[3][l];
        for (int c = 0; c < 3; c++) for (int p = 0; p < l; p++) off[c][p] = pos[c][p] + shift - p;
        return off;
    }

    @Override
    public String name() {
        return "qwen2_vl";
    }

    @Override
    public String toString() {
        return "qwen2_vl (Qwen2-VL and Qwen2.5-VL)";
    }

    @Override
    public void buildVision(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage opt, Map<String, String> metadata) {
        Qwen2VlVisionConfig v = cfg.qwen2VlConfig().orElseThrow(() -> new IllegalArgumentException("model config has no Qwen2-VL vision_config"));
        String vp = VitTower.resolve(w, PREFIXES, "patch_embed.proj.weight", "Qwen2-VL vision tower");
        int e = v.hiddenSize(), pv = v.patchValues(), m2 = v.spatialMergeSize() * v.spatialMergeSize(), h = v.outHiddenSize();
        int heads = v.numHeads(), hd = v.headDim(), inter = v.intermediateSize();
        boolean v25 = v.v25();
        if (h != cfg.hiddenSize()) {
            throw new IllegalArgumentException("vision_config hidden_size " + h + " differs from the language model's " + cfg.hiddenSize());
        }
        Map<String, long[]> expected = new LinkedHashMap<>();
        expected.put(vp + "patch_embed.proj.weight", new long[]{e, v.inChannels(), v.temporalPatchSize(), v.patchSize(), v.patchSize()});
        for (int i = 0; i < v.depth(); i++) {
            String p = vp + "blocks." + i + ".";
            for (String n : List.of("norm1", "norm2")) {
                expected.put(p + n + ".weight", new long[]{e});
                if (!v25) expected.put(p + n + ".bias", new long[]{e});
            }
            expected.put(p + "attn.qkv.weight", new long[]{3L * e, e});
            expected.put(p + "attn.qkv.bias", new long[]{3L * e});
            expected.put(p + "attn.proj.weight", new long[]{e, e});
            expected.put(p + "attn.proj.bias", new long[]{e});
            if (v25) {
                for (String n : List.of("gate_proj", "up_proj")) {
                    expected.put(p + "mlp." + n + ".weight", new long[]{inter, e});
                    expected.put(p + "mlp." + n + ".bias", new long[]{inter});
                }
                expected.put(p + "mlp.down_proj.weight", new long[]{e, inter});
                expected.put(p + "mlp.down_proj.bias", new long[]{e});
            } else {
                expected.put(p + "mlp.fc1.weight", new long[]{inter, e});
                expected.put(p + "mlp.fc1.bias", new long[]{inter});
                expected.put(p + "mlp.fc2.weight", new long[]{e, inter});
                expected.put(p + "mlp.fc2.bias", new long[]{e});
            }
        }
        expected.put(vp + "merger.ln_q.weight", new long[]{e});
        if (!v25) expected.put(vp + "merger.ln_q.bias", new long[]{e});
        expected.put(vp + "merger.mlp.0.weight", new long[]{(long) e * m2, (long) e * m2});
        expected.put(vp + "merger.mlp.0.bias", new long[]{(long) e * m2});
        expected.put(vp + "merger.mlp.2.weight", new long[]{h, (long) e * m2});
        expected.put(vp + "merger.mlp.2.bias", new long[]{h});
        long bytes = 0;
        for (Map.Entry<String, long[]> x : expected.entrySet()) bytes += storedBytes(w.require(x.getKey(), x.getValue()), opt);

        OnnxGraph g = GraphOps.newGraph("kvpolicy_vision", out, bytes, opt);
        try {
            g.input("pixel_values", Elem.FLOAT, "patches", pv);
            g.input("vision_position_ids", Elem.INT64, "patches", 2);
            String patchW = g.op("Reshape", initializer(g, w, w.info(vp + "patch_embed.proj.weight"), false), g.constI64("patch_w", false, e, pv));
            String x = g.node("Gemm", List.of("pixel_values", patchW), Attr.i("transB", 1));              // [N,E]

            // 2-D rotary: angles = [row·inv, col·inv] repeated twice -> [N, hd]
            float[] inv = new float[hd / 4];
            int dim = hd / 2;
            for (int i = 0; i < inv.length; i++) inv[i] = 1.0f / (float) Math.pow(10000.0, (float) (2 * i) / (float) dim);
            String posF = g.node("Cast", List.of("vision_position_ids"), Attr.i("to", Elem.FLOAT.onnxType()));
            String ang = g.op("Mul", g.op("Unsqueeze", posF, g.constI64("ax_last", false, -1)), g.constF32("vis_inv_freq", new long[]{inv.length}, inv));
            ang = g.op("Reshape", ang, g.constI64("ang_flat", false, -1, dim));                           // [N, hd/2]
            ang = g.node("Concat", List.of(ang, ang), Attr.i("axis", -1));                                // [N, hd]
            String cos = g.op("Cos", ang), sin = g.op("Sin", ang);
            String zero = g.constI64("zero", false, 0), halfD = g.constI64("half_d", false, hd / 2), fullD = g.constI64("full_d", false, hd);
            String ax3 = g.constI64("axes3", false, 3);

            String eps = g.scalarF32("eps", 1e-6f);
            String axLast = g.constI64("axes_last", false, -1);
            // Qwen2.5-VL windows: patches attend within their window (window = position // window side in patches)
            String windowMask = null;
            if (v25 && v.fullAttentionBlocks().size() < v.depth()) {
                String win = g.op("Div", "vision_position_ids", g.constI64("win_side", false, v.windowPatches()));          // [N,2]
                String id = g.op("Add", g.op("Mul", g.node("Gather", List.of(win, g.constI64("c0", true, 0)), Attr.i("axis", 1)),
                        g.constI64("win_stride", true, 1L << 32)), g.node("Gather", List.of(win, g.constI64("c1", true, 1)), Attr.i("axis", 1)));
                String same = g.op("Equal", g.op("Unsqueeze", id, g.constI64("ax1", false, 1)), g.op("Unsqueeze", id, zero));  // [N,N]
                windowMask = g.op("Where", same, g.scalarF32("zero_f", 0f), g.scalarF32("neg", -1e9f));
            }
            String qkvShape = g.constI64("qkv_shape", false, -1, 3, heads, hd);
            String scale = g.scalarF32("attn_scale", (float) Math.pow(hd, -0.5));
            for (int i = 0; i < v.depth(); i++) {
                String p = vp + "blocks." + i + ".";
                String hN = v25 ? GraphOps.rmsNorm(g, w, x, p + "norm1.weight", eps, axLast) : layerNorm(g, w, x, p + "norm1", 1e-6);
                String qkv = transpose(g, g.op("Reshape", gemm(g, w, hN, p + "attn.qkv", true, opt), qkvShape), null, 1, 2, 0, 3); // [3,heads,N,hd]
                String q = g.op("Unsqueeze", g.node("Gather", List.of(qkv, g.constI64("i0", true, 0)), Attr.i("axis", 0)), zero);  // [1,heads,N,hd]
                String k = g.op("Unsqueeze", g.node("Gather", List.of(qkv, g.constI64("i1", true, 1)), Attr.i("axis", 0)), zero);
                String vv = g.node("Gather", List.of(qkv, g.constI64("i2", true, 2)), Attr.i("axis", 0));                         // [heads,N,hd]
                q = rope(g, q, cos, sin, zero, halfD, fullD, ax3, null);
                k = rope(g, k, cos, sin, zero, halfD, fullD, ax3, null);
                String scores = g.op("Mul", g.op("MatMul", q, transpose(g, k, null, 0, 1, 3, 2)), scale);   // [1,heads,N,N]
                if (windowMask != null && !v.fullAttentionBlocks().contains(i)) scores = g.op("Add", scores, windowMask);
                String probs = g.node("Softmax", List.of(scores), Attr.i("axis", -1));
                String o = transpose(g, g.op("MatMul", probs, g.op("Unsqueeze", vv, zero)), null, 0, 2, 1, 3); // [1,N,heads,hd]
                x = g.op("Add", x, gemm(g, w, g.op("Reshape", o, g.constI64("attn_flat", false, -1, e)), p + "attn.proj", true, opt));
                if (v25) {
                    String h2 = GraphOps.rmsNorm(g, w, x, p + "norm2.weight", eps, axLast);
                    String act = g.op("Mul", activation(g, gemm(g, w, h2, p + "mlp.gate_proj", true, opt), v.hiddenAct()),
                            gemm(g, w, h2, p + "mlp.up_proj", true, opt));
                    x = g.op("Add", x, gemm(g, w, act, p + "mlp.down_proj", true, opt));
                } else {
                    String h2 = layerNorm(g, w, x, p + "norm2", 1e-6);
                    x = g.op("Add", x, gemm(g, w, activation(g, gemm(g, w, h2, p + "mlp.fc1", true, opt), v.hiddenAct()), p + "mlp.fc2", true, opt));
                }
            }
            String lnQ = v25 ? GraphOps.rmsNorm(g, w, x, vp + "merger.ln_q.weight", eps, axLast) : layerNorm(g, w, x, vp + "merger.ln_q", 1e-6);
            String merged = g.op("Reshape", lnQ, g.constI64("merge", false, -1, (long) e * m2));
            String m1 = activation(g, gemm(g, w, merged, vp + "merger.mlp.0", true, opt), "gelu");
            g.nodeNamed("Gemm", "image_embeds", List.of(m1, GraphOps.matrix(g, w, vp + "merger.mlp.2.weight", opt),
                    initializer(g, w, w.info(vp + "merger.mlp.2.bias"), false)), Attr.i("transB", 1));
            g.output("image_embeds", Elem.FLOAT, "tokens", h);
            Map<String, String> meta = new LinkedHashMap<>(withFamily(metadata));
            meta.put("kvpolicy.vision_input", "pixel_values");
            meta.put("kvpolicy.vision_model_type", v25 ? "qwen2_5_vl" : "qwen2_vl");
            meta.put("kvpolicy.spatial_merge_size", Integer.toString(v.spatialMergeSize()));
            g.save(out, meta);
        } catch (RuntimeException ex) {
            g.abandon();
            throw ex;
        }
    }
}
