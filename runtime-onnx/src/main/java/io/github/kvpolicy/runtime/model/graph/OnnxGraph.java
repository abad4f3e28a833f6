package io.github.kvpolicy.runtime.model.graph;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A minimal ONNX graph builder over the protobuf classes shipped in {@code tribuo-util-onnx}
 * ({@code ai.onnx.proto.OnnxMl}). Opset {@value #OPSET} of the default domain, IR version {@value #IR_VERSION}.
 *
 * <p>Names: graph inputs/outputs/initializers keep the names given; every intermediate value gets a unique
 * name from {@link #fresh(String)}. Initializer payloads are either embedded ({@code raw_data}) or, in
 * external-data mode, streamed to a side file next to the model as they are added (so the heap never holds
 * the weights); {@link #save(Path, Map)} writes the model atomically (temp file + rename).
 *
 * <p>Not thread-safe; one instance builds one model.
 */
public final class OnnxGraph {
    /** Default-domain opset the graphs use. */
    public static final int OPSET = 17;
    /** ONNX IR version written (IR 8 goes with opset 17; ONNX Runtime 1.29 reads IR ≤ 11). */
    public static final int IR_VERSION = 8;
    /** Tensors at least this large are aligned to 4096 bytes in external data (page-aligned for mmap). */
    private static final long PAGE_ALIGN_THRESHOLD = 1 << 20;

    /** Element types used here. */
    public enum Elem {
        FLOAT(TensorProto.DataType.FLOAT, 4), FLOAT16(TensorProto.DataType.FLOAT16, 2),
        BFLOAT16(TensorProto.DataType.BFLOAT16, 2), INT64(TensorProto.DataType.INT64, 8);

        final TensorProto.DataType proto;
        final int bytes;

        Elem(TensorProto.DataType proto, int bytes) {
            this.proto = proto;
            this.bytes = bytes;
        }

        /** The ONNX {@code TensorProto.DataType} number (for Cast's {@code to}). */
        public int onnxType() {
            return proto.getNumber();
        }
    }

    /** Writes exactly the declared number of little-endian bytes of one initializer. */
    @FunctionalInterface
    public interface Payload {
        void writeTo(OutputStream out) throws IOException;
    }

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private final Set<String> names = new HashSet<>();
    private final Map<String, Integer> counters = new LinkedHashMap<>();
    private final Path externalData; // null = embed everything
    private final String externalLocation;
    private OutputStream extOut;
    private long extPos;
    private long initializerBytes;

    /**
     * @param graphName    the graph's name
     * @param externalData side file for initializer data (written now, relative location = its file name,
     *                     so it must sit next to the model file), or {@code null} to embed all data
     */
    public OnnxGraph(String graphName, Path externalData) {
        graph.setName(graphName);
        this.externalData = externalData;
        this.externalLocation = externalData == null ? null : externalData.getFileName().toString();
        if (externalData != null) {
            try {
                extOut = new BufferedOutputStream(Files.newOutputStream(externalData), 1 << 20);
            } catch (IOException e) {
                throw new UncheckedIOException(externalData + ": cannot create external data file", e);
            }
        }
    }

    /** A new unique value name starting with {@code prefix}. */
    public String fresh(String prefix) {
        int n = counters.merge(prefix, 1, Integer::sum) - 1;
        String name = n == 0 ? prefix : prefix + "_" + n;
        while (!names.add(name)) {
            n = counters.merge(prefix, 1, Integer::sum) - 1;
            name = prefix + "_" + n;
        }
        return name;
    }

    private void claim(String name) {
        if (!names.add(name)) throw new IllegalArgumentException("duplicate ONNX value name \"" + name + "\"");
    }

    /** Whether a value (input, initializer or node output) of that name exists. */
    public boolean has(String name) {
        return names.contains(name);
    }

    /** Bytes of initializer data added so far. */
    public long initializerBytes() {
        return initializerBytes;
    }

    private static ValueInfoProto valueInfo(String name, Elem type, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            TensorShapeProto.Dimension.Builder db = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String s) db.setDimParam(s);
            else db.setDimValue(((Number) d).longValue());
            shape.addDim(db);
        }
        TypeProto.Tensor.Builder t = TypeProto.Tensor.newBuilder().setElemType(type.onnxType()).setShape(shape);
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(t)).build();
    }

    /** Declares a graph input; each dim is a {@code Number} (fixed) or {@code String} (symbolic). */
    public String input(String name, Elem type, Object... dims) {
        claim(name);
        graph.addInput(valueInfo(name, type, dims));
        return name;
    }

    /** Declares that value {@code name} (already produced) is a graph output. */
    public void output(String name, Elem type, Object... dims) {
        graph.addOutput(valueInfo(name, type, dims));
    }

    // ---------------------------------------------------------------- nodes

    /** An attribute for {@link #node}. */
    public record Attr(AttributeProto proto) {
        public static Attr i(String name, long v) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build());
        }

        public static Attr f(String name, float v) {
            return new Attr(AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build());
        }

        public static Attr ints(String name, long... v) {
            AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
            for (long x : v) b.addInts(x);
            return new Attr(b.build());
        }
    }

    /** Adds a node with one output, named {@code fresh(op)}; returns the output name. */
    public String node(String op, List<String> inputs, Attr... attrs) {
        return nodeNamed(op, fresh(op.toLowerCase()), inputs, attrs);
    }

    /** Adds a node with one output of the given (graph output) name. */
    public String nodeNamed(String op, String output, List<String> inputs, Attr... attrs) {
        if (!names.contains(output)) claim(output);
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(fresh("n_" + op)).addOutput(output);
        for (String in : inputs) n.addInput(in);
        for (Attr a : attrs) n.addAttribute(a.proto());
        graph.addNode(n);
        return output;
    }

    /** Shorthand: node with inputs given as varargs and no attributes. */
    public String op(String op, String... inputs) {
        return node(op, List.of(inputs));
    }

    // --------------------------------------------------------- initializers

    /** An int64 constant tensor of shape {@code [values.length]} (or a scalar when {@code scalar}). */
    public String constI64(String prefix, boolean scalar, long... values) {
        ByteBuffer bb = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) bb.putLong(v);
        long[] dims = scalar ? new long[0] : new long[]{values.length};
        return embedded(fresh(prefix), Elem.INT64, dims, bb.array());
    }

    /** A float32 constant with the given dims. */
    public String constF32(String prefix, long[] dims, float... values) {
        ByteBuffer bb = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) bb.putFloat(v);
        return embedded(fresh(prefix), Elem.FLOAT, dims, bb.array());
    }

    /** A float16 scalar constant ({@code v} rounded to nearest). */
    public String scalarF16(String prefix, float v) {
        ByteBuffer bb = ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN);
        bb.putShort(Float.floatToFloat16(v));
        return embedded(fresh(prefix), Elem.FLOAT16, new long[0], bb.array());
    }

    /** A float32 scalar constant. */
    public String scalarF32(String prefix, float v) {
        return constF32(prefix, new long[0], v);
    }

    private String embedded(String name, Elem type, long[] dims, byte[] data) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.onnxType());
        for (long d : dims) t.addDims(d);
        t.setRawData(ByteString.copyFrom(data));
        graph.addInitializer(t);
        initializerBytes += data.length;
        return name;
    }

    /**
     * Adds a (possibly huge) initializer named exactly {@code name}, whose {@code byteSize} bytes
     * {@code payload} writes. In external-data mode the bytes go straight to the side file.
     */
    public String initializer(String name, Elem type, long[] dims, long byteSize, Payload payload) {
        claim(name);
        long numel = 1;
        for (long d : dims) numel = Math.multiplyExact(numel, d);
        if (numel * type.bytes != byteSize) {
            throw new IllegalArgumentException("initializer " + name + ": " + numel + " elements of " + type + " need "
                    + numel * type.bytes + " bytes, got " + byteSize);
        }
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.onnxType());
        for (long d : dims) t.addDims(d);
        try {
            if (extOut == null) {
                if (byteSize > Integer.MAX_VALUE - 64) {
                    throw new IllegalArgumentException("initializer " + name + " has " + byteSize
                            + " bytes, too large to embed; use external data");
                }
                ByteString.Output bo = ByteString.newOutput((int) byteSize);
                CountingStream cs = new CountingStream(bo);
                payload.writeTo(cs);
                checkCount(name, cs.count, byteSize);
                t.setRawData(bo.toByteString());
            } else {
                long align = byteSize >= PAGE_ALIGN_THRESHOLD ? 4096 : 64;
                long pad = (align - extPos % align) % align;
                for (long i = 0; i < pad; i++) extOut.write(0);
                extPos += pad;
                CountingStream cs = new CountingStream(extOut);
                payload.writeTo(cs);
                checkCount(name, cs.count, byteSize);
                t.setDataLocation(TensorProto.DataLocation.EXTERNAL);
                t.addExternalData(entry("location", externalLocation));
                t.addExternalData(entry("offset", Long.toString(extPos)));
                t.addExternalData(entry("length", Long.toString(byteSize)));
                extPos += byteSize;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("initializer " + name + ": write failed", e);
        }
        graph.addInitializer(t);
        initializerBytes += byteSize;
        return name;
    }

    private static void checkCount(String name, long got, long want) {
        if (got != want) {
            throw new IllegalStateException("initializer " + name + ": payload wrote " + got + " bytes, expected " + want);
        }
    }

    private static OnnxMl.StringStringEntryProto entry(String k, String v) {
        return OnnxMl.StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
    }

    private static final class CountingStream extends OutputStream {
        final OutputStream out;
        long count;

        CountingStream(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }

    // ----------------------------------------------------------------- save

    /**
     * Finishes the external data file (if any) and writes the model to {@code modelPath} (via a temp file
     * and an atomic move) with the given metadata_props.
     */
    public void save(Path modelPath, Map<String, String> metadata) {
        try {
            if (extOut != null) {
                extOut.close();
                extOut = null;
                if (!externalData.toAbsolutePath().getParent().equals(modelPath.toAbsolutePath().getParent())) {
                    throw new IllegalStateException("external data " + externalData + " must sit next to " + modelPath);
                }
            }
            ModelProto.Builder m = ModelProto.newBuilder()
                    .setIrVersion(IR_VERSION)
                    .setProducerName("kvpolicy-model-builder")
                    .setProducerVersion(metadata.getOrDefault("kvpolicy.builder", ""))
                    .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                    .setGraph(graph);
            metadata.forEach((k, v) -> m.addMetadataProps(entry(k, v)));
            Path tmp = modelPath.resolveSibling(modelPath.getFileName() + ".tmp");
            try (OutputStream os = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 20)) {
                m.build().writeTo(os);
            }
            Files.move(tmp, modelPath, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException(modelPath + ": cannot write ONNX model", e);
        }
    }

    /** Closes the external data stream without saving (after a failure). */
    public void abandon() {
        if (extOut != null) {
            try {
                extOut.close();
            } catch (IOException ignored) {
                // best effort
            }
            extOut = null;
        }
    }

    /** Names of the graph's inputs so far, in order (for tests/diagnostics). */
    public List<String> inputNames() {
        List<String> out = new ArrayList<>();
        graph.getInputList().forEach(v -> out.add(v.getName()));
        return out;
    }
}
