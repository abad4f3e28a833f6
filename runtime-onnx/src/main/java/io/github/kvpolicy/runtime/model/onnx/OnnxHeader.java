package io.github.kvpolicy.runtime.model.onnx;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.StringJoiner;

/**
 * What the runtime needs to know about an ONNX model before running it — its metadata and the names and types of its
 * graph inputs and outputs — read straight from the protobuf without loading the model: the graph's nodes and
 * initializers (embedded weights included) are skipped field by field and external data is never opened, so reading
 * the header of a multi-gigabyte decoder costs a few kilobytes of I/O instead of a second copy of its weights in an
 * ONNX Runtime session (on CUDA: a second upload).
 *
 * @param metadata {@code metadata_props} in file order
 * @param inputs   graph input name → {@code ELEMTYPE[dim,dim,…]} (symbolic dims by name), in graph order
 * @param outputs  graph output name → the same form
 */
public record OnnxHeader(Map<String, String> metadata, Map<String, String> inputs, Map<String, String> outputs) {
    private static final int MODEL_GRAPH = 7, MODEL_METADATA = 14;
    private static final int GRAPH_INPUT = 11, GRAPH_OUTPUT = 12;

    public OnnxHeader {
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
        inputs = Collections.unmodifiableMap(new LinkedHashMap<>(inputs));
        outputs = Collections.unmodifiableMap(new LinkedHashMap<>(outputs));
    }

    /**
     * Reads {@code model}'s header.
     *
     * @throws IllegalStateException naming the file when it is not an ONNX model protobuf or has no graph
     * @throws UncheckedIOException  when it cannot be read
     */
    public static OnnxHeader read(Path model) {
        Map<String, String> meta = new LinkedHashMap<>(), in = new LinkedHashMap<>(), out = new LinkedHashMap<>();
        boolean graph = false;
        try (InputStream s = Files.newInputStream(model)) {
            CodedInputStream c = CodedInputStream.newInstance(s);
            c.setSizeLimit(Integer.MAX_VALUE);
            for (int tag; (tag = c.readTag()) != 0; ) {
                int field = WireFormat.getTagFieldNumber(tag);
                if (field == MODEL_METADATA && WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                    OnnxMl.StringStringEntryProto e = OnnxMl.StringStringEntryProto.parseFrom(c.readBytes());
                    meta.put(e.getKey(), e.getValue());
                } else if (field == MODEL_GRAPH && WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                    graph = true;
                    int limit = c.pushLimit(c.readRawVarint32());
                    for (int g; (g = c.readTag()) != 0; ) {
                        int gf = WireFormat.getTagFieldNumber(g);
                        if ((gf == GRAPH_INPUT || gf == GRAPH_OUTPUT) && WireFormat.getTagWireType(g) == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                            OnnxMl.ValueInfoProto v = OnnxMl.ValueInfoProto.parseFrom(c.readBytes());
                            (gf == GRAPH_INPUT ? in : out).put(v.getName(), describe(v));
                        } else if (!c.skipField(g)) {
                            break;
                        }
                    }
                    c.popLimit(limit);
                } else if (!c.skipField(tag)) {
                    break;
                }
            }
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new IllegalStateException(model + " is not an ONNX model: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(model + ": cannot read", e);
        }
        if (!graph) throw new IllegalStateException(model + " is not an ONNX model: it has no graph");
        return new OnnxHeader(meta, in, out);
    }

    private static String describe(OnnxMl.ValueInfoProto v) {
        if (!v.getType().hasTensorType()) return v.getType().getValueCase().name();
        OnnxMl.TypeProto.Tensor t = v.getType().getTensorType();
        OnnxMl.TensorProto.DataType dt = OnnxMl.TensorProto.DataType.forNumber(t.getElemType());
        StringJoiner dims = new StringJoiner(",", "[", "]");
        for (OnnxMl.TensorShapeProto.Dimension d : t.getShape().getDimList()) {
            dims.add(d.hasDimValue() ? Long.toString(d.getDimValue()) : d.hasDimParam() ? d.getDimParam() : "?");
        }
        return (dt == null ? "TYPE" + t.getElemType() : dt.name()) + dims;
    }
}
