package io.github.kvpolicy.evaluation.dataset;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.evaluation.metrics.Metrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VqaJsonlTest {
    @TempDir Path dir;
    Path images;

    @BeforeEach
    void images() throws Exception {
        images = Files.createDirectories(dir.resolve("img"));
        Files.write(images.resolve("a.png"), new byte[] {1});
        Files.write(images.resolve("b.png"), new byte[] {2});
    }

    private VqaJsonl.Loaded read(String... lines) throws Exception {
        Path f = dir.resolve("set.jsonl");
        Files.writeString(f, String.join("\n", lines) + "\n");
        return VqaJsonl.read(f, images, Metrics.byName("vqa"));
    }

    @Test
    void readsImageOrImagesAnswersAndTheMetric() throws Exception {
        VqaJsonl.Loaded l = read(
                "{\"id\": \"q1\", \"image\": \"a.png\", \"question\": \"What colour?\", \"answers\": [\"red\", \"red\", \"dark red\"]}",
                "",
                "{\"id\": 7, \"images\": [\"a.png\", \"b.png\"], \"question\": \"Peak?\", \"answers\": [42, \"42.0\"], \"metric\": \"relaxed\", \"source\": \"chartqa\"}");
        assertEquals(List.of(), l.skipped());
        assertEquals(2, l.examples().size());
        VqaExample a = l.examples().get(0), b = l.examples().get(1);
        assertEquals("q1", a.id());
        assertEquals(List.of(images.resolve("a.png")), a.images());
        assertEquals(List.of("red", "red", "dark red"), a.answers());
        assertEquals("vqa", a.metric().name());
        assertEquals(1, a.line());
        assertEquals("7", b.id());
        assertEquals(List.of(images.resolve("a.png"), images.resolve("b.png")), b.images());
        assertEquals(List.of("42", "42.0"), b.answers());
        assertEquals("relaxed", b.metric().name());
        assertEquals(3, b.line());
    }

    @Test
    void badLinesAndMissingImagesAreSkippedWithTheirLineNumber() throws Exception {
        VqaJsonl.Loaded l = read(
                "{\"id\": \"ok\", \"image\": \"a.png\", \"question\": \"q\", \"answers\": [\"x\"]}",
                "{\"id\": \"broken\", \"image\": ",
                "{\"id\": \"gone\", \"image\": \"missing.png\", \"question\": \"q\", \"answers\": [\"x\"]}",
                "{\"id\": \"both\", \"image\": \"a.png\", \"images\": [\"b.png\"], \"question\": \"q\", \"answers\": [\"x\"]}",
                "{\"id\": \"noanswers\", \"image\": \"a.png\", \"question\": \"q\", \"answers\": []}",
                "{\"id\": \"badmetric\", \"image\": \"a.png\", \"question\": \"q\", \"answers\": [\"x\"], \"metric\": \"bleu\"}",
                "[1, 2]",
                "{\"image\": \"a.png\", \"question\": \"q\", \"answers\": [\"x\"]}",
                "{\"id\": \"ok2\", \"image\": \"b.png\", \"question\": \"q\", \"answers\": [\"x\"]}");
        assertEquals(List.of("ok", "ok2"), l.examples().stream().map(VqaExample::id).toList());
        assertEquals(List.of(2, 3, 4, 5, 6, 7, 8), l.skipped().stream().map(VqaJsonl.Issue::line).toList());
        String all = l.skipped().stream().map(Object::toString).reduce("", (x, y) -> x + y + "\n");
        assertTrue(l.skipped().get(0).toString().startsWith(dir.resolve("set.jsonl") + ":2: skipped: invalid JSON"), all);
        assertTrue(l.skipped().get(1).toString().contains("image " + images.resolve("missing.png") + " does not exist"), all);
        assertTrue(l.skipped().get(2).toString().contains("exactly one of \"image\""), all);
        assertTrue(l.skipped().get(3).toString().contains("\"answers\" must be a non-empty list"), all);
        assertTrue(l.skipped().get(4).toString().contains("unknown metric 'bleu'"), all);
        assertTrue(l.skipped().get(5).toString().contains("expected a JSON object, got array"), all);
        assertTrue(l.skipped().get(6).toString().contains("missing \"id\""), all);
    }

    @Test
    void aRepeatedIdIsAnErrorNamingBothLines() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> read(
                "{\"id\": \"q1\", \"image\": \"a.png\", \"question\": \"q\", \"answers\": [\"x\"]}",
                "{\"id\": \"q2\", \"image\": \"a.png\", \"question\": \"q\", \"answers\": [\"x\"]}",
                "{\"id\": \"q1\", \"image\": \"b.png\", \"question\": \"q\", \"answers\": [\"y\"]}"));
        assertEquals(dir.resolve("set.jsonl") + ":3: duplicate id 'q1' (first on line 1); ids must be unique", e.getMessage());
    }

    @Test
    void duplicateKeysInALineAndTrailingTextAreBadLines() throws Exception {
        VqaJsonl.Loaded l = read(
                "{\"id\": \"a\", \"id\": \"b\", \"image\": \"a.png\", \"question\": \"q\", \"answers\": [\"x\"]}",
                "{\"id\": \"c\", \"image\": \"a.png\", \"question\": \"q\", \"answers\": [\"x\"]} {}");
        assertEquals(0, l.examples().size());
        assertEquals(2, l.skipped().size(), l.skipped().toString());
    }

    @Test
    void aMissingFileOrImagesFolderIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VqaJsonl.read(dir.resolve("nope.jsonl"), images, Metrics.byName("exact")));
        assertTrue(e.getMessage().startsWith("dataset " + dir.resolve("nope.jsonl") + ": no such file"), e.getMessage());
    }
}
