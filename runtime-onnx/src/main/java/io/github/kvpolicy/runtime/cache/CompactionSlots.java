package io.github.kvpolicy.runtime.cache;

import io.github.kvpolicy.api.RetentionPlan;

/**
 * The one statement of how a {@link RetentionPlan} maps onto cache slots, shared by every cache implementation (the
 * host-memory {@link KvCache} and the device-resident {@code runtime.ort.OrtDecoder}): which slot of each
 * (layer, row, KV head) holds each kept position, and what capacity a layer needs afterwards. Stateless.
 */
public final class CompactionSlots {
    /** A cache's bookkeeping: the cached positions of (layer, row, head), ascending, and how many are live. */
    public interface Bookkeeping {
        /** The positions array of (layer, row, head); only the first {@link #length} entries are live. */
        int[] positions(int layer, int row, int head);

        int length(int layer, int row, int head);
    }

    private CompactionSlots() {}

    /**
     * {@code slots[l][r][h][i]}: the slot of the {@code i}-th kept position of (l, r, h), computed and checked before
     * anything changes.
     *
     * @throws IllegalArgumentException if the plan's shape differs from the cache's, its positions are not strictly
     *                                  ascending, or one is not cached (naming the first offending (row, layer, head))
     */
    public static int[][][][] of(RetentionPlan plan, int batch, int layers, int kvHeads, Bookkeeping cache) {
        if (plan.batchSize() != batch || plan.layers() != layers || plan.kvHeads() != kvHeads) {
            throw new IllegalArgumentException("plan has " + plan.batchSize() + " rows × " + plan.layers() + " layers × " + plan.kvHeads()
                    + " KV heads, the cache " + batch + " × " + layers + " × " + kvHeads);
        }
        int[][][][] slots = new int[layers][batch][kvHeads][];
        for (int l = 0; l < layers; l++) {
            for (int r = 0; r < batch; r++) {
                for (int h = 0; h < kvHeads; h++) {
                    int[] kept = plan.kept(r, l, h);
                    int[] pos = cache.positions(l, r, h);
                    int len = cache.length(l, r, h);
                    int[] sl = new int[kept.length];
                    int j = 0;
                    for (int i = 0; i < kept.length; i++) {
                        if (i > 0 && kept[i] <= kept[i - 1]) {
                            throw new IllegalArgumentException("row " + r + ", layer " + l + ", KV head " + h + ": kept positions must be strictly ascending, but "
                                    + kept[i] + " follows " + kept[i - 1]);
                        }
                        while (j < len && pos[j] < kept[i]) j++;
                        if (j == len || pos[j] != kept[i]) {
                            throw new IllegalArgumentException("row " + r + ", layer " + l + ", KV head " + h + ": position " + kept[i] + " is not cached");
                        }
                        sl[i] = j++;
                    }
                    slots[l][r][h] = sl;
                }
            }
        }
        return slots;
    }

    /**
     * The capacity layer {@code layer} is re-allocated to after keeping {@code slots[layer]}: {@code max kept + reserve}
     * (at least 1), or -1 if it keeps every live slot and is left as it is.
     */
    public static int newCapacity(int[][][][] slots, int layer, Bookkeeping cache, int reserve) {
        boolean keepsAll = true;
        int maxKept = 0;
        int[][][] s = slots[layer];
        for (int r = 0; r < s.length; r++) {
            for (int h = 0; h < s[r].length; h++) {
                maxKept = Math.max(maxKept, s[r][h].length);
                if (s[r][h].length != cache.length(layer, r, h)) keepsAll = false;
            }
        }
        return keepsAll ? -1 : Math.max(1, maxKept + reserve);
    }
}
