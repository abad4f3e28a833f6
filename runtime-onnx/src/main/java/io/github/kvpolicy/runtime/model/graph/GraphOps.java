package io.github.kvpolicy.runtime.model.graph;

import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Attr;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Elem;
import io.github.kvpolicy.runtime.model.safetensors.DType;
import io.github.kvpolicy.runtime.model.safetensors.TensorInfo;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Building blocks shared by every graph builder: weights streamed from a {@link WeightStore} into initializers
 * (F32 copied, F16/BF16 widened in 1 MiB chunks, or kept half with a {@code Cast}; FLOAT16 for fp16 compute),
 * the compute-type casts of {@link Storage}, {@code Gemm} against HF
 * {@code [out, in]} matrices, RMSNorm, LayerNorm, rotary "rotate_half", GELU variants. Stateless and thread-safe;
 * each call adds nodes to the (single-threaded) {@link OnnxGraph} it is given.
 */
public final class GraphOps {
    private GraphOps() {}

    /** Floats per streamed chunk (1 MiB). */
    private static final int CHUNK = 1 << 18;

    /**
     * How weights are stored and in which type the graphs compute.
     *
     * @param keepHalfWeights       store F16/BF16 matrices as half and widen them with a {@code Cast} (fp32 compute)
     * @param externalDataThreshold stored-weight bytes above which a graph's weights go to {@code <graph>.onnx.data}
     * @param kvHalf                the decoder's KV inputs/outputs ({@code past_key/value.*}, {@code present_key/value.*})
     *                              are FLOAT16; with fp32 compute they are cast to/from FLOAT at the graph boundary
     * @param computeHalf           2-D weight matrices (and projection biases) are stored FLOAT16 whatever their source
     *                              type, and projections and attention matmuls run in FLOAT16 (requires {@code kvHalf});
     *                              the builders keep residual stream, norm statistics, mask and softmax in FLOAT
     */
    public record Storage(boolean keepHalfWeights, long externalDataThreshold, boolean kvHalf, boolean computeHalf) {
        public Storage {
            if (computeHalf && !kvHalf) throw new IllegalArgumentException("fp16 compute needs an fp16 KV cache");
        }

        public Storage(boolean keepHalfWeights, long externalDataThreshold) {
            this(keepHalfWeights, externalDataThreshold, false, false);
        }

        /** The element type of the decoder's KV inputs and outputs. */
        public Elem kvElem() { return kvHalf ? Elem.FLOAT16 : Elem.FLOAT; }

        /** The element type projections and attention matmuls compute in. */
        public Elem computeElem() { return computeHalf ? Elem.FLOAT16 : Elem.FLOAT; }

        /** Whether K/V cross the graph boundary in another type than the graph computes them in (a Cast each way). */
        boolean kvCast() { return kvHalf && !computeHalf; }
    }

    /**
     * Declares KV input {@code name} ({@code past_key.i}/{@code past_value.i}) with the storage's KV type and returns the
     * value to compute with (compute type): the input itself, or (FLOAT16 KV, FLOAT compute) a {@code Cast} of it named
     * {@code name + ".f32"}.
     */
    public static String kvInput(OnnxGraph g, Storage st, String name, Object... dims) {
        g.input(name, st.kvElem(), dims);
        return st.kvCast() ? g.nodeNamed("Cast", name + ".f32", List.of(name), Attr.i("to", Elem.FLOAT.onnxType())) : name;
    }

    /** The name under which the compute-type value of KV input/output {@code name} lives ({@link #kvOutput} publishes outputs). */
    public static String kvValue(Storage st, String name) {
        return st.kvCast() ? name + ".f32" : name;
    }

    /** When K/V are cast at the boundary, adds the {@code Cast} from {@link #kvValue} to the output {@code name}; else nothing. */
    public static void kvOutput(OnnxGraph g, Storage st, String name) {
        if (st.kvCast()) g.nodeNamed("Cast", name, List.of(name + ".f32"), Attr.i("to", Elem.FLOAT16.onnxType()));
    }

    /** {@code x} (FLOAT) in the compute type: itself, or a Cast to FLOAT16. */
    public static String toCompute(OnnxGraph g, Storage st, String x) {
        return st.computeHalf() ? g.node("Cast", List.of(x), Attr.i("to", Elem.FLOAT16.onnxType())) : x;
    }

    /** {@code x} (compute type) as FLOAT: itself, or a Cast. */
    public static String toFloat(OnnxGraph g, Storage st, String x) {
        return st.computeHalf() ? g.node("Cast", List.of(x), Attr.i("to", Elem.FLOAT.onnxType())) : x;
    }

    /** A compute-type value published as FLOAT output {@code name} (Identity or Cast). */
    public static String publishFloat(OnnxGraph g, Storage st, String x, String name) {
        return st.computeHalf() ? g.nodeNamed("Cast", name, List.of(x), Attr.i("to", Elem.FLOAT.onnxType()))
                : g.nodeNamed("Identity", name, List.of(x));
    }

