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
}
