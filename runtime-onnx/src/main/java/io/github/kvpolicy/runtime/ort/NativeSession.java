package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.runtime.model.graph.OnnxGraph;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An ONNX Runtime inference session opened through {@link OrtApi} on one device, with what a resident decoder needs:
 * the device's memory info and an allocator of the session for it ({@link #allocate}), CPU tensors over caller memory
 * ({@link #wrapHost}) and IO bindings ({@link #binding}).
 *
 * <p><b>Ownership.</b> The session owns, and {@link #close} releases in reverse order: the allocator, the memory
 * infos, the session and its reference on the process's {@code OrtEnv} (ORT keeps one env per process and counts
 * references). Tensors allocated with {@link #allocate} must be closed <em>before</em> the session, since their memory
 * belongs to its allocator; bindings too.
 *
 * <p><b>Threads.</b> {@code RunWithBinding} on distinct bindings may run concurrently (ORT sessions are thread-safe
 * for runs); opening, allocating and closing are for one owning thread.
 */
public final class NativeSession implements AutoCloseable {
    private final OrtApi api;
    private final Device device;
    private final int deviceId;
    private MemorySegment env, session, cpuInfo, deviceInfo, deviceAllocator;
    private final Path model;

    private NativeSession(OrtApi api, Device device, int deviceId, Path model) {
        this.api = api;
        this.device = device;
        this.deviceId = deviceId;
        this.model = model;
    }

    /**
     * Opens {@code model} on {@code device}.
     *
     * @param cudaDevice     CUDA ordinal (ignored on the CPU)
     * @param intraOpThreads 0 = ORT's default
     * @throws IllegalArgumentException if the file does not exist
     * @throws OrtNativeException       with ORT's message if ORT refuses the model or the provider (e.g. no CUDA)
     */
    public static NativeSession open(Path model, Device device, int cudaDevice, int intraOpThreads) {
        if (!Files.isRegularFile(model)) throw new IllegalArgumentException("model file " + model + " does not exist");
        if (intraOpThreads < 0) throw new IllegalArgumentException("intra-op threads must be >= 0, got " + intraOpThreads);
        OrtApi api = OrtApi.get();
        NativeSession s = new NativeSession(api, device, cudaDevice, model);
        MemorySegment options = null, cuda = null;
        try {
            s.env = api.CreateEnv(OrtApi.ORT_LOGGING_LEVEL_WARNING, "kvpolicy-ort");
            options = api.CreateSessionOptions();
            api.SetSessionGraphOptimizationLevel(options, OrtApi.ORT_ENABLE_ALL);
            if (intraOpThreads > 0) api.SetIntraOpNumThreads(options, intraOpThreads);
            if (device == Device.CUDA) {
                cuda = api.CreateCUDAProviderOptions();
                api.UpdateCUDAProviderOptions(cuda, new String[] {"device_id"}, new String[] {Integer.toString(cudaDevice)});
                api.SessionOptionsAppendExecutionProvider_CUDA_V2(options, cuda);
            }
            s.session = api.CreateSession(s.env, model.toString(), options);
            s.cpuInfo = api.CreateCpuMemoryInfo(OrtApi.OrtArenaAllocator, OrtApi.OrtMemTypeDefault);
            s.deviceInfo = device == Device.CUDA
                    ? api.CreateMemoryInfo("Cuda", OrtApi.OrtArenaAllocator, cudaDevice, OrtApi.OrtMemTypeDefault)
                    : api.CreateCpuMemoryInfo(OrtApi.OrtArenaAllocator, OrtApi.OrtMemTypeDefault);
            s.deviceAllocator = api.CreateAllocator(s.session, s.deviceInfo);
            return s;
        } catch (RuntimeException e) {
            s.close();
            throw e;
        } finally {
            api.ReleaseCUDAProviderOptions(cuda);
            api.ReleaseSessionOptions(options);
        }
    }

    /**
     * Opens a small graph built in memory: it is saved to a temporary folder this method creates, opened, and both
     * the file and the folder are deleted again before returning (ORT has read the model by then).
     */
    public static NativeSession openGraph(OnnxGraph graph, String name, Device device, int cudaDevice, int intraOpThreads) {
        Path dir = null, file = null;
        try {
            dir = Files.createTempDirectory("kvpolicy-ort-");
            file = dir.resolve(name + ".onnx");
            graph.save(file, Map.of("kvpolicy.graph", name));
            return open(file, device, cudaDevice, intraOpThreads);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the helper graph '" + name + "' to a temporary folder", e);
        } finally {
            try {
                if (file != null) Files.deleteIfExists(file);
                if (dir != null) Files.deleteIfExists(dir);
            } catch (IOException ignored) {
                // the temporary folder stays; nothing else to do
            }
        }
    }

    MemorySegment handle() {
        if (session == null) throw new IllegalStateException("the session for " + model + " was closed");
        return session;
    }

    MemorySegment defaultAllocator() {
        return api.GetAllocatorWithDefaultOptions();
    }

    public Device device() { return device; }

    public int deviceId() { return deviceId; }

    /** The memory info of the session's device ({@code Cpu} or {@code Cuda}); owned by the session. */
    public MemorySegment deviceMemoryInfo() { return deviceInfo; }

    /** The CPU memory info; owned by the session. */
    public MemorySegment cpuMemoryInfo() { return cpuInfo; }

    /** A tensor in the session's device memory, allocated by the session's allocator (contents undefined). */
    public NativeTensor allocate(long[] shape, int elementType) {
        MemorySegment v = api.CreateTensorAsOrtValue(deviceAllocator, shape, elementType);
        return new NativeTensor(api, v, shape, elementType, device == Device.CPU);
    }

    /**
     * The statistics of the session's device allocator (the one {@link #allocate} uses) for {@code keys}
     * ({@link OrtApi#AllocatorGetStats}); empty when the allocator keeps none.
     */
    public java.util.Map<String, Long> allocatorStats(String... keys) {
        return api.AllocatorGetStats(deviceAllocator, keys);
    }

    /** A CPU tensor over {@code data} (caller-owned; must outlive the tensor), read from its start. */
    public NativeTensor wrapHost(MemorySegment data, long[] shape, int elementType) {
        long bytes = NativeTensor.elementBytes(elementType);
        for (long d : shape) bytes *= d;
        if (data.byteSize() < bytes) throw new IllegalArgumentException("host buffer of " + data.byteSize() + " bytes is smaller than the tensor's " + bytes);
        MemorySegment v = api.CreateTensorWithDataAsOrtValue(cpuInfo, data, bytes, shape, elementType);
        return new NativeTensor(api, v, shape, elementType, true);
    }

    public NativeBinding binding() {
        return new NativeBinding(api, this);
    }

    /** Releases the allocator, memory infos, session and env reference (idempotent). */
    @Override
    public void close() {
        api.ReleaseAllocator(deviceAllocator);
        deviceAllocator = null;
        api.ReleaseMemoryInfo(deviceInfo);
        deviceInfo = null;
        api.ReleaseMemoryInfo(cpuInfo);
        cpuInfo = null;
        api.ReleaseSession(session);
        session = null;
        api.ReleaseEnv(env);
        env = null;
    }
}
