package io.github.kvpolicy.api;

/**
 * The attention shape of a decoder. Query head {@code h} reads KV head {@code h / groupSize()}
 * (grouped-query attention; {@code kvHeads == queryHeads} is multi-head attention).
 *
 * @param layers     number of decoder layers, ≥ 1
 * @param queryHeads query heads per layer, ≥ 1, a multiple of {@code kvHeads}
 * @param kvHeads    key/value heads per layer, ≥ 1
 * @param headDim    dimension of one head, ≥ 1
 */
@Stable
public record ModelShape(int layers, int queryHeads, int kvHeads, int headDim) {
    public ModelShape {
        if (layers < 1 || queryHeads < 1 || kvHeads < 1 || headDim < 1) {
            throw new IllegalArgumentException("model shape values must be >= 1: " + describe(layers, queryHeads, kvHeads, headDim));
        }
        if (queryHeads % kvHeads != 0) {
            throw new IllegalArgumentException("query heads (" + queryHeads + ") must be a multiple of KV heads (" + kvHeads + ")");
        }
    }

    /** Query heads per KV head. */
    public int groupSize() {
        return queryHeads / kvHeads;
    }

    /** The KV head that query head {@code queryHead} reads. */
    public int kvHeadOf(int queryHead) {
        return queryHead / groupSize();
    }

    @Override
    public String toString() {
        return describe(layers, queryHeads, kvHeads, headDim);
    }

    private static String describe(int l, int q, int kv, int d) {
        return "ModelShape[layers=" + l + ", queryHeads=" + q + ", kvHeads=" + kv + ", headDim=" + d + "]";
    }
}
