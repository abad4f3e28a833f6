package io.github.kvpolicy.runtime.model.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsFileTest {
    @TempDir
    Path tmp;

    /** Writes an 8-byte LE length, the header bytes and {@code dataBytes} zero bytes. */
    private Path raw(String name, long declaredLen, byte[] header, int dataBytes) throws IOException {
        Path p = tmp.resolve(name + ".safetensors");
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(declaredLen).put(header);
        Files.write(p, b.array());
        return p;
    }

    private Path file(String name, String headerJson, int dataBytes) throws IOException {
        byte[] h = headerJson.getBytes(StandardCharsets.UTF_8);
        return raw(name, h.length, h, dataBytes);
    }

    private SafetensorsException bad(Path p, String... fragments) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message should contain \"" + f + "\": " + e.getMessage());
        }
        return e;
    }

    @Test
    void tooShortFile() throws IOException {
        Path p = tmp.resolve("short.safetensors");
        Files.write(p, new byte[]{1, 2, 3});
        bad(p, "at least 8");
    }

    @Test
    void headerLengthBeyondFile() throws IOException {
        byte[] h = "{}".getBytes(StandardCharsets.UTF_8);
        bad(raw("beyond", 1000, h, 0), "exceeds the file");
    }

    @Test
    void headerLengthAbsurd() throws IOException {
        bad(raw("absurd", Long.MIN_VALUE + 5, "{}".getBytes(StandardCharsets.UTF_8), 0), "out of range");
        bad(raw("tiny", 1, "{}".getBytes(StandardCharsets.UTF_8), 0), "out of range");
    }

    @Test
    void headerNotUtf8() throws IOException {
        byte[] h = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
        bad(raw("utf8", h.length, h, 0), "UTF-8");
    }

    @Test
    void headerNotJson() throws IOException {
        bad(file("json", "{\"a\": {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", 4), "malformed JSON at line 1, column 56");
        bad(file("array", "[1,2]", 0), "expected a JSON object");
        bad(file("dup", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "malformed JSON at line 1, column 58", "Duplicate field 'a'");
    }

    @Test
    void unsupportedAndUnknownDtypes() throws IOException {
        bad(file("i64", "{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8),
                "tensor \"w\"", "unsupported dtype \"I64\"", "F32, F16, BF16");
        bad(file("f99", "{\"w\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                "tensor \"w\"", "unknown dtype \"F99\"");
        bad(file("nodtype", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "tensor \"w\"", "dtype");
    }

    @Test
    void badShapes() throws IOException {
        bad(file("neg", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4),
                "tensor \"w\"", "non-negative integers");
        bad(file("frac", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4), "tensor \"w\"");
        bad(file("mismatch", "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 8),
                "tensor \"w\"", "needs 12 bytes", "hold 8");
        bad(file("extra", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4),
                "tensor \"w\"", "unknown key \"x\"");
    }

    @Test
    void badOffsets() throws IOException {
        bad(file("past", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8),
                "tensor \"w\"", "run past the data section");
        bad(file("reversed", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8),
                "tensor \"w\"", "begin <= end");
        bad(file("notpair", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4), "tensor \"w\"", "[begin, end]");
        bad(file("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "\"b\"", "overlap", "\"a\"");
        bad(file("gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12), "belong to no tensor", "\"b\"");
        bad(file("trailing", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12), "cover only 4");
    }

    @Test
    void badMetadata() throws IOException {
        bad(file("meta", "{\"__metadata__\":{\"format\":1}}", 0), "__metadata__", "must be a string");
        bad(file("meta2", "{\"__metadata__\":[1]}", 0), "__metadata__");
    }

    @Test
    void roundTripAllDtypesAndChunks() throws IOException {
        Path p = tmp.resolve("ok.safetensors");
        float[] vals = {0f, 1f, -2.5f, 3.140625f, 65504f, -0.0009765625f};
        Map<String, SafetensorsWriter.FloatTensor> t = new LinkedHashMap<>();
        t.put("a", new SafetensorsWriter.FloatTensor(new long[]{2, 3}, vals));
        t.put("empty", new SafetensorsWriter.FloatTensor(new long[]{0, 4}, new float[0]));
        for (DType dt : DType.values()) {
            SafetensorsWriter.write(p, t, dt, Map.of("format", "pt"));
            try (SafetensorsFile f = SafetensorsFile.open(p)) {
                assertEquals(Map.of("format", "pt"), f.metadata());
                TensorInfo info = f.info("a");
                assertEquals(dt, info.dtype());
                assertArrayEquals(new long[]{2, 3}, info.shape());
                float[] got = f.readFloats("a");
                for (int i = 0; i < vals.length; i++) {
                    float want = switch (dt) {
                        case F32 -> vals[i];
                        case F16 -> Float.float16ToFloat(Float.floatToFloat16(vals[i]));
                        case BF16 -> DType.bf16ToFloat(DType.floatToBf16(vals[i]));
                    };
                    assertEquals(want, got[i], 0f, dt + " element " + i);
                }
                if (dt == DType.F16) assertEquals(65504f, got[4], 0f); // exactly representable in F16
                float[] part = new float[3];
                f.readFloats("a", 2, part, 0, 3);
                assertArrayEquals(new float[]{got[2], got[3], got[4]}, part, 0f);
                assertEquals(0, f.readFloats("empty").length);
                assertEquals(0, f.dataStart() % 8, "header padded to 8 bytes");
                assertThrows(IndexOutOfBoundsException.class, () -> f.readFloats("a", 4, new float[3], 0, 3));
                SafetensorsException missing = assertThrows(SafetensorsException.class, () -> f.info("nope"));
                assertTrue(missing.getMessage().contains("\"nope\"") && missing.getMessage().contains(p.toString()));
            }
        }
    }

    /**
     * The parallel writer gives the streaming writer's bytes exactly, whatever the thread count (every dtype, a tensor
     * larger than one 1 MiB buffer, an empty one); a source that writes too few or too many values fails naming the
     * tensor, and the partial file is gone.
     */
    @Test
    void parallelWriterIsByteEqualToTheStreamingWriter() throws IOException {
        java.util.Random r = new java.util.Random(5);
        List<SafetensorsWriter.Spec> specs = new java.util.ArrayList<>();
        Map<String, float[]> values = new LinkedHashMap<>();
        DType[] types = DType.values();
        for (int i = 0; i < 9; i++) {
            long[] shape = i == 3 ? new long[] {0, 4} : i == 5 ? new long[] {700, 1000} : new long[] {1 + r.nextInt(40), 1 + r.nextInt(70)};
            SafetensorsWriter.Spec sp = new SafetensorsWriter.Spec("t" + i, types[i % types.length], shape);
            specs.add(sp);
            float[] v = new float[(int) sp.numel()];
            for (int j = 0; j < v.length; j++) v[j] = (float) r.nextGaussian();
            values.put(sp.name(), v);
        }
        Path seq = tmp.resolve("seq.safetensors");
        try (SafetensorsWriter w = SafetensorsWriter.create(seq, specs, Map.of("format", "pt"))) {
            for (SafetensorsWriter.Spec sp : specs) w.writeFloats(sp.name(), values.get(sp.name()), 0, values.get(sp.name()).length);
        }
        SafetensorsWriter.TensorSource source = (sp, sink) -> {
            float[] v = values.get(sp.name());
            for (int o = 0; o < v.length; o += 777) sink.write(v, o, Math.min(777, v.length - o)); // uneven chunks
        };
        for (int threads : new int[] {1, 3, 8}) {
            Path par = tmp.resolve("par-" + threads + ".safetensors");
            SafetensorsWriter.writeParallel(par, specs, Map.of("format", "pt"), source, threads);
            assertArrayEquals(Files.readAllBytes(seq), Files.readAllBytes(par), threads + " threads");
        }
        Path bad = tmp.resolve("bad.safetensors");
        IllegalStateException few = assertThrows(IllegalStateException.class, () -> SafetensorsWriter.writeParallel(bad, specs, null,
                (sp, sink) -> sink.write(values.get(sp.name()), 0, Math.max(0, values.get(sp.name()).length - (sp.name().equals("t5") ? 1 : 0))), 3));
        assertTrue(few.getMessage().contains("tensor \"t5\" got 699999 of its 700000 values"), few.getMessage());
        assertTrue(Files.notExists(bad), "the partial file is deleted");
        IllegalStateException many = assertThrows(IllegalStateException.class, () -> SafetensorsWriter.writeParallel(bad, specs, null,
                (sp, sink) -> { sink.write(values.get(sp.name()), 0, values.get(sp.name()).length); if (sp.name().equals("t2")) sink.write(new float[1], 0, 1); }, 2));
        assertTrue(many.getMessage().contains("more than") && many.getMessage().contains("\"t2\""), many.getMessage());
        assertTrue(Files.notExists(bad));
    }

    @Test
    void bf16RoundsToNearestEven() {
        // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125; ties go to even (1.0)
        assertEquals(1.0f, DType.bf16ToFloat(DType.floatToBf16(1.00390625f)), 0f);
        // slightly above halfway rounds up
        assertEquals(1.0078125f, DType.bf16ToFloat(DType.floatToBf16(Math.nextUp(1.00390625f))), 0f);
        assertTrue(Float.isNaN(DType.bf16ToFloat(DType.floatToBf16(Float.NaN))));
    }

    @Test
    void segmentsDieWithTheFile() throws IOException {
        Path p = tmp.resolve("c.safetensors");
        SafetensorsWriter.write(p, Map.of("x", new SafetensorsWriter.FloatTensor(new long[]{1}, new float[]{4f})), DType.F32, null);
        SafetensorsFile f = SafetensorsFile.open(p);
        var seg = f.segment("x");
        assertEquals(4, seg.byteSize());
        f.close();
        assertThrows(IllegalStateException.class, () -> seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void writerRejectsIncompleteOrOutOfOrderData() {
        Path p = tmp.resolve("w.safetensors");
        List<SafetensorsWriter.Spec> specs = List.of(new SafetensorsWriter.Spec("a", DType.F32, new long[]{2}),
                new SafetensorsWriter.Spec("b", DType.F32, new long[]{1}));
        SafetensorsWriter w = SafetensorsWriter.create(p, specs, null);
        assertThrows(IllegalStateException.class, () -> w.writeFloats("b", new float[1], 0, 1));
        w.close();
        assertTrue(Files.notExists(p), "failed file deleted");
        SafetensorsWriter w2 = SafetensorsWriter.create(p, specs, null);
        w2.writeFloats("a", new float[]{1, 2}, 0, 2);
        IllegalStateException e = assertThrows(IllegalStateException.class, w2::close);
        assertTrue(e.getMessage().contains("\"b\""));
        assertTrue(Files.notExists(p));
    }

    @Test
    void readsPythonWrittenMixedDtypeFile() throws Exception {
        Path p = tmp.resolve("py.safetensors");
        try (var in = getClass().getResourceAsStream("/fixtures/qwen2/model.safetensors")) {
            Files.copy(in, p);
        }
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(DType.BF16, f.info("model.embed_tokens.weight").dtype());
            assertEquals(DType.F16, f.info("model.norm.weight").dtype());
            assertEquals("make_reference.py", f.metadata().get("source"));
            float[] norm = f.readFloats("model.norm.weight");
            for (float x : norm) assertTrue(x > 0.5f && x < 1.5f, "norm weights are 1 + 0.1 N(0,1): " + x);
        }
    }
}
