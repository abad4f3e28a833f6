package io.github.kvpolicy.runtime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.github.kvpolicy.runtime.model.ModelPackage;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A plain single-row decoding loop written for the tests, independent of the runtime's cache, probe and loop: it runs
 * the contract graphs with raw ONNX Runtime calls and keeps the past as Java lists per (layer, KV head), building
 * every call's {@code past_*} tensors from scratch (padding shorter heads with masked slots). It never compresses
 * unless told to {@link #keepOnly}.
 */
final class ReferenceDecoder implements AutoCloseable {
    final OrtEnvironment env = OrtEnvironment.getEnvironment();
    final OrtSession decoder, embed, vision;
    final int layers, hkv, hq, d, hidden, vocab;
    /** past[l][h]: entries {position, key[], value[]} in position order. */
    final List<List<Object[]>>[] past;
    /** The queries exported by the last call: [layer][qHead][w][D]. */
    float[][][][] lastQueries;
    /** The present keys of the last call: [layer][kvHead][s][D]. */
    float[][][][] lastKeys;

    @SuppressWarnings({"unchecked", "rawtypes"})
    ReferenceDecoder(ModelPackage.BuiltModel m) throws OrtException {
        decoder = env.createSession(m.decoder().toString());
        embed = env.createSession(m.embed().toString());
        vision = m.vision().isPresent() ? env.createSession(m.vision().get().toString()) : null;
        Map<String, String> meta = decoder.getMetadata().getCustomMetadata();
        layers = Integer.parseInt(meta.get("kvpolicy.layers"));
        hq = Integer.parseInt(meta.get("kvpolicy.query_heads"));
        hkv = Integer.parseInt(meta.get("kvpolicy.kv_heads"));
        d = Integer.parseInt(meta.get("kvpolicy.head_dim"));
        hidden = Integer.parseInt(meta.get("kvpolicy.hidden_size"));
        vocab = Integer.parseInt(meta.get("kvpolicy.vocab_size"));
        past = new List[layers];
        for (int l = 0; l < layers; l++) {
            past[l] = new ArrayList<>();
            for (int h = 0; h < hkv; h++) past[l].add(new ArrayList<>());
        }
    }

    float[] embed(long... ids) throws OrtException {
        try (OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, ids.length});
             OrtSession.Result r = embed.run(Map.of("input_ids", t))) {
            return toArray(((OnnxTensor) r.get(0)).getFloatBuffer());
        }
    }

    float[] vision(long[][] cells) throws OrtException {
        long[] flat = new long[cells.length * 3];
        for (int i = 0; i < cells.length; i++) System.arraycopy(cells[i], 0, flat, 3 * i, 3);
        try (OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(flat), new long[] {1, cells.length, 3});
             OrtSession.Result r = vision.run(Map.of("pixel_attributes", t))) {
            return toArray(((OnnxTensor) r.get(0)).getFloatBuffer());
        }
    }

    /**
     * Runs {@code s} new tokens (embeddings {@code [s, H]}) at {@code positions}, appends their K/V to the past, and
     * returns the logits of the last one. Exports the queries at {@code queryIndex}.
     */
    float[] forward(float[] embeds, long[] positions, long... queryIndex) throws OrtException {
        int s = positions.length;
        Map<String, OnnxTensor> in = new HashMap<>();
        List<OnnxTensor> all = new ArrayList<>();
        try {
            put(in, all, "inputs_embeds", OnnxTensor.createTensor(env, FloatBuffer.wrap(embeds), new long[] {1, s, hidden}));
            put(in, all, "position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(positions), new long[] {1, s}));
            put(in, all, "input_mask", OnnxTensor.createTensor(env, FloatBuffer.wrap(new float[s]), new long[] {1, s}));
            put(in, all, "query_index", OnnxTensor.createTensor(env, LongBuffer.wrap(queryIndex), new long[] {queryIndex.length}));
            put(in, all, "logits_index", OnnxTensor.createTensor(env, LongBuffer.wrap(new long[] {s - 1}), new long[] {1}));
            for (int l = 0; l < layers; l++) {
                int p = 1; // at least one (masked) slot, so no tensor has a zero-length axis
                for (List<Object[]> h : past[l]) p = Math.max(p, h.size());
                float[] k = new float[hkv * p * d], v = new float[hkv * p * d], m = new float[hkv * p];
                java.util.Arrays.fill(m, -1e9f);
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
                lastKeys = new float[layers][hkv][s][];
                lastQueries = new float[layers][hq][queryIndex.length][];
                for (int l = 0; l < layers; l++) {
                    float[] k = toArray(((OnnxTensor) r.get("present_key." + l).orElseThrow()).getFloatBuffer());
                    float[] v = toArray(((OnnxTensor) r.get("present_value." + l).orElseThrow()).getFloatBuffer());
                    for (int h = 0; h < hkv; h++) {
                        for (int t = 0; t < s; t++) {
                            float[] kk = java.util.Arrays.copyOfRange(k, (h * s + t) * d, (h * s + t + 1) * d);
                            float[] vv = java.util.Arrays.copyOfRange(v, (h * s + t) * d, (h * s + t + 1) * d);
                            past[l].get(h).add(new Object[] {(int) positions[t], kk, vv});
                            lastKeys[l][h][t] = kk;
                        }
                    }
                    if (queryIndex.length > 0) {
                        float[] q = toArray(((OnnxTensor) r.get("queries." + l).orElseThrow()).getFloatBuffer());
                        for (int h = 0; h < hq; h++)
                            for (int w = 0; w < queryIndex.length; w++)
                                lastQueries[l][h][w] = java.util.Arrays.copyOfRange(q, (h * queryIndex.length + w) * d, (h * queryIndex.length + w + 1) * d);
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
                past[l].get(h).removeIf(e -> java.util.Arrays.binarySearch(k, (Integer) e[0]) < 0);
            }
        }
    }

    /** Greedy argmax, lowest id on ties. */
    static int argmax(float[] a) {
        int b = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
        return b;
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
        if (vision != null) vision.close();
    }
}
