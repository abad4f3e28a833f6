package io.github.kvpolicy.runtime.model.verify;

import io.github.kvpolicy.runtime.json.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A reference file of model inputs and outputs written by transformers ({@code reference.safetensors}: {@code input_ids}
 * I64, {@code pixel_values} F32, {@code logits} F32 {@code [1, L, V]}, {@code attention.{layer}} F32
 * {@code [1, heads, L, L]}, {@code generation.scores} F32 {@code [steps, V]}). Read fully into the heap on open (the
 * files are small; at most 1 GiB is accepted). Immutable after construction; arrays returned are copies.
 */
public final class ReferenceFile {
    private static final long MAX_BYTES = 1L << 30;
    private final Path path;
    private final Map<String, long[]> shapes = new LinkedHashMap<>();
    private final Map<String, float[]> floats = new LinkedHashMap<>();
    private final Map<String, long[]> longs = new LinkedHashMap<>();

    private ReferenceFile(Path path) {
        this.path = path;
    }

    /**
     * Reads {@code path}.
     *
     * @throws IllegalArgumentException naming the file and the problem for a file that is not a safetensors file of
     *                                  F32/I64 tensors
     */
    @SuppressWarnings("unchecked")
    public static ReferenceFile read(Path path) {
        ReferenceFile rf = new ReferenceFile(path);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8 || size > MAX_BYTES) {
                throw new IllegalArgumentException(path + ": expected a safetensors reference file of 8 bytes to 1 GiB, found " + size + " bytes");
            }
            ByteBuffer bb = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
            while (bb.hasRemaining() && ch.read(bb) >= 0) { }
            long n = bb.getLong(0);
            if (n < 2 || n > size - 8) {
                throw new IllegalArgumentException(path + ": header length " + n + " does not fit the file of " + size + " bytes; not a safetensors file");
            }
            Map<String, Object> header = Json.parseObject(new String(bb.array(), 8, (int) n, StandardCharsets.UTF_8), path.toString());
            long base = 8 + n;
            for (Map.Entry<String, Object> e : header.entrySet()) {
                if (e.getKey().equals("__metadata__")) continue;
                if (!(e.getValue() instanceof Map<?, ?> t) || !(t.get("shape") instanceof List<?> sh)
                        || !(t.get("data_offsets") instanceof List<?> off) || off.size() != 2) {
                    throw new IllegalArgumentException(path + ": tensor \"" + e.getKey() + "\" lacks dtype/shape/data_offsets");
                }
                long[] shape = ((List<Object>) sh).stream().mapToLong(o -> (Long) o).toArray();
                long from = base + (Long) off.get(0), to = base + (Long) off.get(1);
                long numel = 1;
                for (long d : shape) numel *= d;
                String dtype = String.valueOf(t.get("dtype"));
                int width = dtype.equals("F32") ? 4 : dtype.equals("I64") ? 8 : -1;
                if (width < 0) {
                    throw new IllegalArgumentException(path + ": tensor \"" + e.getKey() + "\" has dtype " + dtype + ", expected F32 or I64");
                }
                if (to > size || from > to || to - from != numel * width) {
                    throw new IllegalArgumentException(path + ": tensor \"" + e.getKey() + "\" data_offsets [" + off.get(0) + ", " + off.get(1)
                            + "] do not hold " + numel + " " + dtype + " values inside the file");
                }
                rf.shapes.put(e.getKey(), shape);
                if (width == 4) {
                    float[] a = new float[(int) numel];
                    for (int i = 0; i < a.length; i++) a[i] = bb.getFloat((int) from + 4 * i);
                    rf.floats.put(e.getKey(), a);
                } else {
                    long[] a = new long[(int) numel];
                    for (int i = 0; i < a.length; i++) a[i] = bb.getLong((int) from + 8 * i);
                    rf.longs.put(e.getKey(), a);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read the reference file", e);
        }
        return rf;
    }

    public Path path() { return path; }

    /** Tensor names, in file order. */
    public Set<String> names() { return Collections.unmodifiableSet(shapes.keySet()); }

    public boolean contains(String name) { return shapes.containsKey(name); }

    /** The shape of {@code name}; error naming the file when absent. */
    public long[] shape(String name) {
        return require(shapes, name).clone();
    }

    /** The F32 tensor {@code name}, row-major. */
    public float[] floats(String name) {
        return require(floats, name).clone();
    }

    /** The I64 tensor {@code name}, row-major. */
    public long[] longs(String name) {
        return require(longs, name).clone();
    }

    private <T> T require(Map<String, T> m, String name) {
        T v = m.get(name);
        if (v == null) {
            throw new IllegalArgumentException(path + ": no " + (m == longs ? "I64" : m == floats ? "F32" : "") + " tensor \"" + name
                    + "\"; it has " + shapes.keySet());
        }
        return v;
    }
}
