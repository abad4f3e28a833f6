package io.github.kvpolicy.runtime.model.verify;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.config.VitVisionConfig;
import io.github.kvpolicy.runtime.model.family.AnyresLayout;
import io.github.kvpolicy.runtime.model.family.Qwen2VlFamily;
import io.github.kvpolicy.runtime.model.config.Qwen2VlVisionConfig;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runs a model on the inputs of a transformers reference file ({@link ReferenceFile}) and measures how far its outputs
 * are from the reference: the logits at every prompt position, and greedy decoding through the {@link Generator}
 * (prefill, then one step per reference score row) against {@code generation.scores} and their argmax tokens.
 * Stateless; the model's sessions must stay open during a call.
 */
public final class ModelVerifier {
    private ModelVerifier() {}

    /**
     * The outcome of {@link #verify}.
     *
     * @param promptLength      L, the prompt's positions
     * @param imageTokens       prompt positions filled with image embeddings
     * @param promptMaxDiff     max |Δ| over the logits of every prompt position
     * @param stepMaxDiff       per greedy step, max |Δ| of the logits the token was chosen from
     * @param expectedTokens    the reference's greedy tokens (argmax of each {@code generation.scores} row)
     * @param tokens            the tokens generated here
     */
    public record Report(int promptLength, int imageTokens, double promptMaxDiff, double[] stepMaxDiff,
                         long[] expectedTokens, long[] tokens) {
        /** Whether the generated tokens equal the reference's. */
        public boolean tokensAgree() {
            return Arrays.equals(expectedTokens, tokens);
        }

        /** The largest of all differences. */
        public double maxDiff() {
            return Math.max(promptMaxDiff, Arrays.stream(stepMaxDiff).max().orElse(0));
        }

        @Override
        public String toString() {
            return "Report[L=" + promptLength + ", image tokens=" + imageTokens + ", prompt max|Δ|=" + promptMaxDiff
                    + ", steps max|Δ|=" + Arrays.toString(stepMaxDiff) + ", expected " + Arrays.toString(expectedTokens)
                    + ", got " + Arrays.toString(tokens) + "]";
        }

        /** Whether every difference is within {@code tolerance} and the tokens agree. */
        public boolean passes(double tolerance) {
            return maxDiff() <= tolerance && tokensAgree();
        }
    }

    /**
     * Verifies the model behind {@code gen} (built from {@code cfg}) against {@code ref}.
     *
     * @throws IllegalArgumentException when the reference does not fit the model (naming what)
     */
    public static Report verify(Generator gen, ModelConfig cfg, ReferenceFile ref) {
        long[] ids = ref.longs("input_ids");
        long[] idShape = ref.shape("input_ids");
        if (idShape.length != 2 || idShape[0] != 1) {
            throw new IllegalArgumentException(ref.path() + ": input_ids has shape " + Arrays.toString(idShape) + ", expected [1, L]");
        }
        int l = ids.length;
        int v = cfg.vocabSize();
        long[] logitShape = ref.shape("logits");
        if (!Arrays.equals(logitShape, new long[]{1, l, v})) {
            throw new IllegalArgumentException(ref.path() + ": logits has shape " + Arrays.toString(logitShape) + ", expected [1, " + l + ", " + v + "] for this model");
        }
        ModelSessions ms = gen.sessions();
        if (ms.slidingWindow() > 0 && l + (int) ref.shape("generation.scores")[0] > ms.slidingWindow()) {
            throw new IllegalArgumentException(ref.path() + ": the reference's " + l + " prompt tokens and its greedy steps exceed the model's sliding_window of "
                    + ms.slidingWindow() + " tokens; sliding-window attention is not supported");
        }
        float[][] image = imageEmbeddings(ms, cfg, ref, ids);
        long[][] offsets = ropeOffsets(cfg, ref, ids);
        Prompt prompt = prompt(cfg, ids, image, offsets);
        float[] emb = embeddings(ms, cfg, ids, image);
        float[] logits = allPositionLogits(ms, emb, l, offsets, imageGroups(cfg, ids, image));
        double promptDiff = maxAbsDiff(logits, ref.floats("logits"));

        float[] scores = ref.floats("generation.scores");
        long[] scoreShape = ref.shape("generation.scores");
        if (scoreShape.length != 2 || scoreShape[1] != v) {
            throw new IllegalArgumentException(ref.path() + ": generation.scores has shape " + Arrays.toString(scoreShape) + ", expected [steps, " + v + "]");
        }
        int steps = (int) scoreShape[0];
        long[] expected = new long[steps];
        for (int s = 0; s < steps; s++) expected[s] = argmax(scores, s * v, v);
        GenerationResult r = gen.generate(GenerationRequest.builder().row(prompt).maxNewTokens(steps).recordLogits(true).build());
        long[] got = r.tokens(0);
        List<float[]> stepLogits = r.logits().get(0);
        double[] stepDiff = new double[steps];
        for (int s = 0; s < steps; s++) {
            stepDiff[s] = s < stepLogits.size() ? maxAbsDiff(stepLogits.get(s), Arrays.copyOfRange(scores, s * v, (s + 1) * v))
                    : Double.POSITIVE_INFINITY;
        }
        return new Report(l, image == null ? 0 : image.length, promptDiff, stepDiff, expected, got);
    }

