package io.github.kvpolicy.processing;

import io.github.kvpolicy.processing.error.ProcessingException;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.github.kvpolicy.api.ImageSpan;
import io.github.kvpolicy.api.Modality;
import io.github.kvpolicy.processing.image.ImageLoader;
import io.github.kvpolicy.processing.image.ImageProcessors;
import io.github.kvpolicy.processing.image.ProcessedImage;
import io.github.kvpolicy.processing.image.RgbImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/** Prompt assembly against the input_ids transformers fed each fixture model. */
class PromptBuilderTest {

    static int[] fixtureIds(String family) throws Exception {
        return Fixtures.ints(Fixtures.reference(family).get("input_ids"));
    }

    static Path template(String name) throws Exception {
        return Path.of(PromptBuilderTest.class.getResource("/templates/" + name).toURI());
    }

    static RgbImage grey(int w, int h) {
        byte[] b = new byte[3 * w * h];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (i * 7);
        return new RgbImage(w, h, b);
    }

    @Test
    void llavaOneVisionEndToEndMatchesTheFixture() throws Exception {
        Path dir = Fixtures.dir("llava_onevision");
        try (Processor p = Processor.forModel(dir)) {
            Prompt prompt = p.prompt(List.of(ChatMessage.userWithImages(1, "what is shown?")), List.of(dir.resolve("image.png")));
            assertArrayEquals(fixtureIds("llava_onevision"), prompt.inputIds());
            // layout: "<|im_start|>user\n" (3), 72 visual tokens (base 16 + 6x8 grid + 8 newlines), 13 instruction tokens
            assertEquals(new Prompt.Range(0, 3), prompt.templatePrefix());
            assertEquals(List.of(new ImageSpan(0, 3, 75)), prompt.visualSpans());
            assertEquals(new Prompt.Range(75, 88), prompt.instruction());
            assertEquals(87, prompt.lastInstructionToken());
            assertEquals(Modality.SYSTEM_TEXT, prompt.layout().modality(2));
            assertEquals(Modality.IMAGE, prompt.layout().modality(3));
            assertEquals(Modality.INSTRUCTION_TEXT, prompt.layout().modality(87));
            assertEquals(72, prompt.layout().count(Modality.IMAGE));
            assertArrayEquals(new long[] {1, 5, 3, 56, 56}, prompt.images().getFirst().shape());
            assertEquals("\nwhat is shown?<|im_end|>\n<|im_start|>assistant\n",
                    p.tokenizer().decode(Arrays.copyOfRange(prompt.inputIds(), 75, 88), false));
        }
    }

    @Test
    void qwen2VlWithAnExplicitTemplateMatchesTheFixture() throws Exception {
        Path dir = Fixtures.dir("qwen2_vl");
        try (Processor p = Processor.forModel(dir, template("qwen2_vl_no_system.jinja"))) {
            Prompt prompt = p.prompt(List.of(ChatMessage.userWithImages(1, "what is shown?")), List.of(dir.resolve("image.png")));
            assertArrayEquals(fixtureIds("qwen2_vl"), prompt.inputIds());
            // <|vision_start|> stays text (prefix), 12 pads are the visual span, <|vision_end|> starts the instruction
            assertEquals(new Prompt.Range(0, 4), prompt.templatePrefix());
            assertEquals(new Prompt.Range(4, 16), prompt.imageRange(0));
            assertEquals(5, prompt.inputIds()[16], "<|vision_end|>");
            JsonObject ref = Fixtures.reference("qwen2_vl");
            assertEquals(ref.getAsJsonObject("notes").get("image_tokens").getAsInt(), prompt.layout().count(Modality.IMAGE));
            int[] tt = prompt.tokenTypeIds();
            assertEquals(12, IntStream.of(tt).sum(), "mm_token_type_ids");
            assertEquals(1, tt[4]);
            assertEquals(0, tt[3]);
            // 3-D rotary positions equal transformers' get_rope_index (notes.mrope_position_ids)
            var expected = ref.getAsJsonObject("notes").getAsJsonArray("mrope_position_ids");
            int[][] got = MRopePositions.of(prompt, 2);
            for (int r = 0; r < 3; r++) assertArrayEquals(Fixtures.ints(expected.get(r)), got[r], "component " + r);
        }
    }

