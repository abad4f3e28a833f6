package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.graph.GraphOps;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Attr;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Elem;
import io.github.kvpolicy.runtime.model.safetensors.TensorInfo;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.github.kvpolicy.runtime.model.graph.GraphOps.activation;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.gemm;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.initializer;
import static io.github.kvpolicy.runtime.model.graph.GraphOps.transpose;

/**
 * The testbed's GridVQA model: a Llama-style decoder with the grid cell tower and a LLaVA projector
 * ({@code testbed/README.md}). {@code vision.onnx}: {@code pixel_attributes} i64 [B,N,3] (shape, colour, glyph id per
 * cell, row-major over the G×G grid) → {@code image_embeds} f32 [B,N,H];
 * {@code e = shape_embed[s] + color_embed[c] + glyph_embed[g] + pos_embed[cell]}; {@code h = e + Conv2d_3x3_pad1(e)};
 * {@code linear_2(gelu_erf(linear_1(h)))}. Stateless singleton.
 */
public final class GridLlavaFamily extends DecoderFamily {
    /** The instance. */
    public static final GridLlavaFamily INSTANCE = new GridLlavaFamily();

    private GridLlavaFamily() {}

    @Override
    public String name() {
        return "llava-grid";
    }

    @Override
    public void buildVision(ModelConfig cfg, WeightStore w, Path out, GraphOps.Storage opt, Map<String, String> metadata) {
        ModelConfig.GridVisionConfig vc = cfg.visionConfig().orElseThrow(
                () -> new IllegalArgumentException("model config has no grid vision_config; cannot build vision.onnx"));
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
        OnnxGraph g = GraphOps.newGraph("kvpolicy_vision", out, bytes, opt);
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
            String l2 = gemm(g, w, activation(g, l1, "gelu"), "multi_modal_projector.linear_2", true, opt);
            g.nodeNamed("Reshape", "image_embeds", List.of(l2, g.constI64("out_shape", false, -1, n, h)));
            g.output("image_embeds", Elem.FLOAT, "batch", n, h);
            Map<String, String> meta = new LinkedHashMap<>(withFamily(metadata));
            meta.put("kvpolicy.vision_input", "pixel_attributes");
            meta.put("kvpolicy.vision_hidden_size", Integer.toString(dv));
            meta.put("kvpolicy.grid_size", Integer.toString(gs));
            g.save(out, meta);
        } catch (RuntimeException ex) {
            g.abandon();
            throw ex;
        }
    }
}
