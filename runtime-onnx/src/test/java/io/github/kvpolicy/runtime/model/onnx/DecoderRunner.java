package io.github.kvpolicy.runtime.model.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Test-only minimal driver of contract graphs with ONNX Runtime (batch 1 unless stated): runs a decoder
 * chunk given embeddings, positions and a per-layer past, and returns logits, presents and queries.
 * Independent of the runtime module's decode loop (R2's code) on purpose.
 */
final class DecoderRunner implements AutoCloseable {
    final OrtEnvironment env = OrtEnvironment.getEnvironment();
    final OrtSession decoder;
    final OrtSession embed;
    final int layers;
    final int kvHeads;
    final int headDim;

    /** Per-layer cache of one batch row: keys/values [Hkv][P][D] flattened, mask [Hkv][P]. */
    static final class Past {
        final int p;
        final float[] k;
        final float[] v;
        final float[] mask;

        Past(int p, float[] k, float[] v, float[] mask) {
            this.p = p;
            this.k = k;
            this.v = v;
            this.mask = mask;
        }
    }

    /** One decoder call's outputs for batch row(s). */
    record Step(float[][] logits, float[][] presentK, float[][] presentV, float[][] queries) {}

    DecoderRunner(Path decoderPath, Path embedPath, int layers, int kvHeads, int headDim) throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setIntraOpNumThreads(1);
        o.setInterOpNumThreads(1);
        decoder = env.createSession(decoderPath.toString(), o);
        embed = embedPath == null ? null : env.createSession(embedPath.toString(), o);
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
    }

    float[] embed(long[] ids) throws OrtException {
        try (OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[]{1, ids.length});
             OrtSession.Result r = embed.run(Map.of("input_ids", t))) {
            return copy((OnnxTensor) r.get(0));
        }
    }

    static float[] copy(OnnxTensor t) {
        FloatBuffer fb = t.getFloatBuffer();
        float[] a = new float[fb.remaining()];
        fb.get(a);
        return a;
    }

    /**
     * Runs one chunk for B rows. embeds [B*S*H], positions [B*S], inputMask [B*S], past per layer per row
     * (all rows of a layer must share P), queryIndex [W], logitsIndex [B].
     */
    Step run(int b, int s, int h, float[] embeds, long[] positions, float[] inputMask, List<List<Past>> past,
             long[] queryIndex, long[] logitsIndex) throws OrtException {
        Map<String, OnnxTensor> in = new HashMap<>();
        List<OnnxTensor> all = new ArrayList<>();
        try {
            put(in, all, "inputs_embeds", OnnxTensor.createTensor(env, FloatBuffer.wrap(embeds), new long[]{b, s, h}));
            put(in, all, "position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(positions), new long[]{b, s}));
            put(in, all, "input_mask", OnnxTensor.createTensor(env, FloatBuffer.wrap(inputMask), new long[]{b, s}));
            put(in, all, "query_index", OnnxTensor.createTensor(env, LongBuffer.wrap(queryIndex), new long[]{queryIndex.length}));
            put(in, all, "logits_index", OnnxTensor.createTensor(env, LongBuffer.wrap(logitsIndex), new long[]{b}));
            for (int l = 0; l < layers; l++) {
                int p = past.get(l).get(0).p;
                float[] k = new float[b * kvHeads * p * headDim];
                float[] v = new float[k.length];
                float[] m = new float[b * kvHeads * p];
                for (int r = 0; r < b; r++) {
                    Past pr = past.get(l).get(r);
                    if (pr.p != p) throw new IllegalArgumentException("rows of layer " + l + " differ in P");
                    System.arraycopy(pr.k, 0, k, r * pr.k.length, pr.k.length);
                    System.arraycopy(pr.v, 0, v, r * pr.v.length, pr.v.length);
                    System.arraycopy(pr.mask, 0, m, r * pr.mask.length, pr.mask.length);
                }
                put(in, all, "past_key." + l, OnnxTensor.createTensor(env, FloatBuffer.wrap(k), new long[]{b, kvHeads, p, headDim}));
                put(in, all, "past_value." + l, OnnxTensor.createTensor(env, FloatBuffer.wrap(v), new long[]{b, kvHeads, p, headDim}));
                put(in, all, "past_mask." + l, OnnxTensor.createTensor(env, FloatBuffer.wrap(m), new long[]{b, kvHeads, p}));
            }
            try (OrtSession.Result r = decoder.run(in)) {
                float[] logitsFlat = copy((OnnxTensor) r.get("logits").orElseThrow());
                int vocab = logitsFlat.length / b;
                float[][] logits = new float[b][];
                for (int i = 0; i < b; i++) logits[i] = java.util.Arrays.copyOfRange(logitsFlat, i * vocab, (i + 1) * vocab);
                float[][] pk = new float[layers][];
                float[][] pv = new float[layers][];
                float[][] q = new float[layers][];
                for (int l = 0; l < layers; l++) {
                    pk[l] = copy((OnnxTensor) r.get("present_key." + l).orElseThrow());
                    pv[l] = copy((OnnxTensor) r.get("present_value." + l).orElseThrow());
                    q[l] = copy((OnnxTensor) r.get("queries." + l).orElseThrow());
                }
                return new Step(logits, pk, pv, q);
            }
        } finally {
            all.forEach(OnnxValue::close);
        }
    }

    private static void put(Map<String, OnnxTensor> in, List<OnnxTensor> all, String name, OnnxTensor t) {
        in.put(name, t);
        all.add(t);
    }

    /** An empty past (P = 0) for every layer, batch 1. */
    List<List<Past>> emptyPast() {
        List<List<Past>> out = new ArrayList<>();
        for (int l = 0; l < layers; l++) out.add(List.of(new Past(0, new float[0], new float[0], new float[0])));
        return out;
    }

    /**
     * Appends a batch-1 present [Hkv, S, D] to a batch-1 past [Hkv, P, D] with zero masks for the new slots.
     */
    Past append(Past past, float[] presentK, float[] presentV, int s) {
        int p2 = past.p + s;
        float[] k = new float[kvHeads * p2 * headDim];
        float[] v = new float[k.length];
        float[] m = new float[kvHeads * p2];
        for (int hh = 0; hh < kvHeads; hh++) {
            System.arraycopy(past.k, hh * past.p * headDim, k, hh * p2 * headDim, past.p * headDim);
            System.arraycopy(presentK, hh * s * headDim, k, (hh * p2 + past.p) * headDim, s * headDim);
            System.arraycopy(past.v, hh * past.p * headDim, v, hh * p2 * headDim, past.p * headDim);
            System.arraycopy(presentV, hh * s * headDim, v, (hh * p2 + past.p) * headDim, s * headDim);
            System.arraycopy(past.mask, hh * past.p, m, hh * p2, past.p);
        }
        return new Past(p2, k, v, m);
    }

    static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
        return best;
    }

    @Override
    public void close() throws OrtException {
        decoder.close();
        if (embed != null) embed.close();
    }
}
