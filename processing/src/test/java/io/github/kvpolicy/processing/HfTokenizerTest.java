package io.github.kvpolicy.processing;

import io.github.kvpolicy.processing.error.ProcessingException;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class HfTokenizerTest {

    @Test
    void encodesAndDecodesTheTokenizerCasesOfTheLlama3Fixture() throws Exception {
        JsonObject ref = Fixtures.reference("llama3");
        try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir("llama3"))) {
            int n = 0;
            for (JsonElement c : ref.getAsJsonObject("notes").getAsJsonArray("tokenizer_cases")) {
                JsonObject o = c.getAsJsonObject();
                String text = o.get("text").getAsString();
                int[] expected = Fixtures.ints(o.get("ids"));
                int[] ids = tok.encode(text, true); // the fixture used Tokenizer.encode(text), add_special_tokens=True
                assertArrayEquals(expected, ids, "ids of " + text);
                assertArrayEquals(expected, tok.encode(text, false), "no post-processor: same ids for " + text);
                assertEquals(o.get("decoded").getAsString(), tok.decode(ids, false), "decode of " + text);
                n++;
            }
            assertEquals(6, n);
        }
    }

    @Test
    void specialTokensAreWholeTokensAndSkippable() {
        try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir("llama3"))) {
            int start = tok.requireTokenId("<|im_start|>");
            int end = tok.requireTokenId("<|im_end|>");
            int[] ids = tok.encode("<|im_start|>user\nhi<|im_end|>\n");
            assertEquals(start, ids[0]);
            assertTrue(tok.isSpecial(start) && tok.isSpecial(end));
            assertEquals("user\nhi\n", tok.decode(ids, true));
            assertEquals(3, tok.requireTokenId("<image>"));
            ProcessingException e = assertThrows(ProcessingException.class, () -> tok.requireTokenId("<no_such_token>"));
            assertTrue(e.getMessage().contains("<no_such_token>") && e.getMessage().contains("tokenizer.json"), e.getMessage());
        }
    }

    /** Every family's prompt: its text pieces, encoded here, must give the ids transformers fed the model. */
    @Test
    void reproducesThePromptIdsOfTheTextOnlyFixtures() throws Exception {
        String[][] cases = {
            {"qwen2", "<|im_start|>user\nhow many red circles are there in the picture<|im_end|>\n<|im_start|>assistant\n"},
            {"llama3", "describe the chart: sales rose from 2019 to 2021 and fell in 2022. ".repeat(3)},
            {"qwen3", "answer with one word. yes no maybe left right up down"},
        };
        for (String[] c : cases) {
            try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir(c[0]))) {
                assertArrayEquals(Fixtures.ints(Fixtures.reference(c[0]).get("input_ids")), tok.encode(c[1]), c[0]);
            }
        }
        // llava15's text around the image (make_fixtures.py: "USER: " and "\nWhat is in the image? ASSISTANT:")
        int[] l15 = Fixtures.ints(Fixtures.reference("llava15").get("input_ids"));
        try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir("llava15"))) {
            assertArrayEquals(java.util.Arrays.copyOfRange(l15, 0, 3), tok.encode("USER: "));
            assertArrayEquals(java.util.Arrays.copyOfRange(l15, 19, l15.length), tok.encode("\nWhat is in the image? ASSISTANT:"));
        }
    }

    @Test
    void streamingNeverEmitsABrokenCharacterAndAddsUpToTheFullDecode() {
        try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir("llama3"))) {
            for (String text : List.of("emoji 😀 and <image> inline", "Où est le chat ? 猫はテーブルの下", "  leading spaces and\ttabs\nnewlines")) {
                int[] ids = tok.encode(text);
                StreamingDetokenizer s = tok.streaming(false);
                StringBuilder sb = new StringBuilder();
                List<String> pieces = new ArrayList<>();
                for (int id : ids) {
                    String p = s.push(id);
                    assertFalse(p.contains("\uFFFD"), "broken character streamed for " + text + ": " + pieces + " + " + p);
                    pieces.add(p);
                    sb.append(p);
                }
                sb.append(s.finish());
                assertEquals(text, sb.toString());
            }
            // the emoji is 4 bytes spread over several byte-level tokens: the pieces hold it back, then emit it whole
            int[] emoji = tok.encode("😀");
            assertTrue(emoji.length > 1, "the fixture's vocabulary splits the emoji");
            StreamingDetokenizer s = tok.streaming(false);
            for (int i = 0; i < emoji.length - 1; i++) assertEquals("", s.push(emoji[i]));
            assertEquals("😀", s.push(emoji[emoji.length - 1]));
            // a stream cut inside the character: finish() returns the remainder as the full decode would
            StreamingDetokenizer cut = tok.streaming(false);
            cut.push(emoji[0]);
            assertEquals(tok.decode(new int[] {emoji[0]}, false), cut.finish());
        }
    }

    /** A Llama-style post-processor (BOS before every sequence) applies only with addSpecialTokens. */
    @Test
    void postProcessorAddsBosOnlyWhenAsked(@TempDir Path dir) throws Exception {
        JsonObject t = com.google.gson.JsonParser.parseString(Files.readString(Fixtures.dir("llama3").resolve("tokenizer.json"))).getAsJsonObject();
        JsonObject post = com.google.gson.JsonParser.parseString("""
                {"type": "TemplateProcessing",
                 "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                 "special_tokens": {"<s>": {"id": "<s>", "ids": [7], "tokens": ["<s>"]}}}""").getAsJsonObject();
        t.add("post_processor", post);
        Files.writeString(dir.resolve("tokenizer.json"), t.toString());
        try (HfTokenizer plain = HfTokenizer.fromFolder(Fixtures.dir("llama3")); HfTokenizer bos = HfTokenizer.fromFolder(dir)) {
            int[] ids = plain.encode("what is the colour of the square?");
            int[] withBos = bos.encode("what is the colour of the square?", true);
            assertEquals(7, withBos[0]);
            assertArrayEquals(ids, java.util.Arrays.copyOfRange(withBos, 1, withBos.length));
            assertArrayEquals(ids, bos.encode("what is the colour of the square?", false));
            assertEquals("what is the colour of the square?", bos.decode(withBos, true));
            assertEquals("<s>what is the colour of the square?", bos.decode(withBos, false));
        }
    }

    @Test
    void missingTokenizerNamesTheFolder(@TempDir Path dir) throws Exception {
        ProcessingException e = assertThrows(ProcessingException.class, () -> HfTokenizer.fromFolder(dir));
        assertTrue(e.getMessage().startsWith(dir.toString()) && e.getMessage().contains("tokenizer.json"), e.getMessage());
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": 3}");
        ProcessingException bad = assertThrows(ProcessingException.class, () -> HfTokenizer.fromFolder(dir));
        assertTrue(bad.getMessage().contains("tokenizer.json"), bad.getMessage());
    }
}
