package io.github.kvpolicy.cli.reliability;

import io.github.kvpolicy.cli.Main;
import io.github.kvpolicy.runtime.model.ModelPackage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Bad and careless input, as a new user types it: every case must end with exit status 2 and exactly one line on
 * standard error, {@code kvpolicy: ...}, naming the input (the expected fragment), no stack trace, and no file
 * outside kvpolicy's own directories changed. The counts are reported in docs/reliability.md.
 */
class ReliabilityCorpusTest {
    @TempDir static Path tmp;
    private static String savedCache, savedHome;
    private static Path userFiles;

    record Case(String name, String expected, String... args) {}

    @BeforeAll
    static void setUp() throws Exception {
        savedCache = System.getProperty("kvpolicy.cache.dir");
        savedHome = System.getProperty("kvpolicy.home");
        System.setProperty("kvpolicy.home", Path.of("..").toAbsolutePath().normalize().toString()); // as bin/kvpolicy sets it
        System.setProperty("kvpolicy.cache.dir", tmp.resolve("cache").toString());
        userFiles = Files.createDirectories(tmp.resolve("user"));
        // a model folder with its own onnx/ export (as Hugging Face folders often have) and a few broken ones
        Path good = tmp.resolve("user/good-model");
        ModelPackage.random("tiny", 3, good);
        Files.createDirectories(good.resolve("onnx"));
        Files.writeString(good.resolve("onnx/model.onnx"), "the checkpoint's own export");
        Files.writeString(good.resolve("onnx/model_quantized.onnx"), "quantized export");
        Path noWeights = tmp.resolve("user/no-weights");
        ModelPackage.random("tiny", 3, noWeights);
        Files.delete(noWeights.resolve("model.safetensors"));
        Path fewLayers = tmp.resolve("user/few-layers");
        ModelPackage.random("tiny", 3, fewLayers);
        String cfg = Files.readString(fewLayers.resolve("config.json"));
        Files.writeString(fewLayers.resolve("config.json"), cfg.replaceFirst("\"num_hidden_layers\"\\s*:\\s*\\d+", "\"num_hidden_layers\": 1"));
        Path nan = tmp.resolve("user/nan-weights");
        ModelPackage.random("tiny", 3, nan);
        poisonWeights(nan.resolve("model.safetensors"));
        Files.writeString(Files.createDirectories(tmp.resolve("user/not-json")).resolve("config.json"), "{ not json", StandardCharsets.UTF_8);
        StringBuilder deep = new StringBuilder("policy: ");
        deep.append("[".repeat(5000)).append("]".repeat(5000)).append('\n');
        Files.writeString(tmp.resolve("user/deep.yaml"), deep);
        Files.writeString(tmp.resolve("user/unknown-key.yaml"), "policy: snapkv\nbudgett: 10%\n");
        Files.writeString(tmp.resolve("user/dupe.yaml"), "policy: snapkv\npolicy: h2o\n");
    }

    /** Overwrites every weight value with NaN, keeping the safetensors header valid. */
    private static void poisonWeights(Path file) throws Exception {
        byte[] b = Files.readAllBytes(file);
        long header = 0;
        for (int i = 7; i >= 0; i--) header = (header << 8) | (b[i] & 0xff);
        for (int i = (int) (8 + header); i + 3 < b.length; i += 4) {
            int nan = Float.floatToRawIntBits(Float.NaN);
            b[i] = (byte) nan; b[i + 1] = (byte) (nan >> 8); b[i + 2] = (byte) (nan >> 16); b[i + 3] = (byte) (nan >> 24);
        }
        Files.write(file, b);
    }

    @AfterAll
    static void tearDown() {
        if (savedHome == null) System.clearProperty("kvpolicy.home");
        else System.setProperty("kvpolicy.home", savedHome);
        if (savedCache == null) System.clearProperty("kvpolicy.cache.dir");
        else System.setProperty("kvpolicy.cache.dir", savedCache);
    }

    private static String p(String rel) {
        return tmp.resolve(rel).toString();
    }

