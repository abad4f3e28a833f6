package io.github.kvpolicy.api;

import java.util.List;

/**
 * The layout of a batch: one {@link RowLayout} per batch row, each with its own prompt length.
 * Immutable and thread-safe.
 */
@Stable
public record TokenLayout(List<RowLayout> rows) {
    public TokenLayout {
        if (rows == null || rows.isEmpty()) throw new IllegalArgumentException("a layout needs at least one row");
        rows = List.copyOf(rows);
    }

    public static TokenLayout of(RowLayout... rows) {
        return new TokenLayout(List.of(rows));
    }

    /** Number of batch rows, ≥ 1. */
    public int batchSize() {
        return rows.size();
    }

    public RowLayout row(int b) {
        return rows.get(b);
    }
}
