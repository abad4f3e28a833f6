package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.json.Json;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face fixture folder ({@code src/test/resources/hf/<family>}, copied from {@code /work/shared/fixtures/hf}):
 * the model files, and transformers' outputs from {@code reference.safetensors} / {@code reference.json}, read here
 * with a small independent safetensors parser (the runtime's reader accepts float tensors only; this one also reads
 * the I64 inputs).
 */
final class HfFixture {
    final String family;
    final Map<String, Object> json;
    final Map<String, long[]> shapes = new LinkedHashMap<>();
    final Map<String, float[]> floats = new LinkedHashMap<>();
    final Map<String, long[]> longs = new LinkedHashMap<>();

    static final List<String> MODEL_FILES = List.of("config.json", "generation_config.json", "model.safetensors",
            "preprocessor_config.json");

    HfFixture(String family) throws IOException {
        this.family = family;
        this.json = Json.parseObject(new String(resource("reference.json")), family + "/reference.json");
        byte[] st = resource("reference.safetensors");
        ByteBuffer bb = ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN);
        int n = (int) bb.getLong(0);
        Map<String, Object> header = Json.parseObject(new String(st, 8, n, java.nio.charset.StandardCharsets.UTF_8), family + "/reference.safetensors");
        for (Map.Entry<String, Object> e : header.entrySet()) {
            if (e.getKey().equals("__metadata__")) continue;
            @SuppressWarnings("unchecked") Map<String, Object> t = (Map<String, Object>) e.getValue();
            @SuppressWarnings("unchecked") List<Object> sh = (List<Object>) t.get("shape");
            @SuppressWarnings("unchecked") List<Object> off = (List<Object>) t.get("data_offsets");
            long[] shape = sh.stream().mapToLong(o -> (Long) o).toArray();
            int from = 8 + n + (int) (long) (Long) off.get(0);
            int to = 8 + n + (int) (long) (Long) off.get(1);
            shapes.put(e.getKey(), shape);
            switch ((String) t.get("dtype")) {
                case "F32" -> {
                    float[] a = new float[(to - from) / 4];
                    for (int i = 0; i < a.length; i++) a[i] = bb.getFloat(from + 4 * i);
                    floats.put(e.getKey(), a);
                }
                case "I64" -> {
                    long[] a = new long[(to - from) / 8];
                    for (int i = 0; i < a.length; i++) a[i] = bb.getLong(from + 8 * i);
                    longs.put(e.getKey(), a);
                }
                default -> throw new IllegalStateException(family + ": unexpected dtype " + t.get("dtype") + " of " + e.getKey());
            }
        }
    }

    byte[] resource(String name) throws IOException {
        try (InputStream in = HfFixture.class.getResourceAsStream("/hf/" + family + "/" + name)) {
            if (in == null) throw new IllegalStateException("missing test resource hf/" + family + "/" + name);
            return in.readAllBytes();
        }
    }

    boolean hasResource(String name) {
        return HfFixture.class.getResource("/hf/" + family + "/" + name) != null;
    }

    /** Copies the model files into {@code dir} (created); {@code weights} is copied as {@code model.safetensors}. */
    Path copyTo(Path dir, String weights) throws IOException {
        Files.createDirectories(dir);
        for (String f : MODEL_FILES) {
            String src = f.equals("model.safetensors") ? weights : f;
            if (hasResource(src)) Files.write(dir.resolve(f), resource(src));
        }
        return dir;
    }

    long[] inputIds() {
        return longs.get("input_ids");
    }

    @SuppressWarnings("unchecked")
    long[] greedyTokens() {
        return ((List<Object>) json.get("greedy_new_tokens")).stream().mapToLong(o -> (Long) o).toArray();
    }

    @SuppressWarnings("unchecked")
    Map<String, Object> notes() {
        return (Map<String, Object>) json.get("notes");
    }

    /** The image placeholder token id (notes.image_token_id), or -1 for text models. */
    @SuppressWarnings("unchecked")
    long imageTokenId() {
        Map<String, Object> n = notes();
        Object v = n.containsKey("image_token_id") ? n.get("image_token_id") : n.get("<|image_pad|>");
        return v == null ? -1 : (Long) v;
    }

    int vocab() {
        long[] s = shapes.get("logits");
        return (int) s[2];
    }

    /** The contiguous runs of equal "is image token" in the prompt: [start, end) pairs with a flag. */
    List<int[]> segments() {
        long[] ids = inputIds();
        long img = imageTokenId();
        List<int[]> out = new ArrayList<>();
        int start = 0;
        for (int i = 1; i <= ids.length; i++) {
            if (i == ids.length || (ids[i] == img) != (ids[start] == img)) {
                out.add(new int[]{start, i, ids[start] == img ? 1 : 0});
                start = i;
            }
        }
        return out;
    }
}