    static List<Case> corpus() {
        return List.of(
                new Case("bench: a flag value that is not a number", "--reps: not an integer: 'x'", "bench", "--reps", "x"),
                new Case("bench: an unknown flag", "unknown flag --nope", "bench", "--nope", "1"),
                new Case("bench: an unknown KV dtype", "--dtype", "bench", "--dtype", "fp8"),
                new Case("missing model folder", "does not exist", "generate", "--model", p("user/nope"), "--tokens", "1,2"),
                new Case("folder without config.json", "missing config.json", "generate", "--model", p("user"), "--tokens", "1,2"),
                new Case("config.json that is not JSON", "config.json", "generate", "--model", p("user/not-json"), "--tokens", "1,2"),
                new Case("missing weight file", "missing weight file", "generate", "--model", p("user/no-weights"), "--tokens", "1,2"),
                new Case("num_hidden_layers below the weights", "num_hidden_layers=1", "generate", "--model", p("user/few-layers"), "--tokens", "1,2"),
                new Case("NaN weights", "non-finite logits", "generate", "--model", p("user/nan-weights"), "--tokens", "1,2", "-p", "full"),
                new Case("unknown random preset", "unknown random-model preset \"nosuch\"", "generate", "--model", "random:nosuch"),
                new Case("random seed not a number", "is not a whole number", "generate", "--model", "random:tiny:abc"),
                new Case("random model spec with extra parts", "expected random:<preset>[:<seed>]", "generate", "--model", "random:tiny:1:2"),
                new Case("token id outside the vocabulary", "outside the vocabulary", "generate", "--model", "random:tiny", "--tokens", "1,2,99999999"),
                new Case("token list that is not numbers", "--tokens", "generate", "--model", "random:tiny", "--tokens", "a,b"),
                new Case("prompt past max_position_embeddings", "max_position_embeddings of 2048", "generate", "--model", "random:tiny", "--random-prompt", "100000"),
                new Case("negative random prompt", "--random-prompt must be a positive", "generate", "--model", "random:tiny", "--random-prompt", "-5"),
                new Case("two prompts at once", "give one prompt", "generate", "--example", "eval-where-000", "--tokens", "1,2"),
                new Case("negative temperature", "temperature must be > 0", "generate", "--model", "random:tiny", "--tokens", "1,2", "--temperature", "-1"),
                new Case("NaN temperature", "temperature must be > 0", "generate", "--model", "random:tiny", "--tokens", "1,2", "--temperature", "NaN"),
                new Case("negative max new tokens", "--max-new-tokens must be >= 0", "generate", "--model", "random:tiny", "--tokens", "1,2", "--max-new-tokens", "-3"),
                new Case("negative threads", "--threads must be >= 0", "generate", "--model", "random:tiny", "--tokens", "1,2", "--threads", "-1"),
                new Case("unknown device", "Invalid device 'tpu'", "generate", "--model", "random:tiny", "--tokens", "1,2", "--device", "tpu"),
                new Case("unknown policy", "Unknown policy 'nosuch'", "generate", "-p", "nosuch", "--model", "random:tiny", "--tokens", "1,2"),
                new Case("policy option of the wrong type", "Invalid value 'abc' for option 'alpha' of policy 'aircache'", "generate", "-p", "aircache", "--set", "policy.alpha=abc", "--model", "random:tiny", "--tokens", "1,2"),
                new Case("unknown policy option", "nosuch", "generate", "-p", "snapkv", "--set", "policy.nosuch=1", "--model", "random:tiny", "--tokens", "1,2"),
                new Case("budget that is no budget", "Invalid budget 'abc'", "generate", "--budget", "abc", "--model", "random:tiny", "--tokens", "1,2"),
                new Case("override without =", "expected key=value", "generate", "--set", "policy.alpha", "--model", "random:tiny", "--tokens", "1,2"),
                new Case("unknown config key in a file", "budgett", "generate", "-c", p("user/unknown-key.yaml"), "--model", "random:tiny", "--tokens", "1,2"),
                new Case("duplicate key in a file", "dupe.yaml", "generate", "-c", p("user/dupe.yaml"), "--model", "random:tiny", "--tokens", "1,2"),
                new Case("5000-deep YAML", "nested", "generate", "-c", p("user/deep.yaml"), "--model", "random:tiny", "--tokens", "1,2"),
                new Case("missing config file", "Cannot read configuration file", "generate", "-c", p("user/none.yaml")),
                new Case("missing plugin directory", "does not exist or is not a directory", "policies", "--plugins", p("user/no-plugins")),
                new Case("unknown subcommand", "Unmatched argument at index 0: 'frobnicate'", "frobnicate"),
                new Case("unknown flag", "Unknown option: '--frobnicate'", "generate", "--frobnicate"),
                new Case("unknown example", "no example 'eval-where-999'", "generate", "--example", "eval-where-999"),
                new Case("example on a model without the testbed vocabulary", "--example needs the GridVQA testbed model", "generate", "--model", "random:tiny", "--example", "eval-where-000"),
                new Case("negative eval limit", "--limit must be a positive number", "eval", "--limit", "-1"),
                new Case("eval retention out of range", "is not a percentage in (0, 100]", "eval", "--retentions", "150"),
                new Case("cuda without CUDA", "cuda", "generate", "--model", "random:tiny", "--tokens", "1,2", "--device", "cuda"));
    }

    private static Map<String, byte[]> snapshot(Path dir) throws Exception {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path f : s.filter(Files::isRegularFile).toList()) {
                if (dir.relativize(f).toString().contains(".kvpolicy")) continue; // kvpolicy's own, marked cache
                m.put(dir.relativize(f).toString(), Files.readAllBytes(f));
            }
        }
        return m;
    }

    @Test
    void everyCaseIsOneClearLineAndTouchesNoUserFile() throws Exception {
        List<String> problems = new ArrayList<>();
        int clear = 0;
        for (Case c : corpus()) {
            Map<String, byte[]> before = snapshot(userFiles);
            ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
            PrintStream o = System.out, e = System.err;
            int rc;
            try {
                System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
                System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
                rc = Main.run(c.args());
            } finally {
                System.setOut(o);
                System.setErr(e);
            }
            String stderr = err.toString(StandardCharsets.UTF_8).strip();
            List<String> lines = stderr.lines().toList();
            Map<String, byte[]> after = snapshot(userFiles);
            boolean untouched = before.keySet().equals(after.keySet())
                    && before.keySet().stream().allMatch(k -> java.util.Arrays.equals(before.get(k), after.get(k)));
            boolean ok = rc == Main.EXIT_ERROR && lines.size() == 1 && lines.getFirst().startsWith("kvpolicy: ")
                    && lines.getFirst().contains(c.expected()) && !stderr.contains("\tat ") && untouched;
            if (ok) clear++;
            else problems.add(c.name() + ": rc=" + rc + ", untouched=" + untouched + ", stderr=" + stderr.replace('\n', '|') + " (expected: " + c.expected() + ")");
        }
        System.out.printf("ReliabilityCorpusTest: %d cases, %d clear one-line errors, %d not%n", corpus().size(), clear, problems.size());
        if (!problems.isEmpty()) fail(String.join("\n", problems));
        assertEquals(corpus().size(), clear);
        assertTrue(Files.exists(userFiles.resolve("good-model/onnx/model.onnx")));
    }
}
