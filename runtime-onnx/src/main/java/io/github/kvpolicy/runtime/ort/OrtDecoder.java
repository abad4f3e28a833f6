package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.runtime.Device;
import io.github.kvpolicy.runtime.cache.CompactionReport;
import io.github.kvpolicy.runtime.cache.CompactionSlots;
import io.github.kvpolicy.runtime.cache.KvCache;
import io.github.kvpolicy.runtime.cache.LayerBytes;
import io.github.kvpolicy.runtime.decode.ModelSessions;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@code decoder.onnx} runner (decoder contract 1) whose KV cache lives in memory owned by ONNX Runtime's allocator
 * for the session's device: CPU memory with {@link Device#CPU}, CUDA memory with {@link Device#CUDA}.
 *
 * <p><b>What crosses the host–device boundary per {@link #step}.</b> Up: the new tokens' embeddings, position ids,
 * input mask, query and logits indices, and per layer the destination slots of the new tokens
 * ({@code B×Hkv×S×3} longs) and their mask values. Down: the logits ({@code B×V}) and, when asked, the exported
 * queries. The cache itself never moves: each layer's {@code past_key/past_value/past_mask} are bound as inputs from
 * device memory; the decoder's {@code present_key/present_value} are bound to device buffers; a scatter graph
 * ({@link ResidentGraphs#scatter}) writes them into the cache slots on the same device, its outputs bound to the
 * cache's own memory.
 *
 * <p><b>Cache layout and bookkeeping</b> are exactly {@link KvCache}'s: per layer {@code [B, Hkv, capacity, D]}
 * keys/values and {@code [B, Hkv, capacity]} mask, live tokens of (row, head) in slots {@code 0..length-1} in
 * ascending original position, the same growth rule (×1.25, at least +16) and the same compaction capacity
 * ({@code max kept + reserve}). Positions and lengths are kept on the host. Compaction ({@link #compact}) uploads the
 * kept slots and runs a gather graph on the device. Unlike {@code KvCache}, a batch whose rows have different
 * numbers of real tokens in one call writes the padding tokens' K/V into (masked) slots past the row's length.
 *
 * <p><b>As a {@link KvCacheView}</b> (what a policy reads): lengths and positions come from the host bookkeeping;
 * {@link #keys}/{@link #values} read a host copy of the layer made on first use ({@link #read}) and kept until the
 * cache next changes (a step, growth or compaction), so a policy reading many heads pays one device-to-host copy
 * per layer.
 *
 * <p><b>Ownership and threads.</b> The decoder owns its sessions and every cache tensor; {@link #close} frees them
 * (idempotent). Arrays returned are copies. Not thread-safe for mutation (one request, one thread); the
 * {@link KvCacheView} reads may run concurrently while nothing mutates.
 */
public final class OrtDecoder implements KvCacheView, AutoCloseable {
    private static final int F32 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, I64 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    private static final int MAX_PRESENT_SHAPES = 2;

    private final ModelShape shape;
    private final int hidden, vocab, batch;
    private final Sessions sessions;
    private final NativeSession decoder, scatter, gather, copy, probe;
    private final NativeBinding decoderBinding, scatterBinding, gatherBinding;
    private final Layer[] layers;
    private final Map<Integer, NativeTensor[][]> present = new LinkedHashMap<>();
    private boolean closed;

    private static final class Layer {
        NativeTensor k, v, mask;
        int capacity;
        long version;
        final int[][] length;   // [row][head]
        int[][][] positions;    // [row][head][slot]
        LayerSnapshot snapshot; // host copy for KvCacheView reads; null when stale

        Layer(int batch, int heads) {
            length = new int[batch][heads];
        }
    }

    /** The sessions a decoder and its {@link #copy copies} share; closed when the last of them is closed. */
    private static final class Sessions {
        final NativeSession decoder, scatter, gather, copy, probe;
        private int refs = 1;

        Sessions(NativeSession decoder, NativeSession scatter, NativeSession gather, NativeSession copy, NativeSession probe) {
            this.decoder = decoder;
            this.scatter = scatter;
            this.gather = gather;
            this.copy = copy;
            this.probe = probe;
        }

        synchronized Sessions retain() {
            if (refs == 0) throw new IllegalStateException("the ORT decoder's sessions were closed");
            refs++;
            return this;
        }

        synchronized void release() {
            if (refs == 0 || --refs > 0) return;
            probe.close();
            copy.close();
            gather.close();
            scatter.close();
            decoder.close();
        }
    }

    /** The outputs of one {@link #step}: logits {@code [B, V]} and, if asked, per layer the queries {@code [B, Hq, W, D]} (heap copies). */
    public record StepOutputs(float[] logits, FloatBuffer[] queries) {}

    /** Takes over one reference on {@code sessions} (released by {@link #close}, or here if the bindings fail). */
    private OrtDecoder(ModelShape shape, int hidden, int vocab, int batch, Sessions sessions) {
        this.shape = shape;
        this.hidden = hidden;
        this.vocab = vocab;
        this.batch = batch;
        this.sessions = sessions;
        this.decoder = sessions.decoder;
        this.scatter = sessions.scatter;
        this.gather = sessions.gather;
        this.copy = sessions.copy;
        this.probe = sessions.probe;
        List<NativeBinding> made = new ArrayList<>();
        try {
            made.add(decoder.binding());
            made.add(scatter.binding());
            made.add(gather.binding());
        } catch (RuntimeException e) {
            made.forEach(NativeBinding::close);
            sessions.release();
            throw e;
        }
        this.decoderBinding = made.get(0);
        this.scatterBinding = made.get(1);
        this.gatherBinding = made.get(2);
        this.layers = new Layer[shape.layers()];
    }

    /**
     * Opens {@code decoder.onnx} of an already opened model (its shape, hidden size and vocabulary are taken from
     * {@code model}, which keeps serving {@code embed.onnx}/{@code vision.onnx}) on {@code device}, with an empty cache.
     *
     * @param initialCapacity slots per (row, layer, head) allocated up front, ≥ 1 ({@code GenerationSession} uses 1)
     */
    public static OrtDecoder open(ModelSessions model, Device device, int cudaDevice, int intraOpThreads, int batch, int initialCapacity) {
        if (model.takesImageGroups() || model.hasWindowedLayers()) {
            throw new IllegalArgumentException("the resident decoder does not feed image_group/past_position (sliding-window or bidirectional-image "
                    + "models such as Gemma 3); run " + model.directory() + " through the Generator");
        }
        return open(model.directory().resolve("decoder.onnx"), model.shape(), model.hiddenSize(), model.vocabSize(), device, cudaDevice,
                intraOpThreads, batch, initialCapacity);
    }

    /** Opens {@code decoderOnnx} (a decoder-contract graph of the given shape) on {@code device}; see the other {@code open}. */
    public static OrtDecoder open(Path decoderOnnx, ModelShape shape, int hidden, int vocab, Device device, int cudaDevice, int intraOpThreads,
                                  int batch, int initialCapacity) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        if (initialCapacity < 1) throw new IllegalArgumentException("initial capacity must be >= 1, got " + initialCapacity);
        List<NativeSession> opened = new ArrayList<>();
        try {
            NativeSession dec = track(opened, NativeSession.open(decoderOnnx, device, cudaDevice, intraOpThreads));
            NativeSession sc = track(opened, NativeSession.openGraph(ResidentGraphs.scatter(shape.layers(), shape.kvHeads(), shape.headDim()), "kv_scatter", device, cudaDevice, 1));
            NativeSession ga = track(opened, NativeSession.openGraph(ResidentGraphs.gather(shape.kvHeads(), shape.headDim()), "kv_gather", device, cudaDevice, 1));
            NativeSession co = track(opened, NativeSession.openGraph(ResidentGraphs.copy(shape.kvHeads(), shape.headDim()), "kv_copy", device, cudaDevice, 1));
            NativeSession pr = track(opened, NativeSession.openGraph(ResidentGraphs.probe(shape.kvHeads(), shape.headDim()), "kv_probe", device, cudaDevice, intraOpThreads));
            Sessions shared = new Sessions(dec, sc, ga, co, pr);
            opened.clear(); // from here on the decoder (or its constructor) releases them
            OrtDecoder d = new OrtDecoder(shape, hidden, vocab, batch, shared);
            try {
                for (int l = 0; l < d.layers.length; l++) {
                    d.layers[l] = new Layer(batch, shape.kvHeads());
                    d.rewrite(d.layers[l], null, null, initialCapacity, null);
                }
            } catch (RuntimeException e) {
                d.close();
                throw e;
            }
            return d;
        } catch (RuntimeException e) {
            for (int i = opened.size() - 1; i >= 0; i--) opened.get(i).close();
            throw e;
        }
    }

    private static NativeSession track(List<NativeSession> opened, NativeSession s) {
        opened.add(s);
        return s;
    }

    @Override public ModelShape shape() { return shape; }

    @Override public int batchSize() { return batch; }

    public int vocabSize() { return vocab; }

    public Device device() { return decoder.device(); }

    // ---------------------------------------------------------------- bookkeeping (KvCacheView-like)

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
        return view(layer, row, kvHead, true);
    }

    @Override
    public MatrixView values(int row, int layer, int kvHead) {
        return view(layer, row, kvHead, false);
    }

    /** Allocated key and value bytes of every layer (capacity, padding included; masks not counted), as {@link KvCache#bytes}. */
    @Override
    public long bytes() {
        long n = 0;
        for (int l = 0; l < layers.length; l++) n += layerBytes(l).allocatedBytes();
        return n;
    }

    private MatrixView view(int layer, int row, int kvHead, boolean keys) {
        Layer ly = layer(layer);
        checkRow(row);
        checkHead(kvHead);
        LayerSnapshot snap;
        synchronized (ly) {
            if (ly.snapshot == null) ly.snapshot = read(layer);
            snap = ly.snapshot;
        }
        float[] data = keys ? snap.keys() : snap.values();
        int cols = shape.headDim(), rows = ly.length[row][kvHead];
        int base = (row * shape.kvHeads() + kvHead) * snap.capacity() * cols;
        return new MatrixView() {
            @Override public int rows() { return rows; }
            @Override public int cols() { return cols; }

            @Override
            public float get(int r, int c) {
                if (r < 0 || r >= rows || c < 0 || c >= cols) throw new IndexOutOfBoundsException("(" + r + ", " + c + ") outside " + rows + "x" + cols);
                return data[base + r * cols + c];
            }
        };
    }

    private int checkRow(int r) {
        if (r < 0 || r >= batch) throw new IndexOutOfBoundsException("row " + r + " outside [0, " + batch + ")");
        return r;
    }

    private int checkHead(int h) {
        if (h < 0 || h >= shape.kvHeads()) throw new IndexOutOfBoundsException("KV head " + h + " outside [0, " + shape.kvHeads() + ")");
        return h;
    }

    public int capacity(int layer) {
        return layer(layer).capacity;
    }

    public int maxLength(int layer) {
        int m = 0;
        for (int[] r : layer(layer).length) for (int n : r) m = Math.max(m, n);
        return m;
    }

    /** Changes whenever {@code layer} is re-allocated. */
    public long version(int layer) {
        return layer(layer).version;
    }

    /** Memory of {@code layer} now (same accounting as {@link KvCache#layerBytes(int)}). */
    public LayerBytes layerBytes(int layer) {
        Layer ly = layer(layer);
        long live = 0;
        for (int[] r : ly.length) for (int n : r) live += n;
        long d = shape.headDim();
        long slots = (long) batch * shape.kvHeads() * ly.capacity;
        return new LayerBytes(layer, ly.capacity, 2 * slots * d * 4, 2 * live * d * 4, slots * 4);
    }

    /** Memory of every layer now, in layer order. */
    public List<LayerBytes> layerBytes() {
        List<LayerBytes> out = new ArrayList<>(layers.length);
        for (int l = 0; l < layers.length; l++) out.add(layerBytes(l));
        return out;
    }

    /** The device tensors of {@code layer}: {key, value, mask}; owned by the decoder, valid until its {@link #version} changes. */
    NativeTensor[] tensors(int layer) {
        Layer ly = layer(layer);
        return new NativeTensor[] {ly.k, ly.v, ly.mask};
    }

    NativeSession probeSession() { return probe; }

    // ---------------------------------------------------------------- decoding

    /**
     * One {@code decoder.onnx} call and the append of its new tokens to the cache, as
     * {@code ModelSessions.decode} followed by {@code KvCache.append} for every layer.
     *
     * @param s           new tokens per row
     * @param embeds      {@code [B, s, H]}
     * @param positionIds {@code [B, s]}
     * @param inputMask   {@code [B, s]} additive
     * @param queryIndex  {@code [W]}
     * @param logitsIndex {@code [B]}
     * @param counts      per row, how many leading tokens are real and stored
     * @param positions   per row, their original positions (strictly ascending, after everything cached in the row)
     */
    public StepOutputs step(int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex, long[] logitsIndex, int[] counts,
                            int[][] positions) {
        checkOpen();
        int hkv = shape.kvHeads(), d = shape.headDim(), hq = shape.queryHeads(), nl = layers.length, w = queryIndex.length;
        if (s < 1) throw new IllegalArgumentException("s must be >= 1, got " + s);
        if (embeds.length != batch * s * hidden) throw new IllegalArgumentException("embeds hold " + embeds.length + " floats, expected [B=" + batch + ", S=" + s + ", H=" + hidden + "]");
        if (positionIds.length != batch * s || inputMask.length != batch * s) throw new IllegalArgumentException("position ids / input mask need B×S = " + batch * s + " entries");
        if (logitsIndex.length != batch || counts.length != batch || positions.length != batch) throw new IllegalArgumentException("logits index, counts and positions need " + batch + " rows");
        for (int r = 0; r < batch; r++) {
            if (counts[r] < 0 || counts[r] > s) throw new IllegalArgumentException("row " + r + ": count " + counts[r] + " outside [0, " + s + "]");
            if (positions[r].length < counts[r]) throw new IllegalArgumentException("row " + r + ": " + counts[r] + " new tokens but " + positions[r].length + " positions");
            int last = -1;
            for (Layer ly : layers) last = Math.max(last, lastPosition(ly, r));
            for (int i = 0; i < counts[r]; i++) {
                int prev = i > 0 ? positions[r][i - 1] : last;
                if (positions[r][i] <= prev) {
                    throw new IllegalArgumentException("row " + r + ": new position " + positions[r][i] + " does not follow " + prev + " (positions must be strictly ascending)");
                }
            }
        }
        for (Layer ly : layers) ly.snapshot = null;
        NativeTensor[][] pres = presentBuffers(s);
        List<NativeTensor> own = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            NativeBinding b = decoderBinding;
            b.clear();
            b.input("inputs_embeds", host(own, aligned(arena, embeds), new long[] {batch, s, hidden}, F32));
            b.input("position_ids", host(own, aligned(arena, positionIds), new long[] {batch, s}, I64));
            b.input("input_mask", host(own, aligned(arena, inputMask), new long[] {batch, s}, F32));
            b.input("query_index", host(own, aligned(arena, queryIndex), new long[] {w}, I64));
            b.input("logits_index", host(own, aligned(arena, logitsIndex), new long[] {batch}, I64));
            MemorySegment logits = arena.allocate(ValueLayout.JAVA_FLOAT, (long) batch * vocab);
            b.output("logits", host(own, logits, new long[] {batch, vocab}, F32));
            MemorySegment[] q = new MemorySegment[nl];
            for (int l = 0; l < nl; l++) {
                Layer ly = layers[l];
                b.input("past_key." + l, ly.k).input("past_value." + l, ly.v).input("past_mask." + l, ly.mask);
                b.output("present_key." + l, pres[l][0]).output("present_value." + l, pres[l][1]);
                if (w > 0) {
                    q[l] = arena.allocate(ValueLayout.JAVA_FLOAT, (long) batch * hq * w * d);
                    b.output("queries." + l, host(own, q[l], new long[] {batch, hq, w, d}, F32));
                }
            }
            b.run();
            b.clear();
            // room for all s tokens of every row, after the call like KvCache.append (so the decoder saw the same
            // past length); padding included: the scatter writes padding tokens, masked, past the row's length
            for (Layer ly : layers) {
                int need = 0;
                for (int r = 0; r < batch; r++) for (int h = 0; h < hkv; h++) need = Math.max(need, ly.length[r][h] + s);
                if (need > ly.capacity) rewrite(ly, ly.k, ly.v, Math.max(need, Math.max(ly.capacity + 16, (int) Math.ceil(ly.capacity * 1.25))), null);
            }
            // scatter the new tokens into the cache slots, in place on the device
            NativeBinding sb = scatterBinding;
            sb.clear();
            for (int l = 0; l < nl; l++) {
                Layer ly = layers[l];
                MemorySegment idx = arena.allocate(ValueLayout.JAVA_LONG, (long) batch * hkv * s * 3);
                MemorySegment mn = arena.allocate(ValueLayout.JAVA_FLOAT, (long) batch * hkv * s);
                long o = 0, m = 0;
                for (int r = 0; r < batch; r++) {
                    for (int h = 0; h < hkv; h++) {
                        int len = ly.length[r][h];
                        for (int i = 0; i < s; i++) {
                            idx.setAtIndex(ValueLayout.JAVA_LONG, o++, r);
                            idx.setAtIndex(ValueLayout.JAVA_LONG, o++, h);
                            idx.setAtIndex(ValueLayout.JAVA_LONG, o++, len + i);
                            mn.setAtIndex(ValueLayout.JAVA_FLOAT, m++, i < counts[r] ? 0f : KvCache.MASKED);
                        }
                    }
                }
                sb.input("k." + l, ly.k).input("v." + l, ly.v).input("m." + l, ly.mask)
                        .input("kn." + l, pres[l][0]).input("vn." + l, pres[l][1])
                        .input("idx." + l, host(own, idx, new long[] {batch, hkv, s, 3}, I64))
                        .input("mn." + l, host(own, mn, new long[] {batch, hkv, s}, F32));
                sb.output("ko." + l, ly.k).output("vo." + l, ly.v).output("mo." + l, ly.mask);
            }
            sb.run();
            sb.clear();
            for (Layer ly : layers) {
                for (int r = 0; r < batch; r++) {
                    for (int h = 0; h < hkv; h++) {
                        int len = ly.length[r][h];
                        if (len + counts[r] > ly.positions[r][h].length) ly.positions[r][h] = Arrays.copyOf(ly.positions[r][h], ly.capacity);
                        System.arraycopy(positions[r], 0, ly.positions[r][h], len, counts[r]);
                        ly.length[r][h] = len + counts[r];
                    }
                }
            }
            FloatBuffer[] queries = null;
            if (w > 0) {
                queries = new FloatBuffer[nl];
                for (int l = 0; l < nl; l++) queries[l] = FloatBuffer.wrap(q[l].toArray(ValueLayout.JAVA_FLOAT));
            }
            return new StepOutputs(logits.toArray(ValueLayout.JAVA_FLOAT), queries);
        } finally {
            for (NativeTensor t : own) t.close();
        }
    }

    /** Host inputs are copied into 64-byte aligned memory, as ORT aligns its own CPU allocations. */
    private static MemorySegment aligned(Arena arena, float[] a) {
        return arena.allocate(Math.max(4L, 4L * a.length), 64).copyFrom(MemorySegment.ofArray(a));
    }

    private static MemorySegment aligned(Arena arena, long[] a) {
        return arena.allocate(Math.max(8L, 8L * a.length), 64).copyFrom(MemorySegment.ofArray(a));
    }

    private NativeTensor host(List<NativeTensor> own, MemorySegment data, long[] dims, int type) {
        NativeTensor t = decoder.wrapHost(data, dims, type);
        own.add(t);
        return t;
    }

    /** Device buffers {@code [B, Hkv, s, D]} for {@code present_key/value} of every layer, kept for the last few {@code s}. */
    private NativeTensor[][] presentBuffers(int s) {
        NativeTensor[][] p = present.remove(s);
        if (p == null) {
            if (present.size() >= MAX_PRESENT_SHAPES) {
                Integer oldest = present.keySet().iterator().next();
                closeAll(present.remove(oldest));
            }
            p = new NativeTensor[layers.length][];
            long[] dims = {batch, shape.kvHeads(), s, shape.headDim()};
            for (int l = 0; l < layers.length; l++) p[l] = new NativeTensor[] {decoder.allocate(dims, F32), decoder.allocate(dims, F32)};
        }
        present.put(s, p); // most recently used last
        return p;
    }

    private static void closeAll(NativeTensor[][] ts) {
        if (ts == null) return;
        for (NativeTensor[] a : ts) for (NativeTensor t : a) if (t != null) t.close();
    }

    private static int lastPosition(Layer ly, int r) {
        int last = -1;
        for (int h = 0; h < ly.length[r].length; h++) if (ly.length[r][h] > 0) last = Math.max(last, ly.positions[r][h][ly.length[r][h] - 1]);
        return last;
    }

    // ---------------------------------------------------------------- re-allocation

    /** As {@link KvCache#reserve}: a layer below {@code maxLength + extra} slots is re-allocated to exactly that. */
    public void reserve(int extra) {
        checkOpen();
        if (extra < 0) throw new IllegalArgumentException("extra must be >= 0, got " + extra);
        for (Layer ly : layers) {
            int max = 0;
            for (int[] r : ly.length) for (int n : r) max = Math.max(max, n);
            if (max + extra > ly.capacity) rewrite(ly, ly.k, ly.v, max + extra, null);
        }
    }

    /**
     * As {@link KvCache#compact}: every (row, layer, head) keeps exactly the planned positions, each layer is
     * re-allocated on the device to {@code max kept + reserve} slots by the gather graph (only the kept slot indices
     * and the new mask are uploaded) and its old memory returned to the allocator; a layer that keeps everything is
     * left as it is. The plan is checked first; if it fails nothing changes.
     *
     * @return the KV memory of every layer before and after
     * @throws IllegalArgumentException naming the first offending (row, layer, head)
     */
    public CompactionReport compact(RetentionPlan plan, int reserve) {
        checkOpen();
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
            if (cap >= 0) rewrite(ly, ly.k, ly.v, cap, slots[l]);
        }
        return new CompactionReport(before, layerBytes());
    }

    /**
     * Re-allocates {@code ly} to {@code capacity} slots on the device, gathering from {@code srcK/srcV} the slots
     * {@code keep[r][h]} (all live slots of {@code ly}'s bookkeeping if null) to the front in order, and frees
     * {@code ly}'s old tensors if it has any. With no source ({@code srcK == null}) the layer is allocated empty and
     * masked.
     */
    private void rewrite(Layer ly, NativeTensor srcK, NativeTensor srcV, int capacity, int[][][] keep) {
        int hkv = shape.kvHeads(), d = shape.headDim();
        long[] kvDims = {batch, hkv, capacity, d}, mDims = {batch, hkv, capacity};
        NativeTensor nk = null, nv = null, nm = null;
        List<NativeTensor> own = new ArrayList<>();
        int[][] newLen = new int[batch][hkv];
        int[][][] newPos = new int[batch][hkv][capacity];
        try (Arena arena = Arena.ofConfined()) {
            nk = gather.allocate(kvDims, F32);
            nv = gather.allocate(kvDims, F32);
            nm = gather.allocate(mDims, F32);
            MemorySegment idx = arena.allocate(ValueLayout.JAVA_LONG, (long) batch * hkv * capacity);
            MemorySegment mask = arena.allocate(ValueLayout.JAVA_FLOAT, (long) batch * hkv * capacity);
            for (int r = 0; r < batch; r++) {
                for (int h = 0; h < hkv; h++) {
                    int[] sl = srcK == null ? new int[0] : keep != null ? keep[r][h] : identity(ly.length[r][h]);
                    long base = (long) (r * hkv + h) * capacity;
                    for (int i = 0; i < capacity; i++) {
                        boolean live = i < sl.length;
                        idx.setAtIndex(ValueLayout.JAVA_LONG, base + i, live ? sl[i] : 0);
                        mask.setAtIndex(ValueLayout.JAVA_FLOAT, base + i, live ? 0f : KvCache.MASKED);
                        if (live) newPos[r][h][i] = ly.positions[r][h][sl[i]];
                    }
                    newLen[r][h] = sl.length;
                }
            }
            NativeTensor hostMask = gather.wrapHost(mask, mDims, F32);
            own.add(hostMask);
            if (srcK == null) {
                // first allocation: zero K/V from an empty source is what the gather of nothing yields; run it on a 1-slot dummy
                NativeTensor z = gather.allocate(new long[] {batch, hkv, 1, d}, F32);
                own.add(z);
                runGather(z, z, gather.wrapHost(idx, new long[] {batch, hkv, capacity, 1}, I64), hostMask, nk, nv, nm, own);
            } else {
                runGather(srcK, srcV, gather.wrapHost(idx, new long[] {batch, hkv, capacity, 1}, I64), hostMask, nk, nv, nm, own);
            }
        } catch (RuntimeException e) {
            if (nk != null) nk.close();
            if (nv != null) nv.close();
            if (nm != null) nm.close();
            throw e;
        } finally {
            for (NativeTensor t : own) t.close();
        }
        if (ly.k != null) {
            ly.k.close();
            ly.v.close();
            ly.mask.close();
        }
        ly.k = nk;
        ly.v = nv;
        ly.mask = nm;
        ly.capacity = capacity;
        ly.snapshot = null;
        ly.positions = newPos;
        for (int r = 0; r < batch; r++) ly.length[r] = newLen[r];
        ly.version++;
    }

    private void runGather(NativeTensor k, NativeTensor v, NativeTensor idx, NativeTensor mask, NativeTensor ok, NativeTensor ov, NativeTensor om,
                           List<NativeTensor> own) {
        own.add(idx);
        NativeBinding b = gatherBinding;
        b.clear();
        b.input("k", k).input("v", v).input("idx", idx).input("mask", mask).output("ko", ok).output("vo", ov).output("mo", om);
        b.run();
        b.clear();
    }

    private static int[] identity(int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = i;
        return a;
    }

    /**
     * An independent copy of this decoder's cache (as {@link KvCache#copy}: same capacities, slots, positions and
     * masks; masked slots hold zeros), made on the device by the gather graph. The copy shares this decoder's
     * sessions (they are closed when the last of the two is closed) and has its own bindings and buffers; it is
     * owned by the caller and must be closed. Used to fork a request after prefill.
     */
    public OrtDecoder copy() {
        checkOpen();
        OrtDecoder c = new OrtDecoder(shape, hidden, vocab, batch, sessions.retain());
        try {
            for (int l = 0; l < layers.length; l++) {
                Layer src = layers[l], dst = new Layer(batch, shape.kvHeads());
                for (int r = 0; r < batch; r++) dst.length[r] = src.length[r].clone();
                dst.positions = new int[batch][][];
                for (int r = 0; r < batch; r++) {
                    dst.positions[r] = new int[shape.kvHeads()][];
                    for (int h = 0; h < shape.kvHeads(); h++) dst.positions[r][h] = src.positions[r][h].clone();
                }
                c.layers[l] = dst;
                c.rewrite(dst, src.k, src.v, src.capacity, null);
            }
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
        return c;
    }

    // ---------------------------------------------------------------- read-back

    /** A host copy of one layer: keys and values {@code [B, Hkv, capacity, D]}, mask {@code [B, Hkv, capacity]}. */
    public record LayerSnapshot(int capacity, float[] keys, float[] values, float[] mask) {}

    /** Copies {@code layer} from the device to the host (through an identity graph whose outputs are bound to the CPU). */
    public LayerSnapshot read(int layer) {
        Layer ly = layer(layer);
        try (NativeBinding b = copy.binding()) {
            b.input("k", ly.k).input("v", ly.v).input("m", ly.mask);
            b.bindOutputToDevice("ko", copy.cpuMemoryInfo()).bindOutputToDevice("vo", copy.cpuMemoryInfo()).bindOutputToDevice("mo", copy.cpuMemoryInfo());
            b.run();
            NativeTensor[] out = b.takeOutputs(true);
            try {
                return new LayerSnapshot(ly.capacity, out[0].host().toArray(ValueLayout.JAVA_FLOAT), out[1].host().toArray(ValueLayout.JAVA_FLOAT),
                        out[2].host().toArray(ValueLayout.JAVA_FLOAT));
            } finally {
                for (NativeTensor t : out) t.close();
            }
        }
    }

    // ---------------------------------------------------------------- lifecycle

    private Layer layer(int l) {
        checkOpen();
        if (l < 0 || l >= layers.length) throw new IndexOutOfBoundsException("layer " + l + " outside [0, " + layers.length + ")");
        return layers[l];
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the ORT decoder was closed");
    }

    /** Frees the cache tensors, the present buffers and the bindings, and releases the sessions (closed with the last copy); idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (NativeTensor[][] p : present.values()) closeAll(p);
        present.clear();
        for (Layer ly : layers) {
            if (ly == null || ly.k == null) continue;
            ly.k.close();
            ly.v.close();
            ly.mask.close();
        }
        decoderBinding.close();
        scatterBinding.close();
        gatherBinding.close();
        sessions.release();
    }
}