    /** A scalar constant in the compute type. */
    public static String scalar(OnnxGraph g, Storage st, String prefix, float v) {
        return st.computeHalf() ? g.scalarF16(prefix, v) : g.scalarF32(prefix, v);
    }

    /** A new graph writing to {@code out}, with external data when {@code bytes} exceeds the threshold (any stale side file removed first). */
    public static OnnxGraph newGraph(String name, Path out, long bytes, Storage st) {
        try {
            if (out.getParent() != null) Files.createDirectories(out.getParent());
            Path ext = out.resolveSibling(out.getFileName() + ".data");
            Files.deleteIfExists(ext);
            return new OnnxGraph(name, bytes > st.externalDataThreshold() ? ext : null);
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot prepare output", e);
        }
    }

    /** Bytes tensor {@code t} occupies in the graph (half for 2-D matrices with fp16 compute, or F16/BF16 ones kept half). */
    public static long storedBytes(TensorInfo t, Storage st) {
        boolean half = t.shape().length == 2 && (st.computeHalf() || st.keepHalfWeights() && t.dtype() != DType.F32);
        return t.numel() * (half ? 2 : 4);
    }

    public static String transpose(OnnxGraph g, String in, String outName, long... perm) {
        return outName == null ? g.node("Transpose", List.of(in), Attr.ints("perm", perm))
                : g.nodeNamed("Transpose", outName, List.of(in), Attr.ints("perm", perm));
    }

    /** x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1] along axis 3 (of a rank-4 tensor). */
    public static String rope(OnnxGraph g, String x, String cos, String sin, String zero, String halfD, String fullD,
                              String ax3, String outName) {
        String x1 = g.op("Slice", x, zero, halfD, ax3);
        String x2 = g.op("Slice", x, halfD, fullD, ax3);
        String rot = g.node("Concat", List.of(g.op("Neg", x2), x1), Attr.i("axis", 3));
        List<String> in = List.of(g.op("Mul", x, cos), g.op("Mul", rot, sin));
        return outName == null ? g.node("Add", in) : g.nodeNamed("Add", outName, in);
    }

    /** HF RMSNorm over the last axis: {@code x / sqrt(mean(x²) + eps) · w}. */
    public static String rmsNorm(OnnxGraph g, WeightStore w, String x, String weight, String eps, String axLast) {
        String ms = g.node("ReduceMean", List.of(g.op("Mul", x, x)), Attr.ints("axes", -1), Attr.i("keepdims", 1));
        String norm = g.op("Div", x, g.op("Sqrt", g.op("Add", ms, eps)));
        return g.op("Mul", norm, initializer(g, w, w.info(weight), false));
    }

    /** LayerNorm over the last axis with {@code prefix.weight} and {@code prefix.bias} (opset 17 LayerNormalization). */
    public static String layerNorm(OnnxGraph g, WeightStore w, String x, String prefix, double eps) {
        return g.node("LayerNormalization", List.of(x, initializer(g, w, w.info(prefix + ".weight"), false),
                initializer(g, w, w.info(prefix + ".bias"), false)), Attr.i("axis", -1), Attr.f("epsilon", (float) eps));
    }

    /** An activation by its transformers name: {@code gelu} (erf), {@code gelu_pytorch_tanh}, {@code quick_gelu}, {@code silu}. */
    public static String activation(OnnxGraph g, String x, String act) {
        return switch (act) {
            case "gelu" -> {
                String erf = g.op("Erf", g.op("Mul", x, g.scalarF32("inv_sqrt2", (float) (1.0 / Math.sqrt(2.0)))));
                yield g.op("Mul", g.op("Mul", x, g.scalarF32("half", 0.5f)), g.op("Add", erf, g.scalarF32("one", 1f)));
            }
            case "gelu_pytorch_tanh" -> {
                String cube = g.op("Mul", g.op("Mul", x, x), x);
                String inner = g.op("Mul", g.op("Add", x, g.op("Mul", cube, g.scalarF32("c044715", 0.044715f))),
                        g.scalarF32("sqrt_2_pi", (float) Math.sqrt(2.0 / Math.PI)));
                yield g.op("Mul", g.op("Mul", x, g.scalarF32("half", 0.5f)), g.op("Add", g.op("Tanh", inner), g.scalarF32("one", 1f)));
            }
            case "quick_gelu" -> g.op("Mul", x, g.op("Sigmoid", g.op("Mul", x, g.scalarF32("k1702", 1.702f))));
            case "silu" -> g.op("Mul", x, g.op("Sigmoid", x));
            default -> throw new IllegalArgumentException("activation \"" + act + "\" is not implemented, expected gelu, "
                    + "gelu_pytorch_tanh, quick_gelu or silu");
        };
    }

    /** y = x·Wᵀ (+ b) with W [out,in] from {@code prefix + ".weight"}, in the compute type; x must be rank 2 (compute type). */
    public static String gemm(OnnxGraph g, WeightStore w, String x, String prefix, boolean bias, Storage st) {
        List<String> in = new ArrayList<>(List.of(x, matrix(g, w, prefix + ".weight", st)));
        if (bias) {
            TensorInfo b = w.info(prefix + ".bias");
            in.add(st.computeHalf() ? fp16Initializer(g, w, b, b.name()) : initializer(g, w, b, false));
        }
        return g.node("Gemm", in, Attr.i("transB", 1));
    }