    /**
     * The visual-token embeddings of the reference's {@code pixel_values} ({@code [N, H]} rows in prompt order), or
     * null when the prompt has no image token.
     */
    public static float[][] imageEmbeddings(ModelSessions ms, ModelConfig cfg, ReferenceFile ref, long[] ids) {
        long imageToken = cfg.imageTokenId();
        int count = (int) java.util.stream.LongStream.of(ids).filter(id -> imageToken >= 0 && id == imageToken).count();
        if (count == 0) return null;
        if (cfg.qwen2VlConfig().isPresent()) return qwen2VlImage(ms, cfg, ref, count);
        VitVisionConfig v = cfg.vitConfig().orElseThrow(() -> new IllegalArgumentException(
                "the prompt has " + count + " image tokens but the model has no pixel vision tower (architecture " + cfg.architecture() + ")"));
        long[] shape = ref.shape("pixel_values");
        int c = v.numChannels(), s = v.imageSize(), h = cfg.hiddenSize();
        long images = shape.length == 4 ? shape[0] : shape.length == 5 ? shape[0] * shape[1] : -1;
        if (images < 1 || shape[shape.length - 3] != c || shape[shape.length - 2] != s || shape[shape.length - 1] != s) {
            throw new IllegalArgumentException(ref.path() + ": pixel_values has shape " + Arrays.toString(shape) + ", expected [N, " + c + ", "
                    + s + ", " + s + "] or [1, N, " + c + ", " + s + ", " + s + "] for this model's image_size");
        }
        ModelSessions.VisionOutputs vo = ms.visionPixels(ref.floats("pixel_values"), new long[]{images, c, s, s});
        int t = v.tokensPerImage();
        float[][] rows;
        if (v.anyres()) {
            long[] sizes = ref.longs("image_sizes");
            if (shape.length != 5 || shape[0] != 1 || sizes.length != 2) {
                throw new IllegalArgumentException(ref.path() + ": anyres needs pixel_values [1, tiles, C, S, S] and image_sizes [1, 2] "
                        + "(one image), found " + Arrays.toString(shape) + " and " + sizes.length / 2 + " image size(s)");
            }
            float[][][] tiles = new float[(int) images][t][];
            for (int i = 0; i < images; i++) {
                for (int j = 0; j < t; j++) tiles[i][j] = Arrays.copyOfRange(vo.imageEmbeds(), (i * t + j) * h, (i * t + j + 1) * h);
            }
            rows = AnyresLayout.pack(tiles, vo.imageNewline(), (int) sizes[0], (int) sizes[1], v);
        } else {
            rows = new float[(int) (images * t)][];
            for (int i = 0; i < rows.length; i++) rows[i] = Arrays.copyOfRange(vo.imageEmbeds(), i * h, (i + 1) * h);
        }
        if (rows.length != count) {
            throw new IllegalArgumentException(ref.path() + ": the prompt has " + count + " image tokens but its pixel_values give "
                    + rows.length + " image embeddings");
        }
        return rows;
    }

