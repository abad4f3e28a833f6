/**
 * A {@code java.lang.foreign} binding to ONNX Runtime's C API ({@link io.github.kvpolicy.runtime.ort.OrtApi}) with
 * what ONNX Runtime's Java API lacks: memory owned by an execution provider's allocator, IO binding, outputs written
 * into pre-allocated tensors; and on it a decoder that keeps the KV cache in that memory
 * ({@link io.github.kvpolicy.runtime.ort.OrtDecoder}) — the runtime's only decode path: {@code GenerationSession}
 * decodes through it on every {@link io.github.kvpolicy.runtime.ort.Device}. Depends on nothing in {@code runtime}'s
 * root package (no package cycle). Every native object is {@link java.lang.AutoCloseable}; see
 * each class for ownership and threading.
 */
package io.github.kvpolicy.runtime.ort;
