package io.github.kvpolicy.runtime.policy;

import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;

import java.util.Objects;

/**
 * What a policy sees of the runtime's cache: only the {@link KvCacheView} methods. The runtime's own cache object
 * (which can be closed, compacted and appended to) is not reachable through this view by a cast, and the matrices it
 * returns are read-only. Reflection can still reach the delegate: plugins are in-process code (see docs/spi.md, trust
 * model). Valid while the underlying cache is; not thread-safe beyond what the cache is (policy calls never overlap a
 * mutation).
 */
public final class ReadOnlyCacheView implements KvCacheView {
    private final KvCacheView cache;

    private ReadOnlyCacheView(KvCacheView cache) {
        this.cache = Objects.requireNonNull(cache, "cache");
    }

    /** {@code cache} itself if it already is such a view, else a view of it. */
    public static KvCacheView of(KvCacheView cache) {
        return cache instanceof ReadOnlyCacheView ? cache : new ReadOnlyCacheView(cache);
    }

    /** True if {@code view} is a view of {@code cache} (or {@code cache} itself). */
    public static boolean isViewOf(KvCacheView view, KvCacheView cache) {
        return view == cache || (view instanceof ReadOnlyCacheView v && v.cache == cache);
    }

    @Override public ModelShape shape() { return cache.shape(); }
    @Override public int batchSize() { return cache.batchSize(); }
    @Override public int length(int row, int layer, int kvHead) { return cache.length(row, layer, kvHead); }
    @Override public int[] positions(int row, int layer, int kvHead) { return cache.positions(row, layer, kvHead); }
    @Override public MatrixView keys(int row, int layer, int kvHead) { return readOnly(cache.keys(row, layer, kvHead)); }
    @Override public MatrixView values(int row, int layer, int kvHead) { return readOnly(cache.values(row, layer, kvHead)); }
    @Override public long bytes() { return cache.bytes(); }

    private static MatrixView readOnly(MatrixView m) {
        return new MatrixView() {
            @Override public int rows() { return m.rows(); }
            @Override public int cols() { return m.cols(); }
            @Override public float get(int row, int col) { return m.get(row, col); }
            @Override public void copyRow(int row, float[] dst, int offset) { m.copyRow(row, dst, offset); }
            @Override public double dot(int row, float[] v) { return m.dot(row, v); }
        };
    }

    @Override
    public String toString() {
        return "read-only view of " + cache;
    }
}