    private static float[][] qwen2VlImage(ModelSessions ms, ModelConfig cfg, ReferenceFile ref, int count) {
        Qwen2VlVisionConfig v = cfg.qwen2VlConfig().orElseThrow();
        long[] grid = ref.longs("image_grid_thw");
        long[] shape = ref.shape("pixel_values");
        if (grid.length != 3 || shape.length != 2 || shape[0] != grid[0] * grid[1] * grid[2] || shape[1] != v.patchValues()) {
            throw new IllegalArgumentException(ref.path() + ": expected one image: image_grid_thw [1, 3] and pixel_values [t*h*w, "
                    + v.patchValues() + "], found " + Arrays.toString(ref.shape("image_grid_thw")) + " and " + Arrays.toString(shape));
        }
        long[][] pp = v.patchPositions((int) grid[0], (int) grid[1], (int) grid[2]);
        long[] flat = new long[pp.length * 2];
        for (int i = 0; i < pp.length; i++) {
            flat[2 * i] = pp[i][0];
            flat[2 * i + 1] = pp[i][1];
        }
        float[] out = ms.visionPixels(ref.floats("pixel_values"), shape, flat).imageEmbeds();
        int h = cfg.hiddenSize();
        if (out.length / h != count) {
            throw new IllegalArgumentException(ref.path() + ": the prompt has " + count + " image tokens but the image gives " + out.length / h);
        }
        float[][] rows = new float[count][];
        for (int i = 0; i < count; i++) rows[i] = Arrays.copyOfRange(out, i * h, (i + 1) * h);
        return rows;
    }

    /**
     * The M-RoPE offsets ({@code [3][L]}) of the reference prompt for models with 3-D rotary positions, else null.
     */
    public static long[][] ropeOffsets(ModelConfig cfg, ReferenceFile ref, long[] ids) {
        if (!cfg.rope().isMrope()) return null;
        List<int[]> grids = new ArrayList<>();
        if (ref.contains("image_grid_thw")) {
            long[] g = ref.longs("image_grid_thw");
            for (int i = 0; i + 2 < g.length; i += 3) grids.add(new int[]{(int) g[i], (int) g[i + 1], (int) g[i + 2]});
        }
        int merge = cfg.qwen2VlConfig().map(Qwen2VlVisionConfig::spatialMergeSize).orElse(1);
        return Qwen2VlFamily.ropeOffsets(Qwen2VlFamily.ropePositions(ids, cfg.imageTokenId(), grids, merge));
    }

    /** The prompt: text runs as text segments, each run of image tokens as one image segment of {@code image} rows. */
    public static Prompt prompt(ModelConfig cfg, long[] ids, float[][] image) {
        return prompt(cfg, ids, image, null);
    }

    /** As {@link #prompt(ModelConfig, long[], float[][])}, with M-RoPE offsets (null for none). */
    public static Prompt prompt(ModelConfig cfg, long[] ids, float[][] image, long[][] ropeOffsets) {
        Prompt.Builder b = Prompt.builder();
        if (ropeOffsets != null) b.ropeOffsets(ropeOffsets);
        int next = 0;
        int start = 0;
        for (int i = 1; i <= ids.length; i++) {
            boolean img = isImage(cfg, ids[start], image);
            if (i == ids.length || isImage(cfg, ids[i], image) != img) {
                if (img) {
                    b.imageEmbeddings(Arrays.copyOfRange(image, next, next + i - start));
                    next += i - start;
                } else {
                    b.text(Arrays.copyOfRange(ids, start, i));
                }
                start = i;
            }
        }
        return b.build();
    }

    private static boolean isImage(ModelConfig cfg, long id, float[][] image) {
        return image != null && id == cfg.imageTokenId();
    }

    /** {@code inputs_embeds} of the whole prompt, {@code [L, H]} flattened: token embeddings with the image rows spliced in. */
    public static float[] embeddings(ModelSessions ms, ModelConfig cfg, long[] ids, float[][] image) {
        int h = cfg.hiddenSize();
        long[] safe = ids.clone();
        for (int i = 0; i < safe.length; i++) if (isImage(cfg, safe[i], image)) safe[i] = 0;
        float[] emb = ms.embed(safe, 1, safe.length);
        int next = 0;
        for (int i = 0; i < ids.length; i++) {
            if (isImage(cfg, ids[i], image)) System.arraycopy(image[next++], 0, emb, i * h, h);
        }
        return emb;
    }

    /**
     * Logits at every prompt position, {@code [L, V]} flattened, from one decoder call over {@code L} identical batch
     * rows whose {@code logits_index} is 0..L-1 (an empty cache).
     */
    public static float[] allPositionLogits(ModelSessions ms, float[] emb, int l) {
        return allPositionLogits(ms, emb, l, null);
    }

