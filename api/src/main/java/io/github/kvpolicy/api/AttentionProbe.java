package io.github.kvpolicy.api;

/**
 * Computes exact attention from the runtime's kept queries and cached keys (see {@link AttentionQuery} for the
 * formula). The runtime decides how (CPU or GPU); cost is proportional to
 * {@code layers × query heads × queries × keys × headDim}. Thread-safe.
 */
@Stable
public interface AttentionProbe {
    /** The query positions of {@code row} the probe can use, ascending (see {@link QueryWindow}). */
    int[] queryPositions(int row);

    /**
     * @throws IllegalArgumentException if a query position is not available, naming it and the available ones
     */
    AttentionMap attention(AttentionQuery query);
}
