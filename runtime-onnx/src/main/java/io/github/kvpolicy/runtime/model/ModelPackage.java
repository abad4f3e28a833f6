package io.github.kvpolicy.runtime.model;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.json.Json;
import io.github.kvpolicy.runtime.model.cache.OwnedDirectory;
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
 * <p>{@link #ensureBuilt()} builds the contract graphs once into a kvpolicy-owned cache directory and reuses them
 * while the fingerprint (builder version, build options, config.json bytes, and every weight file's name, size,
 * mtime and header hash) is unchanged; a changed fingerprint triggers a rebuild. Files of the model folder are never
 * written or deleted (see {@link #ensureBuilt()} for where graphs go).
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
            if (Files.isSymbolicLink(dir)) {
                throw new IllegalArgumentException(dir + " is a symbolic link; random() writes only into a real directory");
            }
            for (String f : List.of("config.json", "model.safetensors", "random.json")) {
                if (Files.isSymbolicLink(dir.resolve(f))) throw new IllegalArgumentException(dir.resolve(f) + " is a symbolic link; refusing to write through it");
            }
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

    /**
     * The in-folder graph cache root, {@code <dir>/.kvpolicy/graphs}: used when the model folder is writable (or already
     * holds a fresh build); otherwise {@link #userCacheDirectory()}.
     */
    public Path onnxDirectory() {
        return dir.resolve(".kvpolicy").resolve("graphs");
    }

    /**
     * The per-user graph cache of this model folder, {@code <user cache>/graphs/<hash of the folder's real path>}
     * (see {@link OwnedDirectory#userCacheRoot()}), used when the model folder is not writable.
     */
    public Path userCacheDirectory() {
        Path real;
        try {
            real = dir.toRealPath();
        } catch (IOException e) {
            real = dir.toAbsolutePath().normalize();
        }
        return OwnedDirectory.userCacheRoot().resolve("graphs").resolve(sha256(real.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)).substring(0, 16));
    }

    /**
     * Returns the built graphs, building them first when missing or stale. Blocks while another process or
     * thread builds the same package.
     *
     * <p><b>Where.</b> Graphs live in a directory named by the build fingerprint (builder version, options, config
     * bytes, every weight file's name, size, mtime and header hash) under a cache root that kvpolicy created and marked
     * ({@link OwnedDirectory}): {@code <dir>/.kvpolicy/graphs} when the model folder is writable, else a per-user cache
     * directory (a fresh in-folder build is still used from a read-only folder). A build is written into a temporary
     * directory and published by an atomic rename, so no reader ever sees a half-written graph and nothing in the
     * user's model folder (e.g. an {@code onnx/} folder shipped with a checkpoint) is ever overwritten or deleted;
     * older builds of the same folder are removed from the kvpolicy-owned root only.
     *
     * @throws IllegalStateException if a weight file is missing or unreadable, or no cache location is usable (naming it)
     */
    public BuiltModel ensureBuilt() {
        String fp;
        try {
            fp = fingerprint();
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IllegalStateException(dir + ": cannot build model graphs: missing weight file " + e.getFile()
                    + " (expected model.safetensors or model.safetensors.index.json with its shards)", e);
        } catch (IOException | UncheckedIOException e) {
            throw new IllegalStateException(dir + ": cannot build model graphs: " + e.getMessage(), e);
        }
        checkLayerCount();
        // an fp16-KV build lives in "<key>-fp16", so fp32 and fp16 builds of one folder coexist (neither removes the other)
        String key = sha256(fp.getBytes(java.nio.charset.StandardCharsets.UTF_8)).substring(0, 24) + keySuffix();
        // a fresh build in the folder serves even a read-only folder
        Optional<BuiltModel> inFolder = existing(onnxDirectory().resolve(key), fp);
        if (inFolder.isPresent()) return inFolder.get();
        Path root;
        if (OwnedDirectory.writableByUser(dir)) {
            OwnedDirectory.claim(dir.resolve(".kvpolicy"), false);
            root = OwnedDirectory.claim(onnxDirectory(), false);
        } else {
            Path user = OwnedDirectory.claim(OwnedDirectory.userCacheRoot(), true);
            OwnedDirectory.claim(user.resolve("graphs"), true);
            root = OwnedDirectory.claim(userCacheDirectory(), true);
            Optional<BuiltModel> cached = existing(root.resolve(key), fp);
            if (cached.isPresent()) return cached.get();
            System.err.println("kvpolicy: " + dir + " is not writable; building its graphs into " + root);
        }
        try {
            // FileChannel.lock guards against other processes; within this JVM a second lock on the same file
            // would throw OverlappingFileLockException, so threads are serialised by a monitor first.
            synchronized (JVM_LOCK) {
                try (FileChannel lockCh = FileChannel.open(root.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE, java.nio.file.LinkOption.NOFOLLOW_LINKS);
                     FileLock ignored = lockCh.lock()) {
                    return buildLocked(root, key, fp);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(root + ": cannot build model graphs: " + e, e);
        }
    }

    private static final Object JVM_LOCK = new Object();
    private static final java.util.regex.Pattern LM_LAYER = java.util.regex.Pattern.compile("(?:^|\\.)(?:model|language_model)\\.(?:model\\.)?layers\\.(\\d+)\\.");

    /** Refuses a config whose {@code num_hidden_layers} is smaller than the language-model layers the weights hold. */
    private void checkLayerCount() {
        int max = -1;
        try (WeightStore w = WeightStore.openDirectory(dir)) {
            for (String n : w.names()) {
                if (n.contains("vision") || n.contains("visual")) continue;
                var m = LM_LAYER.matcher(n);
                if (m.find()) max = Math.max(max, Integer.parseInt(m.group(1)));
            }
        } catch (RuntimeException e) {
            return; // unreadable weights are reported by the build with their cause
        }
        if (max + 1 > config.numLayers()) {
            throw new IllegalStateException(dir + ": config.json says num_hidden_layers=" + config.numLayers() + " but the weights hold "
                    + (max + 1) + " language-model layers; fix the config (or the weight files) so they agree");
        }
    }

    private Optional<BuiltModel> existing(Path built, String fp) {
        try {
            if (!OwnedDirectory.isOwned(built)) return Optional.empty();
            Path fpFile = built.resolve("fingerprint.json");
            Path decoder = built.resolve("decoder.onnx"), embed = built.resolve("embed.onnx"), vision = built.resolve("vision.onnx");
            boolean fresh = Files.isRegularFile(fpFile) && Files.readString(fpFile).equals(fp)
                    && Files.isRegularFile(decoder) && Files.isRegularFile(embed) && (config.vision() == null || Files.isRegularFile(vision));
            if (!fresh) return Optional.empty();
            return Optional.of(new BuiltModel(config, decoder, embed, config.vision() == null ? Optional.empty() : Optional.of(vision), false));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private BuiltModel buildLocked(Path root, String key, String fp) throws IOException {
        Path target = root.resolve(key);
        Optional<BuiltModel> done = existing(target, fp); // another process may have built it while we waited
        if (done.isPresent()) return done.get();
        if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) OwnedDirectory.deleteOwned(target); // incomplete or stale, ours
        Path tmp = OwnedDirectory.newTemporary(root, key);
        try {
            try (WeightStore w = WeightStore.openDirectory(dir)) {
                ModelBuilder.buildDecoder(config, w, tmp.resolve("decoder.onnx"), options);
                ModelBuilder.buildEmbed(config, w, tmp.resolve("embed.onnx"), options);
                if (config.vision() != null) ModelBuilder.buildVision(config, w, tmp.resolve("vision.onnx"), options);
            }
            Files.writeString(tmp.resolve("fingerprint.json"), fp);
        } catch (IOException | RuntimeException | Error e) {
            OwnedDirectory.deleteOwned(tmp);
            throw e;
        }
        boolean won = OwnedDirectory.publish(tmp, target);
        // older builds of this folder: kvpolicy-owned directories with a key-shaped name
        try (Stream<Path> old = Files.list(root)) {
            for (Path p : old.toList()) {
                String n = p.getFileName().toString();
                if (!n.equals(key) && (n.matches("[0-9a-f]{24}" + java.util.regex.Pattern.quote(keySuffix())) || n.startsWith(".tmp-")) && OwnedDirectory.isOwned(p)) {
                    try {
                        OwnedDirectory.deleteOwned(p);
                    } catch (RuntimeException ignored) {
                        // in use by another process on a platform that refuses; harmless
                    }
                }
            }
        }
        BuiltModel b = existing(target, fp).orElseThrow(() -> new IllegalStateException(target + ": the published build is incomplete"));
        return new BuiltModel(b.config(), b.decoder(), b.embed(), b.vision(), won);
    }

    /** {@code ""} for an fp32 build, else {@code "-" + precision label} ({@code -fp16-kv}, {@code -fp16}): the build folder's name after its hash. */
    private String keySuffix() {
        return options.precision() == ModelBuilder.Precision.FP32 ? "" : "-" + options.precision().label();
    }

    /** The build fingerprint (JSON text) for the current files and options. */
    String fingerprint() throws IOException {
        Map<String, Object> fp = new LinkedHashMap<>();
        fp.put("builder", ModelBuilderVersion.VERSION);
        fp.put("contract", ModelBuilderVersion.CONTRACT);
        fp.put("keep_half_weights", options.keepHalfWeights());
        fp.put("external_data_threshold", options.externalDataThreshold());
        // fp16-kv and fp16 builds get their own folders; fp32 keeps the key it always had
        if (options.precision() != ModelBuilder.Precision.FP32) fp.put("precision", options.precision().label());
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
