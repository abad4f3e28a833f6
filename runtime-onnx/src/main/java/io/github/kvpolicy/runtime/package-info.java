/**
 * The runtime's library API, usable without Guice: {@link io.github.kvpolicy.runtime.Generator} (ONNX Runtime sessions
 * of one decoder-contract model; thread-safe), {@link io.github.kvpolicy.runtime.GenerationRequest} (prompts with their
 * layouts, sampling, stop tokens, policy and budget), {@link io.github.kvpolicy.runtime.GenerationResult} (tokens,
 * timings, the policy's actions with KV bytes before/after) and {@link io.github.kvpolicy.runtime.GenerationSession}
 * for stepwise control (prefill, policy, step) over a real cache. Every session decodes through the resident
 * {@link io.github.kvpolicy.runtime.ort.OrtDecoder} (KV cache in ONNX Runtime memory on the configured device).
 */
package io.github.kvpolicy.runtime;
