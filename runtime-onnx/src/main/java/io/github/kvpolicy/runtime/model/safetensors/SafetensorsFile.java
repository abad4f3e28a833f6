package io.github.kvpolicy.runtime.model.safetensors;

import io.github.kvpolicy.runtime.json.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A read-only, memory-mapped safetensors file.
 *
 * <p>Layout: an 8-byte little-endian header length {@code n}, {@code n} bytes of UTF-8 JSON (an object
 * mapping tensor names to {@code {"dtype","shape","data_offsets"}}, plus an optional
 * {@code "__metadata__"} object of string→string), then the data section. {@link #open} validates the
 * whole header before returning: length within the file, strict JSON, supported dtypes (F32, F16, BF16),
 * non-negative shapes whose byte size equals the data range, ranges inside the data section, no two
 * ranges overlapping and no unused bytes in the data section (as the reference implementation requires).
 * Every violation throws {@link SafetensorsException} naming the file, the tensor and the expectation.
 *
 * <p>The file is mapped once as a {@link MemorySegment} through {@link FileChannel#map(FileChannel.MapMode, long,
 * long, Arena)} (64-bit addressing, so files and tensors larger than 2 GB need no extra handling).
 * Segments returned by {@link #segment(String)} are valid until {@link #close()}; touching them afterwards
 * throws {@link IllegalStateException} (never a crash). Reads are thread-safe; {@code close} must not race
 * with reads.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Header length limit (the reference implementation uses 100 MB). */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private final Path path;
    private final Arena arena;
    private final MemorySegment data;
    private final long fileSize;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, MemorySegment data, long fileSize, long dataStart,
                            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.data = data;
        this.fileSize = fileSize;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Opens, validates and maps a safetensors file.
     *
     * @throws SafetensorsException when the file is malformed
     * @throws UncheckedIOException when it cannot be read
     */
    public static SafetensorsFile open(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new SafetensorsException(path + ": not a safetensors file: " + size
                        + " bytes, expected at least 8 (the header length)");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long n = lenBuf.getLong(0);
            if (n < 2 || n > MAX_HEADER_BYTES) {
                throw new SafetensorsException(path + ": header length " + Long.toUnsignedString(n)
                        + " out of range, expected 2.." + MAX_HEADER_BYTES + " bytes");
            }
            if (8 + n > size) {
                throw new SafetensorsException(path + ": header length " + n + " exceeds the file (" + size
                        + " bytes), expected 8 + header length <= file size");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) n);
            readFully(ch, hb, 8);
            hb.flip();
            String headerText;
            try {
                headerText = StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(hb).toString();
            } catch (CharacterCodingException e) {
                throw new SafetensorsException(path + ": header is not valid UTF-8", e);
            }
            Map<String, Object> header;
            try {
                header = Json.parseObject(headerText, path + " (safetensors header)");
            } catch (Json.JsonException e) {
                throw new SafetensorsException(e.getMessage(), e);
            }
            long dataStart = 8 + n;
            long dataSize = size - dataStart;
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, TensorInfo> infos = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : header.entrySet()) {
                if (e.getKey().equals("__metadata__")) {
                    parseMetadata(path, e.getValue(), meta);
                } else {
                    infos.put(e.getKey(), parseEntry(path, e.getKey(), e.getValue(), dataSize));
                }
            }
            checkCoverage(path, infos, dataSize);
            Arena arena = Arena.ofShared();
            MemorySegment seg;
            try {
                seg = ch.map(FileChannel.MapMode.READ_ONLY, dataStart, dataSize, arena);
            } catch (IOException | RuntimeException ex) {
                arena.close();
                throw ex;
            }
            return new SafetensorsFile(path, arena, seg, size, dataStart,
                    Collections.unmodifiableMap(infos), Collections.unmodifiableMap(meta));
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read safetensors file: " + e.getMessage(), e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new IOException("unexpected end of file");
            pos += r;
        }
    }

    private static void parseMetadata(Path path, Object v, Map<String, String> meta) {
        if (!(v instanceof Map<?, ?> m)) {
            throw new SafetensorsException(path + ": \"__metadata__\" must be an object of strings, found " + Json.typeName(v));
        }
        for (Map.Entry<?, ?> e : m.entrySet()) {
            if (!(e.getValue() instanceof String s)) {
                throw new SafetensorsException(path + ": \"__metadata__\"[\"" + e.getKey()
                        + "\"] must be a string, found " + Json.typeName(e.getValue()));
            }
            meta.put((String) e.getKey(), s);
        }
    }

    private static TensorInfo parseEntry(Path path, String name, Object v, long dataSize) {
        String where = path + ": tensor \"" + name + "\"";
        if (!(v instanceof Map<?, ?> m)) {
            throw new SafetensorsException(where + ": expected an object {dtype, shape, data_offsets}, found " + Json.typeName(v));
        }
        for (Object k : m.keySet()) {
            if (!k.equals("dtype") && !k.equals("shape") && !k.equals("data_offsets")) {
                throw new SafetensorsException(where + ": unknown key \"" + k + "\", expected only dtype, shape, data_offsets");
            }
        }
        Object dt = m.get("dtype");
        if (!(dt instanceof String dts)) {
            throw new SafetensorsException(where + ": missing or non-string \"dtype\"");
        }
        DType dtype = DType.parseOrNull(dts);
        if (dtype == null) {
            String why = DType.KNOWN_UNSUPPORTED.contains(dts) ? "unsupported dtype " : "unknown dtype ";
            throw new SafetensorsException(where + ": " + why + "\"" + dts + "\", expected one of F32, F16, BF16");
        }
        Object sh = m.get("shape");
        if (!(sh instanceof List<?> shl)) {
            throw new SafetensorsException(where + ": missing or non-array \"shape\"");
        }
        long[] shape = new long[shl.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!(shl.get(i) instanceof Long d) || d < 0) {
                throw new SafetensorsException(where + ": shape " + shl + " has an invalid dimension at index " + i
                        + ", expected non-negative integers");
            }
            shape[i] = d;
        }
        Object off = m.get("data_offsets");
        if (!(off instanceof List<?> ol) || ol.size() != 2 || !(ol.get(0) instanceof Long b) || !(ol.get(1) instanceof Long e)) {
            throw new SafetensorsException(where + ": \"data_offsets\" must be [begin, end] integers, found " + off);
        }
        if (b < 0 || e < b) {
            throw new SafetensorsException(where + ": data_offsets [" + b + ", " + e + "] invalid, expected 0 <= begin <= end");
        }
        if (e > dataSize) {
            throw new SafetensorsException(where + ": data_offsets [" + b + ", " + e + "] run past the data section ("
                    + dataSize + " bytes), expected end <= " + dataSize);
        }
        long numel;
        try {
            numel = TensorInfo.numel(shape);
            Math.multiplyExact(numel, dtype.bytes());
        } catch (ArithmeticException ex) {
            throw new SafetensorsException(where + ": shape " + java.util.Arrays.toString(shape) + " overflows");
        }
        long expected = numel * dtype.bytes();
        if (e - b != expected) {
            throw new SafetensorsException(where + ": " + dtype + java.util.Arrays.toString(shape) + " needs " + expected
                    + " bytes but data_offsets [" + b + ", " + e + "] hold " + (e - b));
        }
        return new TensorInfo(name, dtype, shape, b, e);
    }

    private static void checkCoverage(Path path, Map<String, TensorInfo> infos, long dataSize) {
        List<TensorInfo> sorted = new ArrayList<>(infos.values());
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long cursor = 0;
        TensorInfo prev = null;
        for (TensorInfo t : sorted) {
            if (t.byteSize() == 0) {
                continue; // empty tensors own no bytes
            }
            if (t.begin() < cursor) {
                throw new SafetensorsException(path + ": tensor \"" + t.name() + "\" bytes [" + t.begin() + ", " + t.end()
                        + ") overlap tensor \"" + prev.name() + "\" [" + prev.begin() + ", " + prev.end()
                        + "), expected disjoint data ranges");
            }
            if (t.begin() > cursor) {
                throw new SafetensorsException(path + ": data bytes [" + cursor + ", " + t.begin()
                        + ") belong to no tensor (before tensor \"" + t.name() + "\"), expected contiguous tensor data");
            }
            cursor = t.end();
            prev = t;
        }
        if (cursor != dataSize) {
            throw new SafetensorsException(path + ": data section has " + dataSize + " bytes but tensors cover only "
                    + cursor + ", expected the file to end after the last tensor");
        }
    }

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** File size in bytes. */
    public long fileSize() {
        return fileSize;
    }

    /** Absolute file offset of the data section (8 + header length). */
    public long dataStart() {
        return dataStart;
    }

    /** The {@code __metadata__} entries (empty if absent); unmodifiable. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** All tensors in header order; unmodifiable. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** Whether a tensor of that name exists. */
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** The header entry for {@code name}; throws {@link SafetensorsException} naming the file when absent. */
    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new SafetensorsException(path + ": no tensor \"" + name + "\" (the file holds " + tensors.size() + " tensors)");
        }
        return t;
    }

    /** The raw little-endian bytes of a tensor, valid until {@link #close()}. */
    public MemorySegment segment(String name) {
        TensorInfo t = info(name);
        return data.asSlice(t.begin(), t.byteSize());
    }

    /** Reads a whole tensor as floats (F16/BF16 widened exactly). Fails if it has more than 2^31-9 elements. */
    public float[] readFloats(String name) {
        TensorInfo t = info(name);
        long n = t.numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new SafetensorsException(path + ": tensor \"" + name + "\" has " + n
                    + " elements, too many for one float[]; read it in chunks with readFloats(name, offset, dst, ...)");
        }
        float[] out = new float[(int) n];
        readFloats(name, 0, out, 0, out.length);
        return out;
    }

    /**
     * Reads {@code count} elements starting at element {@code from} (row-major) into {@code dst[dstOff..]},
     * widening F16/BF16 to float.
     */
    public void readFloats(String name, long from, float[] dst, int dstOff, int count) {
        TensorInfo t = info(name);
        if (from < 0 || count < 0 || from + count > t.numel()) {
            throw new IndexOutOfBoundsException(path + ": tensor \"" + name + "\" has " + t.numel()
                    + " elements, cannot read [" + from + ", " + (from + count) + ")");
        }
        long base = t.begin() + from * t.dtype().bytes();
        switch (t.dtype()) {
            case F32 -> MemorySegment.copy(data, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), base,
                    dst, dstOff, count);
            case F16 -> {
                ValueLayout.OfShort le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < count; i++) {
                    dst[dstOff + i] = Float.float16ToFloat(data.get(le, base + 2L * i));
                }
            }
            case BF16 -> {
                ValueLayout.OfShort le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < count; i++) {
                    dst[dstOff + i] = DType.bf16ToFloat(data.get(le, base + 2L * i));
                }
            }
        }
    }

    /** Unmaps the file. Segments obtained earlier become inaccessible. Idempotent. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }
}
