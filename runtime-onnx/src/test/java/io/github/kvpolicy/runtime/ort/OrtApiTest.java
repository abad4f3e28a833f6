package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.runtime.model.graph.OnnxGraph;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The FFM binding against the real ONNX Runtime library. */
class OrtApiTest {
    static final int F32 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;

    /** {@code c = a + b}, {@code [n]} floats. */
    static NativeSession addSession() {
        OnnxGraph g = new OnnxGraph("add", null);
        g.input("a", OnnxGraph.Elem.FLOAT, "n");
        g.input("b", OnnxGraph.Elem.FLOAT, "n");
        g.nodeNamed("Add", "c", java.util.List.of("a", "b"));
        g.output("c", OnnxGraph.Elem.FLOAT, "n");
        return NativeSession.openGraph(g, "add", Device.CPU, 0, 1);
    }

    @Test
    void bindsTheLoadedLibraryAndItsApiVersion() {
        OrtApi api = OrtApi.get();
        assertEquals("1.29.0", api.version());
        assertTrue(api.servesApiVersion(OrtApi.ORT_API_VERSION));
        assertFalse(api.servesApiVersion(OrtApi.ORT_API_VERSION + 1), "1.29 should not serve API 30: the version constant would be stale");
        api.selfCheck();
    }

    @Test
    void runsWithBindingIntoPreallocatedAndDeviceBoundOutputs() {
        try (NativeSession s = addSession(); Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1, 2, 3, 4);
            MemorySegment b = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 10, 20, 30, 40);
            try (NativeTensor ta = s.wrapHost(a, new long[] {4}, F32); NativeTensor tb = s.wrapHost(b, new long[] {4}, F32);
                 NativeTensor c = s.allocate(new long[] {4}, F32); NativeBinding bind = s.binding()) {
                bind.input("a", ta).input("b", tb).output("c", c).run();
                assertArrayEquals(new float[] {11, 22, 33, 44}, c.host().toArray(ValueLayout.JAVA_FLOAT));
                // in-place: output bound to an input's own memory
                bind.clear();
                bind.input("a", ta).input("b", tb).output("c", ta).run();
                assertArrayEquals(new float[] {11, 22, 33, 44}, a.toArray(ValueLayout.JAVA_FLOAT));
                bind.clear();
                bind.input("a", ta).input("b", tb).bindOutputToDevice("c", s.cpuMemoryInfo()).run();
                NativeTensor[] outs = bind.takeOutputs(true);
                try {
                    assertEquals(1, outs.length);
                    assertArrayEquals(new long[] {4}, outs[0].shape());
                    assertArrayEquals(new float[] {21, 42, 63, 84}, outs[0].host().toArray(ValueLayout.JAVA_FLOAT));
                } finally {
                    for (NativeTensor t : outs) t.close();
                }
            }
        }
    }

    /** {@code AllocatorGetStats} (slots 297, 300, 319): the session's arena counts a tensor it allocates while it lives. */
    @Test
    void allocatorStatisticsCountWhatTheSessionAllocates() {
        try (NativeSession s = addSession()) {
            Map<String, Long> before = s.allocatorStats("InUse", "MaxInUse", "NumAllocs", "NoSuchStatistic");
            assertTrue(before.containsKey("InUse") && before.containsKey("MaxInUse") && before.containsKey("NumAllocs"), before::toString);
            assertFalse(before.containsKey("NoSuchStatistic"), "an unknown key is absent");
            long bytes = 4L << 20;
            Map<String, Long> during;
            try (NativeTensor t = s.allocate(new long[] {bytes / 4}, F32)) {
                during = s.allocatorStats("InUse", "MaxInUse", "NumAllocs");
            }
            Map<String, Long> after = s.allocatorStats("InUse", "MaxInUse");
            long grew = during.get("InUse") - before.get("InUse");
            assertTrue(grew >= bytes && grew < bytes + (1 << 20), "in use grew by the tensor (arena rounding aside): " + grew);
            assertEquals(before.get("NumAllocs") + 1, during.get("NumAllocs"));
            assertTrue(during.get("MaxInUse") >= during.get("InUse"));
            assertEquals(before.get("InUse"), after.get("InUse"), "freed with the tensor");
            assertEquals(during.get("MaxInUse"), after.get("MaxInUse"), "the peak stays");
        }
    }

    @Test
    void errorsCarryOrtsMessage() {
        try (NativeSession s = addSession(); NativeBinding bind = s.binding(); NativeTensor t = s.allocate(new long[] {2}, F32)) {
            OrtNativeException e = assertThrows(OrtNativeException.class, () -> bind.input("nope", t));
            assertTrue(e.getMessage().startsWith("BindInput(nope) failed"), e.getMessage());
            assertTrue(e.ortMessage().contains("nope"), e.ortMessage());
            // a missing input at run time
            bind.output("c", t);
            OrtNativeException run = assertThrows(OrtNativeException.class, bind::run);
            assertTrue(run.getMessage().startsWith("RunWithBinding failed"), run.getMessage());
        }
    }

    @Test
    void refusesAMissingOrBrokenModelFile() throws IOException {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> NativeSession.open(Path.of("target/does-not-exist.onnx"), Device.CPU, 0, 1));
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
        Path dir = Files.createTempDirectory("kvpolicy-ort-test-");
        Path junk = Files.writeString(dir.resolve("junk.onnx"), "not a model");
        try {
            OrtNativeException e = assertThrows(OrtNativeException.class, () -> NativeSession.open(junk, Device.CPU, 0, 1));
            assertTrue(e.getMessage().startsWith("CreateSession(" + junk + ") failed"), e.getMessage());
        } finally {
            Files.delete(junk);
            Files.delete(dir);
        }
    }

    @Test
    void cudaWithoutTheGpuLibraryFailsWithOrtsMessage() {
        org.junit.jupiter.api.Assumptions.assumeFalse(ai.onnxruntime.OrtEnvironment.getAvailableProviders().contains(ai.onnxruntime.OrtProvider.CUDA),
                "the CUDA provider is available here");
        Path dummy = Path.of("pom.xml"); // never read as a model: the provider is refused first
        OrtNativeException e = assertThrows(OrtNativeException.class, () -> NativeSession.open(dummy, Device.CUDA, 0, 1));
        assertEquals("CreateCUDAProviderOptions failed (ORT_FAIL): CUDA execution provider is not enabled in this build.", e.getMessage());
    }
}
