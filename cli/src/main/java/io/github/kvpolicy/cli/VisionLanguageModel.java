package io.github.kvpolicy.cli;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ImageSpan;
import io.github.kvpolicy.api.Modality;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.processing.ChatMessage;
import io.github.kvpolicy.processing.MRopePositions;
import io.github.kvpolicy.processing.Processor;
import io.github.kvpolicy.processing.image.ProcessedImage;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.PolicyAction;
import io.github.kvpolicy.runtime.cache.LayerBytes;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.config.Qwen2VlVisionConfig;
import io.github.kvpolicy.runtime.model.config.VitVisionConfig;
import io.github.kvpolicy.runtime.model.family.AnyresLayout;
import io.github.kvpolicy.runtime.model.family.Qwen2VlFamily;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * A Hugging Face model folder opened for questions about image files: the processing module's {@link Processor}
 * (tokenizer, chat template, the family's image preprocessing, prompt assembly) next to the runtime's
 * {@link Generator} over the folder's graphs (built on first use into kvpolicy's own cache folder, see
 * {@link ModelPackage#ensureBuilt()}).
 *
 * <p>{@link #prompt} renders one user turn with the chat template, preprocesses the images, runs each image through
 * the model's {@code vision.onnx} and returns the runtime {@link Prompt}: every text run of the processed ids is a
 * text segment and every visual span an image segment holding the vision tower's embeddings for exactly those
 * positions, with Qwen's M-RoPE offsets attached. <b>Invariant</b> (checked on every prompt): the runtime prompt has
 * the processed prompt's length and the same modality at every position, so the layout policies see carries the image
 * spans where the processor put them.
 *
 * <p>Refusals (one line each, {@link IllegalArgumentException}, naming the folder or file): images for a text-only
 * model; a model family the runtime builds but whose images have no pixel preprocessing here (the testbed's grid
 * tower); a folder without {@code tokenizer.json} or chat template (the processing module's message); a config the
 * runtime does not support ({@link ModelConfig}'s message). Not thread-safe per prompt call; {@link #close()} frees the
 * tokenizer and the ONNX Runtime sessions.
 */
final class VisionLanguageModel implements AutoCloseable {
    private final Path dir;
    private final ModelPackage pkg;
    private final Processor processor;
    private final Generator generator;
    private final double openSeconds;

    /** A prompt in both forms: the processor's (ids, layout, images) and the runtime's (segments with embeddings). */
    record Built(io.github.kvpolicy.processing.Prompt processed, Prompt prompt, double visionMs) {
        int visualTokens() {
            return processed.layout().count(Modality.IMAGE);
        }
    }

    private VisionLanguageModel(Path dir, ModelPackage pkg, Processor processor, Generator generator, double openSeconds) {
        this.dir = dir;
        this.pkg = pkg;
        this.processor = processor;
        this.generator = generator;
        this.openSeconds = openSeconds;
    }

    /**
     * Opens {@code dir}: config and weights checked, graphs built if needed, tokenizer and (if any) chat template read.
     *
     * @param template     a chat template file replacing the folder's, or null
     * @param forImages    whether images will be given: a text-only model is then refused before any graph is built
     */
    static VisionLanguageModel open(Path dir, Path template, GeneratorConfig config, boolean forImages) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("--model " + dir + ": not a directory (expected a Hugging Face model folder)");
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IllegalArgumentException("--model " + dir + ": no config.json (expected a Hugging Face model folder: config.json, safetensors, tokenizer.json)");
        }
        if (template != null && !Files.isRegularFile(template)) throw new IllegalArgumentException("--chat-template " + template + ": file does not exist");
        long t0 = System.nanoTime();
        ModelPackage pkg = ModelPackage.open(dir);
        if (pkg.config().visionConfig().isPresent()) {
            throw new IllegalArgumentException("--model " + dir + ": the testbed's grid tower (architecture " + pkg.config().architecture()
                    + ") takes grid cells, not image files or text prompts; use 'kvpolicy generate --example ID' for it");
        }
        if (forImages) requireImages(dir, pkg);
        Processor processor = Processor.forModel(dir, template);
        try {
            processor.chatTemplate(); // a folder without one is refused before its graphs are built
            Generator g = Generator.open(pkg, config);
            return new VisionLanguageModel(dir, pkg, processor, g, (System.nanoTime() - t0) / 1e9);
        } catch (RuntimeException | Error e) {
            processor.close();
            throw e;
        }
    }

    Path directory() {
        return dir;
    }

    ModelConfig config() {
        return pkg.config();
    }

    Processor processor() {
        return processor;
    }

    Generator generator() {
        return generator;
    }

    /** Seconds spent opening (parsing, building the graphs if needed, creating the sessions). */
    double openSeconds() {
        return openSeconds;
    }

    /** Fails naming the folder unless it has a vision tower and an image processor config. */
    private static void requireImages(Path dir, ModelPackage pkg) {
        if (pkg.config().vision() == null) {
            throw new IllegalArgumentException("--image given, but the model at " + dir + " is text-only (" + pkg.config().architecture() + ") and takes no images");
        }
        if (!Files.isRegularFile(dir.resolve("preprocessor_config.json"))) {
            throw new IllegalArgumentException("--image given, but " + dir + " has no preprocessor_config.json, so its images cannot be preprocessed");
        }
    }

    /** "llava_onevision (language model qwen2, vision siglip_vision_model)". */
    String describe() {
        ModelConfig c = pkg.config();
        return c.architecture() + " (language model " + c.modelType() + c.vitConfig().map(v -> ", vision " + v.modelType()).orElse("")
                + c.qwen2VlConfig().map(v -> ", Qwen2-VL vision").orElse("") + ")";
    }

    /**
     * Stop tokens: the folder's {@code generation_config.json} / {@code tokenizer_config.json} ids
     * ({@link Processor#stopTokenIds()}) and {@code config.json}'s {@code eos_token_id}, sorted, without duplicates.
     */
    long[] stopTokens() {
        LinkedHashSet<Long> ids = new LinkedHashSet<>();
        for (int id : processor.stopTokenIds()) ids.add((long) id);
        for (int id : pkg.config().eosTokenIds()) ids.add((long) id);
        return ids.stream().mapToLong(Long::longValue).sorted().toArray();
    }

    /**
     * One user turn: {@code images} (in order, before the question, as transformers' chat examples place them) and
     * {@code question}, rendered with the generation prompt.
     *
     * @throws IllegalArgumentException for images given to a text-only model, naming the folder
     */
    Built prompt(String question, List<Path> images) {
        if (!images.isEmpty()) requireImages(dir, pkg);
        if (images.size() > 1 && pkg.config().vitConfig().map(VitVisionConfig::anyres).orElse(false)) {
            throw new IllegalArgumentException("--image given " + images.size() + " times, but " + dir + " (" + pkg.config().architecture()
                    + ", anyres tiles) takes one image per prompt here");
        }
        for (Path p : images) if (!Files.isRegularFile(p)) throw new IllegalArgumentException("--image " + p + ": file does not exist");
        List<ChatMessage> messages = List.of(images.isEmpty() ? ChatMessage.text("user", question) : ChatMessage.userWithImages(images.size(), question));
        io.github.kvpolicy.processing.Prompt processed = processor.prompt(messages, images);
        return toRuntime(processed);
    }

    /** The runtime prompt of {@code processed}: text runs as text, visual spans as the vision tower's embeddings. */
    Built toRuntime(io.github.kvpolicy.processing.Prompt processed) {
        int[] ids = processed.inputIds();
        long t0 = System.nanoTime();
        List<float[][]> perImage = new ArrayList<>();
        for (ProcessedImage img : processed.images()) perImage.add(embed(img));
        double visionMs = (System.nanoTime() - t0) / 1e6;
        int[] nextRow = new int[perImage.size()];
        Prompt.Builder b = Prompt.builder();
        int pos = 0;
        List<ImageSpan> spans = processed.visualSpans();
        for (int s = 0; s < spans.size(); s++) {
            ImageSpan span = spans.get(s);
            if (span.start() > pos) b.text(longs(Arrays.copyOfRange(ids, pos, span.start())));
            int image = processed.spanImage()[s];
            float[][] rows = perImage.get(image);
            int n = span.end() - span.start();
            if (nextRow[image] + n > rows.length) {
                throw new IllegalStateException("image " + image + ": its visual spans hold more tokens than the " + rows.length + " embeddings of the vision tower");
            }
            b.imageEmbeddings(Arrays.copyOfRange(rows, nextRow[image], nextRow[image] + n));
            nextRow[image] += n;
            pos = span.end();
        }
        if (pos < ids.length) b.text(longs(Arrays.copyOfRange(ids, pos, ids.length)));
        for (int i = 0; i < perImage.size(); i++) {
            if (nextRow[i] != perImage.get(i).length) {
                throw new IllegalStateException("image " + i + ": the prompt has " + nextRow[i] + " visual tokens for it, the vision tower gave " + perImage.get(i).length);
            }
        }
        if (pkg.config().rope().isMrope()) {
            int merge = pkg.config().qwen2VlConfig().map(Qwen2VlVisionConfig::spatialMergeSize).orElse(1);
            int[][] p3 = MRopePositions.of(processed, merge);
            long[][] pos3 = new long[3][];
            for (int c = 0; c < 3; c++) pos3[c] = Arrays.stream(p3[c]).asLongStream().toArray();
            b.ropeOffsets(Qwen2VlFamily.ropeOffsets(pos3));
        }
        Prompt prompt = b.build();
        if (prompt.length() != processed.length()) {
            throw new IllegalStateException("the runtime prompt has " + prompt.length() + " positions, the processed prompt " + processed.length());
        }
        for (int p = 0; p < prompt.length(); p++) {
            if (prompt.layout().modality(p) != processed.layout().modality(p)) {
                throw new IllegalStateException("position " + p + ": the runtime layout says " + prompt.layout().modality(p) + ", the processor "
                        + processed.layout().modality(p));
            }
        }
        return new Built(processed, prompt, visionMs);
    }

    /** The visual-token embeddings of one processed image, {@code visualTokens × hidden}, in prompt order. */
    private float[][] embed(ProcessedImage img) {
        ModelConfig cfg = pkg.config();
        ModelSessions ms = generator.sessions();
        int h = cfg.hiddenSize();
        long[] shape = img.shape();
        float[][] rows;
        if (cfg.qwen2VlConfig().isPresent()) {
            Qwen2VlVisionConfig v = cfg.qwen2VlConfig().get();
            int[] g = img.gridThw();
            if (g.length != 3 || shape.length != 2 || shape[0] != (long) g[0] * g[1] * g[2] || shape[1] != v.patchValues()) {
                throw new IllegalArgumentException(dir + ": the image processor gave pixel values " + Arrays.toString(shape) + " with grid "
                        + Arrays.toString(g) + ", the vision tower expects [t*h*w, " + v.patchValues() + "] (check preprocessor_config.json)");
            }
            long[][] pp = v.patchPositions(g[0], g[1], g[2]);
            long[] flat = new long[pp.length * 2];
            for (int i = 0; i < pp.length; i++) {
                flat[2 * i] = pp[i][0];
                flat[2 * i + 1] = pp[i][1];
            }
            rows = split(ms.visionPixels(img.pixelValues(), shape, flat).imageEmbeds(), h);
        } else {
            VitVisionConfig v = cfg.vitConfig().orElseThrow(() -> new IllegalArgumentException(
                    dir + ": architecture " + cfg.architecture() + " has no pixel vision tower"));
            int c = v.numChannels(), s = v.imageSize();
            long images = 1;
            for (int i = 0; i < shape.length - 3; i++) images *= shape[i];
            if (shape.length < 4 || shape[shape.length - 3] != c || shape[shape.length - 2] != s || shape[shape.length - 1] != s) {
                throw new IllegalArgumentException(dir + ": the image processor gave pixel values " + Arrays.toString(shape) + ", the vision tower expects "
                        + c + "×" + s + "×" + s + " images (image_size " + s + "; check preprocessor_config.json)");
            }
            var vo = ms.visionPixels(img.pixelValues(), new long[] {images, c, s, s});
            int t = v.tokensPerImage();
            if (v.anyres()) {
                float[][][] tiles = new float[(int) images][t][];
                for (int i = 0; i < images; i++) {
                    for (int j = 0; j < t; j++) tiles[i][j] = Arrays.copyOfRange(vo.imageEmbeds(), (i * t + j) * h, (i * t + j + 1) * h);
                }
                rows = AnyresLayout.pack(tiles, vo.imageNewline(), img.originalHeight(), img.originalWidth(), v);
            } else {
                rows = split(vo.imageEmbeds(), h);
            }
        }
        if (rows.length != img.visualTokens()) {
            throw new IllegalArgumentException(dir + ": the vision tower gave " + rows.length + " visual tokens for an image the processor expands to "
                    + img.visualTokens() + " (preprocessor_config.json and config.json disagree)");
        }
        return rows;
    }


    /**
     * What one policy made of a prefilled prompt: the result, and the visual (layer, KV head, token) slots its first
     * action kept of those present (0 of 0 when no policy acted).
     */
    record Outcome(GenerationResult result, long keptVisual, long totalVisual, long liveBefore, long liveAfter) {
        long[] tokens() {
            return result.tokens(0);
        }
    }

    /**
     * Continues the prefilled {@code base} in a fork with {@code policy} (null: the full cache) as
     * {@link GenerationSession#runToEnd(GenerationSession.TokenListener)} (the runtime's one rule for when the policy
     * acts), calling {@code onToken} with each generated token as soon as it is chosen (the token chosen by the prefill
     * first). {@code base} is unchanged.
     */
    static Outcome continueWith(GenerationSession base, CompressionPolicy policy, Budget budget, PolicyDeclaration declaration,
                                RowLayout layout, LongConsumer onToken) {
        long liveBefore = base.kvCache().layerBytes().stream().mapToLong(LayerBytes::liveBytes).sum();
        try (GenerationSession s = policy == null ? base.fork(null, null) : base.fork(policy, budget, declaration)) {
            GenerationResult r = s.runToEnd((row, token) -> onToken.accept(token));
            long kept = 0, total = 0, liveAfter = liveBefore;
            if (!r.actions().isEmpty()) {
                PolicyAction a = r.actions().get(0);
                liveAfter = a.memory().liveAfter();
                int[] visual = layout.visualPositions();
                RetentionPlan plan = a.plan();
                for (int l = 0; plan != null && l < plan.layers(); l++) {
                    for (int h = 0; h < plan.kvHeads(); h++) {
                        int[] k = plan.kept(0, l, h);
                        for (int v : visual) if (Arrays.binarySearch(k, v) >= 0) kept++;
                        total += visual.length;
                    }
                }
            }
            return new Outcome(r, kept, total, liveBefore, liveAfter);
        }
    }

    private static float[][] split(float[] flat, int h) {
        float[][] rows = new float[flat.length / h][];
        for (int i = 0; i < rows.length; i++) rows[i] = Arrays.copyOfRange(flat, i * h, (i + 1) * h);
        return rows;
    }

    private static long[] longs(int[] a) {
        return Arrays.stream(a).asLongStream().toArray();
    }

    @Override
    public void close() {
        try {
            generator.close();
        } finally {
            processor.close();
        }
    }
}
