package io.github.kvpolicy.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.github.kvpolicy.processing.ChatMessage;
import io.github.kvpolicy.processing.Processor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code kvpolicy run} end to end on the transformers fixtures: real weights (runtime-onnx's test resources), the real
 * tokenizer, chat template and image processor config (processing's test resources), the fixtures' real
 * {@code image.png}. Each model folder is assembled in a temporary directory from those two halves, so the graphs
 * kvpolicy builds go into the copy.
 */
class RunCommandTest {
    static final Path WEIGHTS = Path.of("..", "runtime-onnx", "src", "test", "resources", "hf");
    static final Path PROCESSING = Path.of("..", "processing", "src", "test", "resources", "hf");
    static final Path TEMPLATES = Path.of("..", "processing", "src", "test", "resources", "templates");

    @TempDir
    Path tmp;

    /** A complete model folder for {@code family}: weights and config from runtime-onnx, tokenizer/template/preprocessor from processing. */
    static Path assemble(Path root, String family) throws IOException {
        Path dir = root.resolve(family);
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors", "generation_config.json", "preprocessor_config.json", "image.png")) {
            if (Files.exists(WEIGHTS.resolve(family).resolve(f))) Files.copy(WEIGHTS.resolve(family).resolve(f), dir.resolve(f));
        }
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "preprocessor_config.json", "image.png")) {
            Path src = PROCESSING.resolve(family).resolve(f);
            if (Files.exists(src) && !Files.exists(dir.resolve(f))) Files.copy(src, dir.resolve(f));
        }
        return dir;
    }

    static JsonObject reference(String family) throws IOException {
        return JsonParser.parseString(Files.readString(WEIGHTS.resolve(family).resolve("reference.json"))).getAsJsonObject();
    }

    static int[] ints(JsonArray a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).getAsInt();
        return out;
    }

    static int[] fixtureIds(String family) throws IOException {
        JsonArray ids = reference(family).getAsJsonArray("input_ids");
        return ints(ids.get(0).isJsonArray() ? ids.get(0).getAsJsonArray() : ids);
    }

    /** The token ids printed for each policy section, in order. */
    static List<long[]> printedTokens(String out) {
        List<long[]> all = new ArrayList<>();
        Matcher m = Pattern.compile("tokens \\(\\d+, \\w+\\): \\[([0-9, ]*)]").matcher(out);
        while (m.find()) all.add(m.group(1).isBlank() ? new long[0] : Arrays.stream(m.group(1).split(", ")).mapToLong(Long::parseLong).toArray());
        return all;
    }

    static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> !p.toString().contains(".kvpolicy")).map(p -> dir.relativize(p) + ":" + p.toFile().length()).sorted().toList();
        }
    }

    /** Runs {@code run} with the fixture's image and question and checks the prompt ids and the greedy tokens against transformers. */
    private void matchesTransformers(String family, Path template) throws Exception {
        Path dir = assemble(tmp, family);
        // the prompt the run command builds (same Processor call) is the fixture's input_ids
        try (Processor p = Processor.forModel(dir, template)) {
            int[] ids = p.prompt(List.of(ChatMessage.userWithImages(1, "what is shown?")), List.of(dir.resolve("image.png"))).inputIds();
            assertArrayEquals(fixtureIds(family), ids, family + ": the processed prompt differs from the fixture's input_ids");
        }
        int[] greedy = ints(reference(family).getAsJsonArray("greedy_new_tokens"));
        List<String> args = new ArrayList<>(List.of("run", "--model", dir.toString(), "--image", dir.resolve("image.png").toString(),
                "--prompt", "what is shown?", "--max-new-tokens", String.valueOf(greedy.length), "--threads", "1"));
        if (template != null) args.addAll(List.of("--chat-template", template.toString()));
        VerifyModelCommandTest.Run r = VerifyModelCommandTest.run(args.toArray(String[]::new));
        System.out.println(r.out());
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("prompt: " + fixtureIds(family).length + " tokens, " + reference(family).getAsJsonObject("notes").get("image_tokens").getAsInt()
                + " visual tokens"), r.out());
        assertTrue(r.out().contains("[full cache]"), r.out());
        List<long[]> tokens = printedTokens(r.out());
        assertEquals(1, tokens.size(), r.out());
        assertArrayEquals(Arrays.stream(greedy).asLongStream().toArray(), tokens.get(0), family + ": greedy tokens differ from transformers'\n" + r.out());
    }

    @Test
    void llavaOneVisionGivesTransformersGreedyTokens() throws Exception {
        matchesTransformers("llava_onevision", null);
    }

    @Test
    void qwen2VlGivesTransformersGreedyTokens() throws Exception {
        // the fixture prompt was rendered without Qwen's default system turn: the template processing's test uses
        matchesTransformers("qwen2_vl", TEMPLATES.resolve("qwen2_vl_no_system.jinja"));
    }
    /** The image processor configs the fixtures lack, written as transformers' processors for these families would read them. */
    static final String CLIP_56 = """
            {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 56}, "crop_size": {"height": 56, "width": 56},
             "do_resize": true, "do_center_crop": true, "do_rescale": true, "do_normalize": true, "resample": 3,
             "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}""";
    static final String SMOLVLM_56 = """
            {"image_processor_type": "SmolVLMImageProcessor", "size": {"longest_edge": 112}, "max_image_size": {"longest_edge": 56},
             "do_image_splitting": true, "do_resize": true, "do_rescale": true, "do_normalize": true, "resample": 1,
             "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}""";

    private static Path image() {
        return WEIGHTS.resolve("llava_onevision").resolve("image.png"); // a real 70x100 PNG
    }

    private static VerifyModelCommandTest.Run ok(String... args) {
        VerifyModelCommandTest.Run r = VerifyModelCommandTest.run(args);
        System.out.println(r.out());
        assertEquals(0, r.code(), r.out() + r.err());
        return r;
    }

    private static final Pattern KEPT = Pattern.compile("visual tokens: ([0-9.]+) of (\\d+) kept");
    private static final Pattern KV = Pattern.compile("KV cache: ([0-9.]+) KiB before compression, ([0-9.]+) KiB after");

    /** The sections of the output, one per policy, each starting with its [title] line. */
    static List<String> sections(String out) {
        List<String> s = new ArrayList<>(Arrays.asList(out.split("\n\\[")));
        s.remove(0);
        return s;
    }

    @Test
    void llava15WithAirCacheAtTenPercentNextToTheFullCacheOnOnePrefill() throws Exception {
        Path dir = assemble(tmp, "llava15");
        Files.writeString(dir.resolve("preprocessor_config.json"), CLIP_56);
        String[] common = {"run", "--model", dir.toString(), "--image", image().toString(), "--prompt", "what is shown?", "--max-new-tokens", "8", "--threads", "1"};
        VerifyModelCommandTest.Run r = ok(concat(common, "-p", "aircache", "-b", "10%", "--compare", "full"));
        assertTrue(r.out().contains("prompt: ") && r.out().contains(" 16 visual tokens in 1 image span(s) from 1 image(s)"), r.out());
        List<String> sec = sections(r.out());
        assertEquals(2, sec.size(), r.out());
        assertTrue(sec.get(0).startsWith("aircache @ 10.0%]"), sec.get(0));
        assertTrue(sec.get(1).startsWith("full cache]"), sec.get(1));
        Matcher k = KEPT.matcher(sec.get(0));
        assertTrue(k.find(), sec.get(0));
        double kept = Double.parseDouble(k.group(1));
        assertEquals(16, Integer.parseInt(k.group(2)));
        assertTrue(kept >= 1 && kept <= 3, "AirCache at 10% of 16 visual tokens keeps about 2 per layer and head, got " + kept);
        Matcher kv = KV.matcher(sec.get(0));
        assertTrue(kv.find(), sec.get(0));
        assertTrue(Double.parseDouble(kv.group(2)) < Double.parseDouble(kv.group(1)), "compression frees KV bytes: " + sec.get(0));
        assertTrue(sec.get(1).contains("visual tokens: all 16 kept") && sec.get(1).contains("(no compression)"), sec.get(1));
        // the full-cache fork of the shared prefill answers exactly as a run of its own
        List<long[]> shared = printedTokens(r.out());
        List<long[]> alone = printedTokens(ok(common).out());
        assertEquals(1, alone.size());
        assertArrayEquals(alone.get(0), shared.get(1));
    }

    @Test
    void smolVlmSplitsTheImageIntoTilesAndRunsWithAirCache() throws Exception {
        Path dir = assemble(tmp, "smolvlm");
        Files.writeString(dir.resolve("preprocessor_config.json"), SMOLVLM_56);
        VerifyModelCommandTest.Run r = ok("run", "--model", dir.toString(), "--image", image().toString(), "--prompt", "what is shown?",
                "--max-new-tokens", "4", "--threads", "1", "-p", "aircache", "-b", "10%", "--compare", "full");
        // 70x100 → longest edge 112 → 2x2 tiles of 56 + the global image, 4 tokens each (pixel shuffle 2)
        assertTrue(r.out().contains(" 20 visual tokens in 5 image span(s) from 1 image(s)"), r.out());
        assertEquals(2, sections(r.out()).size(), r.out());
        assertTrue(KEPT.matcher(sections(r.out()).get(0)).find(), r.out());
    }

    @Test
    void qwen25VlRunsWithTheQwen2VlProcessor() throws Exception {
        Path dir = assemble(tmp, "qwen2_5_vl");
        Files.copy(WEIGHTS.resolve("qwen2_vl").resolve("preprocessor_config.json"), dir.resolve("preprocessor_config.json"));
        VerifyModelCommandTest.Run r = ok("run", "--model", dir.toString(), "--image", image().toString(), "--prompt", "what is shown?",
                "--max-new-tokens", "4", "--threads", "1", "-p", "snapkv", "-b", "50%", "--compare", "full,aircache",
                "--chat-template", TEMPLATES.resolve("qwen2_vl_no_system.jinja").toString());
        // 70x100 → smart_resize (multiples of 28, Python rounding: 2.5 → 2) 56x112 → 4x8 patches → 8 tokens after the 2x2 merge
        assertTrue(r.out().contains(" 8 visual tokens in 1 image span(s)"), r.out());
        assertEquals(3, sections(r.out()).size(), r.out());
    }

    @Test
    void qwen2VlTakesTwoImages() throws Exception {
        Path dir = assemble(tmp, "qwen2_vl");
        VerifyModelCommandTest.Run r = ok("run", "--model", dir.toString(), "--image", image().toString(), "--image", dir.resolve("image.png").toString(),
                "--prompt", "which differs?", "--max-new-tokens", "3", "--threads", "1", "-p", "aircache", "-b", "25%",
                "--chat-template", TEMPLATES.resolve("qwen2_vl_no_system.jinja").toString());
        // 8 tokens (70x100 → 56x112) + 12 tokens (the fixture's 84x112)
        assertTrue(r.out().contains(" 20 visual tokens in 2 image span(s) from 2 image(s)"), r.out());
        assertTrue(KEPT.matcher(r.out()).find(), r.out());
    }

    @Test
    void textOnlyLlama3Runs() throws Exception {
        Path dir = assemble(tmp, "llama3");
        VerifyModelCommandTest.Run r = ok("run", "--model", dir.toString(), "--prompt", "what is the colour of the square?", "--max-new-tokens", "5",
                "--threads", "1", "-p", "streamingllm", "--set", "policy.scope=all", "-b", "50%", "--compare", "full");
        assertTrue(r.out().contains("0 visual tokens in 0 image span(s) from 0 image(s)"), r.out());
        List<long[]> t = printedTokens(r.out());
        assertEquals(2, t.size(), r.out());
        assertTrue(t.get(0).length >= 1, r.out());
        Matcher kv = KV.matcher(sections(r.out()).get(0));
        assertTrue(kv.find() && Double.parseDouble(kv.group(2)) < Double.parseDouble(kv.group(1)), "StreamingLLM on all tokens compresses: " + r.out());
    }

    @Test
    void aVisionLanguageModelAnswersWithoutAnImage() throws Exception {
        Path dir = assemble(tmp, "llava_onevision");
        VerifyModelCommandTest.Run r = ok("run", "--model", dir.toString(), "--prompt", "what is shown?", "--max-new-tokens", "3", "--threads", "1",
                "-p", "aircache", "--compare", "full");
        assertTrue(r.out().contains(" 0 visual tokens in 0 image span(s) from 0 image(s)"), r.out());
        List<long[]> t = printedTokens(r.out());
        assertEquals(2, t.size(), r.out());
        assertArrayEquals(t.get(1), t.get(0), "with no visual tokens AirCache (scope: visual) keeps everything");
    }

    @Test
    void samplingIsSeeded() throws Exception {
        Path dir = assemble(tmp, "llama3");
        String[] args = {"run", "--model", dir.toString(), "--prompt", "what is shown?", "--max-new-tokens", "6", "--threads", "1",
                "--temperature", "1.5", "--top-p", "0.9", "--seed", "7", "--compare", "full"};
        List<long[]> a = printedTokens(ok(args).out()), b = printedTokens(ok(args).out());
        assertEquals(1, a.size(), "full is the default, listed once");
        assertArrayEquals(a.get(0), b.get(0), "same seed, same tokens");
        args[args.length - 3] = "8";
        List<long[]> c = printedTokens(ok(args).out());
        assertTrue(!Arrays.equals(a.get(0), c.get(0)), "another seed samples other tokens (6 tokens at temperature 1.5 over 420)");
    }

    /** One line on stderr, {@code kvpolicy: ...} containing {@code expected}, exit 2, nothing on stdout but the model line. */
    private static void refused(String expected, String... args) {
        VerifyModelCommandTest.Run r = VerifyModelCommandTest.run(args);
        assertEquals(2, r.code(), r.out() + r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), "one line: " + r.err());
        assertTrue(lines.get(0).startsWith("kvpolicy: ") && lines.get(0).contains(expected), lines.get(0));
    }

    @Test
    void refusalsAreOneLine() throws Exception {
        Path llama = assemble(tmp, "llama3");
        Path ov = assemble(tmp, "llava_onevision");
        List<String> before = listing(tmp);
        refused("is text-only", "run", "--model", llama.toString(), "--image", image().toString(), "--prompt", "what is shown?");
        refused("--image " + tmp.resolve("missing.png") + ": file does not exist",
                "run", "--model", ov.toString(), "--image", tmp.resolve("missing.png").toString(), "--prompt", "what is shown?");
        refused("takes one image per prompt", "run", "--model", ov.toString(), "--image", image().toString(), "--image", image().toString(), "--prompt", "x");
        refused("no config.json", "run", "--model", tmp.toString(), "--prompt", "hi");
        refused("not a directory", "run", "--model", tmp.resolve("nothing").toString(), "--prompt", "hi");
        refused("--prompt is empty", "run", "--model", ov.toString(), "--prompt", " ");
        refused("--top-p must be in (0, 1]", "run", "--model", ov.toString(), "--prompt", "hi", "--top-p", "0");
        refused("Unknown policy 'nosuchpolicy'", "run", "--model", ov.toString(), "--prompt", "hi", "--compare", "nosuchpolicy");
        // no chat template: the folder's own file removed from a copy
        Path noTemplate = assemble(tmp.resolve("nt"), "llava_onevision");
        Files.delete(noTemplate.resolve("chat_template.jinja"));
        refused("no chat template", "run", "--model", noTemplate.toString(), "--image", image().toString(), "--prompt", "what is shown?");
        // an unsupported family: Gemma 3 (processing reads it, the runtime builds no graphs for it)
        Path gemma = tmp.resolve("gemma3");
        Files.createDirectories(gemma);
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja")) {
            Files.copy(PROCESSING.resolve("gemma3").resolve(f), gemma.resolve(f));
        }
        refused("gemma3", "run", "--model", gemma.toString(), "--prompt", "hi");
        // the testbed's grid tower takes grid cells, not images
        Path testbed = Path.of("..", "testbed", "model");
        if (Files.isRegularFile(testbed.resolve("config.json"))) refused("grid", "run", "--model", testbed.toString(), "--prompt", "hi");
        assertEquals(before, listing(tmp).stream().filter(l -> !l.startsWith("nt") && !l.startsWith("gemma3")).toList(), "no user file changed");
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
