package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.runtime.model.graph.OnnxGraph;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Attr;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Elem;

import java.util.Arrays;
import java.util.List;

/**
 * The small helper graphs {@link OrtDecoder} runs on the cache's device, built with the repository's
 * {@link OnnxGraph} (opset {@value OnnxGraph#OPSET}). {@code h} = KV heads and {@code d} = head dim are fixed; the
 * other dims are symbolic. {@code kv} is the element type of the cache's K/V (FLOAT, or FLOAT16 for a
 * {@code kvpolicy.kv_dtype=fp16} decoder); masks, queries and the probe's scores and softmax are always FLOAT.
 */
final class ResidentGraphs {
    private ResidentGraphs() {}

    /**
     * Appends the real new tokens' K/V to every layer in place. Shared inputs: {@code src} i64 {@code [n,3]} (row,
     * head, new-token index of each stored token in the decoder's {@code present_*}) and {@code mn} {@code [n]} (their
     * mask values, 0). Per layer {@code i}: {@code k.i, v.i} {@code [b,h,p_i,d]}, {@code m.i} {@code [b,h,p_i]} (the
     * cache), {@code kn.i, vn.i} {@code [b,h,s,d]} (the decoder's {@code present_*}), {@code dst.i} i64 {@code [n,3]}
     * (destination (row, head, slot)); outputs {@code ko.i, vo.i, mo.i} = {@code ScatterND} of the cache with the
     * {@code GatherND} of the new tokens. Padding tokens (rows with fewer real tokens than {@code s}) are not in
     * {@code src}, so they are never stored. The runtime binds each output to its cache input's own memory, so only
     * the {@code n} new slots are written (ORT's ScatterND skips its input-to-output copy when both are the same
     * buffer). Layers with {@code windows[i] > 0} (sliding window) also keep their slots' original positions on the
     * device: input {@code pp.i} i64 {@code [b,h,p_i]}, output {@code ppo.i} = {@code ScatterND} of it with the shared
     * {@code pn} i64 {@code [n]} (each stored token's position); {@code pn} exists only when some layer has a window.
     */
    static OnnxGraph scatter(int[] windows, int kvHeads, int headDim, Elem kv) {
        int layers = windows.length;
        OnnxGraph g = new OnnxGraph("kv_scatter", null);
        g.input("src", Elem.INT64, "n", 3);
        g.input("mn", Elem.FLOAT, "n");
        if (Arrays.stream(windows).anyMatch(w -> w > 0)) g.input("pn", Elem.INT64, "n");
        for (int i = 0; i < layers; i++) {
            String p = "p_" + i;
            g.input("k." + i, kv, "b", kvHeads, p, headDim);
            g.input("v." + i, kv, "b", kvHeads, p, headDim);
            g.input("m." + i, Elem.FLOAT, "b", kvHeads, p);
            g.input("kn." + i, kv, "b", kvHeads, "s", headDim);
            g.input("vn." + i, kv, "b", kvHeads, "s", headDim);
            g.input("dst." + i, Elem.INT64, "n", 3);
            String kn = g.op("GatherND", "kn." + i, "src");
            String vn = g.op("GatherND", "vn." + i, "src");
            g.nodeNamed("ScatterND", "ko." + i, List.of("k." + i, "dst." + i, kn));
            g.nodeNamed("ScatterND", "vo." + i, List.of("v." + i, "dst." + i, vn));
            g.nodeNamed("ScatterND", "mo." + i, List.of("m." + i, "dst." + i, "mn"));
            g.output("ko." + i, kv, "b", kvHeads, p, headDim);
            g.output("vo." + i, kv, "b", kvHeads, p, headDim);
            g.output("mo." + i, Elem.FLOAT, "b", kvHeads, p);
            if (windows[i] > 0) {
                g.input("pp." + i, Elem.INT64, "b", kvHeads, p);
                g.nodeNamed("ScatterND", "ppo." + i, List.of("pp." + i, "dst." + i, "pn"));
                g.output("ppo." + i, Elem.INT64, "b", kvHeads, p);
            }
        }
        return g;
    }

    /**
     * Rewrites one layer to new slots: inputs {@code k, v} {@code [b,h,p,d]}, {@code idx} i64 {@code [b,h,q,1]} (the
     * old slot of each new slot), {@code mask} {@code [b,h,q]} (0 = live, else empty); outputs {@code ko, vo}
     * {@code [b,h,q,d]} = the gathered rows where the mask is 0 and exactly {@code +0.0} elsewhere (so a compacted
     * layer is byte-equal to {@code KvCache}'s zero-initialised one), {@code mo} = the mask.
     */
    static OnnxGraph gather(int kvHeads, int headDim, Elem kv) {
        OnnxGraph g = new OnnxGraph("kv_gather", null);
        g.input("k", kv, "b", kvHeads, "p", headDim);
        g.input("v", kv, "b", kvHeads, "p", headDim);
        g.input("idx", Elem.INT64, "b", kvHeads, "q", 1);
        g.input("mask", Elem.FLOAT, "b", kvHeads, "q");
        String live = g.op("Equal", "mask", g.scalarF32("zero_m", 0f));
        String keep = g.op("Unsqueeze", live, g.constI64("last", false, -1));
        String zero = g.scalarF32("zero", 0f);
        if (kv != Elem.FLOAT) zero = g.node("Cast", List.of(zero), Attr.i("to", kv.onnxType()));
        String gk = g.node("GatherND", List.of("k", "idx"), Attr.i("batch_dims", 2));
        String gv = g.node("GatherND", List.of("v", "idx"), Attr.i("batch_dims", 2));
        g.nodeNamed("Where", "ko", List.of(keep, gk, zero));
        g.nodeNamed("Where", "vo", List.of(keep, gv, zero));
        g.nodeNamed("Identity", "mo", List.of("mask"));
        g.output("ko", kv, "b", kvHeads, "q", headDim);
        g.output("vo", kv, "b", kvHeads, "q", headDim);
        g.output("mo", Elem.FLOAT, "b", kvHeads, "q");
        return g;
    }

