package io.github.kvpolicy.runtime.probe;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionProbe;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.Reduction;

import java.util.Objects;

/**
 * What the runtime's attention probes share: the kept queries ({@link QueryStore}), the cache they attend over, the
 * model's {@link CpuAttentionProbe.Masking}, the row check, resolving an {@link AttentionQuery}
 * ({@link ResolvedQuery}) and assembling the {@link AttentionMap} from one result per requested layer. A subclass
 * computes a layer ({@link #layer}); {@link #computeLayers} runs them (in order, unless overridden).
 *
 * <p>Thread-safe as long as the cache and the query store are not mutated during a call and {@link #layer} keeps
 * no state between calls.
 */
public abstract class LayerwiseProbe implements AttentionProbe {
    protected final KvCacheView cache;
    protected final QueryStore queries;
    protected final CpuAttentionProbe.Masking masking;

    /** @throws IllegalArgumentException if the cache and the query store have different batch sizes */
    protected LayerwiseProbe(KvCacheView cache, QueryStore queries, CpuAttentionProbe.Masking masking) {
        if (cache.batchSize() != queries.batchSize()) {
            throw new IllegalArgumentException("cache has " + cache.batchSize() + " rows, query store " + queries.batchSize());
        }
        this.cache = cache;
        this.queries = queries;
        this.masking = Objects.requireNonNull(masking, "masking");
    }

    @Override
    public final int[] queryPositions(int row) {
        checkRow(row);
        return queries.positions(row);
    }

    @Override
    public final AttentionMap attention(AttentionQuery query) {
        int row = query.row();
        checkRow(row);
        ResolvedQuery rq = ResolvedQuery.of(query, cache.shape(), queries);
        int[] layers = rq.layers(), keys = query.keys();
        float[][][] out = new float[layers.length][rq.outHeads()][keys.length];
        computeLayers(row, layers, rq.qpos(), rq.qidx(), keys, query.reduction(), query.heads(), out);
        return new AttentionMap(layers, keys, out);
    }

    /** Fills {@code out[i]} with {@link #layer} of {@code layers[i]} for every {@code i}, in order. */
    protected void computeLayers(int row, int[] layers, int[] qpos, int[] qidx, int[] keys, Reduction reduction, HeadMapping mapping, float[][][] out) {
        for (int li = 0; li < layers.length; li++) layer(row, layers[li], qpos, qidx, keys, reduction, mapping, out[li]);
    }

    /**
     * One layer's scores: {@code out[outHead][k]} for the requested {@code keys} (ascending positions), from the
     * queries at positions {@code qpos} (their indices in the store {@code qidx}), reduced over queries by
     * {@code reduction} and mapped to output heads by {@code mapping}.
     */
    protected abstract void layer(int row, int layer, int[] qpos, int[] qidx, int[] keys, Reduction reduction, HeadMapping mapping, float[][] out);

    protected final void checkRow(int row) {
        if (row < 0 || row >= cache.batchSize()) throw new IllegalArgumentException("row " + row + " does not exist: the batch has rows 0.." + (cache.batchSize() - 1));
    }
}
