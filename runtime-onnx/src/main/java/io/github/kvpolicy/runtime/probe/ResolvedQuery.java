package io.github.kvpolicy.runtime.probe;

import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.ModelShape;

import java.util.stream.IntStream;

/**
 * An {@link AttentionQuery} checked against a model and the kept queries, the same way for every probe kernel (CPU or
 * device-resident): the layers it asks for (all when empty), the query positions with their indices in the
 * {@link QueryStore}, and the number of output heads. Immutable.
 *
 * @param layers   the layers, each in {@code [0, layers)}
 * @param qpos     the requested query positions
 * @param qidx     {@code qidx[i]}: the index of {@code qpos[i]} in the store's row
 * @param outHeads query heads or KV heads, by the query's {@link HeadMapping}
 */
public record ResolvedQuery(int[] layers, int[] qpos, int[] qidx, int outHeads) {
    /**
     * @throws IllegalArgumentException naming a layer that does not exist, or a query position the store does not keep
     *                                  (listing the ones it keeps)
     */
    public static ResolvedQuery of(AttentionQuery query, ModelShape s, QueryStore queries) {
        int row = query.row();
        int[] layers = query.layers();
        if (layers.length == 0) layers = IntStream.range(0, s.layers()).toArray();
        for (int l : layers) {
            if (l >= s.layers()) throw new IllegalArgumentException("layer " + l + " does not exist: the model has layers 0.." + (s.layers() - 1));
        }
        int[] qpos = query.queries();
        int[] qidx = new int[qpos.length];
        for (int i = 0; i < qpos.length; i++) {
            qidx[i] = queries.indexOf(row, qpos[i]);
            if (qidx[i] < 0) {
                throw new IllegalArgumentException("query position " + qpos[i] + " of row " + row + " is not available to the attention probe; available: "
                        + CpuAttentionProbe.describe(queries.positions(row)) + " (the policy's QueryWindow decides which prompt queries are kept)");
            }
        }
        int outHeads = query.heads() == HeadMapping.QUERY_HEADS ? s.queryHeads() : s.kvHeads();
        return new ResolvedQuery(layers, qpos, qidx, outHeads);
    }
}
