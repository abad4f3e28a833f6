package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.runtime.model.graph.OnnxGraph;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Elem;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;

/**
 * The device's memory copy rate as ONNX Runtime sees it: an {@code Identity} graph on the device copies one buffer
 * allocated by the session's device allocator into another (IO binding, nothing crosses to the host), timed over
 * {@code reps} runs after 3 warm-up runs. The rate counts bytes read plus bytes written per second, as
 * {@code shared/gpu/peer_torch_decode.py} measures {@code y.copy_(x)}, so {@code bytes a decode step must read ÷ rate}
 * is the same bound the peer prints. On CUDA the Identity kernel is a device-to-device {@code cudaMemcpyAsync}; on the
 * CPU a {@code memcpy}. Stateless; each call opens and closes its own session.
 */
public final class CopyRate {
    private CopyRate() {}

    /**
     * @param bytes        size of the copied buffer (read once and written once per run)
     * @param medianMs     median wall time of one run, including ONNX Runtime's call overhead and the synchronisation
     * @param bytesPerSecond {@code 2 · bytes / medianMs}
     */
    public record Result(long bytes, double medianMs, double bytesPerSecond) {}

    /**
     * Measures the rate on {@code device}.
     *
     * @param bytes a multiple of 4, at least 1 MiB (large enough that the call overhead does not matter: the CPU default
     *              of callers is 256 MiB, CUDA 2 GiB)
     * @param reps  timed runs, at least 3; the median is reported
     */
    public static Result measure(Device device, int cudaDevice, long bytes, int reps) {
        if (bytes < (1 << 20) || bytes % 4 != 0) throw new IllegalArgumentException("bytes must be a multiple of 4 and at least 1 MiB, got " + bytes);
        if (reps < 3) throw new IllegalArgumentException("reps must be at least 3, got " + reps);
        long n = bytes / 4;
        OnnxGraph g = new OnnxGraph("copy_rate", null);
        g.input("x", Elem.FLOAT, n);
        g.nodeNamed("Identity", "y", List.of("x"));
        g.output("y", Elem.FLOAT, n);
        int f32 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
        try (NativeSession s = NativeSession.openGraph(g, "copy_rate", device, cudaDevice, 0);
             NativeTensor x = s.allocate(new long[] {n}, f32); NativeTensor y = s.allocate(new long[] {n}, f32);
             NativeBinding b = s.binding()) {
            b.input("x", x).output("y", y);
            if (x.hostResident()) {
                // the copy really happens: a pattern in x arrives in y (on a device this would need a read-back)
                MemorySegment hx = x.host(), hy = y.host();
                for (long i = 0; i < n; i += 4096) hx.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
                hy.fill((byte) 0);
                b.run();
                if (hx.mismatch(hy) != -1) throw new IllegalStateException("the Identity graph did not copy its input (mismatch at byte " + hx.mismatch(hy) + ")");
            }
            for (int i = 0; i < 3; i++) b.run();
            double[] t = new double[reps];
            for (int i = 0; i < reps; i++) {
                long t0 = System.nanoTime();
                b.run();
                t[i] = (System.nanoTime() - t0) / 1e6;
            }
            Arrays.sort(t);
            double median = reps % 2 == 1 ? t[reps / 2] : (t[reps / 2 - 1] + t[reps / 2]) / 2;
            return new Result(bytes, median, 2.0 * bytes / (median / 1e3));
        }
    }
}
