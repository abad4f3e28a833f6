package io.github.kvpolicy.evaluation.engine;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.kvpolicy.evaluation.json.JsonLines;
import io.github.kvpolicy.evaluation.report.Charts;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Aggregates results records per contender × retention, over all examples ({@code group = all}) and per group: mean
 * score, agreement with the reference contender's answer, kept visual share, median timings. Writes CSV, JSON and an
 * accuracy-vs-retention plot. Immutable; computed from the records it was given.
 */
public final class ScoreTable {
    /**
     * One aggregate. {@code score}: mean of the examples' metric scores; {@code agreement}: share of the examples whose
     * answer equals the reference contender's answer at 100% retention (NaN when that was not evaluated);
     * {@code metrics}: the metrics involved, comma-separated.
     */
    public record Cell(String policy, double retention, String group, int n, double score, double agreement, double keptVisualShare,
                       double medianPolicyMs, double medianDecodeMs, String metrics) {}

    /** The CSV header {@link #write} writes. */
    public static final String CSV_HEADER = "policy,retention_percent,group,n,score,agreement_with_reference,kept_visual_share,median_policy_ms,median_decode_ms,metrics";

    private final List<ResultRecord> records;
    private final String reference;

    /**
     * @param reference the label whose answers at retention 1 the agreement compares with (usually {@code full})
     */
    public ScoreTable(List<ResultRecord> records, String reference) {
        this.records = List.copyOf(records);
        this.reference = reference;
    }

    /**
     * Per (policy, retention): the {@code all} cell then one per group (none for {@link EvalExample#NO_GROUP}), policies
     * in first-seen order, retentions descending.
     */
    public List<Cell> cells() {
        Map<String, String> ref = new HashMap<>();
        for (ResultRecord r : records) if (r.policy().equals(reference) && r.retention() == 1.0) ref.put(r.example(), r.answer());
        Map<String, TreeMap<Double, Map<String, List<ResultRecord>>>> groups = new LinkedHashMap<>();
        for (ResultRecord r : records) {
            Map<String, List<ResultRecord>> byGroup = groups.computeIfAbsent(r.policy(), k -> new TreeMap<>(Comparator.reverseOrder()))
                    .computeIfAbsent(r.retention(), k -> new TreeMap<>());
            byGroup.computeIfAbsent("all", k -> new ArrayList<>()).add(r);
            if (!r.group().equals(EvalExample.NO_GROUP)) byGroup.computeIfAbsent(r.group(), k -> new ArrayList<>()).add(r);
        }
        List<Cell> out = new ArrayList<>();
        for (var p : groups.entrySet()) {
            for (var rt : p.getValue().entrySet()) {
                List<ResultRecord> all = rt.getValue().get("all");
                out.add(cell(p.getKey(), rt.getKey(), "all", all, ref));
                for (var g : rt.getValue().entrySet()) if (!g.getKey().equals("all")) out.add(cell(p.getKey(), rt.getKey(), g.getKey(), g.getValue(), ref));
            }
        }
        return out;
    }

    private static Cell cell(String policy, double retention, String group, List<ResultRecord> g, Map<String, String> ref) {
        int n = g.size();
        double score = g.stream().mapToDouble(ResultRecord::score).sum() / n;
        long withRef = g.stream().filter(r -> ref.containsKey(r.example())).count();
        double agree = withRef == 0 ? Double.NaN : g.stream().filter(r -> r.answer().equals(ref.get(r.example()))).count() / (double) withRef;
        long kept = g.stream().mapToLong(ResultRecord::keptVisual).sum(), total = g.stream().mapToLong(ResultRecord::totalVisual).sum();
        String metrics = String.join(",", new TreeSet<>(g.stream().map(ResultRecord::metric).toList()));
        return new Cell(policy, retention, group, n, score, agree, total == 0 ? 1.0 : kept / (double) total,
                median(g.stream().mapToDouble(ResultRecord::policyMs).toArray()), median(g.stream().mapToDouble(ResultRecord::decodeMs).toArray()), metrics);
    }

