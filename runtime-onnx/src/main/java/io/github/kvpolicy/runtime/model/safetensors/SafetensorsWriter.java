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
        byte[] head = header(path, specs, metadata);
        try {
            if (path.getParent() != null) Files.createDirectories(path.getParent());
            OutputStream os = new BufferedOutputStream(Files.newOutputStream(path), 1 << 20);
            os.write(head);
            SafetensorsWriter w = new SafetensorsWriter(path, os, List.copyOf(specs));
            w.advance();
            return w;
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot write safetensors file", e);
        }
    }

    /** The values of one tensor, written in order into a sink (a tensor's generator for {@link #writeParallel}). */
    @FunctionalInterface
    public interface TensorSource {
        /** Writes all {@code spec.numel()} values of {@code spec} into {@code sink}, in order. */
        void fill(Spec spec, FloatSink sink);
    }

    /** Receives a tensor's values in order. */
    @FunctionalInterface
    public interface FloatSink {
        void write(float[] src, int off, int len);
    }

    /**
     * Writes {@code path} (created or replaced) as {@link #create} + {@link #writeFloats} would, byte for byte, but
     * with up to {@code threads} tensors filled at once: the header fixes every tensor's offset, and each tensor is
     * converted and written at its offset by the thread that fills it (positional writes, bounded buffers per thread).
     * {@code source} must be safe to call from several threads for different tensors. On any failure (a source
     * throws, writes too few or too many values, I/O) the partial file is deleted and the first error is thrown.
     */
    public static void writeParallel(Path path, List<Spec> specs, Map<String, String> metadata, TensorSource source, int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        byte[] head = header(path, specs, metadata);
        long[] offsets = new long[specs.size()];
        long end = head.length;
        for (int i = 0; i < specs.size(); i++) {
            offsets[i] = end;
            end += specs.get(i).numel() * specs.get(i).dtype().bytes();
        }
        boolean ok = false;
        java.util.concurrent.ExecutorService pool = null;
        try {
            if (path.getParent() != null) Files.createDirectories(path.getParent());
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(path, java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.TRUNCATE_EXISTING, java.nio.file.StandardOpenOption.WRITE)) {
                writeFully(ch, ByteBuffer.wrap(head), 0);
                // largest tensors first, so the last ones to finish are small
                List<Integer> order = new ArrayList<>();
                for (int i = 0; i < specs.size(); i++) order.add(i);
                order.sort((a, b) -> Long.compare(specs.get(b).numel() * specs.get(b).dtype().bytes(), specs.get(a).numel() * specs.get(a).dtype().bytes()));
                pool = java.util.concurrent.Executors.newFixedThreadPool(Math.min(threads, Math.max(1, specs.size())), r -> {
                    Thread t = new Thread(r, "safetensors-writer");
                    t.setDaemon(true);
                    return t;
                });
                List<java.util.concurrent.Future<?>> done = new ArrayList<>();
                for (int i : order) {
                    Spec sp = specs.get(i);
                    long at = offsets[i];
                    done.add(pool.submit(() -> { writeTensor(path, ch, sp, at, source); return null; }));
                }
                for (java.util.concurrent.Future<?> f : done) {
                    try {
                        f.get();
                    } catch (java.util.concurrent.ExecutionException e) {
                        Throwable c = e.getCause();
                        if (c instanceof RuntimeException re) throw re;
                        if (c instanceof Error er) throw er;
                        throw new IllegalStateException(c);
                    }
                }
                if (ch.size() != end) throw new IllegalStateException(path + ": wrote " + ch.size() + " bytes, expected " + end);
                ok = true;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(path + ": interrupted while writing", e);
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot write safetensors file", e);
        } finally {
            if (pool != null) pool.shutdownNow();
            if (!ok) {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }

    /** One tensor of {@link #writeParallel}: its values converted to its dtype and written from {@code at}. */
    private static void writeTensor(Path path, java.nio.channels.FileChannel ch, Spec spec, long at, TensorSource source) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        long[] pos = {at};
        long[] count = {0};
        long numel = spec.numel();
        source.fill(spec, (src, off, len) -> {
            if (count[0] + len > numel) throw new IllegalStateException(path + ": more than " + numel + " values for tensor \"" + spec.name() + "\"");
            try {
                for (int i = 0; i < len; i++) {
                    if (b.remaining() < 4) {
                        b.flip();
                        pos[0] += writeFully(ch, b, pos[0]);
                        b.clear();
                    }
                    put(b, spec.dtype(), src[off + i]);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(path + ": write failed", e);
            }
            count[0] += len;
        });
        b.flip();
        writeFully(ch, b, pos[0]);
        if (count[0] != numel) throw new IllegalStateException(path + ": tensor \"" + spec.name() + "\" got " + count[0] + " of its " + numel + " values");
    }

    private static int writeFully(java.nio.channels.FileChannel ch, ByteBuffer b, long at) throws IOException {
        int n = b.remaining();
        long p = at;
        while (b.hasRemaining()) p += ch.write(b, p);
        return n;
    }

    private static void put(ByteBuffer b, DType dtype, float f) {
        switch (dtype) {
            case F32 -> b.putFloat(f);
            case F16 -> b.putShort(Float.floatToFloat16(f));
            case BF16 -> b.putShort(DType.floatToBf16(f));
        }
    }

    /** The 8-byte length, the JSON header and its padding to a multiple of 8 bytes. */
    private static byte[] header(Path path, List<Spec> specs, Map<String, String> metadata) {
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
        ByteBuffer out = ByteBuffer.allocate(8 + hb.length + pad).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(hb.length + pad).put(hb);
        for (int i = 0; i < pad; i++) out.put((byte) ' ');
        return out.array();
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
                put(buf, dtype, src[off + i]);
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
