package io.github.kvpolicy.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code eval --dataset} on a real VLM folder (the qwen2_vl fixture's weights, tokenizer, template and image
 * processor): three PNGs drawn here, full + AirCache at two retentions, the results file checked record by record, the
 * full contender's answer checked against {@code kvpolicy run}'s, and a resume after completion computing nothing.
 */
class EvalDatasetTest {
    @TempDir
    Path tmp;

    private static void draw(Path file, int w, int h, Color background, Color shape) throws Exception {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(background);
        g.fillRect(0, 0, w, h);
        g.setColor(shape);
        g.fillOval(w / 4, h / 4, w / 2, h / 2);
        g.dispose();
        ImageIO.write(img, "png", file.toFile());
    }

    @Test
    void threeDrawnImagesFullAndAirCacheAtTwoRetentionsThenResumeComputesNothing() throws Exception {
        Path model = RunCommandTest.assemble(tmp, "qwen2_vl");
        Path template = RunCommandTest.TEMPLATES.resolve("qwen2_vl_no_system.jinja");
        Path images = Files.createDirectories(tmp.resolve("images"));
        draw(images.resolve("red.png"), 100, 70, Color.WHITE, Color.RED);
        draw(images.resolve("blue.png"), 70, 100, Color.BLACK, Color.BLUE);
        draw(images.resolve("green.png"), 84, 84, Color.GRAY, Color.GREEN);

        // what `run` answers for the first question with the full cache: eval must answer the same (same path)
        VerifyModelCommandTest.Run single = VerifyModelCommandTest.run("run", "--model", model.toString(), "--chat-template", template.toString(),
                "--image", images.resolve("red.png").toString(), "--prompt", "what colour is the circle?", "--max-new-tokens", "4", "--threads", "1");
        assertEquals(0, single.code(), single.out() + single.err());
        String afterTitle = single.out().substring(single.out().indexOf("[full cache]\n") + "[full cache]\n".length());
        String runAnswer = afterTitle.substring(0, afterTitle.indexOf("\n  tokens (")).strip();

        Path set = tmp.resolve("set.jsonl");
        JsonObject q1 = new JsonObject();
        q1.addProperty("id", "red");
        q1.addProperty("image", "red.png");
        q1.addProperty("question", "what colour is the circle?");
        q1.add("answers", JsonParser.parseString("[" + new com.google.gson.JsonPrimitive(runAnswer) + "]"));
        q1.addProperty("metric", "exact");
        Files.writeString(set, q1 + "\n"
                + "{\"id\": \"blue\", \"image\": \"blue.png\", \"question\": \"what colour is the circle?\", \"answers\": [\"blue\"]}\n"
                + "{\"id\": \"green\", \"image\": \"green.png\", \"question\": \"what is the background?\", \"answers\": [\"grey\", \"gray\"], \"metric\": \"anls\"}\n");
        Path out = tmp.resolve("out");
        String[] args = {"eval", "--dataset", set.toString(), "--images", images.toString(), "--model", model.toString(), "--chat-template", template.toString(),
                "--policies", "full,aircache", "--retentions", "50,10", "--max-new-tokens", "4", "--threads", "1", "--out", out.toString()};
        VerifyModelCommandTest.Run r = VerifyModelCommandTest.run(args);
        System.out.println(r.out());
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("3 examples, 0 lines skipped"), r.out());
        assertTrue(r.out().contains("12 runs computed"), r.out());
        for (String f : EvalCommand.DATASET_OUTPUTS) assertTrue(Files.size(out.resolve(f)) > 0, f);

