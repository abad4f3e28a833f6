package io.github.kvpolicy.runtime.cache;

import java.util.List;

/**
 * KV memory of every layer before and after a {@link KvCache#compact compaction}.
 *
 * @param before per layer, in layer order, before
 * @param after  per layer, in layer order, after
 */
public record CompactionReport(List<LayerBytes> before, List<LayerBytes> after) {
    public CompactionReport {
        before = List.copyOf(before);
        after = List.copyOf(after);
    }

    public long allocatedBefore() { return before.stream().mapToLong(LayerBytes::allocatedBytes).sum(); }

    public long allocatedAfter() { return after.stream().mapToLong(LayerBytes::allocatedBytes).sum(); }

    public long liveBefore() { return before.stream().mapToLong(LayerBytes::liveBytes).sum(); }

    public long liveAfter() { return after.stream().mapToLong(LayerBytes::liveBytes).sum(); }

    /** Allocated key/value bytes released, summed over layers (may be negative if headroom was added). */
    public long freedBytes() { return allocatedBefore() - allocatedAfter(); }
}