    @Test
    void qwen25VlGridGivesTheFixtureTokenCount() throws Exception {
        // the qwen2_5_vl fixture has grid [1, 8, 12] (random pixels, no image): a 168x112 image gives that grid
        JsonObject pre = JsonParser.parseString(Files.readString(Fixtures.dir("qwen2_vl").resolve("preprocessor_config.json"))).getAsJsonObject();
        pre.addProperty("max_pixels", 28 * 28 * 1280); // Qwen's default; the fixture folder's 112x112 cap is below this grid
        JsonObject cfg = JsonParser.parseString(Files.readString(Fixtures.dir("qwen2_5_vl").resolve("config.json"))).getAsJsonObject();
        ProcessedImage img = ImageProcessors.create(pre.toString(), cfg.toString(), "qwen2_5_vl").process(grey(168, 112));
        assertArrayEquals(new int[] {1, 8, 12}, img.gridThw());
        try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir("qwen2_5_vl"))) {
            PromptBuilder b = Processor.builderFor(Fixtures.dir("qwen2_5_vl"), tok);
            String text = ChatTemplate.fromFile(template("qwen2_vl_no_system.jinja"), null)
                    .render(List.of(ChatMessage.userWithImages(1, "what is shown?")), true);
            assertArrayEquals(fixtureIds("qwen2_5_vl"), b.build(text, List.of(img)).inputIds());
        }
    }

    @Test
    void llava15RepeatsTheImageToken() throws Exception {
        JsonObject clip = JsonParser.parseString("""
                {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 56}, "crop_size": 56, "do_center_crop": true}""").getAsJsonObject();
        JsonObject cfg = JsonParser.parseString(Files.readString(Fixtures.dir("llava15").resolve("config.json"))).getAsJsonObject();
        ProcessedImage img = ImageProcessors.create(clip.toString(), cfg.toString(), "llava15").process(grey(60, 50));
        try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir("llava15"))) {
            PromptBuilder b = Processor.builderFor(Fixtures.dir("llava15"), tok);
            int[] ref = fixtureIds("llava15");
            String text = tok.decode(Arrays.copyOfRange(ref, 0, 3), false) + "<image>" + tok.decode(Arrays.copyOfRange(ref, 19, ref.length), false);
            Prompt prompt = b.build(text, List.of(img));
            assertArrayEquals(ref, prompt.inputIds());
            assertEquals(new Prompt.Range(3, 19), prompt.imageRange(0));
        }
    }

    @Test
    void gemma3WrapsTheImageInBeginAndEndOfImage() throws Exception {
        JsonObject pre = JsonParser.parseString("""
                {"image_processor_type": "Gemma3ImageProcessor", "size": {"height": 56, "width": 56}, "resample": 2}""").getAsJsonObject();
        JsonObject cfg = JsonParser.parseString(Files.readString(Fixtures.dir("gemma3").resolve("config.json"))).getAsJsonObject();
        ProcessedImage img = ImageProcessors.create(pre.toString(), cfg.toString(), "gemma3").process(grey(64, 48));
        try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir("gemma3"))) {
            PromptBuilder b = Processor.builderFor(Fixtures.dir("gemma3"), tok);
            assertEquals("<|vision_start|>", b.placeholder(), "boi_token_index 4 of the fixture");
            Prompt prompt = b.build("<|im_start|>user\n<|vision_start|>what is shown? the chart shows sales rising<|im_end|>\n<|im_start|>assistant\n", List.of(img));
            // the fixture wrote [boi, 4 x image, eoi] by hand; Gemma3Processor also puts "\n\n" on both sides
            int[] ref = fixtureIds("gemma3");
            int[] nl = tok.encode("\n\n");
            int[] expected = concat(Arrays.copyOfRange(ref, 0, 3), nl, new int[0]);
            expected = concat(expected, Arrays.copyOfRange(ref, 3, 9), concat(nl, Arrays.copyOfRange(ref, 9, ref.length), new int[0]));
            int[] got = prompt.inputIds();
            assertArrayEquals(expected, got, "got " + Arrays.toString(got));
            int boi = Arrays.stream(got).boxed().toList().indexOf(4);
            assertEquals(new Prompt.Range(boi + 1, boi + 5), prompt.imageRange(0));
            assertEquals(5, got[boi + 5], "eoi");
            assertEquals(4, IntStream.of(prompt.tokenTypeIds()).sum(), "token_type_ids mark the 4 image tokens only");
        }
    }

    @Test
    void smolVlmSplitImageGetsOneSpanPerTileAndTheGlobalImage() throws Exception {
        JsonObject pre = JsonParser.parseString("""
                {"image_processor_type": "SmolVLMImageProcessor", "size": {"longest_edge": 112}, "max_image_size": {"longest_edge": 56},
                 "do_image_splitting": true, "resample": 1}""").getAsJsonObject();
        JsonObject cfg = JsonParser.parseString(Files.readString(Fixtures.dir("smolvlm").resolve("config.json"))).getAsJsonObject();
        ProcessedImage img = ImageProcessors.create(pre.toString(), cfg.toString(), "smolvlm").process(grey(100, 40)); // -> 112x46 -> 112x56: 1x2 tiles
        assertEquals(1, img.tileRows());
        assertEquals(2, img.tileCols());
        try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir("smolvlm"))) {
            PromptBuilder b = Processor.builderFor(Fixtures.dir("smolvlm"), tok);
            assertEquals("<fake_token_around_image><row_1_col_1><image><image><image><image><fake_token_around_image><row_1_col_2>"
                    + "<image><image><image><image>\n\n<fake_token_around_image><global-img><image><image><image><image><fake_token_around_image>",
                    b.expand(img));
            Prompt prompt = b.build("User:<image>what is shown?<end_of_utterance>\nAssistant:", List.of(img));
            assertEquals(3, prompt.visualSpans().size());
            assertArrayEquals(new int[] {0, 0, 0}, prompt.spanImage());
            assertEquals(12, prompt.layout().count(Modality.IMAGE));
            assertEquals(4, prompt.visualSpans().get(2).length());
            // the fixture's unsplit prompt: User: + 4 image tokens + question; with the fake tokens removed the text matches
            int[] ref = fixtureIds("smolvlm");
            String refText = tok.decode(ref, false);
            assertEquals(refText, tok.decode(b.build("User:<image>what is shown?<end_of_utterance>\nAssistant:",
                    List.of(new ProcessedImage(new float[1], new long[] {1}, 4, 1, 1, new int[0], 0, 0))).inputIds(), false)
                    .replace("<fake_token_around_image><global-img>", "").replace("<fake_token_around_image>", ""));
        }
    }

    @Test
    void twoAdjacentImagesAreTwoSpans() throws Exception {
        try (Processor p = Processor.forModel(Fixtures.dir("llava_onevision"))) {
            RgbImage a = grey(70, 100), c = grey(56, 56);
            Prompt prompt = p.fromText("<|im_start|>user\n<image><image>\ncompare<|im_end|>\n", List.of(a, c));
            assertEquals(2, prompt.visualSpans().size());
            assertEquals(72, prompt.visualSpans().get(0).length());
            assertEquals(p.imageProcessor().process(c).visualTokens(), prompt.visualSpans().get(1).length());
            assertEquals(prompt.visualSpans().get(0).end(), prompt.visualSpans().get(1).start());
            assertArrayEquals(new int[] {0, 1}, prompt.spanImage());
        }
    }

    @Test
    void mismatchesAndTextOnlyPrompts(@TempDir Path tmp) throws Exception {
        try (Processor p = Processor.forModel(Fixtures.dir("llava_onevision"))) {
            ProcessingException e = assertThrows(ProcessingException.class,
                    () -> p.fromText("<|im_start|>user\nno placeholder<|im_end|>\n", List.of(grey(8, 8))));
            assertTrue(e.getMessage().contains("0 image placeholder") && e.getMessage().contains("1 image"), e.getMessage());
            ProcessingException parts = assertThrows(ProcessingException.class,
                    () -> p.promptFromImages(List.of(ChatMessage.userWithImages(2, "x")), List.of(grey(8, 8))));
            assertTrue(parts.getMessage().contains("2 image part"), parts.getMessage());
            Prompt text = p.promptFromImages(List.of(ChatMessage.text("user", "hi")), List.of());
            assertTrue(text.visualSpans().isEmpty());
            assertEquals(text.length(), text.layout().count(Modality.INSTRUCTION_TEXT), "no image: all instruction text");
            assertEquals(new Prompt.Range(0, 0), text.templatePrefix());
            assertArrayEquals(IntStream.range(0, text.length()).toArray(), MRopePositions.of(text, 2)[1], "text-only M-RoPE is 0, 1, 2, ...");
            Prompt withImage = p.fromText("<|im_start|>user\n<image>\nx", List.of(grey(70, 100)));
            ProcessingException noGrid = assertThrows(ProcessingException.class, () -> MRopePositions.of(withImage, 2));
            assertTrue(noGrid.getMessage().contains("image_grid_thw"), noGrid.getMessage());
        }
        try (Processor p = Processor.forModel(Fixtures.dir("qwen2"))) {
            assertFalse(p.hasImages());
            assertThrows(ProcessingException.class, p::imageProcessor);
            assertArrayEquals(fixtureIds("qwen2"), p.promptFromImages(List.of(ChatMessage.text("user", "how many red circles are there in the picture")), List.of()).inputIds());
        }
        // a folder with a tokenizer but no template: the error names the folder when the template is needed
        Files.copy(Fixtures.dir("qwen2").resolve("tokenizer.json"), tmp.resolve("tokenizer.json"));
        try (Processor p = Processor.forModel(tmp)) {
            ProcessingException e = assertThrows(ProcessingException.class, p::chatTemplate);
            assertTrue(e.getMessage().startsWith(tmp.toString()) && e.getMessage().contains("chat template"), e.getMessage());
        }
        ProcessingException notDir = assertThrows(ProcessingException.class, () -> Processor.forModel(tmp.resolve("missing")));
        assertTrue(notDir.getMessage().contains("missing"), notDir.getMessage());
    }

    @Test
    void stopTokensFromGenerationConfigAndTokenizerConfig() {
        try (Processor p = Processor.forModel(Fixtures.dir("llama3"))) {
            assertArrayEquals(new int[] {2}, p.stopTokenIds(), "eos_token_id 2 is <|im_end|>, the tokenizer's eos_token too");
        }
        try (Processor p = Processor.forModel(Fixtures.dir("gemma3"))) {
            assertArrayEquals(new int[] {1, 2}, p.stopTokenIds(), "the fixture's generation eos is 1; tokenizer eos <|im_end|> is 2");
        }
        try (Processor p = Processor.forModel(Fixtures.dir("llava_onevision"))) {
            assertArrayEquals(new int[] {2}, p.stopTokenIds(), "no eos in generation_config.json: the tokenizer's <|im_end|>");
        }
    }

    static int[] concat(int[] a, int[] b, int[] c) {
        int[] out = Arrays.copyOf(a, a.length + b.length + c.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        System.arraycopy(c, 0, out, a.length + b.length, c.length);
        return out;
    }
}
