package io.github.kvpolicy.evaluation.gridvqa;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.evaluation.json.JsonLines;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The GridVQA task as the Java side sees it (the one definition is {@code testbed/gridvqa/task.py}): the
 * vocabulary, the prompt layout read from the model's {@code config.json} ({@code prompt.prefix_tokens}, the image,
 * the question, {@code prompt.suffix_tokens}; in v2 the ChatML-style
 * {@code <bos> <|im_start|> user <image> question… <|im_end|> <|im_start|> assistant}) with the {@code <image>}
 * placeholder replaced by the G×G visual tokens, and the evaluation set. Immutable; thread-safe.
 */
public final class GridVqa {
    /** Grid side; visual tokens per image = GRID². */
    public static final int GRID = 16;
    public static final int CELLS = GRID * GRID;
    private final List<String> vocab;
    private final Map<String, Integer> ids = new HashMap<>();
    private final long[] prefix;
    private final long[] suffix;

    private GridVqa(List<String> vocab, List<String> prefix, List<String> suffix) {
        this.vocab = List.copyOf(vocab);
        for (int i = 0; i < vocab.size(); i++) ids.put(vocab.get(i), i);
        id("<eos>");
        this.prefix = prefix.stream().mapToLong(this::id).toArray();
        this.suffix = suffix.stream().mapToLong(this::id).toArray();
    }

    /**
     * Loads a testbed model folder's task definition: {@code vocab.json} (a JSON list of token strings; id = index)
     * and the prompt template of {@code config.json} ({@code prompt.prefix_tokens}: the text before the image,
     * {@code prompt.suffix_tokens}: the text after the question).
     */
    public static GridVqa load(Path modelDir) {
        Path vocabJson = modelDir.resolve("vocab.json");
        JsonNode doc = JsonLines.parse(read(vocabJson), vocabJson.toString());
        if (!doc.isArray() || doc.isEmpty()) throw new IllegalArgumentException(vocabJson + ": expected a JSON list of token strings");
        List<String> v = new ArrayList<>();
        for (JsonNode o : doc) v.add(o.asText());
        Path configJson = modelDir.resolve("config.json");
        JsonNode prompt = JsonLines.parse(read(configJson), configJson.toString()).path("prompt");
        JsonNode pre = prompt.path("prefix_tokens"), suf = prompt.path("suffix_tokens");
        if (!pre.isArray() || pre.isEmpty() || !suf.isArray()) {
            throw new IllegalArgumentException(configJson + ": no prompt.prefix_tokens / prompt.suffix_tokens lists (not a GridVQA v2 testbed model; see testbed/README.md)");
        }
        return new GridVqa(v, strings(pre), strings(suf));
    }

    /** Whether {@code modelDir} holds a GridVQA testbed model: a {@code vocab.json} and the prompt template in its config. */
    public static boolean isTestbedModel(Path modelDir) {
        if (!Files.isRegularFile(modelDir.resolve("vocab.json")) || !Files.isRegularFile(modelDir.resolve("config.json"))) return false;
        try {
            return JsonLines.parse(read(modelDir.resolve("config.json")), "config.json").path("prompt").path("prefix_tokens").isArray();
        } catch (RuntimeException e) {
            return false;
        }
    }

    public int id(String token) {
        Integer i = ids.get(token);
        if (i == null) throw new IllegalArgumentException("token '" + token + "' is not in the GridVQA vocabulary (" + vocab.size() + " tokens)");
        return i;
    }

    public String token(int id) {
        return id >= 0 && id < vocab.size() ? vocab.get(id) : "<" + id + ">";
    }

    public int eosId() {
        return id("<eos>");
    }

    public int vocabSize() {
        return vocab.size();
    }

    /** One evaluation example. {@code objects[i] = {row, col, shape, colour, glyph}}. */
    public record Example(String id, String family, int[][] objects, List<String> question, List<String> answer) {}

    /** The text before the image ({@code <bos> <|im_start|> user} in v2); a fresh copy. */
    public long[] prefixIds() {
        return prefix.clone();
    }

    /** The text after the image: the question and the template's suffix (the assistant header in v2). */
    public long[] suffixIds(Example e) {
        long[] out = new long[e.question().size() + suffix.length];
        for (int i = 0; i < e.question().size(); i++) out[i] = id(e.question().get(i));
        System.arraycopy(suffix, 0, out, e.question().size(), suffix.length);
        return out;
    }

    /** The expected answer ids, ending with {@code <eos>}. */
    public int[] answerIds(Example e) {
        return e.answer().stream().mapToInt(this::id).toArray();
    }

    /** The row layout: the prefix text, 256 visual tokens, then the question and the suffix as instruction text. */
    public RowLayout layout(Example e) {
        return RowLayout.builder().text(prefix.length).image(CELLS).text(e.question().size() + suffix.length).build();
    }

    /** {@code [CELLS][3]} (shape, colour, glyph) per cell, row-major, flattened; background cells are 0. */
    public static long[] pixelAttributes(Example e) {
        long[] a = new long[CELLS * 3];
        for (int[] o : e.objects()) {
            int cell = o[0] * GRID + o[1];
            a[cell * 3] = o[2];
            a[cell * 3 + 1] = o[3];
            a[cell * 3 + 2] = o[4];
        }
        return a;
    }

    /** Reads a JSONL evaluation file. */
    public static List<Example> readExamples(Path jsonl) {
        List<Example> out = new ArrayList<>();
        int line = 0;
        for (String s : read(jsonl).split("\n")) {
            line++;
            if (s.isBlank()) continue;
            try {
                JsonNode m = JsonLines.parse(s, jsonl + ":" + line);
                JsonNode objs = m.required("objects");
                int[][] o = new int[objs.size()][];
                for (int i = 0; i < o.length; i++) {
                    JsonNode obj = objs.get(i);
                    if (!obj.isArray() || obj.size() != 5) throw new IllegalArgumentException("an object is [row, col, shape, colour, glyph], got " + obj);
                    o[i] = new int[5];
                    for (int k = 0; k < 5; k++) o[i][k] = obj.get(k).intValue();
                }
                out.add(new Example(m.required("id").asText(), m.required("family").asText(), o, strings(m.required("question")), strings(m.required("answer"))));
            } catch (RuntimeException ex) {
                throw new IllegalArgumentException(jsonl + ":" + line + ": malformed GridVQA example (expected id, family, objects, question, answer): " + ex.getMessage(), ex);
            }
        }
        return out;
    }

    private static List<String> strings(JsonNode list) {
        if (!list.isArray()) throw new IllegalArgumentException("expected a list of words, got " + list);
        List<String> out = new ArrayList<>();
        for (JsonNode w : list) out.add(w.asText());
        return out;
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + p, e);
        }
    }
}
