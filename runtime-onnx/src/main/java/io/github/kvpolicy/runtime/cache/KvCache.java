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
 * <p><b>Ownership and threads.</b> Each allocation lives in its own shared {@link Arena} and is freed as soon as it is
 * replaced ({@link #compact}, growth) or at {@link #close}; a buffer or view obtained earlier then throws
 * {@link IllegalStateException} instead of reading freed memory. Not thread-safe for mutation; reads
 * (the {@link KvCacheView} methods) may run concurrently while nothing mutates.
 */
public final class KvCache implements KvCacheView, AutoCloseable {
    /** The mask value of an empty slot. */
    public static final float MASKED = -1e9f;
    private static final int FLOAT = 4;

    private final ModelShape shape;
    private final int batch;
    private final Layer[] layers;
    private boolean closed;

    private static final class Layer {
        Arena arena;
        MemorySegment k, v, mask;
        int capacity;
        long version;
        final int[][] length;   // [row][head]
        int[][][] positions;    // [row][head][slot]

        Layer(int batch, int heads) {
            length = new int[batch][heads];
        }
    }

    /**
     * An empty cache.
     *
     * @param shape           the model's attention shape
     * @param batch           batch rows, ≥ 1
     * @param initialCapacity slots allocated per (row, layer, head) up front, ≥ 1
     */
    public KvCache(ModelShape shape, int batch, int initialCapacity) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        if (initialCapacity < 1) throw new IllegalArgumentException("initial capacity must be >= 1, got " + initialCapacity);
        this.shape = shape;
        this.batch = batch;
        this.layers = new Layer[shape.layers()];
        for (int l = 0; l < layers.length; l++) {
            Layer layer = new Layer(batch, shape.kvHeads());
            allocate(layer, initialCapacity);
            layers[l] = layer;
        }
    }

    private void allocate(Layer layer, int capacity) {
        long kvBytes = (long) batch * shape.kvHeads() * capacity * shape.headDim() * FLOAT;
        Arena arena = Arena.ofShared();
        layer.arena = arena;
        layer.k = arena.allocate(kvBytes, 64);
        layer.v = arena.allocate(kvBytes, 64);
        layer.mask = arena.allocate((long) batch * shape.kvHeads() * capacity * FLOAT, 64);
        for (long i = 0, n = layer.mask.byteSize() / FLOAT; i < n; i++) layer.mask.setAtIndex(ValueLayout.JAVA_FLOAT, i, MASKED);
        layer.capacity = capacity;
        layer.positions = new int[batch][shape.kvHeads()][capacity];
        layer.version++;
    }

    /**
     * An independent deep copy (same capacities, slots, positions and masks) with its own memory; the copy is owned
     * by the caller and must be closed.
     */
    public KvCache copy() {
        if (closed) throw new IllegalStateException("the KV cache was closed");
        KvCache c = new KvCache(shape, batch, 1);
        for (int l = 0; l < layers.length; l++) {
            Layer src = layers[l], dst = c.layers[l];
            dst.arena.close();
            c.allocate(dst, src.capacity);
            MemorySegment.copy(src.k, 0, dst.k, 0, src.k.byteSize());
            MemorySegment.copy(src.v, 0, dst.v, 0, src.v.byteSize());
            MemorySegment.copy(src.mask, 0, dst.mask, 0, src.mask.byteSize());
            for (int r = 0; r < batch; r++) {
                dst.length[r] = src.length[r].clone();
                for (int h = 0; h < shape.kvHeads(); h++) dst.positions[r][h] = src.positions[r][h].clone();
            }
        }
        return c;
    }

    // ---------------------------------------------------------------- KvCacheView

    @Override public ModelShape shape() { return shape; }

    @Override public int batchSize() { return batch; }

    @Override
    public int length(int row, int layer, int kvHead) {
        return layer(layer).length[checkRow(row)][checkHead(kvHead)];
    }

    @Override
    public int[] positions(int row, int layer, int kvHead) {
        Layer ly = layer(layer);
        return Arrays.copyOf(ly.positions[checkRow(row)][checkHead(kvHead)], ly.length[row][kvHead]);
    }

    @Override
    public MatrixView keys(int row, int layer, int kvHead) {
        Layer ly = layer(layer);
        return view(ly.k, slotBase(ly, checkRow(row), checkHead(kvHead)), ly.length[row][kvHead]);
    }

    @Override
    public MatrixView values(int row, int layer, int kvHead) {
        Layer ly = layer(layer);
        return view(ly.v, slotBase(ly, checkRow(row), checkHead(kvHead)), ly.length[row][kvHead]);
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
        return layer(layer).capacity;
    }

    /** The largest live length over rows and heads of {@code layer}. */
    public int maxLength(int layer) {
        int m = 0;
        for (int[] r : layer(layer).length) for (int n : r) m = Math.max(m, n);
        return m;
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
        Layer ly = layer(layer);
        long live = 0;
        for (int[] r : ly.length) for (int n : r) live += n;
        long d = shape.headDim();
        long slots = (long) batch * shape.kvHeads() * ly.capacity;
        return new LayerBytes(layer, ly.capacity, 2 * slots * d * FLOAT, 2 * live * d * FLOAT, slots * FLOAT);
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
        if (counts.length != batch || positions.length != batch) throw new IllegalArgumentException("counts/positions need " + batch + " rows");
        int need = 0;
        for (int r = 0; r < batch; r++) {
            if (counts[r] < 0 || counts[r] > s) throw new IllegalArgumentException("row " + r + ": count " + counts[r] + " outside [0, " + s + "]");
            for (int i = 0; i < counts[r]; i++) {
                int prev = i > 0 ? positions[r][i - 1] : lastPosition(ly, r);
                if (positions[r][i] <= prev) {
                    throw new IllegalArgumentException("layer " + layer + ", row " + r + ": new position " + positions[r][i]
                            + " does not follow " + prev + " (positions must be strictly ascending)");
                }
            }
            for (int h = 0; h < hkv; h++) need = Math.max(need, ly.length[r][h] + counts[r]);
        }
        if (need > ly.capacity) grow(ly, Math.max(need, Math.max(ly.capacity + 16, (int) Math.ceil(ly.capacity * 1.25))));
        MemorySegment ks = MemorySegment.ofBuffer(keys), vs = MemorySegment.ofBuffer(values);
        long rowBytes = (long) d * FLOAT;
        for (int r = 0; r < batch; r++) {
            int n = counts[r];
            if (n == 0) continue;
            for (int h = 0; h < hkv; h++) {
                int len = ly.length[r][h];
                long src = ((long) (r * hkv + h) * s) * rowBytes;
                long dst = slotBase(ly, r, h) * FLOAT + len * rowBytes;
                MemorySegment.copy(ks, src, ly.k, dst, n * rowBytes);
                MemorySegment.copy(vs, src, ly.v, dst, n * rowBytes);
                long m = (long) (r * hkv + h) * ly.capacity + len;
                for (int i = 0; i < n; i++) {
                    ly.mask.setAtIndex(ValueLayout.JAVA_FLOAT, m + i, 0f);
                    ly.positions[r][h][len + i] = positions[r][i];
                }
                ly.length[r][h] = len + n;
            }
        }
    }

    /**
     * Makes room for {@code extra} more tokens per (row, head) in every layer without a later re-allocation: a layer
     * whose capacity is below {@code maxLength + extra} is re-allocated to exactly that.
     */
    public void reserve(int extra) {
        if (extra < 0) throw new IllegalArgumentException("extra must be >= 0, got " + extra);
        for (int l = 0; l < layers.length; l++) {
            int need = maxLength(l) + extra;
            if (need > capacity(l)) grow(layers[l], need);
        }
    }

    private static int lastPosition(Layer ly, int r) {
        int last = -1;
        for (int h = 0; h < ly.length[r].length; h++) if (ly.length[r][h] > 0) last = Math.max(last, ly.positions[r][h][ly.length[r][h] - 1]);
        return last;
    }

    private void grow(Layer ly, int newCapacity) {
        rewrite(ly, newCapacity, null);
    }

    /**
     * Compacts the cache to {@code plan}: every (row, layer, head) keeps exactly the planned positions (in order, in
     * slots {@code 0..k-1}); each layer is re-allocated to {@code max kept over rows and heads + reserve} slots and its
     * old memory freed. A layer whose plan keeps every cached token and whose capacity already holds them is left as
     * it is. The plan is checked first (shape, strictly ascending, every position cached); if it fails nothing changes.
     *
     * @param plan    the positions to keep (normally already validated by {@code PlanValidator})
     * @param reserve extra slots per layer for tokens still to come, ≥ 0
     * @return the KV memory of every layer before and after
     * @throws IllegalArgumentException naming the first offending (row, layer, head) if the plan does not fit the cache
     */
    public CompactionReport compact(RetentionPlan plan, int reserve) {
        if (reserve < 0) throw new IllegalArgumentException("reserve must be >= 0, got " + reserve);
        CompactionSlots.Bookkeeping book = new CompactionSlots.Bookkeeping() {
            @Override public int[] positions(int l, int r, int h) { return layers[l].positions[r][h]; }
            @Override public int length(int l, int r, int h) { return layers[l].length[r][h]; }
        };
        int[][][][] slots = CompactionSlots.of(plan, batch, layers.length, shape.kvHeads(), book);
        List<LayerBytes> before = layerBytes();
        for (int l = 0; l < layers.length; l++) {
            Layer ly = layers[l];
            int cap = CompactionSlots.newCapacity(slots, l, book, reserve);
            if (cap >= 0) rewrite(ly, cap, slots[l]);
        }
        return new CompactionReport(before, layerBytes());
    }

    /** Re-allocates {@code ly} to {@code capacity}, copying the slots {@code keep[r][h]} (all live slots if null) in order, and frees the old memory. */
    private void rewrite(Layer ly, int capacity, int[][][] keep) {
        int hkv = shape.kvHeads();
        long rowBytes = (long) shape.headDim() * FLOAT;
        Arena oldArena = ly.arena;
        MemorySegment oldK = ly.k, oldV = ly.v;
        int[][][] oldPos = ly.positions;
        int oldCap = ly.capacity;
        int[][] oldLen = new int[batch][];
        for (int r = 0; r < batch; r++) oldLen[r] = ly.length[r].clone();
        allocate(ly, capacity);
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < hkv; h++) {
                long oldBase = (long) (r * hkv + h) * oldCap * rowBytes;
                long newBase = slotBase(ly, r, h) * FLOAT;
                int n;
                if (keep == null) {
                    n = oldLen[r][h];
                    MemorySegment.copy(oldK, oldBase, ly.k, newBase, n * rowBytes);
                    MemorySegment.copy(oldV, oldBase, ly.v, newBase, n * rowBytes);
                    System.arraycopy(oldPos[r][h], 0, ly.positions[r][h], 0, n);
                } else {
                    int[] sl = keep[r][h];
                    n = sl.length;
                    for (int i = 0; i < n; i++) {
                        // copy runs of consecutive slots at once
                        int j = i;
                        while (j + 1 < n && sl[j + 1] == sl[j] + 1) j++;
                        long bytes = (j - i + 1) * rowBytes;
                        MemorySegment.copy(oldK, oldBase + sl[i] * rowBytes, ly.k, newBase + i * rowBytes, bytes);
                        MemorySegment.copy(oldV, oldBase + sl[i] * rowBytes, ly.v, newBase + i * rowBytes, bytes);
                        for (int t = i; t <= j; t++) ly.positions[r][h][t] = oldPos[r][h][sl[t]];
                        i = j;
                    }
                }
                ly.length[r][h] = n;
                long m = (long) (r * hkv + h) * capacity;
                for (int i = 0; i < n; i++) ly.mask.setAtIndex(ValueLayout.JAVA_FLOAT, m + i, 0f);
            }
        }
        oldArena.close();
    }

    /** Frees every buffer; idempotent. Views and buffers handed out earlier then fail with {@link IllegalStateException}. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Layer ly : layers) ly.arena.close();
    }

    // ---------------------------------------------------------------- helpers

    private Layer layer(int l) {
        if (closed) throw new IllegalStateException("the KV cache was closed");
        if (l < 0 || l >= layers.length) throw new IndexOutOfBoundsException("layer " + l + " outside [0, " + layers.length + ")");
        return layers[l];
    }

    private int checkRow(int r) {
        if (r < 0 || r >= batch) throw new IndexOutOfBoundsException("row " + r + " outside [0, " + batch + ")");
        return r;
    }

    private int checkHead(int h) {
        if (h < 0 || h >= shape.kvHeads()) throw new IndexOutOfBoundsException("KV head " + h + " outside [0, " + shape.kvHeads() + ")");
        return h;
    }

    /** Float index of slot 0 of (r, h). */
    private long slotBase(Layer ly, int r, int h) {
        return (long) (r * shape.kvHeads() + h) * ly.capacity * shape.headDim();
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
