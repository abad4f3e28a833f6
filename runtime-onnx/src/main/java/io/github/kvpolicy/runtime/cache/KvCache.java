package io.github.kvpolicy.runtime.cache;

import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.RetentionPlan;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The runtime's KV cache for one request: per layer {@code i}, off-heap keys and values shaped
 * {@code [B, Hkv, capacity_i, D]} (float32, native order, row-major), the additive mask {@code [B, Hkv, capacity_i]}
 * (0 live, {@value #MASKED} empty) and, per (row, layer, KV head), the original position of every slot.
 *
 * <p><b>Layout invariant.</b> The live tokens of (row, layer, head) occupy slots {@code 0 .. length-1} in strictly
 * ascending original position; slots {@code length .. capacity-1} are empty and masked. So a layer's tensor is
 * exactly what the decoder contract calls {@code past_key.{i}} with {@code P_i = capacity_i}, and the buffers are
 * handed to ONNX Runtime without copying ({@link #keyBuffer}, {@link #valueBuffer}, {@link #maskBuffer}).
 *
 * <p><b>Ragged lengths.</b> After a compaction each layer is re-allocated to its own capacity: the largest kept
 * count over its rows and heads plus a decoding {@code reserve}. Layers therefore differ physically; rows and heads
 * of one layer that keep fewer tokens are padded with masked slots (that padding is reported as
 * {@link LayerBytes#allocatedBytes} minus {@link LayerBytes#liveBytes}). Physically separate buffers per head would
 * save that padding but need a graph input per head; the contract chose masking.
 *
 * <p><b>Growth.</b> {@link #append} grows a full layer geometrically (×1.25, at least +16 slots), copying the live
 * slots into a new allocation and freeing the old one.
 *
 * <p><b>Bookkeeping.</b> Lengths, positions, capacities and the mapping of a {@link RetentionPlan} onto slots are a
 * {@link SlotTable}'s, the same class the device-resident {@code runtime.ort.OrtDecoder} uses; this class only holds
 * the tensors. It is the host <em>reference</em> path (tests, {@code OrtCrossCheck}): {@code GenerationSession}
 * decodes through {@code OrtDecoder}.
 *
 * <p><b>Ownership and threads.</b> Each allocation lives in its own shared {@link Arena} and is freed as soon as it is
 * replaced ({@link #compact}, growth) or at {@link #close}; a buffer or view obtained earlier then throws
 * {@link IllegalStateException} instead of reading freed memory. Not thread-safe for mutation; reads
 * (the {@link KvCacheView} methods) may run concurrently while nothing mutates.
 */
public final class KvCache implements KvCacheView, AutoCloseable {
    /** The mask value of an empty slot ({@link SlotTable#MASKED}). */
    public static final float MASKED = SlotTable.MASKED;
    private static final int FLOAT = 4;

    private final ModelShape shape;
    private final int batch;
    private final Layer[] layers;
    private final SlotTable slots;
    private boolean closed;

    private static final class Layer {
        Arena arena;
        MemorySegment k, v, mask;
        long version;
    }

    /**
     * An empty cache.
     *
     * @param shape           the model's attention shape
     * @param batch           batch rows, ≥ 1
     * @param initialCapacity slots allocated per (row, layer, head) up front, ≥ 1
     */
    public KvCache(ModelShape shape, int batch, int initialCapacity) {
        this(shape, new SlotTable(shape.layers(), batch, shape.kvHeads(), initialCapacity));
        for (int l = 0; l < layers.length; l++) allocate(layers[l], initialCapacity);
    }

    private KvCache(ModelShape shape, SlotTable slots) {
        if (slots.batchSize() < 1) throw new IllegalArgumentException("batch must be >= 1, got " + slots.batchSize());
        this.shape = shape;
        this.batch = slots.batchSize();
        this.slots = slots;
        this.layers = new Layer[shape.layers()];
        for (int l = 0; l < layers.length; l++) layers[l] = new Layer();
    }

    private void allocate(Layer layer, int capacity) {
        long kvBytes = (long) batch * shape.kvHeads() * capacity * shape.headDim() * FLOAT;
        Arena arena = Arena.ofShared();
        layer.arena = arena;
        layer.k = arena.allocate(kvBytes, 64);
        layer.v = arena.allocate(kvBytes, 64);
        layer.mask = arena.allocate((long) batch * shape.kvHeads() * capacity * FLOAT, 64);
        for (long i = 0, n = layer.mask.byteSize() / FLOAT; i < n; i++) layer.mask.setAtIndex(ValueLayout.JAVA_FLOAT, i, MASKED);
        layer.version++;
    }

    /**
     * An independent deep copy (same capacities, slots, positions and masks) with its own memory; the copy is owned
     * by the caller and must be closed.
     */
    public KvCache copy() {
        if (closed) throw new IllegalStateException("the KV cache was closed");
        KvCache c = new KvCache(shape, slots.copy());
        for (int l = 0; l < layers.length; l++) {
            Layer src = layers[l], dst = c.layers[l];
            c.allocate(dst, slots.capacity(l));
            MemorySegment.copy(src.k, 0, dst.k, 0, src.k.byteSize());
            MemorySegment.copy(src.v, 0, dst.v, 0, src.v.byteSize());
            MemorySegment.copy(src.mask, 0, dst.mask, 0, src.mask.byteSize());
        }
        return c;
    }

    // ---------------------------------------------------------------- KvCacheView

    @Override public ModelShape shape() { return shape; }

    @Override public int batchSize() { return batch; }

    @Override
    public int length(int row, int layer, int kvHead) {
        checkOpen();
        return slots.length(layer, row, kvHead);
    }

    @Override
    public int[] positions(int row, int layer, int kvHead) {
        checkOpen();
        return slots.positions(layer, row, kvHead);
    }

    @Override
    public MatrixView keys(int row, int layer, int kvHead) {
        Layer ly = layer(layer);
        return view(ly.k, slotBase(layer, row, kvHead), slots.length(layer, row, kvHead));
    }

    @Override
    public MatrixView values(int row, int layer, int kvHead) {
        Layer ly = layer(layer);
        return view(ly.v, slotBase(layer, row, kvHead), slots.length(layer, row, kvHead));
    }

    /** Allocated key and value bytes of every layer (capacity, padding included; the masks are not counted). */
    @Override
    public long bytes() {
        long n = 0;
        for (int l = 0; l < layers.length; l++) n += layerBytes(l).allocatedBytes();
        return n;
    }

    // ---------------------------------------------------------------- runtime side

    /** Slots allocated per (row, head) of {@code layer}: the {@code P_i} of the graph input. */
    public int capacity(int layer) {
        checkOpen();
        return slots.capacity(layer);
    }

    /** The largest live length over rows and heads of {@code layer}. */
    public int maxLength(int layer) {
        checkOpen();
        return slots.maxLength(layer);
    }

    /** Changes whenever {@code layer} is re-allocated: buffers (and tensors made from them) of an older version are dead. */
    public long version(int layer) {
        return layer(layer).version;
    }

    /** The tensor shape {@code [B, Hkv, capacity, D]} of {@code layer}'s keys and values. */
    public long[] kvShape(int layer) {
        return new long[] {batch, shape.kvHeads(), capacity(layer), shape.headDim()};
    }

    /** The tensor shape {@code [B, Hkv, capacity]} of {@code layer}'s mask. */
    public long[] maskShape(int layer) {
        return new long[] {batch, shape.kvHeads(), capacity(layer)};
    }

    /** {@code layer}'s {@code past_position} input {@code [B, Hkv, capacity]} ({@link SlotTable#pastPositions}). */
    public long[] pastPositions(int layer) {
        checkOpen();
        return slots.pastPositions(layer);
    }

    /** The keys of {@code layer}, {@code [B, Hkv, capacity, D]}: a direct buffer over the cache's own memory (no copy), valid until the layer's {@link #version} changes. */
    public FloatBuffer keyBuffer(int layer) {
        return floats(layer(layer).k);
    }

    /** The values of {@code layer}; see {@link #keyBuffer}. */
    public FloatBuffer valueBuffer(int layer) {
        return floats(layer(layer).v);
    }

    /** The additive mask of {@code layer}, {@code [B, Hkv, capacity]}; see {@link #keyBuffer}. */
    public FloatBuffer maskBuffer(int layer) {
        return floats(layer(layer).mask);
    }

    private static FloatBuffer floats(MemorySegment seg) {
        return seg.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
    }

    /** Memory of {@code layer} now. */
    public LayerBytes layerBytes(int layer) {
        checkOpen();
        return slots.layerBytes(layer, shape.headDim());
    }

    /** Memory of every layer now, in layer order. */
    public List<LayerBytes> layerBytes() {
        List<LayerBytes> out = new ArrayList<>(layers.length);
        for (int l = 0; l < layers.length; l++) out.add(layerBytes(l));
        return out;
    }

    /**
     * Appends the new tokens of one decoder call to {@code layer}.
     *
     * @param keys      {@code present_key.{layer}}: {@code [B, Hkv, s, D]} floats, row-major, read from position 0
     * @param values    {@code present_value.{layer}}, same shape
     * @param s         the call's new-token axis length {@code S}
     * @param counts    per row, how many leading chunk tokens are real and stored ({@code 0 ≤ counts[r] ≤ s})
     * @param positions per row, the original positions of those tokens, strictly ascending and above every position
     *                  already cached in that row
     */
    public void append(int layer, FloatBuffer keys, FloatBuffer values, int s, int[] counts, int[][] positions) {
        Layer ly = layer(layer);
        int hkv = shape.kvHeads(), d = shape.headDim();
        long expected = (long) batch * hkv * s * d;
        if (keys.remaining() < expected || values.remaining() < expected) {
            throw new IllegalArgumentException("layer " + layer + ": present key/value hold " + keys.remaining() + "/" + values.remaining()
                    + " floats, expected [B=" + batch + ", Hkv=" + hkv + ", S=" + s + ", D=" + d + "] = " + expected);
        }
        slots.checkAppend(layer, s, counts, positions);
        int grown = slots.grownCapacity(layer, counts);
        if (grown > 0) rewrite(layer, grown, slots.liveSlotLists(layer));
        int cap = slots.capacity(layer);
        MemorySegment ks = MemorySegment.ofBuffer(keys), vs = MemorySegment.ofBuffer(values);
        long rowBytes = (long) d * FLOAT;
        for (int r = 0; r < batch; r++) {
            int n = counts[r];
            if (n == 0) continue;
            for (int h = 0; h < hkv; h++) {
                int len = slots.length(layer, r, h);
                long src = ((long) (r * hkv + h) * s) * rowBytes;
                long dst = slotBase(layer, r, h) * FLOAT + len * rowBytes;
                MemorySegment.copy(ks, src, ly.k, dst, n * rowBytes);
                MemorySegment.copy(vs, src, ly.v, dst, n * rowBytes);
                long m = (long) (r * hkv + h) * cap + len;
                for (int i = 0; i < n; i++) ly.mask.setAtIndex(ValueLayout.JAVA_FLOAT, m + i, 0f);
            }
        }
        slots.append(layer, counts, positions);
    }

    /**
     * Makes room for {@code extra} more tokens per (row, head) in every layer without a later re-allocation: a layer
     * whose capacity is below {@code maxLength + extra} is re-allocated to exactly that.
     */
    public void reserve(int extra) {
        checkOpen();
        for (int l = 0; l < layers.length; l++) {
            int cap = slots.reservedCapacity(l, extra);
            if (cap > 0) rewrite(l, cap, slots.liveSlotLists(l));
        }
    }

    /**
     * Compacts the cache to {@code plan}: every (row, layer, head) keeps exactly the planned positions (in order, in
     * slots {@code 0..k-1}); each layer is re-allocated to {@code max kept over rows and heads + reserve} slots and its
     * old memory freed. A layer whose plan keeps every cached token is left as it is. The plan is checked first
     * ({@link SlotTable#compactionSlots}: shape, strictly ascending, every position cached); if it fails nothing
     * changes.
     *
     * @param plan    the positions to keep (normally already validated by {@code PlanValidator})
     * @param reserve extra slots per layer for tokens still to come, ≥ 0
     * @return the KV memory of every layer before and after
     * @throws IllegalArgumentException naming the first offending (row, layer, head) if the plan does not fit the cache
     */
    public CompactionReport compact(RetentionPlan plan, int reserve) {
        checkOpen();
        if (reserve < 0) throw new IllegalArgumentException("reserve must be >= 0, got " + reserve);
        int[][][][] keep = slots.compactionSlots(plan);
        List<LayerBytes> before = layerBytes();
        for (int l = 0; l < layers.length; l++) {
            int cap = slots.compactedCapacity(keep, l, reserve);
            if (cap >= 0) rewrite(l, cap, keep[l]);
        }
        return new CompactionReport(before, layerBytes());
    }

    /** Re-allocates {@code layer} to {@code capacity}, copying the slots {@code keep[r][h]} in order, records it in the slot table and frees the old memory. */
    private void rewrite(int layer, int capacity, int[][][] keep) {
        Layer ly = layers[layer];
        int hkv = shape.kvHeads();
        long rowBytes = (long) shape.headDim() * FLOAT;
        Arena oldArena = ly.arena;
        MemorySegment oldK = ly.k, oldV = ly.v;
        int oldCap = slots.capacity(layer);
        allocate(ly, capacity);
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < hkv; h++) {
                long oldBase = (long) (r * hkv + h) * oldCap * rowBytes;
                long newBase = (long) (r * hkv + h) * capacity * rowBytes;
                int[] sl = keep[r][h];
                int n = sl.length;
                for (int i = 0; i < n; i++) {
                    // copy runs of consecutive slots at once
                    int j = i;
                    while (j + 1 < n && sl[j + 1] == sl[j] + 1) j++;
                    long bytes = (j - i + 1) * rowBytes;
                    MemorySegment.copy(oldK, oldBase + sl[i] * rowBytes, ly.k, newBase + i * rowBytes, bytes);
                    MemorySegment.copy(oldV, oldBase + sl[i] * rowBytes, ly.v, newBase + i * rowBytes, bytes);
                    i = j;
                }
                long m = (long) (r * hkv + h) * capacity;
                for (int i = 0; i < n; i++) ly.mask.setAtIndex(ValueLayout.JAVA_FLOAT, m + i, 0f);
            }
        }
        slots.relayout(layer, capacity, keep);
        oldArena.close();
    }

    /** Frees every buffer; idempotent. Views and buffers handed out earlier then fail with {@link IllegalStateException}. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Layer ly : layers) if (ly.arena != null) ly.arena.close();
    }

    // ---------------------------------------------------------------- helpers

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the KV cache was closed");
    }

    private Layer layer(int l) {
        checkOpen();
        if (l < 0 || l >= layers.length) throw new IndexOutOfBoundsException("layer " + l + " outside [0, " + layers.length + ")");
        return layers[l];
    }

    /** Float index of slot 0 of (r, h) in {@code layer}. */
    private long slotBase(int layer, int r, int h) {
        if (r < 0 || r >= batch) throw new IndexOutOfBoundsException("row " + r + " outside [0, " + batch + ")");
        if (h < 0 || h >= shape.kvHeads()) throw new IndexOutOfBoundsException("KV head " + h + " outside [0, " + shape.kvHeads() + ")");
        return (long) (r * shape.kvHeads() + h) * slots.capacity(layer) * shape.headDim();
    }

    private MatrixView view(MemorySegment seg, long base, int rows) {
        int cols = shape.headDim();
        return new MatrixView() {
            @Override public int rows() { return rows; }
            @Override public int cols() { return cols; }

            @Override
            public float get(int r, int c) {
                if (r < 0 || r >= rows || c < 0 || c >= cols) throw new IndexOutOfBoundsException("(" + r + ", " + c + ") outside " + rows + "x" + cols);
                return seg.getAtIndex(ValueLayout.JAVA_FLOAT, base + (long) r * cols + c);
            }

            @Override
            public void copyRow(int r, float[] dst, int offset) {
                if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " outside " + rows);
                MemorySegment.copy(seg, ValueLayout.JAVA_FLOAT, (base + (long) r * cols) * FLOAT, dst, offset, cols);
            }

            @Override
            public double dot(int r, float[] v) {
                if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " outside " + rows);
                long o = base + (long) r * cols;
                double s = 0;
                for (int c = 0; c < cols; c++) s += (double) seg.getAtIndex(ValueLayout.JAVA_FLOAT, o + c) * v[c];
                return s;
            }
        };
    }
}