    static double median(double[] a) {
        double[] s = Arrays.stream(a).filter(Double::isFinite).sorted().toArray();
        if (s.length == 0) return Double.NaN;
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** policy → (retention → mean score) over all examples. */
    public Map<String, Map<Double, Double>> scoreSeries() {
        Map<String, Map<Double, Double>> out = new LinkedHashMap<>();
        for (Cell c : cells()) if (c.group().equals("all")) out.computeIfAbsent(c.policy(), k -> new TreeMap<>()).put(c.retention(), c.score());
        return out;
    }

    /**
     * Writes {@code name}.csv and {@code name}.json into {@code dir}, each through a temporary file moved into place,
     * so a reader never sees half a table. The caller makes sure these files are its own to replace.
     */
    public void write(Path dir, String name) throws IOException {
        StringBuilder csv = new StringBuilder(CSV_HEADER).append('\n');
        ArrayNode json = JsonLines.object().arrayNode();
        for (Cell c : cells()) {
            csv.append(String.format(Locale.ROOT, "%s,%s,%s,%d,%.4f,%s,%.4f,%s,%s,\"%s\"%n", csvText(c.policy()), pct(c.retention()), csvText(c.group()), c.n(),
                    c.score(), fmt(c.agreement(), "%.4f"), c.keptVisualShare(), fmt(c.medianPolicyMs(), "%.3f"), fmt(c.medianDecodeMs(), "%.3f"), c.metrics()));
            ObjectNode o = json.addObject();
            o.put("policy", c.policy()).put("retention", c.retention()).put("group", c.group()).put("n", c.n()).put("score", c.score());
            putNum(o, "agreement_with_reference", c.agreement());
            o.put("kept_visual_share", c.keptVisualShare());
            putNum(o, "median_policy_ms", c.medianPolicyMs());
            putNum(o, "median_decode_ms", c.medianDecodeMs());
            o.put("metrics", c.metrics());
        }
        replace(dir.resolve(name + ".csv"), csv.toString());
        replace(dir.resolve(name + ".json"), JsonLines.pretty(json) + "\n");
    }

    /** Plots mean score against retention, one line per contender. */
    public void plot(Path png, String title) throws IOException {
        Charts.lineChart(png, title, "mean score", scoreSeries());
    }

    /** Mean score (all examples) as a policy × retention text table. */
    public String table() {
        Map<String, Map<Double, Cell>> byPolicy = new LinkedHashMap<>();
        TreeSet<Double> rets = new TreeSet<>(Comparator.reverseOrder());
        for (Cell c : cells()) {
            if (!c.group().equals("all")) continue;
            byPolicy.computeIfAbsent(c.policy(), k -> new LinkedHashMap<>()).put(c.retention(), c);
            rets.add(c.retention());
        }
        StringBuilder sb = new StringBuilder(String.format("%-34s", "policy \\ visual retention"));
        for (double r : rets) sb.append(String.format("%10s", pct(r) + "%"));
        sb.append('\n');
        for (var e : byPolicy.entrySet()) {
            sb.append(String.format("%-34s", e.getKey()));
            for (double r : rets) {
                Cell c = e.getValue().get(r);
                sb.append(c == null ? String.format("%10s", "-") : String.format(Locale.ROOT, "%10.3f", c.score()));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private static void replace(Path target, String content) throws IOException {
        Path tmp = Files.createTempFile(target.toAbsolutePath().getParent(), "." + target.getFileName(), ".tmp");
        try {
            Files.writeString(tmp, content, StandardCharsets.UTF_8);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp); // our own temporary file, if the move did not happen
        }
    }

    private static void putNum(ObjectNode o, String k, double v) {
        if (Double.isFinite(v)) o.put(k, v);
        else o.putNull(k);
    }

    private static String fmt(double v, String f) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, f, v) : "";
    }

    private static String csvText(String s) {
        return s.contains(",") || s.contains("\"") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }

    /** A retention as a percentage: 0.1 → 10, 0.025 → 2.5. */
    public static String pct(double r) {
        double p = r * 100;
        return Math.abs(p - Math.rint(p)) < 1e-9 ? Long.toString(Math.round(p)) : String.format(Locale.ROOT, "%.1f", p);
    }
}
