package io.github.kvpolicy.api;

import java.util.Arrays;

/**
 * A request to the {@link AttentionProbe}: the attention of {@code queries} over {@code keys} in batch row
 * {@code row}, for {@code layers}.
 *
 * <p>For layer ℓ, query head h and query position q, with D the head dimension:
 * {@code p(q,k) = exp(q·k/√D) / Σ_{k' ∈ K} exp(q·k'/√D)} for k ∈ K, where
 * K = { k ∈ keys : k is cached in (row, ℓ, kvHeadOf(h)) and k ≤ q } (the softmax is taken over the key set the
 * policy names, causally); keys outside K get 0. The per-query rows are then combined with {@code reduction}
 * (MEAN divides by {@code queries.length}), and heads combined with {@code heads}.
 *
 * @param row       batch row
 * @param layers    layers to compute, ascending and unique; empty = all layers
 * @param queries   query positions, ascending and unique; each must be available from the probe
 * @param keys      the key positions to normalise over and report, ascending and unique
 * @param reduction how to combine queries
 * @param heads     how to combine query heads
 */
@Stable
public record AttentionQuery(int row, int[] layers, int[] queries, int[] keys, Reduction reduction, HeadMapping heads) {
    public AttentionQuery {
        layers = checkAscending("layers", layers.clone());
        queries = checkAscending("queries", queries.clone());
        keys = checkAscending("keys", keys.clone());
        if (row < 0) throw new IllegalArgumentException("row < 0: " + row);
        java.util.Objects.requireNonNull(reduction, "reduction");
        java.util.Objects.requireNonNull(heads, "heads");
    }

    /** Mean over queries, mean onto KV heads, all layers. */
    public static AttentionQuery of(int row, int[] queries, int[] keys) {
        return new AttentionQuery(row, new int[0], queries, keys, Reduction.MEAN, HeadMapping.KV_MEAN);
    }

    public AttentionQuery withReduction(Reduction r) {
        return new AttentionQuery(row, layers, queries, keys, r, heads);
    }

    public AttentionQuery withHeads(HeadMapping h) {
        return new AttentionQuery(row, layers, queries, keys, reduction, h);
    }

    public AttentionQuery withLayers(int... l) {
        return new AttentionQuery(row, l, queries, keys, reduction, heads);
    }

    @Override public int[] layers() { return layers.clone(); }

    @Override public int[] queries() { return queries.clone(); }

    @Override public int[] keys() { return keys.clone(); }

    private static int[] checkAscending(String what, int[] a) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] < 0) throw new IllegalArgumentException(what + " must be >= 0, got " + a[i]);
            if (i > 0 && a[i] <= a[i - 1]) throw new IllegalArgumentException(what + " must be strictly ascending: " + a[i - 1] + " then " + a[i]);
        }
        return a;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AttentionQuery q && row == q.row && Arrays.equals(layers, q.layers) && Arrays.equals(queries, q.queries)
                && Arrays.equals(keys, q.keys) && reduction == q.reduction && heads == q.heads;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(keys) * 31 + Arrays.hashCode(queries);
    }

    @Override
    public String toString() {
        return "AttentionQuery[row=" + row + ", layers=" + Arrays.toString(layers) + ", queries=" + queries.length
                + ", keys=" + keys.length + ", " + reduction + ", " + heads + "]";
    }
}
