package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.runtime.cache.CompactionReport;
import io.github.kvpolicy.runtime.cache.LayerBytes;
import io.github.kvpolicy.runtime.cache.SlotTable;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph.Elem;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The decode path of the runtime: a {@code decoder.onnx} runner (decoder contract 1) whose KV cache lives in memory
 * owned by ONNX Runtime's allocator for the session's device — CPU memory with {@link Device#CPU}, CUDA memory with
 * {@link Device#CUDA}. {@code GenerationSession} decodes only through this class; the host {@code KvCache} +
 * {@code ModelSessions.decode} path is kept as the reference the tests compare against.
 *
 * <p><b>What crosses the host–device boundary per {@link #step}.</b> Up: the new tokens' embeddings, position ids,
 * input mask, query and logits indices (and, for the graphs that take them, M-RoPE offsets and image groups), the
 * positions of the real new tokens, and per layer their source and destination slots (6 longs each) — {@code O(B·S)}
 * whatever the cache's length ({@link #uploadedBytes} counts it). Down: the logits ({@code B×V}) and, when asked, the exported queries. The cache
 * itself never moves: each layer's {@code past_key/past_value/past_mask} (and a sliding-window layer's
 * {@code past_position}, the original position of every slot) are bound as inputs from device memory; the
 * decoder's {@code present_key/present_value} are bound to device buffers; a scatter graph
 * ({@link ResidentGraphs#scatter}) copies the real new tokens into the cache slots on the same device, its outputs
 * bound to the cache's own memory.
 *
 * <p><b>Cache layout and bookkeeping</b> are exactly {@code KvCache}'s, because both use one {@link SlotTable}: per
 * layer {@code [B, Hkv, capacity, D]} float32 keys/values and {@code [B, Hkv, capacity]} mask, live tokens of (row,
 * head) in slots {@code 0..length-1} in ascending original position, empty slots holding zeros and
 * {@link SlotTable#MASKED}, the same growth rule and compaction capacity. Positions and lengths live on the host
 * (the bookkeeping); sliding-window layers keep a device copy of their slot positions, written by the same scatter
 * and gather graphs as the mask, so it always equals {@link SlotTable#pastPositions}.
 * Given the same calls, the tensors the decoder sees are byte-equal to {@code KvCache}'s, so on the CPU the logits
 * are bit-equal to the reference path's.
 *
 * <p><b>As a {@link KvCacheView}</b> (what a policy reads): lengths and positions come from the slot table;
 * {@link #keys}/{@link #values} read a host copy of the layer made on first use ({@link #read}) and kept until the
 * layer next changes (a step, growth or compaction), so a policy reading many heads pays one device-to-host copy
 * per layer.
 *
 * <p><b>Sessions.</b> The graphs are opened once per model ({@link #openSessions}, held by the {@code Generator}) and
 * shared by every decoder made from them and by their {@link #copy copies}; each decoder has its own IO bindings and
 * buffers.
 *
 * <p><b>Ownership and threads.</b> A decoder owns its cache tensors and bindings and one reference on its
 * {@link Sessions}; {@link #close} frees them (idempotent). Arrays returned are copies. Not thread-safe for
 * mutation (one request, one thread); the {@link KvCacheView} reads may run concurrently while nothing mutates.
 * Decoders of one {@link Sessions} may run on different threads at once.
 */
public final class OrtDecoder implements KvCacheView, AutoCloseable {
    private static final int F32 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, I64 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    private static final int MAX_PRESENT_SHAPES = 2;

    private final ModelShape shape;
    private final int hidden, vocab, batch;
    private final Sessions sessions;
    private final NativeSession decoder, scatter, gather, positionGather, copy, probe;
    private final int kvType; // K/V element type (FLOAT or FLOAT16), as Sessions.kvType
    private final NativeBinding decoderBinding, scatterBinding, gatherBinding;
    private final Layer[] layers;
    private final SlotTable table;
    private final Map<Integer, NativeTensor[][]> present = new LinkedHashMap<>();
    // per-layer graph input/output names, made once (bound on every step)
    private final String[] pastKeyNames, pastValueNames, pastMaskNames, presentKeyNames, presentValueNames, queriesNames, pastPositionNames,
            scatterKNames, scatterVNames, scatterMNames, scatterKnNames, scatterVnNames, scatterDstNames, scatterKoNames, scatterVoNames, scatterMoNames,
            scatterPpNames, scatterPpoNames;
    private long uploaded; // bytes of host tensors bound as graph inputs since open
    private boolean closed;

    private static final class Layer {
        NativeTensor k, v, mask;
        NativeTensor pos; // sliding-window layers only: i64 [B, Hkv, capacity], SlotTable#pastPositions on the device
        long version;
        LayerSnapshot snapshot; // host copy for KvCacheView reads; null when stale
    }

    /**
     * The native sessions of one model's decoder and helper graphs, with what the decoder graph takes beyond the
     * base contract. Shared by every {@link OrtDecoder} opened from it and by their copies: reference-counted, the
     * graphs are closed when the opener has called {@link #close} and the last decoder is closed. Thread-safe.
     */
    public static final class Sessions implements AutoCloseable {
        final NativeSession decoder, scatter, gather, positionGather, copy, probe;
        final ModelShape shape;
        final int hidden, vocab;
        final int[] windows;            // per layer 0 or the sliding window W (past_position.{i} is fed when W > 0)
        final boolean ropeOffsets, imageGroup;
        final int kvType;               // ORT element type of the cache's K/V: FLOAT, or FLOAT16 (an fp16-kv or fp16 build)
        private int refs = 1;
        private boolean ownerClosed;

        Sessions(NativeSession decoder, NativeSession scatter, NativeSession gather, NativeSession positionGather, NativeSession copy, NativeSession probe,
                 ModelShape shape, int hidden, int vocab, int[] windows, boolean ropeOffsets, boolean imageGroup, int kvType) {
            this.kvType = kvType;
            this.decoder = decoder;
            this.scatter = scatter;
            this.gather = gather;
            this.positionGather = positionGather;
            this.copy = copy;
            this.probe = probe;
            this.shape = shape;
            this.hidden = hidden;
            this.vocab = vocab;
            this.windows = windows;
            this.ropeOffsets = ropeOffsets;
            this.imageGroup = imageGroup;
        }

        /** The device the graphs run on. */
        public Device device() { return decoder.device(); }

        /**
         * What ONNX Runtime's allocators of these graphs hold on their device now, summed over the decoder and the
         * helper graphs (each session has its own arena: the decoder's holds its weights when ORT places initializers
         * there, its activations and the {@code present_*} buffers; the gather graph's holds the KV cache), or empty
         * when the allocators keep no statistics (a non-arena allocator).
         */
        public java.util.Optional<DeviceMemory> memory() {
            long inUse = 0, peak = 0, reserved = 0;
            boolean any = false;
            for (NativeSession s : new NativeSession[] {decoder, scatter, gather, positionGather, copy, probe}) {
                if (s == null) continue;
                Map<String, Long> st = s.allocatorStats("InUse", "MaxInUse", "TotalAllocated");
                if (!st.containsKey("InUse")) continue;
                any = true;
                inUse += st.get("InUse");
                peak += st.getOrDefault("MaxInUse", 0L);
                reserved += st.getOrDefault("TotalAllocated", 0L);
            }
            return any ? java.util.Optional.of(new DeviceMemory(inUse, peak, reserved)) : java.util.Optional.empty();
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
            if (positionGather != null) positionGather.close();
            gather.close();
            scatter.close();
            decoder.close();
        }

        /** Releases the opener's reference (idempotent); the graphs close once no decoder uses them any more. */
        @Override
        public void close() {
            synchronized (this) {
                if (ownerClosed) return;
                ownerClosed = true;
            }
            release();
        }
    }

    /**
     * Device memory held by ONNX Runtime's arenas of one model's graphs ({@link Sessions#memory}), in bytes.
     *
     * @param inUse     allocated to live tensors now
     * @param peakInUse the sum of each arena's peak since it was opened (≥ the true simultaneous peak)
     * @param reserved  what the arenas have taken from the device (≥ {@code inUse}; an arena keeps freed chunks)
     */
    public record DeviceMemory(long inUse, long peakInUse, long reserved) {}

    /** The outputs of one {@link #step}: logits {@code [B, V]} and, if asked, per layer the queries {@code [B, Hq, W, D]} (heap copies). */
    public record StepOutputs(float[] logits, FloatBuffer[] queries) {}

    /** Takes over one reference on {@code sessions} (released by {@link #close}, or here if the bindings fail). */
    private OrtDecoder(Sessions sessions, int batch, SlotTable table) {
        this.shape = sessions.shape;
        this.hidden = sessions.hidden;
        this.vocab = sessions.vocab;
        this.batch = batch;
        this.sessions = sessions;
        this.table = table;
        this.decoder = sessions.decoder;
        this.scatter = sessions.scatter;
        this.gather = sessions.gather;
        this.positionGather = sessions.positionGather;
        this.copy = sessions.copy;
        this.probe = sessions.probe;
        this.kvType = sessions.kvType;
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
        for (int l = 0; l < layers.length; l++) layers[l] = new Layer();
        int nl = layers.length;
        pastKeyNames = names("past_key.", nl);
        pastValueNames = names("past_value.", nl);
        pastMaskNames = names("past_mask.", nl);
        presentKeyNames = names("present_key.", nl);
        presentValueNames = names("present_value.", nl);
        queriesNames = names("queries.", nl);
        pastPositionNames = names(ModelSessions.PAST_POSITION, nl);
        scatterKNames = names("k.", nl);
        scatterVNames = names("v.", nl);
        scatterMNames = names("m.", nl);
        scatterKnNames = names("kn.", nl);
        scatterVnNames = names("vn.", nl);
        scatterDstNames = names("dst.", nl);
        scatterKoNames = names("ko.", nl);
        scatterVoNames = names("vo.", nl);
        scatterMoNames = names("mo.", nl);
        scatterPpNames = names("pp.", nl);
        scatterPpoNames = names("ppo.", nl);
    }

    private static String[] names(String prefix, int n) {
        String[] a = new String[n];
        for (int i = 0; i < n; i++) a[i] = prefix + i;
        return a;
    }

    /**
     * Opens {@code decoder.onnx} of an already opened model and the helper graphs on {@code device}, once for many
     * decoders ({@link #open(Sessions, int, int)}). The model's shape, hidden size, vocabulary, sliding-window layers
     * and optional inputs ({@code rope_offsets}, {@code image_group}) are taken from {@code model}, which keeps
     * serving {@code embed.onnx}/{@code vision.onnx}. The caller closes the result.
     *
     * @param intraOpThreads 0 = ONNX Runtime's default
     */
    public static Sessions openSessions(ModelSessions model, Device device, int cudaDevice, int intraOpThreads) {
        ModelShape shape = model.shape();
        int[] windows = new int[shape.layers()];
        for (int l = 0; l < windows.length; l++) windows[l] = model.window(l);
        List<NativeSession> opened = new ArrayList<>();
        boolean half = model.precision().kvHalf();
        Elem kv = half ? Elem.FLOAT16 : Elem.FLOAT;
        try {
            NativeSession dec = track(opened, NativeSession.open(model.directory().resolve("decoder.onnx"), device, cudaDevice, intraOpThreads));
            NativeSession sc = track(opened, NativeSession.openGraph(ResidentGraphs.scatter(windows, shape.kvHeads(), shape.headDim(), kv), "kv_scatter", device, cudaDevice, 1));
            NativeSession ga = track(opened, NativeSession.openGraph(ResidentGraphs.gather(shape.kvHeads(), shape.headDim(), kv), "kv_gather", device, cudaDevice, 1));
            NativeSession pg = Arrays.stream(windows).anyMatch(w -> w > 0)
                    ? track(opened, NativeSession.openGraph(ResidentGraphs.positionGather(shape.kvHeads()), "kv_position_gather", device, cudaDevice, 1)) : null;
            NativeSession co = track(opened, NativeSession.openGraph(ResidentGraphs.copy(shape.kvHeads(), shape.headDim(), kv), "kv_copy", device, cudaDevice, 1));
            NativeSession pr = track(opened, NativeSession.openGraph(ResidentGraphs.probe(shape.kvHeads(), shape.headDim(), kv), "kv_probe", device, cudaDevice, intraOpThreads));
            return new Sessions(dec, sc, ga, pg, co, pr, shape, model.hiddenSize(), model.vocabSize(), windows, model.takesRopeOffsets(), model.takesImageGroups(),
                    half ? OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 : F32);
        } catch (RuntimeException e) {
            for (int i = opened.size() - 1; i >= 0; i--) opened.get(i).close();
            throw e;
        }
    }

    /**
     * A decoder with an empty cache over shared {@code sessions} (which it retains; closing it releases them).
     *
     * @param batch           rows, ≥ 1
     * @param initialCapacity slots per (row, layer, head) allocated up front, ≥ 1 ({@code GenerationSession} uses 1)
     */
    public static OrtDecoder open(Sessions sessions, int batch, int initialCapacity) {
        if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        if (initialCapacity < 1) throw new IllegalArgumentException("initial capacity must be >= 1, got " + initialCapacity);
        SlotTable table = new SlotTable(sessions.shape.layers(), batch, sessions.shape.kvHeads(), initialCapacity);
        OrtDecoder d = new OrtDecoder(sessions.retain(), batch, table);
        try {
            for (int l = 0; l < d.layers.length; l++) d.regather(l, null, initialCapacity, null, null);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        return d;
    }

    /**
     * Opens {@code decoder.onnx} of an already opened model on {@code device} with an empty cache and sessions of its
     * own (closed with the decoder and its last copy); {@link #openSessions} + {@link #open(Sessions, int, int)} in
     * one call.
     *
     * @param initialCapacity slots per (row, layer, head) allocated up front, ≥ 1
     */
    public static OrtDecoder open(ModelSessions model, Device device, int cudaDevice, int intraOpThreads, int batch, int initialCapacity) {
        try (Sessions s = openSessions(model, device, cudaDevice, intraOpThreads)) {
            return open(s, batch, initialCapacity);
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

    // ---------------------------------------------------------------- bookkeeping (KvCacheView)

    @Override
    public int length(int row, int layer, int kvHead) {
        checkOpen();
        return table.length(layer, row, kvHead);
    }

    @Override
    public int[] positions(int row, int layer, int kvHead) {
        checkOpen();
        return table.positions(layer, row, kvHead);
    }

    @Override
    public MatrixView keys(int row, int layer, int kvHead) {
        return view(layer, row, kvHead, true);
    }

    @Override
    public MatrixView values(int row, int layer, int kvHead) {
        return view(layer, row, kvHead, false);
    }

    /** Allocated key and value bytes of every layer (capacity, padding included; masks not counted), as {@code KvCache#bytes}. */
    @Override
    public long bytes() {
        long n = 0;
        for (int l = 0; l < layers.length; l++) n += layerBytes(l).allocatedBytes();
        return n;
    }

    private MatrixView view(int layer, int row, int kvHead, boolean keys) {
        Layer ly = layer(layer);
        int rows = table.length(layer, row, kvHead);
        LayerSnapshot snap;
        synchronized (ly) {
            if (ly.snapshot == null) ly.snapshot = read(layer);
            snap = ly.snapshot;
        }
        float[] data = keys ? snap.keys() : snap.values();
        int cols = shape.headDim();
        int base = (row * shape.kvHeads() + kvHead) * snap.capacity() * cols;
        return new MatrixView() {
            @Override public int rows() { return rows; }
            @Override public int cols() { return cols; }

            @Override
            public float get(int r, int c) {
                if (r < 0 || r >= rows || c < 0 || c >= cols) throw new IndexOutOfBoundsException("(" + r + ", " + c + ") outside " + rows + "x" + cols);
                return data[base + r * cols + c];
            }

            @Override
            public void copyRow(int r, float[] dst, int offset) {
                if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " outside " + rows);
                System.arraycopy(data, base + r * cols, dst, offset, cols);
            }
        };
    }

    /** Slots allocated per (row, head) of {@code layer}: the {@code P_i} the decoder sees. */
    public int capacity(int layer) {
        checkOpen();
        return table.capacity(layer);
    }

    /** The largest live length over rows and heads of {@code layer}. */
    public int maxLength(int layer) {
        checkOpen();
        return table.maxLength(layer);
    }

    /** Changes whenever {@code layer} is re-allocated. */
    public long version(int layer) {
        return layer(layer).version;
    }

    /** Memory of {@code layer} now (the {@link LayerBytes} accounting of {@link SlotTable#layerBytes}). */
    public LayerBytes layerBytes(int layer) {
        checkOpen();
        return table.layerBytes(layer, shape.headDim(), kvType == F32 ? 4 : 2);
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

    /** As {@link #step(int, float[], long[], float[], long[], long[], long[], long[], int[], int[][])} without M-RoPE offsets or image groups. */
    public StepOutputs step(int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex, long[] logitsIndex, int[] counts,
                            int[][] positions) {
        return step(s, embeds, positionIds, inputMask, queryIndex, logitsIndex, null, null, counts, positions);
    }

    /**
     * One {@code decoder.onnx} call and the append of its real new tokens to the cache: what
     * {@code ModelSessions.decode} followed by {@code KvCache.append} for every layer does on the host.
     *
     * @param s           new tokens per row, ≥ 1
     * @param embeds      {@code [B, s, H]}
     * @param positionIds {@code [B, s]}
     * @param inputMask   {@code [B, s]} additive (0 for a real token, {@link SlotTable#MASKED} for padding)
     * @param queryIndex  {@code [W]}: new-token indices whose queries to export (empty for none)
     * @param logitsIndex {@code [B]}
     * @param ropeOffsets {@code [3, B, s]} M-RoPE offsets, or null for zeros; ignored unless the graph takes {@code rope_offsets}
     * @param imageGroup  {@code [B, s]} each new token's image index or −1, or null for all text; ignored unless the
     *                    graph takes {@code image_group}
     * @param counts      per row, how many leading tokens are real and stored ({@code 0..s})
     * @param positions   per row, their original positions (strictly ascending, after everything cached in the row)
     * @throws IllegalArgumentException if an array does not have its shape or a position does not follow (nothing changes)
     */
    public StepOutputs step(int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex, long[] logitsIndex, long[] ropeOffsets,
                            long[] imageGroup, int[] counts, int[][] positions) {
        checkOpen();
        int nl = layers.length, w = queryIndex.length;
        if (s < 1) throw new IllegalArgumentException("s must be >= 1, got " + s);
        if (embeds.length != batch * s * hidden) throw new IllegalArgumentException("embeds hold " + embeds.length + " floats, expected [B=" + batch + ", S=" + s + ", H=" + hidden + "]");
        if (positionIds.length != batch * s || inputMask.length != batch * s) throw new IllegalArgumentException("position ids / input mask need B×S = " + batch * s + " entries");
        if (logitsIndex.length != batch || counts.length != batch || positions.length != batch) throw new IllegalArgumentException("logits index, counts and positions need " + batch + " rows");
        if (ropeOffsets != null && ropeOffsets.length != 3 * batch * s) throw new IllegalArgumentException("rope offsets need 3×B×S = " + 3 * batch * s + " entries, got " + ropeOffsets.length);
        if (imageGroup != null && imageGroup.length != batch * s) throw new IllegalArgumentException("image groups need B×S = " + batch * s + " entries, got " + imageGroup.length);
        table.checkAppend(-1, s, counts, positions);
        for (Layer ly : layers) ly.snapshot = null;
        NativeTensor[][] pres = presentBuffers(s);
        List<NativeTensor> own = new ArrayList<>();
        // kept in small methods: each compiles quickly and a deoptimisation stays local (a long C2 compile of one big
        // step method competed with decoding for the CPU on a loaded machine)
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment logits = arena.allocate(ValueLayout.JAVA_FLOAT, (long) batch * vocab);
            MemorySegment[] q = bindDecoder(arena, own, s, embeds, positionIds, inputMask, queryIndex, logitsIndex, ropeOffsets, imageGroup, logits, pres);
            decoderBinding.run();
            decoderBinding.clear();
            growFor(counts);
            storeNewTokens(arena, own, counts, positions, pres);
            for (int l = 0; l < nl; l++) table.append(l, counts, positions);
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

    /** Binds the decoder's inputs and outputs for one call; returns the host buffers of the exported queries (null entries when none). */
    private MemorySegment[] bindDecoder(Arena arena, List<NativeTensor> own, int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex,
                                        long[] logitsIndex, long[] ropeOffsets, long[] imageGroup, MemorySegment logits, NativeTensor[][] pres) {
        int hkv = shape.kvHeads(), d = shape.headDim(), hq = shape.queryHeads(), nl = layers.length, w = queryIndex.length;
        NativeBinding b = decoderBinding;
        b.clear();
        b.input("inputs_embeds", upload(own, aligned(arena, embeds), new long[] {batch, s, hidden}, F32));
        b.input("position_ids", upload(own, aligned(arena, positionIds), new long[] {batch, s}, I64));
        b.input("input_mask", upload(own, aligned(arena, inputMask), new long[] {batch, s}, F32));
        b.input("query_index", upload(own, aligned(arena, queryIndex), new long[] {w}, I64));
        b.input("logits_index", upload(own, aligned(arena, logitsIndex), new long[] {batch}, I64));
        if (sessions.ropeOffsets) {
            long[] off = ropeOffsets != null ? ropeOffsets : new long[3 * batch * s];
            b.input("rope_offsets", upload(own, aligned(arena, off), new long[] {3, batch, s}, I64));
        }
        if (sessions.imageGroup) {
            long[] grp = imageGroup;
            if (grp == null) {
                grp = new long[batch * s];
                Arrays.fill(grp, -1);
            }
            b.input(ModelSessions.IMAGE_GROUP, upload(own, aligned(arena, grp), new long[] {batch, s}, I64));
        }
        b.output("logits", host(own, logits, new long[] {batch, vocab}, F32));
        MemorySegment[] q = new MemorySegment[nl];
        for (int l = 0; l < nl; l++) {
            Layer ly = layers[l];
            if (ly.pos != null) b.input(pastPositionNames[l], ly.pos);
            b.input(pastKeyNames[l], ly.k).input(pastValueNames[l], ly.v).input(pastMaskNames[l], ly.mask);
            b.output(presentKeyNames[l], pres[l][0]).output(presentValueNames[l], pres[l][1]);
            if (w > 0) {
                q[l] = arena.allocate(ValueLayout.JAVA_FLOAT, (long) batch * hq * w * d);
                b.output(queriesNames[l], host(own, q[l], new long[] {batch, hq, w, d}, F32));
            }
        }
        return q;
    }

    /** Room for {@code counts[r]} more tokens per row in every layer, after the call like {@code KvCache.append} (so the decoder saw the same past). */
    private void growFor(int[] counts) {
        for (int l = 0; l < layers.length; l++) {
            int grown = table.grownCapacity(l, counts);
            if (grown > 0) {
                int[][][] keep = table.liveSlotLists(l);
                regather(l, layers[l], grown, keep, null);
                table.relayout(l, grown, keep);
            }
        }
    }

    /** Copies the real new tokens of {@code pres} into their cache slots, in place on the device (padding tokens are not stored); before {@link SlotTable#append}. */
    private void storeNewTokens(Arena arena, List<NativeTensor> own, int[] counts, int[][] positions, NativeTensor[][] pres) {
        int hkv = shape.kvHeads(), nl = layers.length;
        int n = 0;
        for (int r = 0; r < batch; r++) n += counts[r] * hkv;
        if (n == 0) return;
        MemorySegment src = arena.allocate(ValueLayout.JAVA_LONG, (long) n * 3);
        long o = 0;
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < hkv; h++) {
                for (int i = 0; i < counts[r]; i++) {
                    src.setAtIndex(ValueLayout.JAVA_LONG, o++, r);
                    src.setAtIndex(ValueLayout.JAVA_LONG, o++, h);
                    src.setAtIndex(ValueLayout.JAVA_LONG, o++, i);
                }
            }
        }
        MemorySegment mn = arena.allocate(ValueLayout.JAVA_FLOAT, n); // zeros: the new slots are live
        NativeBinding sb = scatterBinding;
        sb.clear();
        sb.input("src", upload(own, src, new long[] {n, 3}, I64)).input("mn", upload(own, mn, new long[] {n}, F32));
        if (positionGather != null) {
            MemorySegment pn = arena.allocate(ValueLayout.JAVA_LONG, n); // in src's (row, head, i) order
            long x = 0;
            for (int r = 0; r < batch; r++) for (int h = 0; h < hkv; h++) for (int i = 0; i < counts[r]; i++) pn.setAtIndex(ValueLayout.JAVA_LONG, x++, positions[r][i]);
            sb.input("pn", upload(own, pn, new long[] {n}, I64));
        }
        for (int l = 0; l < nl; l++) {
            Layer ly = layers[l];
            sb.input(scatterKNames[l], ly.k).input(scatterVNames[l], ly.v).input(scatterMNames[l], ly.mask)
                    .input(scatterKnNames[l], pres[l][0]).input(scatterVnNames[l], pres[l][1])
                    .input(scatterDstNames[l], upload(own, destinations(arena, l, counts, n), new long[] {n, 3}, I64));
            sb.output(scatterKoNames[l], ly.k).output(scatterVoNames[l], ly.v).output(scatterMoNames[l], ly.mask);
            if (ly.pos != null) sb.input(scatterPpNames[l], ly.pos).output(scatterPpoNames[l], ly.pos);
        }
        sb.run();
        sb.clear();
    }

    /** {@code [n, 3]} (row, head, slot) of the new tokens in {@code layer}: slot {@code length + i}. */
    private MemorySegment destinations(Arena arena, int layer, int[] counts, int n) {
        int hkv = shape.kvHeads();
        MemorySegment dst = arena.allocate(ValueLayout.JAVA_LONG, (long) n * 3);
        long x = 0;
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < hkv; h++) {
                int len = table.length(layer, r, h);
                for (int i = 0; i < counts[r]; i++) {
                    dst.setAtIndex(ValueLayout.JAVA_LONG, x++, r);
                    dst.setAtIndex(ValueLayout.JAVA_LONG, x++, h);
                    dst.setAtIndex(ValueLayout.JAVA_LONG, x++, len + i);
                }
            }
        }
        return dst;
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

    /** {@link #host} for a graph input: counted in {@link #uploadedBytes}. */
    private NativeTensor upload(List<NativeTensor> own, MemorySegment data, long[] dims, int type) {
        NativeTensor t = host(own, data, dims, type);
        uploaded += elements(dims) * NativeTensor.elementBytes(type);
        return t;
    }

    private static long elements(long[] dims) {
        long n = 1;
        for (long x : dims) n *= x;
        return n;
    }

    /**
     * Bytes of host memory this decoder has bound as inputs of its graphs since it was opened (what a CUDA decoder
     * uploads): per {@link #step} {@code O(B·S)} — embeddings, ids, masks, the new tokens' slots and positions —
     * independent of the cache's length; a re-allocation (growth, {@link #reserve}, {@link #compact}, {@link #copy})
     * adds its slot map {@code B·Hkv·capacity} × 12 bytes per layer. Probe uploads are the probe's, not counted here.
     */
    public long uploadedBytes() {
        checkOpen();
        return uploaded;
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
            for (int l = 0; l < layers.length; l++) p[l] = new NativeTensor[] {decoder.allocate(dims, kvType), decoder.allocate(dims, kvType)};
        }
        present.put(s, p); // most recently used last
        return p;
    }

    private static void closeAll(NativeTensor[][] ts) {
        if (ts == null) return;
        for (NativeTensor[] a : ts) for (NativeTensor t : a) if (t != null) t.close();
    }

    // ---------------------------------------------------------------- re-allocation

    /** As {@code KvCache#reserve}: a layer below {@code maxLength + extra} slots is re-allocated to exactly that. */
    public void reserve(int extra) {
        checkOpen();
        for (int l = 0; l < layers.length; l++) {
            int cap = table.reservedCapacity(l, extra);
            if (cap > 0) {
                int[][][] keep = table.liveSlotLists(l);
                regather(l, layers[l], cap, keep, null);
                table.relayout(l, cap, keep);
            }
        }
    }

    /**
     * As {@code KvCache#compact}: every (row, layer, head) keeps exactly the planned positions, each layer is
     * re-allocated on the device to {@code max kept + reserve} slots by the gather graph (only the kept slot indices
     * and the new mask are uploaded) and its old memory returned to the allocator; a layer that keeps everything is
     * left as it is. The plan is checked first ({@link SlotTable#compactionSlots}); if it fails nothing changes.
     *
     * @param reserve extra slots per layer for tokens still to come, ≥ 0
     * @return the KV memory of every layer before and after
     * @throws IllegalArgumentException naming the first offending (row, layer, head)
     */
    public CompactionReport compact(RetentionPlan plan, int reserve) {
        checkOpen();
        if (reserve < 0) throw new IllegalArgumentException("reserve must be >= 0, got " + reserve);
        int[][][][] keep = table.compactionSlots(plan);
        List<LayerBytes> before = layerBytes();
        for (int l = 0; l < layers.length; l++) {
            int cap = table.compactedCapacity(keep, l, reserve);
            if (cap >= 0) {
                regather(l, layers[l], cap, keep[l], null);
                table.relayout(l, cap, keep[l]);
            }
        }
        return new CompactionReport(before, layerBytes());
    }

    /**
     * Masks every cached token that {@code plan} does not keep, without moving, freeing or forgetting anything (the
     * slot table is unchanged): for tests that compare a compaction with attention over the full cache minus the
     * evicted tokens. The masking lasts until the layer is next re-allocated (growth, {@link #reserve},
     * {@link #compact}, {@link #copy}), which rebuilds the mask from the slot table; reserve room first.
     *
     * @throws IllegalArgumentException as {@link #compact} for a plan that does not fit the cache (nothing changes)
     */
    public void maskEvicted(RetentionPlan plan) {
        checkOpen();
        int[][][][] keep = table.compactionSlots(plan);
        for (int l = 0; l < layers.length; l++) {
            boolean[][][] hidden = new boolean[batch][shape.kvHeads()][];
            for (int r = 0; r < batch; r++) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    boolean[] x = new boolean[table.length(l, r, h)];
                    Arrays.fill(x, true);
                    for (int sl : keep[l][r][h]) x[sl] = false;
                    hidden[r][h] = x;
                }
            }
            regather(l, layers[l], table.capacity(l), table.liveSlotLists(l), hidden);
        }
    }

    /**
     * Replaces {@code layer}'s tensors by new ones of {@code capacity} slots holding, in slot {@code i} of (row, head),
     * old slot {@code keep[r][h][i]} of {@code src}'s K/V (and, on a sliding-window layer, positions) — gathered on the
     * device; the rest zeros and masked — and frees the old tensors. {@code src} is this decoder's layer or, for
     * {@link #copy}, the origin's; with {@code src == null} the layer is allocated empty and masked.
     * {@code hidden[r][h][i]} (may be null) masks new slot {@code i} although it holds a token. The slot table is not
     * touched: the caller records the new layout ({@link SlotTable#relayout}).
     */
    private void regather(int layer, Layer src, int capacity, int[][][] keep, boolean[][][] hidden) {
        Layer ly = layers[layer];
        int hkv = shape.kvHeads(), d = shape.headDim();
        boolean windowed = sessions.windows[layer] > 0;
        long[] kvDims = {batch, hkv, capacity, d}, mDims = {batch, hkv, capacity};
        NativeTensor nk = null, nv = null, nm = null, np = null;
        List<NativeTensor> own = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            nk = gather.allocate(kvDims, kvType);
            nv = gather.allocate(kvDims, kvType);
            nm = gather.allocate(mDims, F32);
            if (windowed) np = positionGather.allocate(mDims, I64);
            MemorySegment idx = arena.allocate(ValueLayout.JAVA_LONG, (long) batch * hkv * capacity);
            MemorySegment mask = arena.allocate(ValueLayout.JAVA_FLOAT, (long) batch * hkv * capacity);
            fillGather(idx, mask, capacity, src == null ? null : keep, hidden);
            NativeTensor hostMask = upload(own, mask, mDims, F32);
            NativeTensor hostIdx = upload(own, idx, new long[] {batch, hkv, capacity, 1}, I64);
            NativeTensor sk, sv, sp;
            if (src == null) {
                // first allocation: zero K/V (and positions) from an empty source is what the gather of nothing yields; run it on 1-slot dummies
                sk = gather.allocate(new long[] {batch, hkv, 1, d}, kvType);
                own.add(sk);
                sv = sk;
                sp = windowed ? positionGather.allocate(new long[] {batch, hkv, 1}, I64) : null;
                if (sp != null) own.add(sp);
            } else {
                sk = src.k;
                sv = src.v;
                sp = src.pos;
            }
            runGather(sk, sv, hostIdx, hostMask, nk, nv, nm);
            if (windowed) runPositionGather(sp, hostIdx, hostMask, np);
        } catch (RuntimeException e) {
            for (NativeTensor t : new NativeTensor[] {nk, nv, nm, np}) if (t != null) t.close();
            throw e;
        } finally {
            for (NativeTensor t : own) t.close();
        }
        if (ly.k != null) {
            ly.k.close();
            ly.v.close();
            ly.mask.close();
        }
        if (ly.pos != null) ly.pos.close();
        ly.k = nk;
        ly.v = nv;
        ly.mask = nm;
        ly.pos = np;
        ly.snapshot = null;
        ly.version++;
    }

    /** The gather graph's {@code idx} (old slot of every new slot) and mask (0 = a kept, visible token) for {@link #regather}; {@code keep == null}: empty. */
    private void fillGather(MemorySegment idx, MemorySegment mask, int capacity, int[][][] keep, boolean[][][] hidden) {
        int hkv = shape.kvHeads();
        for (int r = 0; r < batch; r++) {
            for (int h = 0; h < hkv; h++) {
                int[] sl = keep == null ? new int[0] : keep[r][h];
                boolean[] hide = hidden == null ? null : hidden[r][h];
                long base = (long) (r * hkv + h) * capacity;
                for (int i = 0; i < capacity; i++) {
                    boolean live = i < sl.length;
                    idx.setAtIndex(ValueLayout.JAVA_LONG, base + i, live ? sl[i] : 0);
                    mask.setAtIndex(ValueLayout.JAVA_FLOAT, base + i, live && (hide == null || !hide[i]) ? 0f : SlotTable.MASKED);
                }
            }
        }
    }

    private void runGather(NativeTensor k, NativeTensor v, NativeTensor idx, NativeTensor mask, NativeTensor ok, NativeTensor ov, NativeTensor om) {
        NativeBinding b = gatherBinding;
        b.clear();
        b.input("k", k).input("v", v).input("idx", idx).input("mask", mask).output("ko", ok).output("vo", ov).output("mo", om);
        b.run();
        b.clear();
    }

    private void runPositionGather(NativeTensor pos, NativeTensor idx, NativeTensor mask, NativeTensor out) {
        try (NativeBinding b = positionGather.binding()) {
            b.input("pos", pos).input("idx", idx).input("mask", mask).output("po", out);
            b.run();
        }
    }

    /**
     * An independent copy of this decoder's cache (as {@code KvCache#copy}: same capacities, slots, positions and
     * masks; masked slots hold zeros), made on the device by the gather graph. The copy shares this decoder's
     * {@link Sessions} (retained; released when it is closed) and has its own bindings, buffers and slot table; it is
     * owned by the caller and must be closed. Used to fork a request ({@code GenerationSession#fork}).
     */
    public OrtDecoder copy() {
        checkOpen();
        OrtDecoder c = new OrtDecoder(sessions.retain(), batch, table.copy());
        try {
            for (int l = 0; l < layers.length; l++) c.regather(l, layers[l], table.capacity(l), table.liveSlotLists(l), null);
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
                return new LayerSnapshot(table.capacity(layer), out[0].host().toArray(ValueLayout.JAVA_FLOAT), out[1].host().toArray(ValueLayout.JAVA_FLOAT),
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
            if (ly.pos != null) ly.pos.close();
        }
        decoderBinding.close();
        scatterBinding.close();
        gatherBinding.close();
        sessions.release();
    }
}
