package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.config.VitVisionConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Attr;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Elem;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsException;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.github.kvpolicy.runtime.model.graph.GraphOps.activation;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.gemm;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.initializer;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.layerNorm;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.storedBytes;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.transpose;

/**
 * Builds {@code vision.onnx} for a Hugging Face ViT tower and its connector ({@link VitVisionConfig}):
 * {@code pixel_values} f32 {@code [B, C, S, S]} (already resized and normalised by the image processor; S =
 * image_size) → {@code image_embeds} f32 {@code [B, T, H]}, T = {@link VitVisionConfig#tokensPerImage()}, in the
 * order the language model receives them at its image-token positions. Weight names are looked up under the prefixes
 * of both checkpoint layouts ({@link #TOWER_PREFIXES}, {@link #PROJECTOR_PREFIXES}). Stateless.
 */
public final class VitTower {
    private VitTower() {}

    /** Tower prefixes tried in order (the first holding {@code embeddings.patch_embedding.weight} wins). */
    public static final List<String> TOWER_PREFIXES = List.of("vision_tower.vision_model.", "vision_tower.",
            "model.vision_tower.vision_model.", "model.vision_tower.", "model.vision_model.", "vision_model.");
    /** Projector / connector prefixes tried in order. */
    public static final List<String> PROJECTOR_PREFIXES = List.of("multi_modal_projector.", "model.multi_modal_projector.",
            "model.connector.modality_projection.", "connector.modality_projection.");

    /** Where the anyres row separator lives, in both layouts. */
    public static final List<String> NEWLINE_NAMES = List.of("image_newline", "model.image_newline");

    static String resolve(WeightStore w, List<String> prefixes, String probe, String what) {
        for (String p : prefixes) {
            if (w.contains(p + probe)) return p;
        }
        throw new SafetensorsException(w + ": no " + what + " found, looked for \"" + probe + "\" under the prefixes " + prefixes);
    }

