package io.github.kvpolicy.runtime.ort;

import ai.onnxruntime.OrtEnvironment;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The slots of ONNX Runtime's C API table ({@code OrtApi}, {@code onnxruntime_c_api.h}) that kvpolicy uses, bound
 * with {@code java.lang.foreign}. Each Java method is named after its C function and has the same parameters; every
 * {@code OrtStatus*} result is checked: a non-null status becomes an {@link OrtNativeException} carrying ORT's code and
 * message, and the status is released.
 *
 * <p><b>Library.</b> The native library is the {@code libonnxruntime} that ONNX Runtime's Java API
 * ({@code com.microsoft.onnxruntime:onnxruntime} or {@code onnxruntime_gpu}) extracts and loads (or loads from
 * {@code -Donnxruntime.native.path}): {@link #get()} first initialises the Java API, then finds
 * {@code OrtGetApiBase} among the libraries of this class loader, or else in the {@code libonnxruntime.so} mapped
 * into the process ({@code /proc/self/maps}). Both APIs therefore share one library, one {@code OrtEnv} singleton
 * and one set of execution providers.
 *
 * <p><b>Slot numbers.</b> {@code OrtApi} is a struct of function pointers that only ever grows at its end, so a slot's
 * index is fixed from the release that added it. The indices below were read from {@code onnxruntime_c_api.h}
 * (struct order) and cross-checked against the calls in ONNX Runtime 1.29's own JNI library
 * ({@code libonnxruntime4j_jni.so}, which uses slots 7, 9, 10, 24, 48, 49, 51, 78, 92, 95, 96, 100, 130, 145, 205,
 * 206, 208 with the same meaning); the allocator-statistics slots (297 {@code GetKeyValue}, 300
 * {@code ReleaseKeyValuePairs}, 319 {@code AllocatorGetStats}) are checked by a test that allocates a tensor and sees
 * {@code InUse} and {@code NumAllocs} move by exactly it; {@link #selfCheck()} verifies at run time what can be verified without a model
 * (version string, the API version, status round trip, memory-info names); the tests exercise every other slot
 * except the three CUDA provider-option slots past {@code CreateCUDAProviderOptions}, which need the GPU library.
 *
 * <p><b>Threads and memory.</b> The bound functions are thread-safe as far as ONNX Runtime's C API is (objects
 * themselves are not, see the wrapper classes). Out-parameters are allocated in a confined arena per call; no
 * native memory outlives a call here except what ORT returns, which the caller owns (release with the matching
 * {@code ReleaseXxx}).
 */
public final class OrtApi {
    /** {@code ORT_API_VERSION} of ONNX Runtime 1.29 (verified by {@link #selfCheck()}: 29 is served, 30 is not). */
    public static final int ORT_API_VERSION = 29;

    /** {@code ONNXTensorElementDataType} values used here. */
    public static final int ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT = 1, ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 = 7,
            ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 = 10;
    /** {@code OrtAllocatorType}. */
    public static final int OrtDeviceAllocator = 0, OrtArenaAllocator = 1;
    /** {@code OrtMemType}. */
    public static final int OrtMemTypeCPUOutput = -1, OrtMemTypeDefault = 0;
    /** {@code GraphOptimizationLevel}. */
    public static final int ORT_ENABLE_ALL = 99;
    /** {@code OrtLoggingLevel}. */
    public static final int ORT_LOGGING_LEVEL_WARNING = 2;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final AddressLayout PTR = ADDRESS;
    private static volatile OrtApi instance;

    private final MemorySegment api;
    private final String version;
    private final MethodHandle getApi;
    private final MethodHandle CreateStatus, GetErrorCode, GetErrorMessage, CreateEnv, CreateSession, CreateSessionOptions,
            SetSessionGraphOptimizationLevel, SetIntraOpNumThreads, CreateTensorAsOrtValue, CreateTensorWithDataAsOrtValue,
            GetTensorMutableData, GetDimensionsCount, GetDimensions, GetTensorTypeAndShape, CreateMemoryInfo,
            CreateCpuMemoryInfo, MemoryInfoGetName, ReleaseEnv, ReleaseStatus, ReleaseMemoryInfo, ReleaseSession,
            ReleaseValue, ReleaseTensorTypeAndShapeInfo, ReleaseSessionOptions, CreateAllocator,
            ReleaseAllocator, RunWithBinding, CreateIoBinding, ReleaseIoBinding, BindInput, BindOutput,
            BindOutputToDevice, GetBoundOutputValues, ClearBoundInputs, ClearBoundOutputs, AllocatorFree,
            SynchronizeBoundOutputs, SessionOptionsAppendExecutionProvider_CUDA_V2, CreateCUDAProviderOptions,
            UpdateCUDAProviderOptions, ReleaseCUDAProviderOptions, GetAllocatorWithDefaultOptions, SynchronizeBoundInputs,
            GetKeyValue, ReleaseKeyValuePairs, AllocatorGetStats;

    private OrtApi(MemorySegment apiBase) {
        MemorySegment base = apiBase.reinterpret(2 * PTR.byteSize());
        this.getApi = LINKER.downcallHandle(base.get(PTR, 0), FunctionDescriptor.of(PTR, JAVA_INT));
        MethodHandle versionString = LINKER.downcallHandle(base.get(PTR, PTR.byteSize()), FunctionDescriptor.of(PTR));
        try {
            this.version = ((MemorySegment) versionString.invokeExact()).reinterpret(Long.MAX_VALUE).getString(0);
            MemorySegment a = (MemorySegment) getApi.invokeExact(ORT_API_VERSION);
            if (a.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("the ONNX Runtime library (version " + version + ") does not serve OrtApi version " + ORT_API_VERSION
                        + ": kvpolicy's native binding needs ONNX Runtime 1.29 or newer");
            }
            this.api = a.reinterpret(400 * PTR.byteSize());
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        FunctionDescriptor s = FunctionDescriptor.of(PTR);  // status-returning; arguments added per slot below
        CreateStatus = slot(0, FunctionDescriptor.of(PTR, JAVA_INT, PTR));
        GetErrorCode = slot(1, FunctionDescriptor.of(JAVA_INT, PTR));
        GetErrorMessage = slot(2, FunctionDescriptor.of(PTR, PTR));
        CreateEnv = slot(3, s.appendArgumentLayouts(JAVA_INT, PTR, PTR));
        CreateSession = slot(7, s.appendArgumentLayouts(PTR, PTR, PTR, PTR));
        CreateSessionOptions = slot(10, s.appendArgumentLayouts(PTR));
        SetSessionGraphOptimizationLevel = slot(23, s.appendArgumentLayouts(PTR, JAVA_INT));
        SetIntraOpNumThreads = slot(24, s.appendArgumentLayouts(PTR, JAVA_INT));
        CreateTensorAsOrtValue = slot(48, s.appendArgumentLayouts(PTR, PTR, JAVA_LONG, JAVA_INT, PTR));
        CreateTensorWithDataAsOrtValue = slot(49, s.appendArgumentLayouts(PTR, PTR, JAVA_LONG, PTR, JAVA_LONG, JAVA_INT, PTR));
        GetTensorMutableData = slot(51, s.appendArgumentLayouts(PTR, PTR));
        GetDimensionsCount = slot(61, s.appendArgumentLayouts(PTR, PTR));
        GetDimensions = slot(62, s.appendArgumentLayouts(PTR, PTR, JAVA_LONG));
        GetTensorTypeAndShape = slot(65, s.appendArgumentLayouts(PTR, PTR));
        CreateMemoryInfo = slot(68, s.appendArgumentLayouts(PTR, JAVA_INT, JAVA_INT, JAVA_INT, PTR));
        CreateCpuMemoryInfo = slot(69, s.appendArgumentLayouts(JAVA_INT, JAVA_INT, PTR));
        MemoryInfoGetName = slot(71, s.appendArgumentLayouts(PTR, PTR));
        AllocatorFree = slot(76, s.appendArgumentLayouts(PTR, PTR));
        GetAllocatorWithDefaultOptions = slot(78, s.appendArgumentLayouts(PTR));
        FunctionDescriptor release = FunctionDescriptor.ofVoid(PTR);
        ReleaseEnv = slot(92, release);
        ReleaseStatus = slot(93, release);
        ReleaseMemoryInfo = slot(94, release);
        ReleaseSession = slot(95, release);
        ReleaseValue = slot(96, release);
        ReleaseTensorTypeAndShapeInfo = slot(99, release);
        ReleaseSessionOptions = slot(100, release);
        CreateAllocator = slot(131, s.appendArgumentLayouts(PTR, PTR, PTR));
        ReleaseAllocator = slot(132, release);
        RunWithBinding = slot(133, s.appendArgumentLayouts(PTR, PTR, PTR));
        CreateIoBinding = slot(134, s.appendArgumentLayouts(PTR, PTR));
        ReleaseIoBinding = slot(135, release);
        BindInput = slot(136, s.appendArgumentLayouts(PTR, PTR, PTR));
        BindOutput = slot(137, s.appendArgumentLayouts(PTR, PTR, PTR));
        BindOutputToDevice = slot(138, s.appendArgumentLayouts(PTR, PTR, PTR));
        GetBoundOutputValues = slot(140, s.appendArgumentLayouts(PTR, PTR, PTR, PTR));
        ClearBoundInputs = slot(141, release);
        ClearBoundOutputs = slot(142, release);
        SynchronizeBoundInputs = slot(202, s.appendArgumentLayouts(PTR));
        SynchronizeBoundOutputs = slot(203, s.appendArgumentLayouts(PTR));
        SessionOptionsAppendExecutionProvider_CUDA_V2 = slot(204, s.appendArgumentLayouts(PTR, PTR));
        CreateCUDAProviderOptions = slot(205, s.appendArgumentLayouts(PTR));
        UpdateCUDAProviderOptions = slot(206, s.appendArgumentLayouts(PTR, PTR, PTR, JAVA_LONG));
        ReleaseCUDAProviderOptions = slot(208, release);
        GetKeyValue = slot(297, FunctionDescriptor.of(PTR, PTR, PTR));
        ReleaseKeyValuePairs = slot(300, release);
        AllocatorGetStats = slot(319, s.appendArgumentLayouts(PTR, PTR));
    }

    private MethodHandle slot(int index, FunctionDescriptor fd) {
        MemorySegment fn = api.getAtIndex(PTR, index);
        if (fn.equals(MemorySegment.NULL)) throw new IllegalStateException("OrtApi slot " + index + " is empty in ONNX Runtime " + version);
        return LINKER.downcallHandle(fn, fd);
    }

    /**
     * The binding to the process's ONNX Runtime library (loaded through the Java API first).
     *
     * @throws IllegalStateException if the library cannot be found or does not serve API version {@value #ORT_API_VERSION}
     */
    public static OrtApi get() {
        OrtApi a = instance;
        if (a != null) return a;
        synchronized (OrtApi.class) {
            if (instance == null) instance = new OrtApi(findApiBase());
            return instance;
        }
    }

    private static MemorySegment findApiBase() {
        OrtEnvironment.getEnvironment(); // makes the Java API extract and System.load libonnxruntime
        Optional<MemorySegment> sym = SymbolLookup.loaderLookup().find("OrtGetApiBase");
        if (sym.isEmpty()) {
            Path lib = mappedLibrary();
            sym = SymbolLookup.libraryLookup(lib, Arena.global()).find("OrtGetApiBase");
            if (sym.isEmpty()) throw new IllegalStateException(lib + " does not export OrtGetApiBase");
        }
        MethodHandle h = LINKER.downcallHandle(sym.get(), FunctionDescriptor.of(PTR));
        try {
            MemorySegment base = (MemorySegment) h.invokeExact();
            if (base.equals(MemorySegment.NULL)) throw new IllegalStateException("OrtGetApiBase returned NULL");
            return base;
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** The path of the {@code libonnxruntime.so} mapped into this process (Linux). */
    private static Path mappedLibrary() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                int slash = line.indexOf('/');
                if (slash < 0) continue;
                String p = line.substring(slash).trim();
                if (Path.of(p).getFileName().toString().startsWith("libonnxruntime.so")) return Path.of(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read /proc/self/maps to locate libonnxruntime", e);
        }
        throw new IllegalStateException("ONNX Runtime's native library is not loaded in this process (no libonnxruntime.so in /proc/self/maps)"
                + " although the Java API initialised; set -Donnxruntime.native.path to a folder holding libonnxruntime.so");
    }

    /** {@code OrtApiBase::GetVersionString}, e.g. {@code 1.29.0}. */
    public String version() { return version; }

    /** {@code OrtApiBase::GetApi(version)}: whether the library serves that API version. */
    public boolean servesApiVersion(int v) {
        try {
            return !((MemorySegment) getApi.invokeExact(v)).equals(MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * Verifies the binding against the library: API version {@value #ORT_API_VERSION} is served, a status created
     * with {@code CreateStatus} reads back its code and message, and CPU memory infos made by
     * {@code CreateCpuMemoryInfo} and by {@code CreateMemoryInfo("Cpu", ...)} read back their name.
     *
     * @throws IllegalStateException naming the first check that failed
     */
    public void selfCheck() {
        if (!servesApiVersion(ORT_API_VERSION)) throw new IllegalStateException("ONNX Runtime " + version + " does not serve API " + ORT_API_VERSION);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = (MemorySegment) CreateStatus.invokeExact(2, arena.allocateFrom("kvpolicy self-check"));
            try {
                OrtNativeException e = toException(st, "self-check");
                if (e.code() != 2 || !e.ortMessage().equals("kvpolicy self-check")) {
                    throw new IllegalStateException("OrtApi status slots disagree: code " + e.code() + ", message '" + e.ortMessage() + "'");
                }
            } finally {
                ReleaseStatus.invokeExact(st);
            }
            for (MemorySegment mi : new MemorySegment[] {CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault),
                    CreateMemoryInfo("Cpu", OrtDeviceAllocator, 0, OrtMemTypeDefault)}) {
                try {
                    String name = MemoryInfoGetName(mi);
                    if (!name.equals("Cpu")) throw new IllegalStateException("OrtApi slot MemoryInfoGetName returned '" + name + "', expected 'Cpu'");
                } finally {
                    ReleaseMemoryInfo(mi);
                }
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ------------------------------------------------------------------ status

    private OrtNativeException toException(MemorySegment status, String call) throws Throwable {
        int code = (int) GetErrorCode.invokeExact(status);
        String msg = ((MemorySegment) GetErrorMessage.invokeExact(status)).reinterpret(Long.MAX_VALUE).getString(0);
        return new OrtNativeException(call, code, msg);
    }

    /** Throws the status as an {@link OrtNativeException} (releasing it) if it is not NULL. */
    private void check(MemorySegment status, String call) {
        if (status.equals(MemorySegment.NULL)) return;
        OrtNativeException e;
        try {
            e = toException(status, call);
            ReleaseStatus.invokeExact(status);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        throw e;
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    private static MemorySegment out(Arena arena) {
        return arena.allocate(PTR);
    }

    private static MemorySegment read(MemorySegment out) {
        return out.get(PTR, 0);
    }

    // ------------------------------------------------------------------ env, options, session

    public MemorySegment CreateEnv(int loggingLevel, String logId) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) CreateEnv.invokeExact(loggingLevel, a.allocateFrom(logId), o), "CreateEnv");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment CreateSessionOptions() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) CreateSessionOptions.invokeExact(o), "CreateSessionOptions");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void SetSessionGraphOptimizationLevel(MemorySegment options, int level) {
        try {
            check((MemorySegment) SetSessionGraphOptimizationLevel.invokeExact(options, level), "SetSessionGraphOptimizationLevel");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void SetIntraOpNumThreads(MemorySegment options, int n) {
        try {
            check((MemorySegment) SetIntraOpNumThreads.invokeExact(options, n), "SetIntraOpNumThreads");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment CreateCUDAProviderOptions() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) CreateCUDAProviderOptions.invokeExact(o), "CreateCUDAProviderOptions");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void UpdateCUDAProviderOptions(MemorySegment cudaOptions, String[] keys, String[] values) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment k = a.allocate(PTR, keys.length), v = a.allocate(PTR, keys.length);
            for (int i = 0; i < keys.length; i++) {
                k.setAtIndex(PTR, i, a.allocateFrom(keys[i]));
                v.setAtIndex(PTR, i, a.allocateFrom(values[i]));
            }
            check((MemorySegment) UpdateCUDAProviderOptions.invokeExact(cudaOptions, k, v, (long) keys.length), "UpdateCUDAProviderOptions");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void SessionOptionsAppendExecutionProvider_CUDA_V2(MemorySegment options, MemorySegment cudaOptions) {
        try {
            check((MemorySegment) SessionOptionsAppendExecutionProvider_CUDA_V2.invokeExact(options, cudaOptions), "SessionOptionsAppendExecutionProvider_CUDA_V2");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment CreateSession(MemorySegment env, String modelPath, MemorySegment options) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) CreateSession.invokeExact(env, a.allocateFrom(modelPath), options, o), "CreateSession(" + modelPath + ")");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ------------------------------------------------------------------ memory

    public MemorySegment CreateMemoryInfo(String name, int allocatorType, int deviceId, int memType) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) CreateMemoryInfo.invokeExact(a.allocateFrom(name), allocatorType, deviceId, memType, o), "CreateMemoryInfo(" + name + ")");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment CreateCpuMemoryInfo(int allocatorType, int memType) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) CreateCpuMemoryInfo.invokeExact(allocatorType, memType, o), "CreateCpuMemoryInfo");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public String MemoryInfoGetName(MemorySegment memoryInfo) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) MemoryInfoGetName.invokeExact(memoryInfo, o), "MemoryInfoGetName");
            return read(o).reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** An allocator of {@code session} for the memory described by {@code memoryInfo}; release with {@link #ReleaseAllocator}. */
    public MemorySegment CreateAllocator(MemorySegment session, MemorySegment memoryInfo) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) CreateAllocator.invokeExact(session, memoryInfo, o), "CreateAllocator");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ORT's process-wide CPU allocator; never released. */
    public MemorySegment GetAllocatorWithDefaultOptions() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) GetAllocatorWithDefaultOptions.invokeExact(o), "GetAllocatorWithDefaultOptions");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The statistics of {@code allocator} ({@code AllocatorGetStats}: for ORT's arena allocators {@code InUse},
     * {@code MaxInUse}, {@code TotalAllocated}, {@code Limit}, {@code NumAllocs}, … in bytes or counts) for the
     * {@code keys} asked; a key the allocator does not report is absent (a non-arena allocator reports none).
     */
    public java.util.Map<String, Long> AllocatorGetStats(MemorySegment allocator, String... keys) {
        java.util.Map<String, Long> m = new java.util.LinkedHashMap<>();
        MemorySegment kvps = MemorySegment.NULL;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) AllocatorGetStats.invokeExact(allocator, o), "AllocatorGetStats");
            kvps = read(o);
            if (kvps.equals(MemorySegment.NULL)) return m;
            for (String k : keys) {
                MemorySegment v = (MemorySegment) GetKeyValue.invokeExact(kvps, a.allocateFrom(k));
                if (v.equals(MemorySegment.NULL)) continue;
                String text = v.reinterpret(Long.MAX_VALUE).getString(0);
                try {
                    m.put(k, Long.parseLong(text.trim()));
                } catch (NumberFormatException e) {
                    throw new IllegalStateException("allocator statistic " + k + " is not a number: '" + text + "'");
                }
            }
            return m;
        } catch (Throwable t) {
            throw rethrow(t);
        } finally {
            release(ReleaseKeyValuePairs, kvps);
        }
    }

    public void AllocatorFree(MemorySegment allocator, MemorySegment p) {
        try {
            check((MemorySegment) AllocatorFree.invokeExact(allocator, p), "AllocatorFree");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ------------------------------------------------------------------ tensors

    /** A tensor whose memory {@code allocator} allocates and ORT frees with the value. */
    public MemorySegment CreateTensorAsOrtValue(MemorySegment allocator, long[] shape, int elementType) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            MemorySegment dims = a.allocateFrom(JAVA_LONG, shape.length == 0 ? new long[1] : shape);
            check((MemorySegment) CreateTensorAsOrtValue.invokeExact(allocator, dims, (long) shape.length, elementType, o), "CreateTensorAsOrtValue");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** A tensor over caller-owned memory {@code data} (which must outlive the value) described by {@code memoryInfo}. */
    public MemorySegment CreateTensorWithDataAsOrtValue(MemorySegment memoryInfo, MemorySegment data, long byteSize, long[] shape, int elementType) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            MemorySegment dims = a.allocateFrom(JAVA_LONG, shape.length == 0 ? new long[1] : shape);
            check((MemorySegment) CreateTensorWithDataAsOrtValue.invokeExact(memoryInfo, data, byteSize, dims, (long) shape.length, elementType, o),
                    "CreateTensorWithDataAsOrtValue");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The address of a tensor's data (a device address for device tensors); zero length. */
    public MemorySegment GetTensorMutableData(MemorySegment value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) GetTensorMutableData.invokeExact(value, o), "GetTensorMutableData");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The dims of a tensor value (via {@code GetTensorTypeAndShape}, {@code GetDimensionsCount}, {@code GetDimensions}). */
    public long[] tensorShape(MemorySegment value) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) GetTensorTypeAndShape.invokeExact(value, o), "GetTensorTypeAndShape");
            MemorySegment info = read(o);
            try {
                MemorySegment n = a.allocate(JAVA_LONG);
                check((MemorySegment) GetDimensionsCount.invokeExact(info, n), "GetDimensionsCount");
                long count = n.get(JAVA_LONG, 0);
                MemorySegment dims = a.allocate(JAVA_LONG, Math.max(1, count));
                check((MemorySegment) GetDimensions.invokeExact(info, dims, count), "GetDimensions");
                return dims.asSlice(0, count * 8).toArray(JAVA_LONG);
            } finally {
                ReleaseTensorTypeAndShapeInfo.invokeExact(info);
            }
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ------------------------------------------------------------------ binding

    public MemorySegment CreateIoBinding(MemorySegment session) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a);
            check((MemorySegment) CreateIoBinding.invokeExact(session, o), "CreateIoBinding");
            return read(o);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Graph input/output names as C strings, made once (a finite set: the names of the graphs this package runs) and never freed. */
    private static final java.util.concurrent.ConcurrentHashMap<String, MemorySegment> C_NAMES = new java.util.concurrent.ConcurrentHashMap<>();

    private static MemorySegment cName(String name) {
        return C_NAMES.computeIfAbsent(name, n -> Arena.global().allocateFrom(n));
    }

    public void BindInput(MemorySegment binding, String name, MemorySegment value) {
        try {
            MemorySegment status = (MemorySegment) BindInput.invokeExact(binding, cName(name), value);
            if (!status.equals(MemorySegment.NULL)) check(status, "BindInput(" + name + ")"); // the message only on failure (a hot path)
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void BindOutput(MemorySegment binding, String name, MemorySegment value) {
        try {
            MemorySegment status = (MemorySegment) BindOutput.invokeExact(binding, cName(name), value);
            if (!status.equals(MemorySegment.NULL)) check(status, "BindOutput(" + name + ")"); // the message only on failure (a hot path)
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void BindOutputToDevice(MemorySegment binding, String name, MemorySegment memoryInfo) {
        try (Arena a = Arena.ofConfined()) {
            check((MemorySegment) BindOutputToDevice.invokeExact(binding, a.allocateFrom(name), memoryInfo), "BindOutputToDevice(" + name + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * The bound outputs after a run, in binding order; each value is owned by the caller (release with
     * {@link #ReleaseValue}). The array ORT returns is freed here with {@code allocator}.
     */
    public MemorySegment[] GetBoundOutputValues(MemorySegment binding, MemorySegment allocator) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = out(a), n = a.allocate(JAVA_LONG);
            check((MemorySegment) GetBoundOutputValues.invokeExact(binding, allocator, o, n), "GetBoundOutputValues");
            long count = n.get(JAVA_LONG, 0);
            MemorySegment arr = read(o);
            if (count == 0) return new MemorySegment[0];
            MemorySegment view = arr.reinterpret(count * PTR.byteSize());
            MemorySegment[] values = new MemorySegment[(int) count];
            for (int i = 0; i < count; i++) values[i] = view.getAtIndex(PTR, i);
            AllocatorFree(allocator, arr);
            return values;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void ClearBoundInputs(MemorySegment binding) {
        try {
            ClearBoundInputs.invokeExact(binding);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void ClearBoundOutputs(MemorySegment binding) {
        try {
            ClearBoundOutputs.invokeExact(binding);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Runs {@code session} on {@code binding} with default run options (ORT accepts NULL run options). */
    public void RunWithBinding(MemorySegment session, MemorySegment binding) {
        try {
            check((MemorySegment) RunWithBinding.invokeExact(session, MemorySegment.NULL, binding), "RunWithBinding");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void SynchronizeBoundInputs(MemorySegment binding) {
        try {
            check((MemorySegment) SynchronizeBoundInputs.invokeExact(binding), "SynchronizeBoundInputs");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void SynchronizeBoundOutputs(MemorySegment binding) {
        try {
            check((MemorySegment) SynchronizeBoundOutputs.invokeExact(binding), "SynchronizeBoundOutputs");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ------------------------------------------------------------------ release

    private static void release(MethodHandle h, MemorySegment p) {
        if (p == null || p.equals(MemorySegment.NULL)) return;
        try {
            h.invokeExact(p);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void ReleaseEnv(MemorySegment p) { release(ReleaseEnv, p); }

    public void ReleaseMemoryInfo(MemorySegment p) { release(ReleaseMemoryInfo, p); }

    public void ReleaseSession(MemorySegment p) { release(ReleaseSession, p); }

    public void ReleaseValue(MemorySegment p) { release(ReleaseValue, p); }

    public void ReleaseSessionOptions(MemorySegment p) { release(ReleaseSessionOptions, p); }

    public void ReleaseAllocator(MemorySegment p) { release(ReleaseAllocator, p); }

    public void ReleaseIoBinding(MemorySegment p) { release(ReleaseIoBinding, p); }

    public void ReleaseCUDAProviderOptions(MemorySegment p) { release(ReleaseCUDAProviderOptions, p); }
}
