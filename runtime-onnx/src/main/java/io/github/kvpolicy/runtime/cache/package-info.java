/**
 * KV cache bookkeeping and accounting shared by both cache implementations: {@link io.github.kvpolicy.runtime.cache.SlotTable}
 * (lengths, positions, capacities, growth, and the one mapping of a retention plan onto slots),
 * {@link io.github.kvpolicy.runtime.cache.LayerBytes} and {@link io.github.kvpolicy.runtime.cache.CompactionReport};
 * and {@link io.github.kvpolicy.runtime.cache.KvCache}, the host-memory cache of the reference path (tests,
 * {@code OrtCrossCheck}, the model verifier). Generation itself uses the device-resident {@code runtime.ort.OrtDecoder}.
 */
package io.github.kvpolicy.runtime.cache;
