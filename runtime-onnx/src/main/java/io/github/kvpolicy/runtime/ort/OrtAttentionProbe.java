package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.api.AttentionProbe;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.runtime.cache.SlotTable;
import io.github.kvpolicy.runtime.probe.CpuAttentionProbe;
import io.github.kvpolicy.runtime.probe.LayerwiseProbe;
import io.github.kvpolicy.runtime.probe.QueryStore;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@link AttentionProbe} over an {@link OrtDecoder}'s device-resident cache, with the semantics of
 * {@code CpuAttentionProbe} ({@link AttentionQuery}): per layer the probe graph ({@link ResidentGraphs#probe}) runs on
 * the cache's device: it gathers the requested cached keys from the cache, multiplies them with the kept queries,
 * applies the mask (causal, or the model's {@link CpuAttentionProbe.Masking}: score scale, per-layer windows, image
 * spans), the softmax and the reduction over queries. Uploaded per layer: the queries
 * ({@code Hq × W × D}), the key slots ({@code Hkv × M × 3}) and the additive mask ({@code Hkv × W × M}); downloaded:
 * the per-query-head scores ({@code Hq × M}). The head mapping and the scatter into key order run on the host.
 *
 * <p>The queries come from a host {@link QueryStore} (the runtime keeps them there today). Thread-safe as long as the
 * decoder and the store are not mutated during a call: each call uses its own IO binding.
 */
public final class OrtAttentionProbe extends LayerwiseProbe {
    private static final int F32 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, I64 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;

    private final OrtDecoder decoder;

    /** A probe with plain causal attention scaled by 1/√D. */
    public OrtAttentionProbe(OrtDecoder decoder, QueryStore queries) {
        this(decoder, queries, CpuAttentionProbe.Masking.CAUSAL);
    }

    /** A probe for a model whose attention is not plain causal (Gemma 3: scale, windows, image spans). */
    public OrtAttentionProbe(OrtDecoder decoder, QueryStore queries, CpuAttentionProbe.Masking masking) {
        super(decoder, queries, masking);
        this.decoder = decoder;
    }

    @Override
    protected void layer(int row, int layer, int[] qpos, int[] qidx, int[] keys, Reduction reduction, HeadMapping mapping, float[][] out) {
        ModelShape s = decoder.shape();
        int d = s.headDim(), group = s.groupSize(), hq = s.queryHeads(), hkv = s.kvHeads(), w = qpos.length;
        float scale = (float) (masking.scale() > 0 ? masking.scale() : 1.0 / Math.sqrt(d));
        int win = masking.window(layer);
        // per KV head: the requested keys cached there (their index into keys, position, slot)
        int[][] keyIdx = new int[hkv][], kp = new int[hkv][], slot = new int[hkv][];
        int[] count = new int[hkv];
        int m = 0;
        for (int g = 0; g < hkv; g++) {
            int[] cached = decoder.positions(row, layer, g);
            keyIdx[g] = new int[keys.length];
            kp[g] = new int[keys.length];
            slot[g] = new int[keys.length];
            int c = 0;
            for (int i = 0, j = 0; i < keys.length; i++) {
                while (j < cached.length && cached[j] < keys[i]) j++;
                if (j < cached.length && cached[j] == keys[i]) {
                    keyIdx[g][c] = i;
                    kp[g][c] = keys[i];
                    slot[g][c++] = j;
                }
            }
            count[g] = c;
            m = Math.max(m, c);
        }
        if (m == 0 || w == 0) return; // nothing cached among the requested keys, or no queries: all zeros
        NativeSession session = decoder.probeSession();
        NativeTensor[] cache = decoder.tensors(layer);
        float[] qdata = queries.data(row, layer);
        try (Arena arena = Arena.ofConfined(); NativeBinding b = session.binding()) {
            MemorySegment kidx = arena.allocate(ValueLayout.JAVA_LONG, (long) hkv * m * 3);
            MemorySegment q = arena.allocate(ValueLayout.JAVA_FLOAT, (long) hkv * group * w * d);
            MemorySegment amask = arena.allocate(ValueLayout.JAVA_FLOAT, (long) hkv * w * m);
            for (int g = 0; g < hkv; g++) {
                for (int j = 0; j < m; j++) {
                    long o = ((long) g * m + j) * 3;
                    kidx.setAtIndex(ValueLayout.JAVA_LONG, o, row);
                    kidx.setAtIndex(ValueLayout.JAVA_LONG, o + 1, g);
                    kidx.setAtIndex(ValueLayout.JAVA_LONG, o + 2, j < count[g] ? slot[g][j] : 0);
                }
                for (int t = 0; t < group; t++) {
                    int h = g * group + t;
                    for (int qi = 0; qi < w; qi++) {
                        long dst = (((long) g * group + t) * w + qi) * d;
                        int src = (qidx[qi] * hq + h) * d;
                        for (int x = 0; x < d; x++) q.setAtIndex(ValueLayout.JAVA_FLOAT, dst + x, qdata[src + x] * scale);
                    }
                }
                for (int qi = 0; qi < w; qi++) {
                    // visible keys: original positions in [from, to) (plain causal: (-inf, q])
                    int qp = qpos[qi];
                    long to = Math.max(qp + 1, masking.imageEnd(row, qp));
                    long from = win > 0 ? Math.min((long) qp - win + 1, masking.imageStart(row, qp)) : Long.MIN_VALUE;
                    for (int j = 0; j < m; j++) {
                        boolean visible = j < count[g] && kp[g][j] < to && kp[g][j] >= from;
                        amask.setAtIndex(ValueLayout.JAVA_FLOAT, ((long) g * w + qi) * m + j, visible ? 0f : SlotTable.MASKED);
                    }
                }
            }
            String outName = reduction == Reduction.MAX ? "max" : "sum";
            MemorySegment res = arena.allocate(ValueLayout.JAVA_FLOAT, (long) hkv * group * m);
            try (NativeTensor tk = session.wrapHost(kidx, new long[] {hkv, m, 3}, I64);
                 NativeTensor tq = session.wrapHost(q, new long[] {hkv, group, w, d}, F32);
                 NativeTensor ta = session.wrapHost(amask, new long[] {hkv, 1, w, m}, F32);
                 NativeTensor tr = session.wrapHost(res, new long[] {hkv, group, m}, F32)) {
                b.input("k", cache[0]).input("kidx", tk).input("q", tq).input("amask", ta).output(outName, tr);
                b.run();
            }
            float inv = reduction == Reduction.MEAN ? 1f / w : 1f;
            for (int g = 0; g < hkv; g++) {
                float[][] acc = new float[group][m];
                for (int t = 0; t < group; t++) {
                    for (int j = 0; j < count[g]; j++) {
                        float v = res.getAtIndex(ValueLayout.JAVA_FLOAT, ((long) g * group + t) * m + j);
                        acc[t][j] = reduction == Reduction.MEAN ? v * inv : v;
                    }
                }
                switch (mapping) {
                    case QUERY_HEADS -> {
                        for (int t = 0; t < group; t++) for (int j = 0; j < count[g]; j++) out[g * group + t][keyIdx[g][j]] = acc[t][j];
                    }
                    case KV_SUM, KV_MEAN -> {
                        float f = mapping == HeadMapping.KV_MEAN ? 1f / group : 1f;
                        for (int j = 0; j < count[g]; j++) {
                            float v = 0;
                            for (int t = 0; t < group; t++) v += acc[t][j];
                            out[g][keyIdx[g][j]] = v * f;
                        }
                    }
                    case KV_MAX -> {
                        for (int j = 0; j < count[g]; j++) {
                            float v = 0;
                            for (int t = 0; t < group; t++) v = Math.max(v, acc[t][j]);
                            out[g][keyIdx[g][j]] = v;
                        }
                    }
                }
            }
        }
    }
}
