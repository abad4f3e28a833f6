package io.github.kvpolicy.runtime.cache;

import io.github.kvpolicy.api.RetentionPlan;

import java.util.Arrays;

/**
 * The slot bookkeeping of a KV cache, the one place where tokens, positions and a {@link RetentionPlan} map onto
 * cache slots. Shared by both cache implementations: the host-memory reference {@link KvCache} and the
 * device-resident {@code runtime.ort.OrtDecoder}; each keeps its tensors, this keeps everything else.
 *
 * <p><b>What it records</b>, per layer {@code l}: the capacity {@code P_l} (slots allocated per (row, KV head), ≥ 1)
 * and, per (row, KV head), the live length {@code 0 ≤ length ≤ P_l} and the original position of every live slot.
 *
 * <p><b>Layout invariant</b> (what the tensors must match): the live tokens of (layer, row, head) occupy slots
 * {@code 0 .. length-1} in strictly ascending original position; slots {@code length .. P_l-1} are empty, and their
 * mask value is {@link #MASKED} (live slots 0). Positions of empty slots read as 0.
 *
 * <p><b>Rules</b> kept here so both caches follow them identically: appended positions must be strictly ascending
 * and above everything cached in the row ({@link #checkAppend}); a full layer grows geometrically (×1.25, at least
 * +16 slots; {@link #grownCapacity}); {@link #reserve} makes room for {@code extra} more tokens exactly; a
 * compaction keeps exactly the planned positions and re-allocates a layer to {@code max kept + reserve} slots (at
 * least 1), leaving a layer that keeps every live token as it is ({@link #compactionSlots}, {@link #compactedCapacity}).
 *
 * <p>Not thread-safe for mutation (the owning cache's mutation discipline applies); arrays returned are copies.
 */
public final class SlotTable {
    /** The additive mask value of an empty slot (and of a padding token in a decoder call). */
    public static final float MASKED = -1e9f;

    private final int layers, batch, heads;
    private final int[] capacity;          // [layer]
    private final int[][][] length;        // [layer][row][head]
    private final int[][][][] positions;   // [layer][row][head][slot]; arrays at least length long

