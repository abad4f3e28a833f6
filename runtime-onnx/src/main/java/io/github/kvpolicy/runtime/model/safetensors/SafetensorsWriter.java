package io.github.kvpolicy.runtime.model.safetensors;

import io.github.kvpolicy.runtime.json.Json;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Streams a safetensors file: the header (all names, dtypes and shapes) is declared up front, then each
 * tensor's elements are written in declaration order, in as many chunks as the caller likes, so arbitrarily
 * large files are written with bounded heap. Floats are converted to the declared dtype on the fly
 * (round-to-nearest-even for F16/BF16). The header is padded with spaces to a multiple of 8 bytes.
 *
 * <p>{@link #close()} fails if a declared tensor was not completely written; the partial file is then
 * deleted. Not thread-safe.
 */
public final class SafetensorsWriter implements AutoCloseable {
    /** A tensor to declare: name, stored dtype and shape. */
    public record Spec(String name, DType dtype, long[] shape) {
        public long numel() {
            return TensorInfo.numel(shape);
        }
    }

    /** A small in-memory float tensor for {@link #write(Path, Map, DType, Map)}. */
    public record FloatTensor(long[] shape, float[] data) {
        public FloatTensor {
            if (TensorInfo.numel(shape) != data.length) {
                throw new IllegalArgumentException("shape " + java.util.Arrays.toString(shape) + " needs "
                        + TensorInfo.numel(shape) + " values, got " + data.length);
            }
        }
    }

    private final Path path;
    private final OutputStream out;
    private final List<Spec> specs;
    private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    private int current = -1;
    private long remaining;
    private boolean failed;
    private boolean closed;

    private SafetensorsWriter(Path path, OutputStream out, List<Spec> specs) {
        this.path = path;
        this.out = out;
        this.specs = specs;
    }

    /** Creates (or replaces) {@code path} and writes the header for {@code specs} in that order. */
    public static SafetensorsWriter create(Path path, List<Spec> specs, Map<String, String> metadata) {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) {
            header.put("__metadata__", new LinkedHashMap<>(metadata));
        }
        Set<String> seen = new HashSet<>();
        long off = 0;
        for (Spec s : specs) {
            if (s.name().equals("__metadata__") || !seen.add(s.name())) {
                throw new IllegalArgumentException(path + ": duplicate or reserved tensor name \"" + s.name() + "\"");
            }
            for (long d : s.shape()) {
                if (d < 0) throw new IllegalArgumentException(path + ": tensor \"" + s.name() + "\" has a negative dimension");
            }
            long bytes = Math.multiplyExact(s.numel(), s.dtype().bytes());
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("dtype", s.dtype().name());
            List<Long> shape = new ArrayList<>();
            for (long d : s.shape()) shape.add(d);
            e.put("shape", shape);
            e.put("data_offsets", List.of(off, off + bytes));
            header.put(s.name(), e);
            off += bytes;
        }
        byte[] hb = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int pad = (8 - hb.length % 8) % 8;
        try {
            if (path.getParent() != null) Files.createDirectories(path.getParent());
            OutputStream os = new BufferedOutputStream(Files.newOutputStream(path), 1 << 20);
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(hb.length + pad);
            os.write(len.array());
            os.write(hb);
            for (int i = 0; i < pad; i++) os.write(' ');
            SafetensorsWriter w = new SafetensorsWriter(path, os, List.copyOf(specs));
            w.advance();
            return w;
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot write safetensors file", e);
        }
    }

    /** Writes small in-memory tensors (sorted by name) to {@code path}, all stored as {@code dtype}. */
    public static void write(Path path, Map<String, FloatTensor> tensors, DType dtype, Map<String, String> metadata) {
        List<String> names = new ArrayList<>(tensors.keySet());
        names.sort(null);
        List<Spec> specs = new ArrayList<>();
        for (String n : names) specs.add(new Spec(n, dtype, tensors.get(n).shape()));
        try (SafetensorsWriter w = create(path, specs, metadata)) {
            for (String n : names) {
                w.writeFloats(n, tensors.get(n).data(), 0, tensors.get(n).data().length);
            }
        }
    }

    private void advance() {
        while (true) {
            current++;
            if (current >= specs.size()) {
                remaining = 0;
                return;
            }
            remaining = specs.get(current).numel();
            if (remaining > 0) return;
        }
    }

    /** Name of the tensor the next values belong to, or {@code null} when all are written. */
    public String currentTensor() {
        return current < specs.size() ? specs.get(current).name() : null;
    }

    /**
     * Appends {@code len} values to tensor {@code name}, which must be the tensor currently being written
     * (declaration order). Values beyond the tensor's size are an error.
     */
    public void writeFloats(String name, float[] src, int off, int len) {
        if (closed) throw new IllegalStateException(path + ": writer is closed");
        int pos = off;
        int left = len;
        while (left > 0) {
            if (current >= specs.size()) {
                failed = true;
                throw new IllegalStateException(path + ": all declared tensors are complete; extra values for \"" + name + "\"");
            }
            Spec s = specs.get(current);
            if (!s.name().equals(name)) {
                failed = true;
                throw new IllegalStateException(path + ": expected values for tensor \"" + s.name()
                        + "\" (declaration order), got \"" + name + "\"");
            }
            int n = (int) Math.min(left, remaining);
            put(s.dtype(), src, pos, n);
            pos += n;
            left -= n;
            remaining -= n;
            if (remaining == 0) advance();
        }
        if (len == 0 && (current >= specs.size() || !specs.get(current).name().equals(name))) {
            boolean declaredEmpty = specs.stream().anyMatch(sp -> sp.name().equals(name) && sp.numel() == 0);
            if (!declaredEmpty) {
                failed = true;
                throw new IllegalStateException(path + ": unexpected tensor \"" + name + "\"");
            }
        }
    }

    private void put(DType dtype, float[] src, int off, int n) {
        try {
            for (int i = 0; i < n; i++) {
                if (buf.remaining() < 4) flushBuf();
                float f = src[off + i];
                switch (dtype) {
                    case F32 -> buf.putFloat(f);
                    case F16 -> buf.putShort(Float.floatToFloat16(f));
                    case BF16 -> buf.putShort(DType.floatToBf16(f));
                }
            }
        } catch (IOException e) {
            failed = true;
            throw new UncheckedIOException(path + ": write failed", e);
        }
    }

    private void flushBuf() throws IOException {
        out.write(buf.array(), 0, buf.position());
        buf.clear();
    }

    /** Finishes the file; fails (and deletes it) if some declared tensor is incomplete. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        boolean complete = current >= specs.size();
        try {
            flushBuf();
            out.close();
        } catch (IOException e) {
            failed = true;
            throw new UncheckedIOException(path + ": write failed", e);
        } finally {
            if (failed || !complete) {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
        if (!failed && !complete) {
            throw new IllegalStateException(path + ": tensor \"" + specs.get(current).name() + "\" is missing "
                    + remaining + " values; the incomplete file was deleted");
        }
    }
}
