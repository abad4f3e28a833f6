package io.github.kvpolicy.runtime.model;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.json.Json;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilderVersion;
import io.github.kvpolicy.runtime.model.safetensors.DType;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsFile;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A model directory: {@code config.json}, {@code model.safetensors} (or shards listed by
 * {@code model.safetensors.index.json}), and optionally a vocabulary ({@code vocab.json}: a JSON array of
 * token strings, id = index; or a {@code tokenizer.json} whose {@code model.vocab} maps token → id).
 *
 * <p>{@link #ensureBuilt()} builds the contract graphs into {@code <dir>/onnx/} once and reuses them while
 * the fingerprint (builder version, build options, config.json bytes, and every weight file's name, size,
 * mtime and header hash) is unchanged; a changed fingerprint triggers a rebuild. Builds are serialised by a
 * file lock on {@code <dir>/onnx/.lock}, so concurrent processes/threads never see a half-written graph.
 *
 * <p>Instances are immutable and thread-safe; they hold no open files.
 */
public final class ModelPackage {
    /** Paths of built graphs plus the config they were built from. */
    public record BuiltModel(ModelConfig config, Path decoder, Path embed, Optional<Path> vision, boolean rebuilt) {}

    private final Path dir;
    private final ModelConfig config;
    private final List<String> vocabulary;
    private final ModelBuilder.BuildOptions options;

    private ModelPackage(Path dir, ModelConfig config, List<String> vocabulary, ModelBuilder.BuildOptions options) {
        this.dir = dir;
        this.config = config;
        this.vocabulary = vocabulary;
        this.options = options;
    }

    /** Opens a model directory with default build options (fp32 graphs). */
    public static ModelPackage open(Path dir) {
        return open(dir, ModelBuilder.BuildOptions.DEFAULT);
    }

    /** Opens a model directory; validates config.json and the vocabulary (weights are checked at build). */
    public static ModelPackage open(Path dir, ModelBuilder.BuildOptions options) {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException(dir + ": model directory does not exist");
        }
        Path cfgPath = dir.resolve("config.json");
        if (!Files.isRegularFile(cfgPath)) {
            throw new IllegalArgumentException(dir + ": missing config.json");
        }
        ModelConfig cfg = ModelConfig.read(cfgPath);
        return new ModelPackage(dir, cfg, readVocabulary(dir, cfg), options);
    }

    /** Writes a random model of a named preset (see {@link RandomWeights#preset}) into {@code dir} and opens it. */
    public static ModelPackage random(String preset, long seed, Path dir) {
        return random(RandomWeights.preset(preset), seed, dir);
    }

    /**
     * Writes a deterministic random F32 model for {@code cfg} into {@code dir} (reused if the directory already
     * holds the same config and seed, recorded in {@code random.json}) and opens it. Models above 4 GB are stored
     * as F16 in 2 GB shards (build them with {@code keepHalfWeights} to keep the graphs at half size). Refuses a
     * directory holding a model it did not write.
     */
    public static ModelPackage random(ModelConfig cfg, long seed, Path dir) {
        Path marker = dir.resolve("random.json");
        Map<String, Object> want = new LinkedHashMap<>();
        want.put("seed", seed);
        want.put("config", cfg.toJson());
        String wantText = Json.writePretty(want);
        try {
            if (!Files.isRegularFile(marker) && Files.exists(dir.resolve("config.json"))) {
                throw new IllegalArgumentException(dir + ": holds a model that random() did not write (no random.json); "
                        + "refusing to overwrite it");
            }
            if (!(Files.isRegularFile(marker) && Files.readString(marker).equals(wantText))) {
                long params = RandomWeights.weightShapes(cfg).values().stream()
                        .mapToLong(io.github.kvpolicy.runtime.model.safetensors.TensorInfo::numel).sum();
                boolean big = params * 4 > (4L << 30);
                Files.createDirectories(dir);
                Files.deleteIfExists(marker);
                RandomWeights.write(cfg, seed, dir, big ? DType.F16 : DType.F32, big ? (2L << 30) : Long.MAX_VALUE);
                Files.writeString(marker, wantText);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot write random model", e);
        }
        return open(dir);
    }

    /** The model directory. */
    public Path directory() {
        return dir;
    }

    /** The parsed config. */
    public ModelConfig config() {
        return config;
    }

    /** Token strings by id (unmodifiable); empty when the package has no vocabulary (random models). */
    public List<String> vocabulary() {
        return vocabulary;
    }

    /** Build options used by {@link #ensureBuilt()}. */
    public ModelBuilder.BuildOptions options() {
        return options;
    }

    /** The directory holding built graphs. */
    public Path onnxDirectory() {
        return dir.resolve("onnx");
    }

    /**
     * Returns the built graphs, building them first when missing or stale. Blocks while another process or
     * thread builds the same package.
     */
    public BuiltModel ensureBuilt() {
        Path onnx = onnxDirectory();
        try {
            Files.createDirectories(onnx);
            // FileChannel.lock guards against other processes; within this JVM a second lock on the same file
            // would throw OverlappingFileLockException, so threads are serialised by a monitor first.
            synchronized (JVM_LOCK) {
                try (FileChannel lockCh = FileChannel.open(onnx.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                     FileLock ignored = lockCh.lock()) {
                    return buildLocked(onnx);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(onnx + ": cannot build model graphs", e);
        }
    }

    private static final Object JVM_LOCK = new Object();

    private BuiltModel buildLocked(Path onnx) throws IOException {
        {
            Path decoder = onnx.resolve("decoder.onnx");
            Path embed = onnx.resolve("embed.onnx");
            Path vision = onnx.resolve("vision.onnx");
            Path fpFile = onnx.resolve("fingerprint.json");
            String fp = fingerprint();
            boolean fresh = Files.isRegularFile(fpFile) && Files.readString(fpFile).equals(fp)
                    && Files.isRegularFile(decoder) && Files.isRegularFile(embed)
                    && (config.vision() == null || Files.isRegularFile(vision));
            Optional<Path> vis = config.vision() == null ? Optional.empty() : Optional.of(vision);
            if (fresh) {
                return new BuiltModel(config, decoder, embed, vis, false);
            }
            Files.deleteIfExists(fpFile);
            try (Stream<Path> old = Files.list(onnx)) {
                for (Path p : old.toList()) {
                    String n = p.getFileName().toString();
                    if (n.endsWith(".onnx") || n.endsWith(".onnx.data") || n.endsWith(".tmp")) Files.delete(p);
                }
            }
            try (WeightStore w = WeightStore.openDirectory(dir)) {
                ModelBuilder.buildDecoder(config, w, decoder, options);
                ModelBuilder.buildEmbed(config, w, embed, options);
                if (config.vision() != null) ModelBuilder.buildVision(config, w, vision, options);
            }
            Files.writeString(fpFile, fp);
            return new BuiltModel(config, decoder, embed, vis, true);
        }
    }

    /** The build fingerprint (JSON text) for the current files and options. */
    String fingerprint() throws IOException {
        Map<String, Object> fp = new LinkedHashMap<>();
        fp.put("builder", ModelBuilderVersion.VERSION);
        fp.put("contract", ModelBuilderVersion.CONTRACT);
        fp.put("keep_half_weights", options.keepHalfWeights());
        fp.put("external_data_threshold", options.externalDataThreshold());
        fp.put("config_sha256", sha256(Files.readAllBytes(dir.resolve("config.json"))));
        List<Object> files = new ArrayList<>();
        List<Path> weightFiles = new ArrayList<>();
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(index)) {
            weightFiles.add(index);
            try (WeightStore w = WeightStore.openIndex(index)) {
                w.files().forEach(f -> weightFiles.add(f.path()));
            }
        } else {
            weightFiles.add(dir.resolve("model.safetensors"));
        }
        for (Path p : weightFiles) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("name", p.getFileName().toString());
            e.put("size", Files.size(p));
            e.put("mtime_ms", Files.getLastModifiedTime(p).toMillis());
            e.put("head_sha256", sha256(headerBytes(p)));
            files.add(e);
        }
        fp.put("weights", files);
        return Json.writePretty(fp);
    }

    /** The first 8 + header-length bytes of a safetensors file (whole file for other files, capped). */
    private static byte[] headerBytes(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            byte[] len = in.readNBytes(8);
            if (!p.getFileName().toString().endsWith(".safetensors") || len.length < 8) {
                byte[] rest = in.readNBytes(1 << 20);
                byte[] all = new byte[len.length + rest.length];
                System.arraycopy(len, 0, all, 0, len.length);
                System.arraycopy(rest, 0, all, len.length, rest.length);
                return all;
            }
            long n = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
            byte[] head = in.readNBytes((int) Math.min(Math.max(n, 0), SafetensorsFile.MAX_HEADER_BYTES));
            byte[] all = new byte[8 + head.length];
            System.arraycopy(len, 0, all, 0, 8);
            System.arraycopy(head, 0, all, 8, head.length);
            return all;
        }
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<String> readVocabulary(Path dir, ModelConfig cfg) {
        Path vocab = dir.resolve("vocab.json");
        Path tok = dir.resolve("tokenizer.json");
        try {
            if (Files.isRegularFile(vocab)) {
                Object v = Json.parse(Files.readString(vocab, StandardCharsets.UTF_8), vocab.toString());
                if (!(v instanceof List<?> l)) {
                    throw new IllegalArgumentException(vocab + ": expected a JSON array of token strings, found " + Json.typeName(v));
                }
                List<String> out = new ArrayList<>();
                for (int i = 0; i < l.size(); i++) {
                    if (!(l.get(i) instanceof String s)) {
                        throw new IllegalArgumentException(vocab + ": entry " + i + " must be a string, found " + Json.typeName(l.get(i)));
                    }
                    out.add(s);
                }
                return checkSize(vocab, out, cfg);
            }
            if (Files.isRegularFile(tok)) {
                Map<String, Object> root = Json.parseObject(Files.readString(tok, StandardCharsets.UTF_8), tok.toString());
                if (!(root.get("model") instanceof Map<?, ?> model) || !(model.get("vocab") instanceof Map<?, ?> vm)) {
                    throw new IllegalArgumentException(tok + ": expected an object \"model\" with an object \"vocab\" (token -> id)");
                }
                String[] byId = new String[vm.size()];
                for (Map.Entry<?, ?> e : vm.entrySet()) {
                    if (!(e.getValue() instanceof Long id) || id < 0 || id >= byId.length || byId[(int) (long) id] != null) {
                        throw new IllegalArgumentException(tok + ": token \"" + e.getKey() + "\" has id " + e.getValue()
                                + ", expected unique ids 0.." + (byId.length - 1));
                    }
                    byId[(int) (long) id] = (String) e.getKey();
                }
                return checkSize(tok, List.of(byId), cfg);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot read vocabulary", e);
        }
        return List.of();
    }

    private static List<String> checkSize(Path file, List<String> tokens, ModelConfig cfg) {
        if (tokens.size() > cfg.vocabSize()) {
            throw new IllegalArgumentException(file + ": " + tokens.size() + " tokens but config vocab_size is " + cfg.vocabSize());
        }
        return List.copyOf(tokens);
    }

    @Override
    public String toString() {
        return "ModelPackage[" + dir + "]";
    }
}
