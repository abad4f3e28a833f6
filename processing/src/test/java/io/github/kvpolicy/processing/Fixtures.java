package io.github.kvpolicy.processing;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** The transformers fixtures copied under src/test/resources/hf (see the README there). */
final class Fixtures {
    private Fixtures() {}

    static Path dir(String family) {
        try {
            var url = Fixtures.class.getResource("/hf/" + family + "/reference.json");
            if (url == null) throw new IllegalStateException("fixture folder hf/" + family + " missing from test resources");
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static JsonObject reference(String family) throws IOException {
        return JsonParser.parseString(Files.readString(dir(family).resolve("reference.json"))).getAsJsonObject();
    }

    static int[] ints(JsonElement arr) {
        JsonArray a = arr.getAsJsonArray();
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
        return out;
    }

    /** A tensor read from a safetensors file: shape and values widened to double. */
    record Tensor(long[] shape, double[] values) {}

    /** Minimal safetensors reader (F32, I64) for the test fixtures. */
    static Map<String, Tensor> safetensors(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int n = Math.toIntExact(bb.getLong(0));
        JsonObject hdr = JsonParser.parseString(new String(b, 8, n, StandardCharsets.UTF_8)).getAsJsonObject();
        Map<String, Tensor> out = new HashMap<>();
        for (var e : hdr.entrySet()) {
            if (e.getKey().equals("__metadata__")) continue;
            JsonObject t = e.getValue().getAsJsonObject();
            JsonArray sh = t.getAsJsonArray("shape");
            long[] shape = new long[sh.size()];
            long count = 1;
            for (int i = 0; i < shape.length; i++) count *= shape[i] = sh.get(i).getAsLong();
            int start = 8 + n + t.getAsJsonArray("data_offsets").get(0).getAsInt();
            double[] v = new double[Math.toIntExact(count)];
            String dt = t.get("dtype").getAsString();
            for (int i = 0; i < v.length; i++) {
                v[i] = switch (dt) {
                    case "F32" -> bb.getFloat(start + 4 * i);
                    case "I64" -> bb.getLong(start + 8 * i);
                    default -> throw new IllegalStateException("dtype " + dt + " not handled by the test reader");
                };
            }
            out.put(e.getKey(), new Tensor(shape, v));
        }
        return out;
    }
}
