package io.github.kvpolicy.evaluation.dataset;

import com.fasterxml.jackson.databind.JsonNode;
import io.github.kvpolicy.evaluation.json.JsonLines;
import io.github.kvpolicy.evaluation.metrics.Metric;
import io.github.kvpolicy.evaluation.metrics.Metrics;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a user's VQA set: UTF-8 JSONL, one object per line,
 * <pre>{"id": "q1", "image": "chart_17.png", "question": "What is the peak?", "answers": ["42"], "metric": "relaxed"}</pre>
 * with {@code id} (a string or an integer), exactly one of {@code image} (a path) and {@code images} (a non-empty list
 * of paths), {@code question} (a non-empty string), {@code answers} (a non-empty list of strings or numbers) and an
 * optional {@code metric} (one of {@link Metrics#names()}; else the default given). Image paths are relative to the
 * images folder (an absolute path is used as it is). Other keys are ignored; blank lines are skipped.
 *
 * <p>A line that is not such an object, or whose image file does not exist, is skipped and reported as an
 * {@link Issue} with its line number, never silently; a repeated id is an error (the results would be ambiguous).
 */
public final class VqaJsonl {
    /** A skipped line: the file, the 1-based line number and why. */
    public record Issue(Path file, int line, String message) {
        @Override
        public String toString() {
            return file + ":" + line + ": skipped: " + message;
        }
    }

    /** The examples in file order and the lines that were skipped. */
    public record Loaded(List<VqaExample> examples, List<Issue> skipped) {
        public Loaded {
            examples = List.copyOf(examples);
            skipped = List.copyOf(skipped);
        }
    }

    private VqaJsonl() {}

    /**
     * Reads {@code jsonl}.
     *
     * @param images        the folder image paths are relative to
     * @param defaultMetric the metric of lines without {@code metric}
     * @throws IllegalArgumentException if the file cannot be read, or an id occurs twice (naming both lines)
     */
    public static Loaded read(Path jsonl, Path images, Metric defaultMetric) {
        if (!Files.isRegularFile(jsonl)) throw new IllegalArgumentException("dataset " + jsonl + ": no such file (expected a JSONL file, one question per line)");
        if (!Files.isDirectory(images)) throw new IllegalArgumentException("images folder " + images + ": no such directory (image paths in " + jsonl + " are relative to it)");
        List<VqaExample> out = new ArrayList<>();
        List<Issue> skipped = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        try (BufferedReader r = Files.newBufferedReader(jsonl, StandardCharsets.UTF_8)) {
            int line = 0;
            for (String s; (s = r.readLine()) != null; ) {
                line++;
                if (line == 1 && s.startsWith("\uFEFF")) s = s.substring(1);
                if (s.isBlank()) continue;
                JsonNode o;
                String id = null;
                try {
                    o = JsonLines.parse(s);
                    if (!o.isObject()) throw new IllegalArgumentException("expected a JSON object, got " + kind(o));
                    id = id(o.get("id"));
                } catch (IllegalArgumentException e) {
                    skipped.add(new Issue(jsonl, line, e.getMessage()));
                    continue;
                }
                Integer first = seen.putIfAbsent(id, line);
                if (first != null) throw new IllegalArgumentException(jsonl + ":" + line + ": duplicate id '" + id + "' (first on line " + first + "); ids must be unique");
                try {
                    out.add(example(o, id, images, defaultMetric, line));
                } catch (IllegalArgumentException e) {
                    skipped.add(new Issue(jsonl, line, "id '" + id + "': " + e.getMessage()));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read dataset " + jsonl, e);
        }
        return new Loaded(out, skipped);
    }

    private static VqaExample example(JsonNode o, String id, Path images, Metric defaultMetric, int line) {
        JsonNode image = o.get("image"), list = o.get("images");
        if ((image == null) == (list == null)) throw new IllegalArgumentException("expected exactly one of \"image\" (a path) and \"images\" (a list of paths)");
        List<String> names = new ArrayList<>();
        if (image != null) {
            names.add(text(image, "image"));
        } else {
            if (!list.isArray() || list.isEmpty()) throw new IllegalArgumentException("\"images\" must be a non-empty list of paths, got " + kind(list));
            for (JsonNode n : list) names.add(text(n, "images[]"));
        }
        List<Path> files = new ArrayList<>();
        for (String n : names) {
            Path p = images.resolve(n);
            if (!Files.isRegularFile(p)) throw new IllegalArgumentException("image " + p + " does not exist");
            files.add(p);
        }
        JsonNode q = o.get("question");
        if (q == null) throw new IllegalArgumentException("missing \"question\"");
        String question = text(q, "question");
        JsonNode a = o.get("answers");
        if (a == null || !a.isArray() || a.isEmpty()) {
            throw new IllegalArgumentException("\"answers\" must be a non-empty list of strings, got " + (a == null ? "nothing" : kind(a)));
        }
        List<String> answers = new ArrayList<>();
        for (JsonNode n : a) {
            if (!n.isTextual() && !n.isNumber()) throw new IllegalArgumentException("\"answers\" must hold strings, got " + kind(n));
            answers.add(n.asText());
        }
        JsonNode m = o.get("metric");
        Metric metric = m == null ? defaultMetric : Metrics.byName(text(m, "metric"));
        return new VqaExample(id, files, question, answers, metric, line);
    }

    private static String id(JsonNode n) {
        if (n == null) throw new IllegalArgumentException("missing \"id\"");
        if (n.isIntegralNumber()) return n.asText();
        return text(n, "id");
    }

    private static String text(JsonNode n, String field) {
        if (!n.isTextual() || n.asText().isBlank()) throw new IllegalArgumentException("\"" + field + "\" must be a non-empty string, got " + kind(n));
        return n.asText();
    }

    private static String kind(JsonNode n) {
        String s = n.toString();
        return n.getNodeType().name().toLowerCase(java.util.Locale.ROOT) + " " + (s.length() > 40 ? s.substring(0, 40) + "…" : s);
    }
}
