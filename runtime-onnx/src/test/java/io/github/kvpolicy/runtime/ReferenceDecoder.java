package io.github.kvpolicy.runtime;

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
 * A plain single-row decoding loop written for the tests, independent of the runtime's cache, probe, chunking,
 * compaction and loop: it runs the contract graphs ({@code decoder.onnx}, {@code embed.onnx}, {@code vision.onnx} of
 * the grid VLMs) with raw ONNX Runtime Java-API calls (one intra-op thread) and keeps the past as Java lists per
 * (layer, KV head) of {position, key, value} entries, building every call's {@code past_*} tensors from scratch
 * (shorter heads padded with masked slots). It feeds {@code rope_offsets} ({@code [3][S]}, M-RoPE models) when the
 * graph takes them (zeros when the caller passes none) and never drops a key unless told to {@link #keepOnly}.
 * fp32 builds only (the past is fed as FLOAT). Not thread-safe.
 */
public final class ReferenceDecoder implements AutoCloseable {
    final OrtEnvironment env = OrtEnvironment.getEnvironment();
    final OrtSession decoder, embed, vision;
    public final int layers, hkv, hq, d, hidden, vocab;
    final boolean mrope;
    /** past[l][h]: entries {position (Integer), key float[D], value float[D]} in the order they were added. */
    final List<List<Object[]>>[] past;
    /** The queries exported by the last call: [layer][qHead][w][D]. */
    public float[][][][] lastQueries;
    /** The present keys of the last call: [layer][kvHead][s][D]. */
    public float[][][][] lastKeys;

    @SuppressWarnings({"unchecked", "rawtypes"})
    public ReferenceDecoder(ModelPackage.BuiltModel m) throws OrtException {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(1);
            decoder = env.createSession(m.decoder().toString(), o);
            embed = env.createSession(m.embed().toString(), o);
            vision = m.vision().isPresent() ? env.createSession(m.vision().get().toString(), o) : null;
        }
        Map<String, String> meta = decoder.getMetadata().getCustomMetadata();
        layers = Integer.parseInt(meta.get("kvpolicy.layers"));
        hq = Integer.parseInt(meta.get("kvpolicy.query_heads"));
        hkv = Integer.parseInt(meta.get("kvpolicy.kv_heads"));
        d = Integer.parseInt(meta.get("kvpolicy.head_dim"));
        hidden = Integer.parseInt(meta.get("kvpolicy.hidden_size"));
        vocab = Integer.parseInt(meta.get("kvpolicy.vocab_size"));
        mrope = decoder.getInputNames().contains("rope_offsets");
        past = new List[layers];
        for (int l = 0; l < layers; l++) {
            past[l] = new ArrayList<>();
            for (int h = 0; h < hkv; h++) past[l].add(new ArrayList<>());
        }
    }

    /** {@code inputs_embeds} {@code [S, H]} flattened of text tokens. */
    public float[] embed(long... ids) throws OrtException {
        try (OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, ids.length});
             OrtSession.Result r = embed.run(Map.of("input_ids", t))) {
            return toArray(((OnnxTensor) r.get(0)).getFloatBuffer());
        }
    }

    /** The grid tower's embeddings {@code [cells, H]} flattened of {@code cells[i]} = (colour, shape, …) attributes. */
    public float[] vision(long[][] cells) throws OrtException {
        if (vision == null) throw new IllegalStateException("this model has no vision.onnx");
        long[] flat = new long[cells.length * 3];
        for (int i = 0; i < cells.length; i++) System.arraycopy(cells[i], 0, flat, 3 * i, 3);
        try (OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(flat), new long[] {1, cells.length, 3});
             OrtSession.Result r = vision.run(Map.of("pixel_attributes", t))) {
            return toArray(((OnnxTensor) r.get(0)).getFloatBuffer());
        }
    }

    /** {@link #forward(float[], long[], long[][], long[])} without M-RoPE offsets or exported queries. */
    public float[] forward(float[] embeds, long[] positions) throws OrtException {
        return forward(embeds, positions, null, new long[0]);
    }

    /** {@link #forward(float[], long[], long[][], long[])} without exported queries. */
    public float[] forward(float[] embeds, long[] positions, long[][] offsets) throws OrtException {
        return forward(embeds, positions, offsets, new long[0]);
    }

    /**
     * Runs {@code S} new tokens (embeddings {@code [S, H]}) at {@code positions} with M-RoPE {@code offsets}
     * ({@code [3][S]}, null for zeros), appends their K/V to the past and returns the logits of the last one; the
     * present keys and the queries at {@code queryIndex} are left in {@link #lastKeys} / {@link #lastQueries}.
     *
     * @throws IllegalArgumentException for offsets given to a graph that takes none
     */
    public float[] forward(float[] embeds, long[] positions, long[][] offsets, long[] queryIndex) throws OrtException {
        int s = positions.length;
        Map<String, OnnxTensor> in = new HashMap<>();
        List<OnnxTensor> all = new ArrayList<>();
        try {
            put(in, all, "inputs_embeds", OnnxTensor.createTensor(env, FloatBuffer.wrap(embeds), new long[] {1, s, hidden}));
            put(in, all, "position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(positions), new long[] {1, s}));
            put(in, all, "input_mask", OnnxTensor.createTensor(env, FloatBuffer.wrap(new float[s]), new long[] {1, s}));
            put(in, all, "query_index", OnnxTensor.createTensor(env, LongBuffer.wrap(queryIndex), new long[] {queryIndex.length}));
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
                lastKeys = new float[layers][hkv][s][];
                lastQueries = new float[layers][hq][queryIndex.length][];
                for (int l = 0; l < layers; l++) {
                    float[] k = toArray(((OnnxTensor) r.get("present_key." + l).orElseThrow()).getFloatBuffer());
                    float[] v = toArray(((OnnxTensor) r.get("present_value." + l).orElseThrow()).getFloatBuffer());
                    for (int h = 0; h < hkv; h++) {
                        for (int t = 0; t < s; t++) {
                            float[] kk = Arrays.copyOfRange(k, (h * s + t) * d, (h * s + t + 1) * d);
                            past[l].get(h).add(new Object[] {(int) positions[t], kk, Arrays.copyOfRange(v, (h * s + t) * d, (h * s + t + 1) * d)});
                            lastKeys[l][h][t] = kk;
                        }
                    }
                    if (queryIndex.length > 0) {
                        float[] q = toArray(((OnnxTensor) r.get("queries." + l).orElseThrow()).getFloatBuffer());
                        for (int h = 0; h < hq; h++)
                            for (int w = 0; w < queryIndex.length; w++)
                                lastQueries[l][h][w] = Arrays.copyOfRange(q, (h * queryIndex.length + w) * d, (h * queryIndex.length + w + 1) * d);
                    }
                }
                return toArray(((OnnxTensor) r.get("logits").orElseThrow()).getFloatBuffer());
            }
        } finally {
            for (OnnxTensor t : all) t.close();
        }
    }

    /** Keeps only the positions {@code kept[l][h]} (ascending) of each (layer, KV head). */
    public void keepOnly(int[][][] kept) {
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < hkv; h++) {
                int[] k = kept[l][h];
                past[l].get(h).removeIf(e -> Arrays.binarySearch(k, (Integer) e[0]) < 0);
            }
        }
    }

    /** The cached key of {@code position} in (layer, KV head), or null when it is not cached. */
    public float[] key(int layer, int kvHead, int position) {
        for (Object[] e : past[layer].get(kvHead)) if ((Integer) e[0] == position) return (float[]) e[1];
        return null;
    }

    /** The cached positions of (layer, KV head), ascending. */
    public int[] positions(int layer, int kvHead) {
        return past[layer].get(kvHead).stream().mapToInt(e -> (Integer) e[0]).sorted().toArray();
    }

    /** Greedy argmax, lowest id on ties. */
    public static int argmax(float[] a) {
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

    /** {@code from, from + 1, …, to − 1}. */
    public static long[] range(int from, int to) {
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