    /** As {@link #allPositionLogits(ModelSessions, float[], int)}, with the prompt's M-RoPE offsets {@code [3][L]} (null for none). */
    public static float[] allPositionLogits(ModelSessions ms, float[] emb, int l, long[][] ropeOffsets) {
        return allPositionLogits(ms, emb, l, ropeOffsets, null);
    }

    /**
     * Per prompt position, the index of its image (each maximal run of image tokens is one image) or −1 for text;
     * null when the prompt has no image.
     */
    public static long[] imageGroups(ModelConfig cfg, long[] ids, float[][] image) {
        if (image == null) return null;
        long[] g = new long[ids.length];
        int next = -1;
        for (int p = 0; p < ids.length; p++) {
            boolean img = isImage(cfg, ids[p], image);
            if (img && (p == 0 || !isImage(cfg, ids[p - 1], image))) next++;
            g[p] = img ? next : -1;
        }
        return g;
    }

    /**
     * As {@link #allPositionLogits(ModelSessions, float[], int, long[][])}, with each position's image index
     * ({@link #imageGroups}; null = all text) for graphs with bidirectional image attention (ignored by others).
     */
    public static float[] allPositionLogits(ModelSessions ms, float[] emb, int l, long[][] ropeOffsets, long[] imageGroups) {
        int h = ms.hiddenSize();
        var shape = ms.shape();
        float[] batchEmb = new float[l * l * h];
        long[] pos = new long[l * l];
        long[] logitsIndex = new long[l];
        for (int r = 0; r < l; r++) {
            System.arraycopy(emb, 0, batchEmb, r * l * h, l * h);
            for (int p = 0; p < l; p++) pos[r * l + p] = p;
            logitsIndex[r] = r;
        }
        List<OnnxTensor> own = new ArrayList<>();
        try {
            OnnxTensor[][] past = new OnnxTensor[shape.layers()][3];
            boolean half = ms.precision().kvHalf();
            for (int i = 0; i < shape.layers(); i++) {
                long[] kv = {l, shape.kvHeads(), 0, shape.headDim()};
                past[i][0] = track(own, emptyKv(ms, kv, half));
                past[i][1] = track(own, emptyKv(ms, kv, half));
                past[i][2] = track(own, OnnxTensor.createTensor(ms.env(), FloatBuffer.allocate(0), new long[]{l, shape.kvHeads(), 0}));
            }
            long[] off = null;
            if (ropeOffsets != null) {
                off = new long[3 * l * l];
                for (int c = 0; c < 3; c++) for (int r = 0; r < l; r++) System.arraycopy(ropeOffsets[c], 0, off, (c * l + r) * l, l);
            }
            long[] groups = null;
            if (imageGroups != null) {
                groups = new long[l * l];
                for (int r = 0; r < l; r++) System.arraycopy(imageGroups, 0, groups, r * l, l);
            }
            return ms.decode(l, l, batchEmb, pos, new float[l * l], new long[0], logitsIndex, past, off, groups, null).logits();
        } catch (OrtException e) {
            throw new IllegalStateException("cannot create the empty cache tensors: " + e.getMessage(), e);
        } finally {
            own.forEach(OnnxTensor::close);
        }
    }

    /** An empty K/V tensor of the model's KV type. */
    private static OnnxTensor emptyKv(ModelSessions ms, long[] shape, boolean half) throws OrtException {
        return half ? OnnxTensor.createTensor(ms.env(), java.nio.ByteBuffer.allocateDirect(0), shape, ai.onnxruntime.OnnxJavaType.FLOAT16)
                : OnnxTensor.createTensor(ms.env(), FloatBuffer.allocate(0), shape);
    }

    private static OnnxTensor track(List<OnnxTensor> own, OnnxTensor t) {
        own.add(t);
        return t;
    }

    /** max |a[i] - b[i]| (infinite when the lengths differ or a value is not finite). */
    public static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) return Double.POSITIVE_INFINITY;
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs((double) a[i] - b[i]);
            if (!(d <= m)) m = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(m, d);
        }
        return m;
    }

    static int argmax(float[] a, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (a[off + i] > a[off + best]) best = i;
        return best;
    }
}
