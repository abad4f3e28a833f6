/**
 * Low-level ONNX graph writing shared by every family: {@link io.github.kvpolicy.runtime.model.graph.OnnxGraph} (protobuf
 * model with streamed external data; one instance per graph, not thread-safe) and the stateless building blocks of
 * {@link io.github.kvpolicy.runtime.model.graph.GraphOps} (weights streamed from safetensors, Gemm, norms, rotary,
 * activations).
 */
package io.github.kvpolicy.runtime.model.graph;
