package io.github.kvpolicy.runtime.ort;

import java.lang.foreign.MemorySegment;

/**
 * An {@code OrtIoBinding} of one {@link NativeSession}: inputs and outputs bound to tensors the caller owns (bound
 * values are referenced, not owned: they must stay open until the binding is cleared or closed), or outputs bound to
 * a device that ORT allocates on ({@link #bindOutputToDevice}, read with {@link #takeOutputs}).
 *
 * <p>Not thread-safe; one binding per thread. {@link #close} releases the binding (idempotent), not the tensors.
 */
public final class NativeBinding implements AutoCloseable {
    private final OrtApi api;
    private final NativeSession session;
    private MemorySegment binding;

    NativeBinding(OrtApi api, NativeSession session) {
        this.api = api;
        this.session = session;
        this.binding = api.CreateIoBinding(session.handle());
    }

    private MemorySegment handle() {
        if (binding == null) throw new IllegalStateException("the IO binding was closed");
        return binding;
    }

    public NativeBinding input(String name, NativeTensor t) {
        api.BindInput(handle(), name, t.handle());
        return this;
    }

    public NativeBinding output(String name, NativeTensor t) {
        api.BindOutput(handle(), name, t.handle());
        return this;
    }

    /** Binds {@code name} to memory ORT allocates at run time on the device {@code memoryInfo} describes. */
    public NativeBinding bindOutputToDevice(String name, MemorySegment memoryInfo) {
        api.BindOutputToDevice(handle(), name, memoryInfo);
        return this;
    }

    public void clear() {
        api.ClearBoundInputs(handle());
        api.ClearBoundOutputs(handle());
    }

    /**
     * {@code SynchronizeBoundInputs}, {@code RunWithBinding}, {@code SynchronizeBoundOutputs}: when this returns the
     * outputs are complete on their device, so another session (another CUDA stream) may read them.
     */
    public void run() {
        api.SynchronizeBoundInputs(handle());
        api.RunWithBinding(session.handle(), handle());
        api.SynchronizeBoundOutputs(handle());
    }

    /**
     * The bound outputs of the last run, in binding order, as new float tensors owned by the caller (the outputs
     * this package binds to a device are all float).
     *
     * @param hostResident whether they live in host memory (outputs bound to the CPU)
     */
    public NativeTensor[] takeOutputs(boolean hostResident) {
        MemorySegment[] values = api.GetBoundOutputValues(handle(), session.defaultAllocator());
        NativeTensor[] out = new NativeTensor[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = new NativeTensor(api, values[i], api.tensorShape(values[i]), OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, hostResident);
        }
        return out;
    }

    @Override
    public void close() {
        if (binding == null) return;
        api.ReleaseIoBinding(binding);
        binding = null;
    }
}
