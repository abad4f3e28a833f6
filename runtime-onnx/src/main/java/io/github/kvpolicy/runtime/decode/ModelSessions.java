package io.github.kvpolicy.runtime.decode;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;
import io.github.kvpolicy.runtime.model.onnx.OnnxHeader;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The ONNX Runtime sessions of one model that follows the decoder contract (version {@value #CONTRACT}):
 * {@code decoder.onnx}, {@code embed.onnx} and optionally {@code vision.onnx}. Reads the model shape from the
 * decoder's metadata and checks the graph's inputs and outputs. Thread-safe: ONNX Runtime sessions may run
 * concurrently; every method allocates its own tensors.
 *
 * <p><b>The decoder session is opened lazily.</b> {@link #open} opens {@code decoder.onnx} to read and check its
 * metadata and inputs, then closes it: the runtime decodes through the resident {@code runtime.ort.OrtDecoder}, so
 * keeping a second copy of the decoder's weights here (in host memory, or on the GPU with CUDA) would be waste.
 * {@link #decode} — the host reference path of the tests, {@code OrtCrossCheck} and the model verifier — reopens it
 * on first use (same options) and keeps it until {@link #close}.
 */
public final class ModelSessions implements AutoCloseable {
    /** The decoder contract version this runtime implements. */
    public static final String CONTRACT = "1";

    private final OrtEnvironment env;
    private final OrtSession embed, vision;
    private OrtSession decoder;                       // opened on first decode(), guarded by this
    private boolean closed;                           // guarded by this
    private final Path decoderPath;
    private final boolean cuda;
    private final int cudaDevice, intraOpThreads;
    private final Set<String> decoderInputNames;
    private final Map<String, String> decoderInputInfo;
    private final ModelShape shape;
    private final int hidden, vocab;
    private final Path dir;
    private int slidingWindow;
    private int[] layerWindows;      // kvpolicy.layer_windows (Gemma 3), null when absent
    private double attentionScale;   // kvpolicy.attention_scale, 0 when absent (1/√D)
    private ModelBuilder.Precision precision = ModelBuilder.Precision.FP32; // kvpolicy.precision, fp32 when absent

    private ModelSessions(OrtEnvironment env, Path decoderPath, boolean cuda, int cudaDevice, int intraOpThreads, Set<String> decoderInputNames,
                          Map<String, String> decoderInputInfo, OrtSession embed, OrtSession vision, ModelShape shape, int hidden, int vocab, Path dir) {
        this.env = env;
        this.decoderPath = decoderPath;
        this.cuda = cuda;
        this.cudaDevice = cudaDevice;
        this.intraOpThreads = intraOpThreads;
        this.decoderInputNames = Set.copyOf(decoderInputNames);
        this.decoderInputInfo = Map.copyOf(decoderInputInfo);
        this.embed = embed;
        this.vision = vision;
        this.shape = shape;
        this.hidden = hidden;
        this.vocab = vocab;
        this.dir = dir;
    }

    /**
     * Opens the sessions.
     *
     * @param decoderPath    {@code decoder.onnx}
     * @param embedPath      {@code embed.onnx}
     * @param visionPath     {@code vision.onnx}, or null for a text-only model
     * @param cuda           use the CUDA execution provider
     * @param cudaDevice     CUDA device ordinal
     * @param intraOpThreads 0 = ONNX Runtime's default
     * @throws IllegalStateException if CUDA is asked but not available (naming the available providers), a file is
     *                               missing, or the decoder does not follow the contract
     */
    public static ModelSessions open(Path decoderPath, Path embedPath, Path visionPath, boolean cuda, int cudaDevice, int intraOpThreads) {
        for (Path p : new Path[] {decoderPath, embedPath, visionPath}) {
            if (p != null && !Files.isRegularFile(p)) throw new IllegalStateException("model file " + p + " does not exist");
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        if (cuda) {
            EnumSet<OrtProvider> available = OrtEnvironment.getAvailableProviders();
            if (!available.contains(OrtProvider.CUDA)) {
                throw new IllegalStateException("device=cuda was requested but ONNX Runtime's CUDA execution provider is not available; available providers: "
                        + available + " (build with the 'gpu' Maven profile, which uses com.microsoft.onnxruntime:onnxruntime_gpu, on a machine with CUDA)");
            }
        }
        // the decoder's metadata and input/output names come from its protobuf header: no ONNX Runtime session (and no
        // second load of its weights) is made here; the resident decoder opens the one that runs, and decode() opens a
        // Java-API session only when the host reference path is used
        OnnxHeader header = OnnxHeader.read(decoderPath);
        List<OrtSession> opened = new ArrayList<>();
        try (OrtSession.SessionOptions opts = options(cuda, cudaDevice, intraOpThreads)) {
            OrtSession emb = env.createSession(embedPath.toString(), opts);
            opened.add(emb);
            OrtSession vis = null;
            if (visionPath != null) {
                vis = env.createSession(visionPath.toString(), opts);
                opened.add(vis);
            }
            Map<String, String> meta = header.metadata();
            String contract = meta.get("kvpolicy.contract");
            if (contract == null) {
                throw new IllegalStateException(decoderPath + " has no 'kvpolicy.contract' metadata: it was not built for the kvpolicy decoder contract (this runtime knows version " + CONTRACT + ")");
            }
            if (!CONTRACT.equals(contract.trim())) {
                throw new IllegalStateException(decoderPath + " follows decoder contract version " + contract + ", but this runtime knows version " + CONTRACT);
            }
            ModelShape shape = new ModelShape(intMeta(meta, "kvpolicy.layers", decoderPath), intMeta(meta, "kvpolicy.query_heads", decoderPath),
                    intMeta(meta, "kvpolicy.kv_heads", decoderPath), intMeta(meta, "kvpolicy.head_dim", decoderPath));
            int hidden = intMeta(meta, "kvpolicy.hidden_size", decoderPath);
            int vocab = intMeta(meta, "kvpolicy.vocab_size", decoderPath);
            checkNames(decoderPath, "input", header.inputs().keySet(), expectedInputs(shape.layers()));
            checkNames(decoderPath, "output", header.outputs().keySet(), expectedOutputs(shape.layers()));
            checkNames(embedPath, "input", emb.getInputInfo().keySet(), Set.of("input_ids"));
            if (vis != null) checkNames(visionPath, "input", vis.getInputInfo().keySet(), Set.of(pixelValuesInput(vis) ? "pixel_values" : "pixel_attributes"));
            ModelSessions ms = new ModelSessions(env, decoderPath, cuda, cudaDevice, intraOpThreads, header.inputs().keySet(), header.inputs(), emb, vis, shape, hidden,
                    vocab, decoderPath.getParent());
            ms.slidingWindow = meta.containsKey("kvpolicy.sliding_window") ? intMeta(meta, "kvpolicy.sliding_window", decoderPath) : 0;
            ms.layerWindows = layerWindows(meta, shape.layers(), decoderPath);
            if (meta.containsKey("kvpolicy.precision")) {
                try {
                    ms.precision = ModelBuilder.Precision.parse(meta.get("kvpolicy.precision"));
                } catch (IllegalArgumentException e) {
                    throw new IllegalStateException(decoderPath + ": metadata kvpolicy.precision: " + e.getMessage());
                }
            }
            ms.attentionScale = meta.containsKey("kvpolicy.attention_scale") ? Double.parseDouble(meta.get("kvpolicy.attention_scale").trim()) : 0;
            for (int i = 0; i < shape.layers(); i++) {
                if (ms.window(i) > 0 && !header.inputs().containsKey(PAST_POSITION + i)) {
                    throw new IllegalStateException(decoderPath + ": layer " + i + " is a sliding-window layer but the graph lacks the input " + PAST_POSITION + i);
                }
            }
            return ms;
        } catch (OrtException e) {
            closeAll(opened);
            throw new IllegalStateException("ONNX Runtime could not open the model at " + decoderPath.getParent() + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeAll(opened);
            throw e;
        }
    }

    private static OrtSession.SessionOptions options(boolean cuda, int cudaDevice, int intraOpThreads) throws OrtException {
        OrtSession.SessionOptions opts = new OrtSession.SessionOptions();
        try {
            opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            // ONNX Runtime's own warnings (e.g. "Removing initializer ... not used") are for graph authors, not users;
            // errors still surface as OrtException messages. KVPOLICY_DEBUG=1 restores them.
            if (System.getenv("KVPOLICY_DEBUG") == null) opts.setSessionLogLevel(ai.onnxruntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
            if (intraOpThreads > 0) opts.setIntraOpNumThreads(intraOpThreads);
            if (cuda) opts.addCUDA(cudaDevice);
            return opts;
        } catch (OrtException | RuntimeException e) {
            opts.close();
            throw e;
        }
    }

    /** The Java-API decoder session, opened on first use. */
    private synchronized OrtSession decoderSession() {
        if (closed) throw new IllegalStateException("the model sessions were closed");
        if (decoder == null) {
            try (OrtSession.SessionOptions opts = options(cuda, cudaDevice, intraOpThreads)) {
                decoder = env.createSession(decoderPath.toString(), opts);
            } catch (OrtException e) {
                throw new IllegalStateException("ONNX Runtime could not open " + decoderPath + ": " + e.getMessage(), e);
            }
        }
        return decoder;
    }

    /** Opens {@code dir/decoder.onnx}, {@code dir/embed.onnx} and, if present, {@code dir/vision.onnx}. */
    public static ModelSessions open(Path dir, boolean cuda, int cudaDevice, int intraOpThreads) {
        Path vision = dir.resolve("vision.onnx");
        return open(dir.resolve("decoder.onnx"), dir.resolve("embed.onnx"), Files.isRegularFile(vision) ? vision : null, cuda, cudaDevice, intraOpThreads);
    }

    private static void closeAll(List<OrtSession> sessions) {
        for (OrtSession s : sessions) {
            try {
                s.close();
            } catch (OrtException ignored) {
                // best effort
            }
        }
    }

    /** {@code kvpolicy.layer_windows} ("[8,0,...]": per layer 0 = global or the window), or null when absent. */
    private static int[] layerWindows(Map<String, String> meta, int layers, Path where) {
        String v = meta.get("kvpolicy.layer_windows");
        if (v == null) return null;
        String[] parts = v.trim().replace("[", "").replace("]", "").split(",");
        if (parts.length != layers) throw new IllegalStateException(where + ": metadata 'kvpolicy.layer_windows' = '" + v + "' does not name " + layers + " layers");
        int[] w = new int[layers];
        try {
            for (int i = 0; i < layers; i++) w[i] = Integer.parseInt(parts[i].trim());
        } catch (NumberFormatException e) {
            throw new IllegalStateException(where + ": metadata 'kvpolicy.layer_windows' = '" + v + "' is not a list of integers");
        }
        return w;
    }

    private static int intMeta(Map<String, String> meta, String key, Path where) {
        String v = meta.get(key);
        if (v == null) throw new IllegalStateException(where + " lacks the metadata key '" + key + "' that decoder contract " + CONTRACT + " requires");
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalStateException(where + ": metadata '" + key + "' = '" + v + "' is not an integer");
        }
    }

    private static Set<String> expectedInputs(int layers) {
        Set<String> s = new HashSet<>(Set.of("inputs_embeds", "position_ids", "input_mask", "query_index", "logits_index"));
        for (int i = 0; i < layers; i++) {
            s.add("past_key." + i);
            s.add("past_value." + i);
            s.add("past_mask." + i);
        }
        return s;
    }

    private static Set<String> expectedOutputs(int layers) {
        Set<String> s = new HashSet<>(Set.of("logits"));
        for (int i = 0; i < layers; i++) {
            s.add("present_key." + i);
            s.add("present_value." + i);
            s.add("queries." + i);
        }
        return s;
    }

    private static void checkNames(Path where, String kind, Set<String> actual, Set<String> expected) {
        Set<String> missing = new HashSet<>(expected);
        missing.removeAll(actual);
        if (!missing.isEmpty()) {
            throw new IllegalStateException(where + " lacks the " + kind + "s " + new java.util.TreeSet<>(missing) + " of decoder contract " + CONTRACT
                    + "; it has " + new java.util.TreeSet<>(actual));
        }
    }

    public OrtEnvironment env() { return env; }

    public ModelShape shape() { return shape; }

    public int hiddenSize() { return hidden; }

    public int vocabSize() { return vocab; }

    public boolean hasVision() { return vision != null; }

    /**
     * The attention window the model was trained with ({@code kvpolicy.sliding_window}), or 0 for none. The graphs
     * attend to the whole cache, so a sequence longer than the window would differ from the model; callers refuse it.
     */
    public int slidingWindow() { return slidingWindow; }

    /** Decoder input of models with bidirectional image attention (Gemma 3): per new token its image index, −1 for text. */
    public static final String IMAGE_GROUP = "image_group";
    /** Decoder input prefix of a sliding-window layer's cached key positions, i64 {@code [B, Hkv, P_i]}. */
    public static final String PAST_POSITION = "past_position.";

    /**
     * The window of layer {@code layer} on original positions (a query at t sees keys at p with {@code t - p < W}), or 0
     * for a layer that sees the whole cache ({@code kvpolicy.layer_windows}; 0 for every layer of models without it).
     */
    public int window(int layer) { return layerWindows == null ? 0 : layerWindows[layer]; }

    /** Whether some layer is a sliding-window layer that needs the cached keys' positions ({@link #PAST_POSITION}). */
    public boolean hasWindowedLayers() {
        if (layerWindows == null) return false;
        for (int w : layerWindows) if (w > 0) return true;
        return false;
    }

    /** The attention score scale: {@code kvpolicy.attention_scale} when the graph declares one, else 1/√D. */
    public double attentionScale() {
        return attentionScale > 0 ? attentionScale : 1.0 / Math.sqrt(shape.headDim());
    }

    /** Whether the graph declares its score scale ({@code kvpolicy.attention_scale}) instead of the contract's 1/√D. */
    public boolean declaresAttentionScale() {
        return attentionScale > 0;
    }

    /** Whether the decoder takes {@link #IMAGE_GROUP} (tokens of one image attend to each other in both directions). */
    public boolean takesImageGroups() {
        return decoderInputNames.contains(IMAGE_GROUP);
    }

    /** The folder holding the model files. */
    public Path directory() { return dir; }

    /** {@code embed.onnx}: ids {@code [b, s]} (row-major) → embeddings {@code [b, s, H]}. */
    public float[] embed(long[] ids, int b, int s) {
        for (long id : ids) {
            if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocab + ")");
        }
        try (OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {b, s});
             OrtSession.Result r = embed.run(Map.of("input_ids", t))) {
            return floats(r.get(0));
        } catch (OrtException e) {
            throw new IllegalStateException("embed.onnx failed: " + e.getMessage(), e);
        }
    }

    /** Whether a vision graph takes {@code pixel_values} (a ViT tower) rather than the grid's {@code pixel_attributes}. */
    private static boolean pixelValuesInput(OrtSession vis) throws OrtException {
        return vis.getInputInfo().containsKey("pixel_values");
    }

    /**
     * The outputs of a ViT {@code vision.onnx}.
     *
     * @param imageEmbeds  {@code [B, T, H]} flattened
     * @param imageNewline the anyres row separator {@code [H]} (LLaVA-OneVision), or null when the graph has none
     */
    public record VisionOutputs(float[] imageEmbeds, float[] imageNewline) {}

    /**
     * {@code vision.onnx} of a ViT model: images {@code pixel_values} of {@code shape} {@code [B, C, S, S]}
     * (row-major, already normalised by the image processor) → visual embeddings {@code [B, T, H]}.
     */
    public VisionOutputs visionPixels(float[] pixels, long[] shape) {
        return visionPixels(pixels, shape, null);
    }

    /**
     * As {@link #visionPixels(float[], long[])} for towers that also take each patch's (row, column)
     * ({@code vision_position_ids} i64 {@code [N, 2]}, Qwen2-VL; {@code pixels} then holds {@code [N, C·T·P·P]}).
     */
    public VisionOutputs visionPixels(float[] pixels, long[] shape, long[] patchPositions) {
        try {
            if (vision == null || !pixelValuesInput(vision)) {
                throw new IllegalArgumentException("the model at " + dir + " has no pixel_values vision.onnx: give the image as "
                        + (vision == null ? "embeddings" : "grid cells (pixel attributes)"));
            }
            boolean positions = vision.getInputNames().contains("vision_position_ids");
            if (positions != (patchPositions != null)) {
                throw new IllegalArgumentException("the vision.onnx of the model at " + dir + (positions ? " needs" : " takes no")
                        + " patch positions (vision_position_ids)");
            }
            try (OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(pixels), shape);
                 OnnxTensor pos = positions ? OnnxTensor.createTensor(env, LongBuffer.wrap(patchPositions), new long[] {patchPositions.length / 2, 2}) : null;
                 OrtSession.Result r = vision.run(positions ? Map.of("pixel_values", t, "vision_position_ids", pos) : Map.of("pixel_values", t))) {
                return new VisionOutputs(floats(r.get("image_embeds").orElseThrow()),
                        r.get("image_newline").map(ModelSessions::floats).orElse(null));
            }
        } catch (OrtException e) {
            throw new IllegalStateException("vision.onnx failed on pixel_values of shape " + java.util.Arrays.toString(shape) + ": " + e.getMessage(), e);
        }
    }

    /** {@code vision.onnx}: one image's cells {@code [N, 3]} → visual embeddings {@code [N, H]}. */
    public float[] vision(long[][] cells) {
        if (vision == null) {
            throw new IllegalArgumentException("the model at " + dir + " has no vision.onnx: give the image as embeddings (Prompt.Builder.imageEmbeddings) instead of pixel attributes");
        }
        if (vision.getInputNames().contains("pixel_values")) {
            throw new IllegalArgumentException("the model at " + dir + " has a ViT vision.onnx that takes pixel_values, not grid cells: "
                    + "run it with visionPixels and give the image as embeddings (Prompt.Builder.imageEmbeddings)");
        }
        long[] flat = new long[cells.length * 3];
        for (int i = 0; i < cells.length; i++) System.arraycopy(cells[i], 0, flat, i * 3, 3);
        try (OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(flat), new long[] {1, cells.length, 3});
             OrtSession.Result r = vision.run(Map.of("pixel_attributes", t))) {
            return floats(r.get(0));
        } catch (OrtException e) {
            throw new IllegalStateException("vision.onnx failed on an image of " + cells.length + " cells: " + e.getMessage(), e);
        }
    }

    /** The outputs of one decoder call, copied out of ONNX Runtime (heap buffers, position 0). */
    public record DecoderOutputs(float[] logits, FloatBuffer[] presentKeys, FloatBuffer[] presentValues, FloatBuffer[] queries) {}

    /**
     * One {@code decoder.onnx} call.
     *
     * @param b           rows
     * @param s           new tokens per row
     * @param embeds      {@code [b, s, H]}
     * @param positionIds {@code [b, s]}
     * @param inputMask   {@code [b, s]} additive
     * @param queryIndex  {@code [W]}
     * @param logitsIndex {@code [b]}
     * @param past        per layer the {@code past_key}, {@code past_value}, {@code past_mask} tensors (not closed here)
     */
    public DecoderOutputs decode(int b, int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex, long[] logitsIndex,
                                 OnnxTensor[][] past) {
        return decode(b, s, embeds, positionIds, inputMask, queryIndex, logitsIndex, past, null);
    }

    /** The build's precision (metadata {@code kvpolicy.precision}; fp32 when absent); its {@code kvHalf()} gives the K/V element type. */
    public ModelBuilder.Precision precision() { return precision; }

    /** Whether the decoder takes 3-D rotary positions ({@code rope_offsets} i64 {@code [3, B, S]}, Qwen2-VL M-RoPE). */
    public boolean takesRopeOffsets() {
        return decoderInputNames.contains("rope_offsets");
    }

    /**
     * As {@link #decode(int, int, float[], long[], float[], long[], long[], OnnxTensor[][])}, with the M-RoPE offsets
     * {@code [3, b, s]} added to {@code positionIds} per rotary component (null = zeros; ignored by decoders without
     * M-RoPE, see {@link #takesRopeOffsets()}).
     */
    public DecoderOutputs decode(int b, int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex, long[] logitsIndex,
                                 OnnxTensor[][] past, long[] ropeOffsets) {
        return decode(b, s, embeds, positionIds, inputMask, queryIndex, logitsIndex, past, ropeOffsets, null, null);
    }

    /**
     * As {@link #decode(int, int, float[], long[], float[], long[], long[], OnnxTensor[][], long[])}, with the inputs of
     * Gemma-3-style graphs (ignored by graphs without them): {@code imageGroup} {@code [b, s]} each new token's image
     * index or −1 (null = all text) and, per layer, the original positions of its past slots {@code [b, Hkv, P_i]}
     * (row-major like {@code past_mask}; any value in masked slots), needed by sliding-window layers whose past is not
     * empty ({@code pastPositions} or its entry may be null otherwise).
     *
     * @throws IllegalStateException when a sliding-window layer has cached keys but no positions were given
     */
    public DecoderOutputs decode(int b, int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex, long[] logitsIndex,
                                 OnnxTensor[][] past, long[] ropeOffsets, long[] imageGroup, long[][] pastPositions) {
        int layers = shape.layers();
        OnnxJavaType kvType = precision.kvHalf() ? OnnxJavaType.FLOAT16 : OnnxJavaType.FLOAT;
        for (int i = 0; i < layers; i++) {
            for (int j = 0; j < 2; j++) {
                if (past[i] == null || past[i][j] == null || past[i][j].getInfo().type != kvType) {
                    throw new IllegalStateException(decoderPath + " is a " + precision.label() + " build: past K/V must be " + kvType
                            + " tensors (the host reference KvCache holds fp32 only; decode reduced-precision builds with the resident OrtDecoder)");
                }
            }
        }
        List<OnnxTensor> own = new ArrayList<>();
        try {
            Map<String, OnnxTensor> in = new LinkedHashMap<>();
            in.put("inputs_embeds", track(own, OnnxTensor.createTensor(env, FloatBuffer.wrap(embeds), new long[] {b, s, hidden})));
            in.put("position_ids", track(own, OnnxTensor.createTensor(env, LongBuffer.wrap(positionIds), new long[] {b, s})));
            in.put("input_mask", track(own, OnnxTensor.createTensor(env, FloatBuffer.wrap(inputMask), new long[] {b, s})));
            in.put("query_index", track(own, OnnxTensor.createTensor(env, LongBuffer.wrap(queryIndex), new long[] {queryIndex.length})));
            in.put("logits_index", track(own, OnnxTensor.createTensor(env, LongBuffer.wrap(logitsIndex), new long[] {b})));
            if (takesRopeOffsets()) {
                long[] off = ropeOffsets != null ? ropeOffsets : new long[3 * b * s];
                in.put("rope_offsets", track(own, OnnxTensor.createTensor(env, LongBuffer.wrap(off), new long[] {3, b, s})));
            }
            if (takesImageGroups()) {
                long[] grp = imageGroup;
                if (grp == null) {
                    grp = new long[b * s];
                    java.util.Arrays.fill(grp, -1);
                }
                in.put(IMAGE_GROUP, track(own, OnnxTensor.createTensor(env, LongBuffer.wrap(grp), new long[] {b, s})));
            }
            for (int i = 0; i < layers; i++) {
                if (window(i) > 0) {
                    long[] maskShape = past[i][2].getInfo().getShape();
                    long n = maskShape[0] * maskShape[1] * maskShape[2];
                    long[] pp = pastPositions == null ? null : pastPositions[i];
                    if (pp == null && n > 0) {
                        throw new IllegalStateException("decoder layer " + i + " is a sliding-window layer; the caller must give its cached keys' positions");
                    }
                    if (pp == null) pp = new long[0];
                    if (pp.length != n) throw new IllegalArgumentException("layer " + i + ": " + pp.length + " past positions for a past of shape " + java.util.Arrays.toString(maskShape));
                    in.put(PAST_POSITION + i, track(own, OnnxTensor.createTensor(env, LongBuffer.wrap(pp), maskShape)));
                }
                in.put("past_key." + i, past[i][0]);
                in.put("past_value." + i, past[i][1]);
                in.put("past_mask." + i, past[i][2]);
            }
            Set<String> outs = new HashSet<>();
            outs.add("logits");
            for (int i = 0; i < layers; i++) {
                outs.add("present_key." + i);
                outs.add("present_value." + i);
                if (queryIndex.length > 0) outs.add("queries." + i);
            }
            try (OrtSession.Result r = decoderSession().run(in, outs)) {
                float[] logits = floats(r.get("logits").orElseThrow());
                FloatBuffer[] k = new FloatBuffer[layers], v = new FloatBuffer[layers], q = new FloatBuffer[layers];
                for (int i = 0; i < layers; i++) {
                    k[i] = buffer(r.get("present_key." + i).orElseThrow());
                    v[i] = buffer(r.get("present_value." + i).orElseThrow());
                    if (queryIndex.length > 0) q[i] = buffer(r.get("queries." + i).orElseThrow());
                }
                return new DecoderOutputs(logits, k, v, queryIndex.length > 0 ? q : null);
            }
        } catch (OrtException e) {
            throw new IllegalStateException("decoder.onnx failed (B=" + b + ", S=" + s + "): " + e.getMessage(), e);
        } finally {
            for (OnnxTensor t : own) t.close();
        }
    }

    private static OnnxTensor track(List<OnnxTensor> own, OnnxTensor t) {
        own.add(t);
        return t;
    }

    private static FloatBuffer buffer(OnnxValue v) {
        return ((OnnxTensor) v).getFloatBuffer();
    }

    private static float[] floats(OnnxValue v) {
        FloatBuffer fb = ((OnnxTensor) v).getFloatBuffer();
        float[] a = new float[fb.remaining()];
        fb.get(a);
        return a;
    }

    @Override
    public void close() {
        List<OrtSession> all = new ArrayList<>(List.of(embed));
        synchronized (this) {
            if (closed) return;
            closed = true;
            if (decoder != null) all.add(decoder);
        }
        if (vision != null) all.add(vision);
        closeAll(all);
    }

    /** Names and shapes of the decoder's inputs, for diagnostics. */
    public Map<String, String> decoderInputs() {
        return new HashMap<>(decoderInputInfo);
    }
}
