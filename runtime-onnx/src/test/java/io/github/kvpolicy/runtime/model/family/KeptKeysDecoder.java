package io.github.kvpolicy.runtime.model.family;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.github.kvpolicy.runtime.model.ModelPackage;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The HF families' version of the runtime tests' {@code ReferenceDecoder}: a plain single-row loop over the contract's
 * {@code decoder.onnx} and {@code embed.onnx} with raw ONNX Runtime calls, independent of the runtime's cache, probe,
 * chunking and compaction. The past is a Java list per (layer, KV head) of {position, key, value} entries, and every
 * call builds its {@code past_*} tensors from scratch (shorter heads padded with masked slots). It feeds
 * {@code rope_offsets} ({@code [3][S]}, M-RoPE models) when the graph takes them (zeros when the caller passes none),
 * and it never drops a key unless told to {@link #keepOnly}.
 */
final class KeptKeysDecoder implements AutoCloseable {
    final OrtEnvironment env = OrtEnvironment.getEnvironment();
    final OrtSession decoder, embed;
    final int layers, hkv, d, hidden;
    final boolean mrope;
    /** past[l][h]: entries {position (Integer), key float[D], value float[D]} in the order they were added. */
    final List<List<Object[]>>[] past;

    @SuppressWarnings({"unchecked", "rawtypes"})
    KeptKeysDecoder(ModelPackage.BuiltModel m) throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setIntraOpNumThreads(1);
        decoder = env.createSession(m.decoder().toString(), o);
        embed = env.createSession(m.embed().toString(), o);
        Map<String, String> meta = decoder.getMetadata().getCustomMetadata();
        layers = Integer.parseInt(meta.get("kvpolicy.layers"));
        hkv = Integer.parseInt(meta.get("kvpolicy.kv_heads"));
        d = Integer.parseInt(meta.get("kvpolicy.head_dim"));
        hidden = Integer.parseInt(meta.get("kvpolicy.hidden_size"));
        mrope = decoder.getInputNames().contains("rope_offsets");
        past = new List[layers];
        for (int l = 0; l < layers; l++) {
            past[l] = new ArrayList<>();
            for (int h = 0; h < hkv; h++) past[l].add(new ArrayList<>());
        }
    }

    /** {@code inputs_embeds} {@code [S, H]} flattened of text tokens. */
    float[] embed(long... ids) throws OrtException {
        try (OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, ids.length});
             OrtSession.Result r = embed.run(Map.of("input_ids", t))) {
            return toArray(((OnnxTensor) r.get(0)).getFloatBuffer());
        }
    }

    /**
     * Runs {@code S} new tokens (embeddings {@code [S, H]}) at {@code positions} with M-RoPE {@code offsets}
     * ({@code [3][S]}, null for zeros), appends their K/V to the past and returns the logits of the last one.
     */
    float[] forward(float[] embeds, long[] positions, long[][] offsets) throws OrtException {
        int s = positions.length;
        Map<String, OnnxTensor> in = new HashMap<>();
        List<OnnxTensor> all = new ArrayList<>();
        try {
            put(in, all, "inputs_embeds", OnnxTensor.createTensor(env, FloatBuffer.wrap(embeds), new long[] {1, s, hidden}));
            put(in, all, "position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(positions), new long[] {1, s}));
            put(in, all, "input_mask", OnnxTensor.createTensor(env, FloatBuffer.wrap(new float[s]), new long[] {1, s}));
            put(in, all, "query_index", OnnxTensor.createTensor(env, LongBuffer.wrap(new long[0]), new long[] {0}));
            put(in, all, "logits_index", OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {s - 1}), new long[] {1}));
            if (mrope) {
                long[] off = new long[3 * s];
                if (offsets != null) for (int c = 0; c < 3; c++) System.arraycopy(offsets[c], 0, off, c * s, s);
                put(in, all, "rope_offsets", OnnxTensor.createTensor(env, LongBuffer.wrap(off), new long[] {3, 1, s}));
            } else if (offsets != null) {
                throw new IllegalArgumentException("this decoder takes no rope_offsets");
            }
            for (int l = 0; l < layers; l++) {
                int p = 1; // at least one (masked) slot, so no tensor has a zero-length axis
                for (List<Object[]> h : past[l]) p = Math.max(p, h.size());
                float[] k = new float[hkv * p * d], v = new float[hkv * p * d], m = new float[hkv * p];
                Arrays.fill(m, -1e9f);
                for (int h = 0; h < hkv; h++) {
                    List<Object[]> e = past[l].get(h);
                    for (int i = 0; i < e.size(); i++) {
                        System.arraycopy((float[]) e.get(i)[1], 0, k, (h * p + i) * d, d);
                        System.arraycopy((float[]) e.get(i)[2], 0, v, (h * p + i) * d, d);
                        m[h * p + i] = 0;
                    }
                }
                put(in, all, "past_key." + l, OnnxTensor.createTensor(env, FloatBuffer.wrap(k), new long[] {1, hkv, p, d}));
                put(in, all, "past_value." + l, OnnxTensor.createTensor(env, FloatBuffer.wrap(v), new long[] {1, hkv, p, d}));
                put(in, all, "past_mask." + l, OnnxTensor.createTensor(env, FloatBuffer.wrap(m), new long[] {1, hkv, p}));
            }
            try (OrtSession.Result r = decoder.run(in)) {
                for (int l = 0; l < layers; l++) {
                    float[] k = toArray(((OnnxTensor) r.get("present_key." + l).orElseThrow()).getFloatBuffer());
                    float[] v = toArray(((OnnxTensor) r.get("present_value." + l).orElseThrow()).getFloatBuffer());
                    for (int h = 0; h < hkv; h++) {
                        for (int t = 0; t < s; t++) {
                            past[l].get(h).add(new Object[] {(int) positions[t],
                                    Arrays.copyOfRange(k, (h * s + t) * d, (h * s + t + 1) * d),
                                    Arrays.copyOfRange(v, (h * s + t) * d, (h * s + t + 1) * d)});
                        }
                    }
                }
                return toArray(((OnnxTensor) r.get("logits").orElseThrow()).getFloatBuffer());
            }
        } finally {
            for (OnnxTensor t : all) t.close();
        }
    }

    /** Keeps only the positions {@code kept[l][h]} (ascending) of each (layer, KV head). */
    void keepOnly(int[][][] kept) {
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < hkv; h++) {
                int[] k = kept[l][h];
                past[l].get(h).removeIf(e -> Arrays.binarySearch(k, (Integer) e[0]) < 0);
            }
        }
    }

    /** The cached key of {@code position} in (layer, KV head), or null when it is not cached. */
    float[] key(int layer, int kvHead, int position) {
        for (Object[] e : past[layer].get(kvHead)) if ((Integer) e[0] == position) return (float[]) e[1];
        return null;
    }

    /** The cached positions of (layer, KV head), ascending. */
    int[] positions(int layer, int kvHead) {
        return past[layer].get(kvHead).stream().mapToInt(e -> (Integer) e[0]).sorted().toArray();
    }

    static float[] toArray(FloatBuffer fb) {
        float[] a = new float[fb.remaining()];
        fb.get(a);
        return a;
    }

    private static void put(Map<String, OnnxTensor> in, List<OnnxTensor> all, String name, OnnxTensor t) {
        in.put(name, t);
        all.add(t);
    }

    static long[] range(int from, int to) {
        long[] a = new long[to - from];
        for (int i = 0; i < a.length; i++) a[i] = from + i;
        return a;
    }

    @Override
    public void close() throws OrtException {
        decoder.close();
        embed.close();
    }
}
