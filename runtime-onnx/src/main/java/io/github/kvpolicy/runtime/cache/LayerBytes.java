package io.github.kvpolicy.runtime.cache;

/**
 * Memory of one layer of the KV cache at one moment.
 *
 * @param layer          layer number
 * @param capacity       allocated slots per (row, KV head): the {@code P_i} the graph sees
 * @param allocatedBytes bytes allocated for keys and values: {@code 2 × B × Hkv × capacity × D × e}, {@code e} = 4
 *                       (fp32 K/V) or 2 (an fp16-KV {@code OrtDecoder}) (includes padding slots: masked heads/rows and decoding headroom)
 * @param liveBytes      bytes of live (unmasked) keys and values: {@code 2 × Σ_(row, head) length × D × e}
 * @param maskBytes      bytes of the additive mask: {@code B × Hkv × capacity × 4} (not part of the two above)
 */
public record LayerBytes(int layer, int capacity, long allocatedBytes, long liveBytes, long maskBytes) {
    /** Allocated bytes not holding a live token (padding), ≥ 0. */
    public long paddingBytes() {
        return allocatedBytes - liveBytes;
    }
}
