package io.github.kvpolicy.api;

/**
 * Read-only view of the KV cache. Each (batch row, layer, KV head) holds its own list of cached tokens, in
 * ascending original position; after a compaction different layers and heads may hold different tokens.
 * Keys are stored after the rotary embedding (as the attention uses them). Nothing is copied until asked for;
 * views are valid only during the policy call.
 */
@Stable
public interface KvCacheView {
    ModelShape shape();

    /** Number of batch rows. */
    int batchSize();

    /** Number of tokens cached for (row, layer, kvHead). */
    int length(int row, int layer, int kvHead);

    /** The original positions of the cached tokens, strictly ascending (a new array). */
    int[] positions(int row, int layer, int kvHead);

    /** Keys, {@code length × headDim}; row {@code i} belongs to {@code positions(...)[i]}. */
    MatrixView keys(int row, int layer, int kvHead);

    /** Values, {@code length × headDim}; row {@code i} belongs to {@code positions(...)[i]}. */
    MatrixView values(int row, int layer, int kvHead);

    /** Bytes the runtime holds for this cache (keys and values of every row, layer and head). */
    long bytes();
}