    /** Builds the graph; {@code metadata} is extended with the vision keys. */
    public static void build(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage opt, Map<String, String> metadata) {
        VitVisionConfig v = cfg.vitConfig().orElseThrow(() -> new IllegalArgumentException("model config has no ViT vision_config"));
        String tp = resolve(w, TOWER_PREFIXES, "embeddings.patch_embedding.weight", "vision tower");
        boolean shuffle = v.connector() == VitVisionConfig.Connector.PIXEL_SHUFFLE;
        boolean pool = v.connector() == VitVisionConfig.Connector.AVG_POOL;
        String pp = resolve(w, PROJECTOR_PREFIXES, pool ? "mm_input_projection_weight" : shuffle ? "proj.weight" : "linear_1.weight",
                pool ? "average-pool projector" : shuffle ? "pixel-shuffle connector" : "projector");
        int dv = v.hiddenSize(), c = v.numChannels(), ps = v.patchSize(), n = v.numPatches(), side = v.patchesPerSide();
        int h = cfg.hiddenSize(), inter = v.intermediateSize();
        int t0 = n + (v.classToken() ? 1 : 0); // tower sequence length
        boolean patchBias = w.contains(tp + "embeddings.patch_embedding.bias");

        // -------- check every weight first
        Map<String, long[]> expected = new LinkedHashMap<>();
        expected.put(tp + "embeddings.patch_embedding.weight", new long[]{dv, c, ps, ps});
        if (patchBias) expected.put(tp + "embeddings.patch_embedding.bias", new long[]{dv});
        expected.put(tp + "embeddings.position_embedding.weight", new long[]{t0, dv});
        if (v.classToken()) {
            expected.put(tp + "embeddings.class_embedding", new long[]{dv});
            expected.put(tp + "pre_layrnorm.weight", new long[]{dv});
            expected.put(tp + "pre_layrnorm.bias", new long[]{dv});
        }
        for (int i = 0; i < v.layersRun(); i++) {
            String p = tp + "encoder.layers." + i + ".";
            for (String ln : List.of("layer_norm1", "layer_norm2")) {
                expected.put(p + ln + ".weight", new long[]{dv});
                expected.put(p + ln + ".bias", new long[]{dv});
            }
            for (String proj : List.of("q_proj", "k_proj", "v_proj", "out_proj")) {
                expected.put(p + "self_attn." + proj + ".weight", new long[]{dv, dv});
                expected.put(p + "self_attn." + proj + ".bias", new long[]{dv});
            }
            expected.put(p + "mlp.fc1.weight", new long[]{inter, dv});
            expected.put(p + "mlp.fc1.bias", new long[]{inter});
            expected.put(p + "mlp.fc2.weight", new long[]{dv, inter});
            expected.put(p + "mlp.fc2.bias", new long[]{dv});
        }
        if (v.postLayerNorm()) {
            expected.put(tp + "post_layernorm.weight", new long[]{dv});
            expected.put(tp + "post_layernorm.bias", new long[]{dv});
        }
        int s = v.scaleFactor();
        if (pool) {
            expected.put(pp + "mm_soft_emb_norm.weight", new long[]{dv});
            expected.put(pp + "mm_input_projection_weight", new long[]{dv, h});
        } else if (shuffle) {
            expected.put(pp + "proj.weight", new long[]{h, (long) dv * s * s});
        } else {
            expected.put(pp + "linear_1.weight", new long[]{h, dv});
            expected.put(pp + "linear_2.weight", new long[]{h, h});
            if (v.projectorBias()) {
                expected.put(pp + "linear_1.bias", new long[]{h});
                expected.put(pp + "linear_2.bias", new long[]{h});
            }
        }
        String newline = null;
        if (v.anyres()) {
            newline = NEWLINE_NAMES.stream().filter(w::contains).findFirst().orElseThrow(() -> new SafetensorsException(
                    w + ": missing the anyres row separator, looked for " + NEWLINE_NAMES));
            expected.put(newline, new long[]{h});
        }
        long bytes = 0;
        for (Map.Entry<String, long[]> e : expected.entrySet()) bytes += storedBytes(w.require(e.getKey(), e.getValue()), opt);

        OnnxGraph g = GraphOps.newGraph("kvpolicy_vision", out, bytes, opt);
        try {
            g.input("pixel_values", Elem.FLOAT, "batch", c, v.imageSize(), v.imageSize());
            // patches: Conv stride p -> [B,Dv,side,side] -> [B,N,Dv]
            List<String> convIn = new ArrayList<>(List.of("pixel_values", initializer(g, w, w.info(tp + "embeddings.patch_embedding.weight"), false)));
            if (patchBias) convIn.add(initializer(g, w, w.info(tp + "embeddings.patch_embedding.bias"), false));
            String conv = g.node("Conv", convIn, Attr.ints("kernel_shape", ps, ps), Attr.ints("strides", ps, ps));
            String x = transpose(g, g.op("Reshape", conv, g.constI64("patch_flat", false, 0, dv, n)), null, 0, 2, 1); // [B,N,Dv]
            if (v.classToken()) {
                String cls = g.op("Reshape", initializer(g, w, w.info(tp + "embeddings.class_embedding"), false),
                        g.constI64("cls_shape", false, 1, 1, dv));
                String batch = g.node("Shape", List.of("pixel_values"), Attr.i("end", 1));
                String clsB = g.op("Expand", cls, g.node("Concat", List.of(batch, g.constI64("one_dv", false, 1, dv)), Attr.i("axis", 0)));
                x = g.node("Concat", List.of(clsB, x), Attr.i("axis", 1));                     // [B,N+1,Dv]
            }
            x = g.op("Add", x, initializer(g, w, w.info(tp + "embeddings.position_embedding.weight"), false));
            if (v.classToken()) x = layerNorm(g, w, x, tp + "pre_layrnorm", v.layerNormEps());
            x = g.op("Reshape", x, g.constI64("flat_dv", false, -1, dv));                       // [B*T0,Dv]

            int heads = v.numHeads(), hd = v.headDim();
            String split = g.constI64("split_heads", false, -1, t0, heads, hd);
            String scale = g.scalarF32("attn_scale", (float) Math.pow(hd, -0.5));
            String flat = g.constI64("flat_dv2", false, -1, dv);
            for (int i = 0; i < v.layersRun(); i++) {
                String p = tp + "encoder.layers." + i + ".";
                String hN = layerNorm(g, w, x, p + "layer_norm1", v.layerNormEps());
                String q = transpose(g, g.op("Reshape", gemm(g, w, hN, p + "self_attn.q_proj", true, opt), split), null, 0, 2, 1, 3);
                String k = transpose(g, g.op("Reshape", gemm(g, w, hN, p + "self_attn.k_proj", true, opt), split), null, 0, 2, 3, 1);
                String vv = transpose(g, g.op("Reshape", gemm(g, w, hN, p + "self_attn.v_proj", true, opt), split), null, 0, 2, 1, 3);
                String scores = g.op("Mul", g.op("MatMul", q, k), scale);                      // [B,heads,T0,T0]
                String probs = g.node("Softmax", List.of(scores), Attr.i("axis", -1));
                String o = transpose(g, g.op("MatMul", probs, vv), null, 0, 2, 1, 3);          // [B,T0,heads,hd]
                x = g.op("Add", x, gemm(g, w, g.op("Reshape", o, flat), p + "self_attn.out_proj", true, opt));
                String h2 = layerNorm(g, w, x, p + "layer_norm2", v.layerNormEps());
                String mlp = gemm(g, w, activation(g, gemm(g, w, h2, p + "mlp.fc1", true, opt), v.hiddenAct()), p + "mlp.fc2", true, opt);
                x = g.op("Add", x, mlp);
            }
            if (v.postLayerNorm()) x = layerNorm(g, w, x, tp + "post_layernorm", v.layerNormEps());
            String feats = g.op("Reshape", x, g.constI64("tower_out", false, -1, t0, dv));     // [B,T0,Dv]
            if (v.classToken() && v.dropClassToken()) {
                feats = g.op("Slice", feats, g.constI64("cls_from", false, 1), g.constI64("cls_to", false, t0), g.constI64("ax_tok", false, 1));
            }
            int tok = v.tokensPerImage();
            String projected;
            if (pool) {
                // Gemma 3: [B,N,Dv] -> [B,Dv,side,side] -> AveragePool (kernel = stride = side / √T) -> [B,T,Dv]
                int k = side / (int) Math.round(Math.sqrt(tok));
                String grid = g.op("Reshape", transpose(g, feats, null, 0, 2, 1), g.constI64("pool_in", false, -1, dv, side, side));
                String pooled = g.node("AveragePool", List.of(grid), Attr.ints("kernel_shape", k, k), Attr.ints("strides", k, k));
                String a = transpose(g, g.op("Reshape", pooled, g.constI64("pool_flat", false, -1, dv, tok)), null, 0, 2, 1);
                String normed = Gemma3Decoder.rmsNormPlusOne(g, w, a, pp + "mm_soft_emb_norm.weight",
                        g.scalarF32("mm_eps", (float) v.layerNormEps()));
                projected = g.op("MatMul", g.op("Reshape", normed, g.constI64("proj_in", false, -1, dv)),
                        initializer(g, w, w.info(pp + "mm_input_projection_weight"), false));
            } else if (shuffle) {
                // Idefics3 pixel shuffle: [B,side,side,Dv] -> [B,side/s,side/s,Dv*s*s] in HF's element order
                String a = g.op("Reshape", feats, g.constI64("ps1", false, -1, side, side / s, (long) dv * s));
                a = transpose(g, a, null, 0, 2, 1, 3);                                            // [B,side/s,side,Dv*s]
                a = g.op("Reshape", a, g.constI64("ps2", false, -1, side / s, side / s, (long) dv * s * s));
                a = transpose(g, a, null, 0, 2, 1, 3);
                a = g.op("Reshape", a, g.constI64("ps3", false, -1, (long) dv * s * s));
                projected = gemm(g, w, a, pp + "proj", false, opt);
            } else {
                String f = g.op("Reshape", feats, g.constI64("proj_in", false, -1, dv));
                String l1 = gemm(g, w, f, pp + "linear_1", v.projectorBias(), opt);
                projected = gemm(g, w, activation(g, l1, v.projectorAct()), pp + "linear_2", v.projectorBias(), opt);
            }
            g.nodeNamed("Reshape", "image_embeds", List.of(projected, g.constI64("out_shape", false, -1, tok, h)));
            g.output("image_embeds", Elem.FLOAT, "batch", tok, h);
            if (newline != null) {
                g.nodeNamed("Identity", "image_newline", List.of(initializer(g, w, w.info(newline), false, "image_newline.weight")));
                g.output("image_newline", Elem.FLOAT, h);
            }
            Map<String, String> meta = new LinkedHashMap<>(metadata);
            meta.put("kvpolicy.vision_input", "pixel_values");
            meta.put("kvpolicy.vision_model_type", v.modelType());
            meta.put("kvpolicy.vision_hidden_size", Integer.toString(dv));
            meta.put("kvpolicy.image_size", Integer.toString(v.imageSize()));
            meta.put("kvpolicy.image_tokens", Integer.toString(tok));
            g.save(out, meta);
        } catch (RuntimeException e) {
            g.abandon();
            throw e;
        }
    }
}
