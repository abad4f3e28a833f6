package io.github.kvpolicy.cli;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.evaluation.gridvqa.Evaluation;
import io.github.kvpolicy.evaluation.gridvqa.GridVqa;
import io.github.kvpolicy.policy.aircache.AirCachePolicy;
import io.github.kvpolicy.policy.aircache.AirCacheSettings;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * The elite-window diagnostic of {@code kvpolicy eval --ablations}: which instruction tokens AirCache's default
 * configuration (elite window, α = 0.9) chose as its observation window, per example and layer, as reported by the
 * policy itself ({@link AirCachePolicy#reportingWindows}) on the real prefill of each example. The prompt's instruction
 * text is the question followed by the chat template's suffix (the assistant header), so the table shows whether the
 * window is anchored on template tokens, on question words, or on both.
 */
final class EliteWindows {
    /** One (example, layer) window: the prompt positions and their tokens, in prompt order. */
    record Entry(String example, String family, int layer, int[] positions, List<String> tokens, int questionWords, boolean lastToken) {}

    private EliteWindows() {}

    /** Runs AirCache (defaults) at {@code retention} on every example and records its windows. Single-threaded. */
    static List<Entry> collect(Evaluation eval, PolicyDeclaration declaration, List<GridVqa.Example> examples, double retention) {
        GridVqa task = eval.task();
        List<Entry> out = new ArrayList<>();
        for (GridVqa.Example e : examples) {
            long[] prefix = task.prefixIds(), suffix = task.suffixIds(e);
            int start = prefix.length + GridVqa.CELLS; // first instruction position
            int questionEnd = start + e.question().size();
            int last = start + suffix.length - 1;
            List<int[][][]> seen = new ArrayList<>();
            AirCachePolicy policy = new AirCachePolicy("aircache", AirCacheSettings.defaults()).reportingWindows(seen::add);
            try (GenerationSession base = eval.generatorSession(e)) {
                base.prefill();
                try (GenerationSession s = base.fork(policy, Budget.ratio(retention), declaration)) {
                    s.runToEnd();
                }
            }
            if (seen.isEmpty()) throw new IllegalStateException(e.id() + ": AirCache did not act, so it reported no window");
            int[][] windows = seen.get(0)[0];
            for (int l = 0; l < windows.length; l++) {
                int[] w = windows[l];
                List<String> tokens = Arrays.stream(w).mapToObj(p -> p >= start && p - start < suffix.length ? task.token((int) suffix[p - start]) : "@" + p).toList();
                int words = (int) Arrays.stream(w).filter(p -> p >= start && p < questionEnd).count();
                out.add(new Entry(e.id(), e.family(), l, w, tokens, words, Arrays.stream(w).anyMatch(p -> p == last)));
            }
        }
        return out;
    }

    /** {@code elite_windows.csv}: one line per (example, layer). */
    static void writeCsv(Path csv, List<Entry> entries) throws IOException {
        StringBuilder sb = new StringBuilder("example,family,layer,size,question_words,has_last_token,positions,tokens\n");
        for (Entry e : entries) {
            sb.append(e.example()).append(',').append(e.family()).append(',').append(e.layer()).append(',').append(e.positions().length).append(',')
                    .append(e.questionWords()).append(',').append(e.lastToken()).append(',')
                    .append(Arrays.stream(e.positions()).mapToObj(Integer::toString).collect(Collectors.joining(" "))).append(',')
                    .append(String.join(" ", e.tokens())).append('\n');
        }
        Files.writeString(csv, sb);
    }

    /**
     * Per layer: the mean window size, the share of single-token windows, of windows holding the last prompt token and
     * of windows holding at least one question word, and the tokens most often in the window (share of windows).
     */
    static String table(List<Entry> entries) {
        Map<Integer, List<Entry>> byLayer = new TreeMap<>();
        for (Entry e : entries) byLayer.computeIfAbsent(e.layer(), k -> new ArrayList<>()).add(e);
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-6s %9s %13s %17s %19s  %s%n", "layer", "mean size", "single token", "has last token", "has question word",
                "most frequent tokens (share of windows)"));
        for (var le : byLayer.entrySet()) {
            List<Entry> l = le.getValue();
            double n = l.size();
            Map<String, Integer> freq = new LinkedHashMap<>();
            for (Entry e : l) for (String t : new java.util.LinkedHashSet<>(e.tokens())) freq.merge(t, 1, Integer::sum);
            String top = freq.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue(Comparator.reverseOrder()).thenComparing(Map.Entry.comparingByKey()))
                    .limit(5).map(f -> String.format(Locale.ROOT, "%s %.0f%%", f.getKey(), 100 * f.getValue() / n)).collect(Collectors.joining(", "));
            sb.append(String.format(Locale.ROOT, "%-6d %9.2f %12.0f%% %16.0f%% %18.0f%%  %s%n", le.getKey(),
                    l.stream().mapToInt(e -> e.positions().length).average().orElse(0),
                    100 * l.stream().filter(e -> e.positions().length == 1).count() / n,
                    100 * l.stream().filter(Entry::lastToken).count() / n,
                    100 * l.stream().filter(e -> e.questionWords() > 0).count() / n, top));
        }
        return sb.toString();
    }
}
