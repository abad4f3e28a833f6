package io.github.kvpolicy.runtime.decode;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import io.github.kvpolicy.runtime.cache.KvCache;

/**
 * The {@code past_key/past_value/past_mask} tensors of a {@link KvCache}: ONNX Runtime tensors that wrap the cache's
 * off-heap buffers without copying. A layer's three tensors are re-created only when the layer was re-allocated
 * (its {@link KvCache#version} changed); in between, appends and mask updates write into the same memory the tensors
 * see. Not thread-safe; one per request.
 */
public final class PastTensors implements AutoCloseable {
    private final OrtEnvironment env;
    private final KvCache cache;
    private final OnnxTensor[][] tensors;
    private final long[] versions;

    public PastTensors(OrtEnvironment env, KvCache cache) {
        this.env = env;
        this.cache = cache;
        int layers = cache.shape().layers();
        this.tensors = new OnnxTensor[layers][];
        this.versions = new long[layers];
    }

    /** Per layer {key, value, mask}, current for the cache's present allocation. Owned by this object. */
    public OnnxTensor[][] current() {
        try {
            for (int l = 0; l < tensors.length; l++) {
                if (tensors[l] == null || versions[l] != cache.version(l)) {
                    closeLayer(l);
                    tensors[l] = new OnnxTensor[] {
                            OnnxTensor.createTensor(env, cache.keyBuffer(l), cache.kvShape(l)),
                            OnnxTensor.createTensor(env, cache.valueBuffer(l), cache.kvShape(l)),
                            OnnxTensor.createTensor(env, cache.maskBuffer(l), cache.maskShape(l))};
                    versions[l] = cache.version(l);
                }
            }
            return tensors;
        } catch (OrtException e) {
            throw new IllegalStateException("could not wrap the KV cache as ONNX Runtime tensors: " + e.getMessage(), e);
        }
    }

    private void closeLayer(int l) {
        if (tensors[l] != null) for (OnnxTensor t : tensors[l]) t.close();
        tensors[l] = null;
    }

    @Override
    public void close() {
        for (int l = 0; l < tensors.length; l++) closeLayer(l);
    }
}