    /**
     * An empty table: every layer has {@code initialCapacity} slots and no live token.
     *
     * @throws IllegalArgumentException if a count is below 1
     */
    public SlotTable(int layers, int batch, int kvHeads, int initialCapacity) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        if (layers < 1 || kvHeads < 1) throw new IllegalArgumentException("layers and KV heads must be >= 1, got " + layers + ", " + kvHeads);
        if (initialCapacity < 1) throw new IllegalArgumentException("initial capacity must be >= 1, got " + initialCapacity);
        this.layers = layers;
        this.batch = batch;
        this.heads = kvHeads;
        this.capacity = new int[layers];
        this.length = new int[layers][batch][kvHeads];
        this.positions = new int[layers][batch][kvHeads][];
        for (int l = 0; l < layers; l++) {
            capacity[l] = initialCapacity;
            for (int r = 0; r < batch; r++) for (int h = 0; h < kvHeads; h++) positions[l][r][h] = new int[initialCapacity];
        }
    }

    private SlotTable(SlotTable o) {
        this.layers = o.layers;
        this.batch = o.batch;
        this.heads = o.heads;
        this.capacity = o.capacity.clone();
        this.length = new int[layers][batch][];
        this.positions = new int[layers][batch][heads][];
        for (int l = 0; l < layers; l++) {
            for (int r = 0; r < batch; r++) {
                length[l][r] = o.length[l][r].clone();
                for (int h = 0; h < heads; h++) positions[l][r][h] = o.positions[l][r][h].clone();
            }
        }
    }

    /** An independent deep copy. */
    public SlotTable copy() {
        return new SlotTable(this);
    }

    // ---------------------------------------------------------------- reads

    public int layers() { return layers; }

    public int batchSize() { return batch; }

    public int kvHeads() { return heads; }

    /** Slots allocated per (row, head) of {@code layer}: the {@code P_i} of the graph inputs. */
    public int capacity(int layer) {
        return capacity[checkLayer(layer)];
    }

    /** Live tokens of (layer, row, head). */
    public int length(int layer, int row, int head) {
        return length[checkLayer(layer)][checkRow(row)][checkHead(head)];
    }

    /** The original positions of the live slots of (layer, row, head), ascending (a copy). */
    public int[] positions(int layer, int row, int head) {
        return Arrays.copyOf(positions[checkLayer(layer)][checkRow(row)][checkHead(head)], length[layer][row][head]);
    }

    /** The largest live length over rows and heads of {@code layer}. */
    public int maxLength(int layer) {
        int m = 0;
        for (int[] r : length[checkLayer(layer)]) for (int n : r) m = Math.max(m, n);
        return m;
    }

    /** Live slots of {@code layer} over all rows and heads. */
    public long liveSlots(int layer) {
        long n = 0;
        for (int[] r : length[checkLayer(layer)]) for (int x : r) n += x;
        return n;
    }

    /** Memory of {@code layer} for float32 keys and values of {@code headDim} (the {@link LayerBytes} accounting). */
    public LayerBytes layerBytes(int layer, int headDim) {
        return layerBytes(layer, headDim, 4);
    }

    /** As {@link #layerBytes(int, int)} with K/V elements of {@code kvElementBytes} (2 for an fp16 cache); the mask is fp32. */
    public LayerBytes layerBytes(int layer, int headDim, int kvElementBytes) {
        long slots = (long) batch * heads * capacity(layer);
        return new LayerBytes(layer, capacity[layer], 2 * slots * headDim * kvElementBytes, 2 * liveSlots(layer) * headDim * kvElementBytes, slots * 4);
    }

    /** The largest position cached in {@code row} over every layer and head, or -1 when the row is empty. */
    public int lastPosition(int row) {
        int last = -1;
        for (int l = 0; l < layers; l++) last = Math.max(last, lastPosition(l, row));
        return last;
    }

    private int lastPosition(int l, int r) {
        int last = -1;
        for (int h = 0; h < heads; h++) if (length[l][r][h] > 0) last = Math.max(last, positions[l][r][h][length[l][r][h] - 1]);
        return last;
    }

    /**
     * {@code layer}'s slots as the {@code past_position.{i}} input: {@code [B, Hkv, P]} row-major, each live slot's
     * original position, 0 in empty slots.
     */
    public long[] pastPositions(int layer) {
        int cap = capacity(layer);
        long[] out = new long[batch * heads * cap];
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < heads; h++) {
                int[] p = positions[layer][r][h];
                int base = (r * heads + h) * cap;
                for (int i = 0, n = length[layer][r][h]; i < n; i++) out[base + i] = p[i];
            }
        }
        return out;
    }

    /** Per (row, head) the live slots {@code 0..length-1} of {@code layer}: the identity keep list of a re-allocation. */
    public int[][][] liveSlotLists(int layer) {
        checkLayer(layer);
        int[][][] k = new int[batch][heads][];
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < heads; h++) {
                int[] a = new int[length[layer][r][h]];
                for (int i = 0; i < a.length; i++) a[i] = i;
                k[r][h] = a;
            }
        }
        return k;
    }

    // ---------------------------------------------------------------- append

    /**
     * Checks the new tokens of one decoder call before anything changes: per row {@code 0 ≤ counts[r] ≤ s}, at least
     * {@code counts[r]} positions, strictly ascending and above everything cached in the row (in {@code layer}, or in
     * every layer when {@code layer < 0}).
     *
     * @throws IllegalArgumentException naming the row (and the layer when given)
     */
    public void checkAppend(int layer, int s, int[] counts, int[][] newPositions) {
        if (counts.length != batch || newPositions.length != batch) throw new IllegalArgumentException("counts/positions need " + batch + " rows");
        String where = layer < 0 ? "" : "layer " + checkLayer(layer) + ", ";
        for (int r = 0; r < batch; r++) {
            if (counts[r] < 0 || counts[r] > s) throw new IllegalArgumentException("row " + r + ": count " + counts[r] + " outside [0, " + s + "]");
            if (newPositions[r].length < counts[r]) throw new IllegalArgumentException("row " + r + ": " + counts[r] + " new tokens but " + newPositions[r].length + " positions");
            int last = layer < 0 ? lastPosition(r) : lastPosition(layer, r);
            for (int i = 0; i < counts[r]; i++) {
                int prev = i > 0 ? newPositions[r][i - 1] : last;
                if (newPositions[r][i] <= prev) {
                    throw new IllegalArgumentException(where + "row " + r + ": new position " + newPositions[r][i] + " does not follow " + prev
                            + " (positions must be strictly ascending)");
                }
            }
        }
    }

    /**
     * The capacity {@code layer} must grow to before {@code counts[r]} more tokens per row fit, by the growth rule
     * ({@code max(need, capacity + 16, ⌈capacity × 1.25⌉)}), or -1 when they fit.
     */
    public int grownCapacity(int layer, int[] counts) {
        int need = 0;
        for (int r = 0; r < batch; r++) for (int h = 0; h < heads; h++) need = Math.max(need, length[checkLayer(layer)][r][h] + counts[r]);
        int cap = capacity[layer];
        return need <= cap ? -1 : Math.max(need, Math.max(cap + 16, (int) Math.ceil(cap * 1.25)));
    }

    /**
     * Records {@code counts[r]} new tokens of every row at {@code newPositions[r]} in every head of {@code layer}: new
     * token {@code i} of (row, head) goes to slot {@code length + i} (read the lengths before calling). Call
     * {@link #checkAppend} first and make room ({@link #grownCapacity}) first.
     *
     * @throws IllegalStateException if the tokens do not fit the capacity
     */
    public void append(int layer, int[] counts, int[][] newPositions) {
        checkLayer(layer);
        for (int r = 0; r < batch; r++) {
            int n = counts[r];
            if (n == 0) continue;
            for (int h = 0; h < heads; h++) {
                int len = length[layer][r][h];
                if (len + n > capacity[layer]) throw new IllegalStateException("layer " + layer + " has " + capacity[layer] + " slots, " + (len + n) + " needed");
                int[] p = positions[layer][r][h];
                if (p.length < capacity[layer]) positions[layer][r][h] = p = Arrays.copyOf(p, capacity[layer]);
                System.arraycopy(newPositions[r], 0, p, len, n);
                length[layer][r][h] = len + n;
            }
        }
    }

    // ---------------------------------------------------------------- re-allocation

    /** The capacity {@code layer} must be re-allocated to so that {@code extra} more tokens fit ({@code maxLength + extra}), or -1 when they fit. */
    public int reservedCapacity(int layer, int extra) {
        if (extra < 0) throw new IllegalArgumentException("extra must be >= 0, got " + extra);
        int need = maxLength(layer) + extra;
        return need > capacity[layer] ? need : -1;
    }

    /**
     * {@code slots[l][r][h][i]}: the slot of the {@code i}-th kept position of (l, r, h), computed and checked before
     * anything changes.
     *
     * @throws IllegalArgumentException if the plan's shape differs from the cache's, its positions are not strictly
     *                                  ascending, or one is not cached (naming the first offending (row, layer, head))
     */
    public int[][][][] compactionSlots(RetentionPlan plan) {
        if (plan.batchSize() != batch || plan.layers() != layers || plan.kvHeads() != heads) {
            throw new IllegalArgumentException("plan has " + plan.batchSize() + " rows × " + plan.layers() + " layers × " + plan.kvHeads()
                    + " KV heads, the cache " + batch + " × " + layers + " × " + heads);
        }
        int[][][][] slots = new int[layers][batch][heads][];
        for (int l = 0; l < layers; l++) {
            for (int r = 0; r < batch; r++) {
                for (int h = 0; h < heads; h++) {
                    int[] kept = plan.kept(r, l, h);
                    int[] pos = positions[l][r][h];
                    int len = length[l][r][h];
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
     * The capacity {@code layer} is re-allocated to after keeping {@code slots[layer]} ({@link #compactionSlots}):
     * {@code max kept + reserve} (at least 1), or -1 if it keeps every live slot and is left as it is.
     */
    public int compactedCapacity(int[][][][] slots, int layer, int reserve) {
        if (reserve < 0) throw new IllegalArgumentException("reserve must be >= 0, got " + reserve);
        boolean keepsAll = true;
        int maxKept = 0;
        int[][][] s = slots[checkLayer(layer)];
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < heads; h++) {
                maxKept = Math.max(maxKept, s[r][h].length);
                if (s[r][h].length != length[layer][r][h]) keepsAll = false;
            }
        }
        return keepsAll ? -1 : Math.max(1, maxKept + reserve);
    }

    /**
     * Records that {@code layer} was re-allocated to {@code newCapacity} slots holding, in slot {@code i} of (row,
     * head), the token of old slot {@code keep[r][h][i]} (strictly ascending old live slots; from
     * {@link #liveSlotLists} to keep everything, from {@link #compactionSlots} to compact).
     *
     * @throws IllegalArgumentException if a keep list does not fit {@code newCapacity} or names an empty slot
     */
    public void relayout(int layer, int newCapacity, int[][][] keep) {
        checkLayer(layer);
        if (newCapacity < 1) throw new IllegalArgumentException("capacity must be >= 1, got " + newCapacity);
        int[][][] newPos = new int[batch][heads][newCapacity];
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < heads; h++) {
                int[] k = keep[r][h];
                if (k.length > newCapacity) throw new IllegalArgumentException("layer " + layer + ": " + k.length + " kept slots exceed the capacity " + newCapacity);
                int[] old = positions[layer][r][h];
                for (int i = 0; i < k.length; i++) {
                    if (k[i] < 0 || k[i] >= length[layer][r][h]) throw new IllegalArgumentException("layer " + layer + ": slot " + k[i] + " is not live");
                    newPos[r][h][i] = old[k[i]];
                }
            }
        }
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < heads; h++) {
                positions[layer][r][h] = newPos[r][h];
                length[layer][r][h] = keep[r][h].length;
            }
        }
        capacity[layer] = newCapacity;
    }

    // ---------------------------------------------------------------- checks

    private int checkLayer(int l) {
        if (l < 0 || l >= layers) throw new IndexOutOfBoundsException("layer " + l + " outside [0, " + layers + ")");
        return l;
    }

    private int checkRow(int r) {
        if (r < 0 || r >= batch) throw new IndexOutOfBoundsException("row " + r + " outside [0, " + batch + ")");
        return r;
    }

    private int checkHead(int h) {
        if (h < 0 || h >= heads) throw new IndexOutOfBoundsException("KV head " + h + " outside [0, " + heads + ")");
        return h;
    }
}
