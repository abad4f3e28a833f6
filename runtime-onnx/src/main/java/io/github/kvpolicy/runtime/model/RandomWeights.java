package io.github.kvpolicy.runtime.model;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.json.Json;
import io.github.kvpolicy.runtime.model.safetensors.DType;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Deterministic random weights for any {@link ModelConfig}, written as HF-named safetensors.
 *
 * <p>Every tensor's values depend only on (seed, tensor name), never on write order or sharding:
 * matrices and embeddings are N(0, {@value #STD}²), q/k/v biases N(0, {@value #STD}²), RMSNorm weights are 1,
 * so activations stay O(1) for any depth. Values are streamed in 1 MiB chunks, so a Qwen2-7B-shaped model
 * (≈ 15 GB in F16) is written with bounded heap; files above {@code shardBytes} are split into shards with
 * a {@code model.safetensors.index.json}.
 *
 * <p>Presets ({@link #preset(String)}): {@code tiny} (2 layers, H=64, 4 q heads, 2 KV heads, vocab 256),
 * {@code tiny-vlm} (tiny + a 4×4 grid vision tower), {@code small-100m} (12 layers, H=768, 12/4 heads,
 * MLP 2048, vocab 32000, tied; ≈ 100M parameters), {@code qwen2-7b} (the Qwen2-7B shape: 28 layers,
 * H=3584, 28/4 heads, MLP 18944, vocab 152064, q/k/v bias, θ=1e6).
 */
public final class RandomWeights {
    /** Standard deviation of random matrices. */
    public static final double STD = 0.02;
    private static final int CHUNK = 1 << 18;
    /** Tensors generated at once (each streams through its own 1 MiB buffers). */
    private static final int THREADS = Runtime.getRuntime().availableProcessors();

    private RandomWeights() {}

    /** Preset names accepted by {@link #preset(String)}. */
    public static List<String> presets() {
        return List.of("tiny", "tiny-vlm", "small-100m", "qwen2-7b");
    }

    /** The config of a named preset; the error lists the valid names. */
    public static ModelConfig preset(String name) {
        return switch (name) {
            case "tiny" -> new ModelConfig("llama", 64, 128, 2, 4, 2, 16, 1e-5, 10000.0, 256, 2048, false, false,
                    1, List.of(2), -1, null);
            case "tiny-vlm" -> new ModelConfig("llama", 64, 128, 2, 4, 2, 16, 1e-5, 10000.0, 256, 2048, false, false,
                    1, List.of(2), 3, new ModelConfig.GridVisionConfig(32, 4, 8, 8, 8));
            case "small-100m" -> new ModelConfig("llama", 768, 2048, 12, 12, 4, 64, 1e-5, 10000.0, 32000, 4096, true,
                    false, 1, List.of(2), -1, null);
            case "qwen2-7b" -> new ModelConfig("qwen2", 3584, 18944, 28, 28, 4, 128, 1e-6, 1000000.0, 152064, 32768,
                    false, true, 151643, List.of(151645, 151643), -1, null);
            default -> throw new IllegalArgumentException("unknown random-model preset \"" + name + "\", expected one of "
                    + presets());
        };
    }

    /** Name → shape of every weight the config needs, in HF order (decoder, then vision if any). */
    public static Map<String, long[]> weightShapes(ModelConfig c) {
        Map<String, long[]> m = new LinkedHashMap<>();
        long h = c.hiddenSize();
        long q = (long) c.numHeads() * c.headDim();
        long kv = (long) c.numKvHeads() * c.headDim();
        m.put("model.embed_tokens.weight", new long[]{c.vocabSize(), h});
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            m.put(p + "input_layernorm.weight", new long[]{h});
            m.put(p + "self_attn.q_proj.weight", new long[]{q, h});
            m.put(p + "self_attn.k_proj.weight", new long[]{kv, h});
            m.put(p + "self_attn.v_proj.weight", new long[]{kv, h});
            if (c.qkvBias()) {
                m.put(p + "self_attn.q_proj.bias", new long[]{q});
                m.put(p + "self_attn.k_proj.bias", new long[]{kv});
                m.put(p + "self_attn.v_proj.bias", new long[]{kv});
            }
            m.put(p + "self_attn.o_proj.weight", new long[]{h, q});
            m.put(p + "post_attention_layernorm.weight", new long[]{h});
            m.put(p + "mlp.gate_proj.weight", new long[]{c.intermediateSize(), h});
            m.put(p + "mlp.up_proj.weight", new long[]{c.intermediateSize(), h});
            m.put(p + "mlp.down_proj.weight", new long[]{h, c.intermediateSize()});
        }
        m.put("model.norm.weight", new long[]{h});
        if (!c.tieWordEmbeddings()) m.put("lm_head.weight", new long[]{c.vocabSize(), h});
        c.visionConfig().ifPresent(v -> {
            long dv = v.hiddenSize();
            m.put("vision_tower.shape_embed.weight", new long[]{v.numShapes(), dv});
            m.put("vision_tower.color_embed.weight", new long[]{v.numColors(), dv});
            m.put("vision_tower.glyph_embed.weight", new long[]{v.numGlyphs(), dv});
            m.put("vision_tower.pos_embed", new long[]{v.numCells(), dv});
            m.put("vision_tower.conv.weight", new long[]{dv, dv, 3, 3});
            m.put("vision_tower.conv.bias", new long[]{dv});
            m.put("multi_modal_projector.linear_1.weight", new long[]{h, dv});
            m.put("multi_modal_projector.linear_1.bias", new long[]{h});
            m.put("multi_modal_projector.linear_2.weight", new long[]{h, h});
            m.put("multi_modal_projector.linear_2.bias", new long[]{h});
        });
        return m;
    }

    /**
     * Writes {@code config.json} and the weights of {@code cfg} into {@code dir} (created if needed).
     *
     * @param dtype      stored dtype of every tensor
     * @param shardBytes maximum bytes per shard file (≥ 4096; a single larger tensor gets a shard of its own); one {@code model.safetensors} when everything fits
     * @return the weight files written
     */
    public static List<Path> write(ModelConfig cfg, long seed, Path dir, DType dtype, long shardBytes) {
        if (shardBytes < 4096) throw new IllegalArgumentException("shardBytes must be >= 4096, got " + shardBytes);
        Map<String, long[]> shapes = weightShapes(cfg);
        List<List<SafetensorsWriter.Spec>> shards = new ArrayList<>();
        List<SafetensorsWriter.Spec> cur = new ArrayList<>();
        long curBytes = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            SafetensorsWriter.Spec s = new SafetensorsWriter.Spec(e.getKey(), dtype, e.getValue());
            long b = s.numel() * dtype.bytes();
            if (!cur.isEmpty() && curBytes + b > shardBytes) {
                shards.add(cur);
                cur = new ArrayList<>();
                curBytes = 0;
            }
            cur.add(s);
            curBytes += b;
        }
        shards.add(cur);
        try {
            Files.createDirectories(dir);
            Files.deleteIfExists(dir.resolve("model.safetensors.index.json"));
            Files.writeString(dir.resolve("config.json"), Json.writePretty(cfg.toJson()), StandardCharsets.UTF_8);
            Map<String, String> meta = Map.of("format", "pt", "kvpolicy.random_seed", Long.toString(seed));
            List<Path> files = new ArrayList<>();
            Map<String, Object> weightMap = new LinkedHashMap<>();
            for (int i = 0; i < shards.size(); i++) {
                String fname = shards.size() == 1 ? "model.safetensors"
                        : String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                Path f = dir.resolve(fname);
                SafetensorsWriter.writeParallel(f, shards.get(i), meta, (s, sink) -> fill(sink, s, seed), THREADS);
                for (SafetensorsWriter.Spec s : shards.get(i)) weightMap.put(s.name(), fname);
                files.add(f);
            }
            if (shards.size() > 1) {
                Files.deleteIfExists(dir.resolve("model.safetensors"));
                Map<String, Object> index = new LinkedHashMap<>();
                long total = 0;
                for (long[] s : shapes.values()) total += io.github.kvpolicy.runtime.model.safetensors.TensorInfo.numel(s) * dtype.bytes();
                index.put("metadata", Map.of("total_size", total));
                index.put("weight_map", weightMap);
                Files.writeString(dir.resolve("model.safetensors.index.json"), Json.writePretty(index));
            }
            return files;
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot write random model", e);
        }
    }

    /** Every tensor's values come from its own generator (seed, name), so filling tensors in parallel gives the same bytes. */
    private static void fill(SafetensorsWriter.FloatSink w, SafetensorsWriter.Spec s, long seed) {
        String n = s.name();
        long numel = s.numel();
        boolean ones = n.endsWith("layernorm.weight") || n.equals("model.norm.weight");
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ mix(n));
        float[] buf = new float[(int) Math.min(CHUNK, Math.max(1, numel))];
        for (long done = 0; done < numel; ) {
            int c = (int) Math.min(buf.length, numel - done);
            for (int i = 0; i < c; i++) {
                buf[i] = ones ? 1f : (float) (rnd.nextGaussian() * STD);
            }
            w.write(buf, 0, c);
            done += c;
        }
    }

    private static long mix(String s) {
        long h = 1125899906842597L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) h = 31 * h + b;
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        return h;
    }
}