        List<String> lines = Files.readAllLines(out.resolve("results.jsonl"));
        assertEquals("{\"kvpolicy_results\":1}", lines.get(0));
        assertEquals(1 + 3 * 2 * 2, lines.size(), "header + 3 examples × 2 policies × 2 retentions");
        Set<String> keys = new HashSet<>();
        Map<String, String> answers = new HashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            JsonObject rec = JsonParser.parseString(line).getAsJsonObject();
            String ex = rec.get("example").getAsString(), policy = rec.get("policy").getAsString();
            double retention = rec.get("retention").getAsDouble();
            assertTrue(keys.add(ex + "|" + policy + "|" + retention), "one record per key: " + line);
            double score = rec.get("score").getAsDouble();
            assertTrue(score >= 0 && score <= 1, line);
            long kept = rec.get("kept_visual").getAsLong(), total = rec.get("total_visual").getAsLong();
            if (policy.equals("aircache")) {
                // the visual share kept follows the retention (12 visual tokens per image: 50% → 6, 10% → 1 or 2 per layer and head)
                assertTrue(total > 0, line);
                double share = (double) kept / total;
                assertTrue(retention == 0.5 ? share > 0.3 && share <= 0.6 : share < 0.25, "kept share " + share + " at " + retention + ": " + line);
            }
            double n = rec.getAsJsonObject("extra").get("answer_tokens").getAsDouble();
            assertTrue(n >= 0 && n <= 4, "at most --max-new-tokens: " + line);
            answers.put(ex + "|" + policy + "|" + retention, rec.get("answer").getAsString());
        }
        assertEquals(runAnswer, answers.get("red|full|0.5"), "eval answers through the path of `run`");
        assertEquals(answers.get("red|full|0.5"), answers.get("red|full|0.1"), "the full cache does not depend on the retention");
        JsonObject redFull = lines.stream().skip(1).map(l -> JsonParser.parseString(l).getAsJsonObject())
                .filter(o -> o.get("example").getAsString().equals("red") && o.get("policy").getAsString().equals("full")).findFirst().orElseThrow();
        assertEquals(1.0, redFull.get("score").getAsDouble(), "its answer is the reference answer, so exact match scores 1");

        // resume after completion: nothing computed, the results file byte-identical
        byte[] before = Files.readAllBytes(out.resolve("results.jsonl"));
        String[] resume = java.util.Arrays.copyOf(args, args.length + 1);
        resume[args.length] = "--resume";
        VerifyModelCommandTest.Run again = VerifyModelCommandTest.run(resume);
        assertEquals(0, again.code(), again.out() + again.err());
        assertTrue(again.out().contains("12 finished records kept"), again.out());
        assertTrue(again.out().contains("0 runs computed"), again.out());
        assertArrayEquals(before, Files.readAllBytes(out.resolve("results.jsonl")));

        // a fresh run into the finished directory replaces nothing
        VerifyModelCommandTest.Run fresh = VerifyModelCommandTest.run(args);
        assertEquals(2, fresh.code());
        assertTrue(fresh.err().contains("already exists; pass --resume"), fresh.err());
        assertArrayEquals(before, Files.readAllBytes(out.resolve("results.jsonl")));
    }

    @Test
    void anUnreadableImageStopsTheRunNamingTheExample() throws Exception {
        Path model = RunCommandTest.assemble(tmp, "qwen2_vl");
        Path images = Files.createDirectories(tmp.resolve("images"));
        draw(images.resolve("ok.png"), 84, 84, Color.WHITE, Color.RED);
        Files.write(images.resolve("broken.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
        Path set = tmp.resolve("set.jsonl");
        Files.writeString(set, """
                {"id": "ok", "image": "ok.png", "question": "what?", "answers": ["x"]}
                {"id": "bad", "image": "broken.png", "question": "what?", "answers": ["x"]}
                """);
        Path out = tmp.resolve("out");
        VerifyModelCommandTest.Run r = VerifyModelCommandTest.run("eval", "--dataset", set.toString(), "--images", images.toString(), "--model", model.toString(),
                "--chat-template", RunCommandTest.TEMPLATES.resolve("qwen2_vl_no_system.jinja").toString(), "--policies", "full", "--retentions", "10", "--max-new-tokens", "2", "--threads", "1", "--out", out.toString());
        assertEquals(2, r.code(), r.out() + r.err());
        List<String> errLines = r.err().lines().filter(l -> l.startsWith("kvpolicy: ")).toList();
        assertEquals(1, errLines.size(), r.err());
        assertTrue(errLines.get(0).startsWith("kvpolicy: example 'bad' (line 2): ") && errLines.get(0).contains("broken.png"), errLines.get(0));
        // the finished example's record is kept; --resume would continue from it
        List<String> lines = Files.readAllLines(out.resolve("results.jsonl"));
        assertEquals(2, lines.size(), lines.toString());
        assertTrue(lines.get(1).contains("\"example\":\"ok\""), lines.get(1));
    }
}
