package io.github.kvpolicy.runtime.ort;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One ONNX Runtime tensor ({@code OrtValue*}) made through {@link OrtApi}.
 *
 * <p><b>Ownership.</b> The value is released by {@link #close} (idempotent). If ORT allocated its memory (through a
 * session's allocator, {@link NativeSession#allocate}) that memory is returned to the allocator with it; if the
 * tensor wraps caller memory ({@link NativeSession#wrapHost}), that memory stays the caller's and must outlive the
 * tensor. {@link #host()} is a view of the data for host-resident tensors only (CPU device, or wrapped host memory);
 * for a CUDA tensor it throws, since the address is a device address.
 *
 * <p><b>Threads.</b> Not thread-safe: one owner uses and closes it.
 */
public final class NativeTensor implements AutoCloseable {
    private final OrtApi api;
    private MemorySegment value;
    private final long[] shape;
    private final int elementType;
    private final boolean hostResident;
    private final long byteSize;

    NativeTensor(OrtApi api, MemorySegment value, long[] shape, int elementType, boolean hostResident) {
        this.api = api;
        this.value = value;
        this.shape = shape.clone();
        this.elementType = elementType;
        this.hostResident = hostResident;
        long n = 1;
        for (long d : shape) n *= d;
        this.byteSize = n * elementBytes(elementType);
    }

    static int elementBytes(int type) {
        return switch (type) {
            case OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT -> 4;
            case OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 -> 8;
            case OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 -> 2;
            default -> throw new IllegalArgumentException("unsupported ONNX element type " + type);
        };
    }

    /** The {@code OrtValue*}; valid until {@link #close}. */
    public MemorySegment handle() {
        if (value == null) throw new IllegalStateException("the tensor was closed");
        return value;
    }

    public long[] shape() { return shape.clone(); }

    public long dim(int i) { return shape[i]; }

    public int elementType() { return elementType; }

    public long byteSize() { return byteSize; }

    /** Whether {@link #host()} may be used. */
    public boolean hostResident() { return hostResident; }

    /**
     * The tensor's bytes as a host segment (no copy; valid until {@link #close}).
     *
     * @throws IllegalStateException for a device tensor or a closed one
     */
    public MemorySegment host() {
        if (!hostResident) throw new IllegalStateException("tensor " + Arrays.toString(shape) + " lives in device memory; copy it to the host first");
        return api.GetTensorMutableData(handle()).reinterpret(byteSize);
    }

    /** The data address ORT reports (a device address for device tensors). */
    public long address() {
        return api.GetTensorMutableData(handle()).address();
    }

    @Override
    public void close() {
        if (value == null) return;
        api.ReleaseValue(value);
        value = null;
    }
}