    /**
     * A 2-D weight in the compute type: with fp16 compute its FLOAT16 initializer (converted from any source type);
     * otherwise the FLOAT initializer itself, or a Cast of its half-precision copy.
     */
    public static String matrix(OnnxGraph g, WeightStore w, String name, Storage st) {
        TensorInfo t = w.info(name);
        if (st.computeHalf()) return fp16Initializer(g, w, t, name);
        boolean half = st.keepHalfWeights() && t.dtype() != DType.F32;
        String init = g.has(name) ? name : initializer(g, w, t, half);
        if (!half) return init;
        String cast = name + ".f32";
        return g.has(cast) ? cast : g.nodeNamed("Cast", cast, List.of(init), Attr.i("to", Elem.FLOAT.onnxType()));
    }

    /**
     * Adds weight {@code t} as an initializer named like the tensor (reused when already added): F32 data (F32
     * copied, F16/BF16 widened in 1 MiB chunks), or, when {@code half}, the raw 2-byte data with type FLOAT16/BFLOAT16.
     */
    public static String initializer(OnnxGraph g, WeightStore w, TensorInfo t, boolean half) {
        return initializer(g, w, t, half, t.name());
    }

    /** As {@link #initializer(OnnxGraph, WeightStore, TensorInfo, boolean)}, naming the initializer {@code name}. */
    public static String initializer(OnnxGraph g, WeightStore w, TensorInfo t, boolean half, String name) {
        if (g.has(name)) return name;
        if (half) {
            Elem type = t.dtype() == DType.F16 ? Elem.FLOAT16 : Elem.BFLOAT16;
            MemorySegment seg = w.segment(t.name());
            return g.initializer(name, type, t.shape(), t.byteSize(), out -> copySegment(seg, out));
        }
        long numel = t.numel();
        if (t.dtype() == DType.F32) {
            MemorySegment seg = w.segment(t.name());
            return g.initializer(name, Elem.FLOAT, t.shape(), numel * 4, out -> copySegment(seg, out));
        }
        return converted(g, w, t, name, Elem.FLOAT, (bb, v, index) -> bb.putFloat(v));
    }

    /** Writes one element {@code v} (element {@code index} of the tensor) to {@code bb}. */
    @FunctionalInterface
    private interface Encoder {
        void put(ByteBuffer bb, float v, long index);
    }

    /** Adds {@code t} as a {@code type} initializer, read as floats in 1 MiB chunks and encoded element by element. */
    private static String converted(OnnxGraph g, WeightStore w, TensorInfo t, String name, Elem type, Encoder enc) {
        long numel = t.numel();
        return g.initializer(name, type, t.shape(), numel * type.bytes, out -> {
            float[] buf = new float[(int) Math.min(CHUNK, Math.max(numel, 1))];
            ByteBuffer bb = ByteBuffer.allocate(buf.length * type.bytes).order(ByteOrder.LITTLE_ENDIAN);
            for (long from = 0; from < numel; from += buf.length) {
                int c = (int) Math.min(buf.length, numel - from);
                w.readFloats(t.name(), from, buf, 0, c);
                bb.clear();
                for (int i = 0; i < c; i++) enc.put(bb, buf[i], from + i);
                out.write(bb.array(), 0, bb.position());
            }
        });
    }

    /**
     * Adds weight {@code t} as a FLOAT16 initializer named {@code name} (reused when already added): F16 data copied,
     * F32/BF16 rounded to nearest in 1 MiB chunks. A finite value beyond fp16's range fails the build naming the weight
     * (it would become infinity).
     */
    public static String fp16Initializer(OnnxGraph g, WeightStore w, TensorInfo t, String name) {
        if (g.has(name)) return name;
        if (t.dtype() == DType.F16) {
            MemorySegment seg = w.segment(t.name());
            return g.initializer(name, Elem.FLOAT16, t.shape(), t.byteSize(), out -> copySegment(seg, out));
        }
        return converted(g, w, t, name, Elem.FLOAT16, (bb, v, index) -> {
            short h = Float.floatToFloat16(v);
            if (Float.isInfinite(Float.float16ToFloat(h)) && Float.isFinite(v)) {
                throw new IllegalArgumentException("weight " + t.name() + " holds " + v + " at element " + index
                        + ", beyond fp16's range (±65504); build it with dtype fp32 or fp16-kv");
            }
            bb.putShort(h);
        });
    }

    private static void copySegment(MemorySegment seg, OutputStream out) throws IOException {
        byte[] buf = new byte[1 << 20];
        long size = seg.byteSize();
        for (long off = 0; off < size; off += buf.length) {
            int c = (int) Math.min(buf.length, size - off);
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, off, buf, 0, c);
            out.write(buf, 0, c);
        }
    }
}