    /**
     * Rewrites one sliding-window layer's slot positions as {@link #gather} rewrites its K/V: inputs {@code pos} i64
     * {@code [b,h,p]}, {@code idx} and {@code mask} as {@link #gather}; output {@code po} {@code [b,h,q]} = the
     * gathered positions where the mask is 0 and 0 elsewhere (what {@code SlotTable#pastPositions} holds for an
     * empty slot).
     */
    static OnnxGraph positionGather(int kvHeads) {
        OnnxGraph g = new OnnxGraph("kv_position_gather", null);
        g.input("pos", Elem.INT64, "b", kvHeads, "p");
        g.input("idx", Elem.INT64, "b", kvHeads, "q", 1);
        g.input("mask", Elem.FLOAT, "b", kvHeads, "q");
        String live = g.op("Equal", "mask", g.scalarF32("zero_m", 0f));
        String gp = g.node("GatherND", List.of("pos", "idx"), Attr.i("batch_dims", 2));
        g.nodeNamed("Where", "po", List.of(live, gp, g.constI64("zero", true, 0)));
        g.output("po", Elem.INT64, "b", kvHeads, "q");
        return g;
    }

    /**
     * Identity copies of one layer's {@code k, v, m}, for reading a device cache back to the host; half K/V are
     * widened to FLOAT (exactly), so the host always reads floats.
     */
    static OnnxGraph copy(int kvHeads, int headDim, Elem kv) {
        OnnxGraph g = new OnnxGraph("kv_copy", null);
        g.input("k", kv, "b", kvHeads, "p", headDim);
        g.input("v", kv, "b", kvHeads, "p", headDim);
        g.input("m", Elem.FLOAT, "b", kvHeads, "p");
        String op = kv == Elem.FLOAT ? "Identity" : "Cast";
        Attr[] to = kv == Elem.FLOAT ? new Attr[0] : new Attr[] {Attr.i("to", Elem.FLOAT.onnxType())};
        g.nodeNamed(op, "ko", List.of("k"), to);
        g.nodeNamed(op, "vo", List.of("v"), to);
        g.nodeNamed("Identity", "mo", List.of("m"));
        g.output("ko", Elem.FLOAT, "b", kvHeads, "p", headDim);
        g.output("vo", Elem.FLOAT, "b", kvHeads, "p", headDim);
        g.output("mo", Elem.FLOAT, "b", kvHeads, "p");
        return g;
    }

    /**
     * Attention of kept queries over selected cached keys of one layer and row: inputs {@code k} {@code [b,h,p,d]}
     * (the cache), {@code kidx} i64 {@code [h,m,3]} ((row, head, slot) of each selected key; padding points at any
     * slot), {@code q} {@code [h,g,w,d]} (queries already multiplied by 1/√D), {@code amask} {@code [h,1,w,m]}
     * (0 where query {@code w} may see key {@code m}, -1e9 elsewhere). {@code probs = softmax(q·kᵀ + amask)} over
     * the keys, zeroed where masked (a query that sees no key contributes nothing); outputs {@code sum} and
     * {@code max} over the queries, {@code [h,g,m]}.
     */
    static OnnxGraph probe(int kvHeads, int headDim, Elem kv) {
        OnnxGraph g = new OnnxGraph("kv_probe", null);
        g.input("k", kv, "b", kvHeads, "p", headDim);
        g.input("kidx", Elem.INT64, kvHeads, "m", 3);
        g.input("q", Elem.FLOAT, kvHeads, "g", "w", headDim);
        g.input("amask", Elem.FLOAT, kvHeads, 1, "w", "m");
        String keys = g.op("GatherND", "k", "kidx");                                  // [h,m,d]
        if (kv != Elem.FLOAT) keys = g.node("Cast", List.of(keys), Attr.i("to", Elem.FLOAT.onnxType())); // scores and softmax in fp32
        String kt = g.node("Transpose", List.of(g.op("Unsqueeze", keys, g.constI64("ax1", false, 1))), Attr.ints("perm", 0, 1, 3, 2)); // [h,1,d,m]
        String scores = g.op("Add", g.op("MatMul", "q", kt), "amask");                // [h,g,w,m]
        String probs = g.node("Softmax", List.of(scores), Attr.i("axis", -1));
        String valid = g.node("Cast", List.of(g.op("Equal", "amask", g.scalarF32("zero", 0f))), Attr.i("to", Elem.FLOAT.onnxType()));
        String masked = g.op("Mul", probs, valid);
        g.nodeNamed("ReduceSum", "sum", List.of(masked, g.constI64("ax2", false, 2)), Attr.i("keepdims", 0));
        g.nodeNamed("ReduceMax", "max", List.of(masked), Attr.ints("axes", 2), Attr.i("keepdims", 0));
        g.output("sum", Elem.FLOAT, kvHeads, "g", "m");
        g.output("max", Elem.FLOAT, kvHeads, "g", "m");
        return g;
    }
}
