/** The off-heap KV cache: per-layer [B, Hkv, capacity, D] buffers handed to ONNX Runtime without copying, masks, slot positions, compaction and memory accounting. */
package io.github.kvpolicy.runtime.cache;
