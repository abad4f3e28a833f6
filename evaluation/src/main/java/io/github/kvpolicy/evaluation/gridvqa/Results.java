package io.github.kvpolicy.evaluation.gridvqa;

import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.evaluation.engine.Contender;
import io.github.kvpolicy.evaluation.engine.ResultRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** Aggregates evaluation outcomes per (policy, retention) and per family; writes CSV, JSON and a text table. */
public final class Results {
    /** One aggregated cell. */
    /**
     * One aggregated cell. {@code agreement} is the share of examples whose answer equals the uncompressed model's
     * answer (fidelity to the full cache, meaningful even where the model itself is wrong).
     */
    public record Cell(String policy, double retention, String family, int n, double exactMatch, double tokenAccuracy,
                       double agreement, double keptVisualShare, double medianPolicyMs, double medianDecodeMs) {}

    private final List<Evaluation.Outcome> outcomes;

    public Results(List<Evaluation.Outcome> outcomes) {
        this.outcomes = List.copyOf(outcomes);
    }

    /**
     * The outcomes the {@link Evaluation#answerer() GridVQA answerer}'s records describe (exact = score 1; the token
     * counts and the agreement from the records' {@code extra}). {@code generated} is empty: records keep the answer
     * text, not the token ids.
     *
     * @throws IllegalArgumentException naming a record that lacks the GridVQA numbers
     */
    public static Results fromRecords(List<ResultRecord> records) {
        List<Evaluation.Outcome> out = new ArrayList<>();
        for (ResultRecord r : records) {
            Double correct = r.extra().get(Evaluation.CORRECT_TOKENS), total = r.extra().get(Evaluation.ANSWER_TOKENS), agrees = r.extra().get(Evaluation.AGREES_WITH_FULL);
            if (correct == null || total == null || agrees == null) throw new IllegalArgumentException("record " + r.key() + " is not a GridVQA record (no token counts)");
            out.add(new Evaluation.Outcome(r.example(), r.group(), r.policy(), r.retention(), r.score() == 1.0, correct.intValue(), total.intValue(), new long[0],
                    agrees == 1.0, r.policyMs(), r.decodeMs(), r.keptVisual(), r.totalVisual()));
        }
        return new Results(out);
    }

    public List<Evaluation.Outcome> outcomes() {
        return outcomes;
    }

    /** Per (policy, retention), over all families ({@code family = "all"}) and per family; in first-seen policy order. */
    public List<Cell> cells() {
        Map<String, List<Evaluation.Outcome>> groups = new LinkedHashMap<>();
        for (Evaluation.Outcome o : outcomes) {
            groups.computeIfAbsent(key(o.policy(), o.retention(), "all"), k -> new ArrayList<>()).add(o);
            groups.computeIfAbsent(key(o.policy(), o.retention(), o.family()), k -> new ArrayList<>()).add(o);
        }
        List<Cell> cells = new ArrayList<>();
        for (Map.Entry<String, List<Evaluation.Outcome>> group : groups.entrySet()) {
            List<Evaluation.Outcome> g = group.getValue();
            Evaluation.Outcome f = g.get(0);
            String family = group.getKey().split("\u0000")[2];
            int n = g.size();
            double exact = g.stream().filter(Evaluation.Outcome::exact).count() / (double) n;
            double tok = g.stream().mapToInt(Evaluation.Outcome::correctTokens).sum() / (double) g.stream().mapToInt(Evaluation.Outcome::answerTokens).sum();
            long kept = g.stream().mapToLong(Evaluation.Outcome::keptVisual).sum(), total = g.stream().mapToLong(Evaluation.Outcome::totalVisual).sum();
            double agree = g.stream().filter(Evaluation.Outcome::agreesWithFull).count() / (double) n;
            cells.add(new Cell(f.policy(), f.retention(), family, n, exact, tok, agree, total == 0 ? 1.0 : kept / (double) total,
                    median(g.stream().mapToDouble(Evaluation.Outcome::policyMs).toArray()), median(g.stream().mapToDouble(Evaluation.Outcome::decodeMsMedian).toArray())));
        }
        return cells;
    }

    private static String key(String p, double r, String fam) {
        return p + "\u0000" + r + "\u0000" + fam;
    }

    static double median(double[] a) {
        double[] s = java.util.Arrays.stream(a).filter(x -> !Double.isNaN(x)).sorted().toArray();
        if (s.length == 0) return Double.NaN;
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** policy → (retention → exact match) over all families. */
    public Map<String, Map<Double, Double>> exactMatchSeries() {
        Map<String, Map<Double, Double>> out = new LinkedHashMap<>();
        for (Cell c : cells()) if (c.family().equals("all")) out.computeIfAbsent(c.policy(), k -> new TreeMap<>()).put(c.retention(), c.exactMatch());
        return out;
    }

    /** policy → (retention → agreement with the uncompressed answer) over all families. */
    public Map<String, Map<Double, Double>> agreementSeries() {
        Map<String, Map<Double, Double>> out = new LinkedHashMap<>();
        for (Cell c : cells()) if (c.family().equals("all")) out.computeIfAbsent(c.policy(), k -> new TreeMap<>()).put(c.retention(), c.agreement());
        return out;
    }

    /** Writes {@code name}.csv (aggregates), {@code name}.json and {@code name}-outcomes.csv (one line per run). */
    public void write(Path dir, String name) throws IOException {
        StringBuilder csv = new StringBuilder("policy,retention_percent,family,n,exact_match,token_accuracy,agreement_with_full,kept_visual_share,median_policy_ms,median_decode_ms\n");
        StringBuilder json = new StringBuilder("[\n");
        List<Cell> cells = cells();
        for (int i = 0; i < cells.size(); i++) {
            Cell c = cells.get(i);
            csv.append(String.format(Locale.ROOT, "%s,%s,%s,%d,%.4f,%.4f,%.4f,%.4f,%.3f,%.3f%n", c.policy(), pct(c.retention()), c.family(), c.n(),
                    c.exactMatch(), c.tokenAccuracy(), c.agreement(), c.keptVisualShare(), c.medianPolicyMs(), c.medianDecodeMs()));
            json.append(String.format(Locale.ROOT,
                    "  {\"policy\": \"%s\", \"retention\": %s, \"family\": \"%s\", \"n\": %d, \"exact_match\": %.4f, \"token_accuracy\": %.4f, \"agreement_with_full\": %.4f, \"kept_visual_share\": %.4f, \"median_policy_ms\": %s, \"median_decode_ms\": %s}%s%n",
                    c.policy(), c.retention(), c.family(), c.n(), c.exactMatch(), c.tokenAccuracy(), c.agreement(), c.keptVisualShare(), num(c.medianPolicyMs()),
                    num(c.medianDecodeMs()), i + 1 < cells.size() ? "," : ""));
        }
        json.append("]\n");
        StringBuilder per = new StringBuilder("example,family,policy,retention_percent,exact,correct_tokens,answer_tokens,agrees_with_full,kept_visual,total_visual\n");
        for (Evaluation.Outcome o : outcomes) {
            per.append(String.format(Locale.ROOT, "%s,%s,%s,%s,%b,%d,%d,%b,%d,%d%n", o.exampleId(), o.family(), o.policy(), pct(o.retention()), o.exact(),
                    o.correctTokens(), o.answerTokens(), o.agreesWithFull(), o.keptVisual(), o.totalVisual()));
        }
        Files.writeString(dir.resolve(name + ".csv"), csv);
        Files.writeString(dir.resolve(name + ".json"), json);
        Files.writeString(dir.resolve(name + "-outcomes.csv"), per);
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "null" : String.format(Locale.ROOT, "%.3f", v);
    }

    static String pct(double r) {
        double p = r * 100;
        return p == Math.rint(p) ? Long.toString(Math.round(p)) : String.format(Locale.ROOT, "%.1f", p);
    }

    /** Exact match (all families) as a policy × retention text table, with the per-token accuracy in brackets. */
    public String table() {
        return table(false);
    }

    /** {@code agreement}: the share of answers equal to the uncompressed answer instead of exact match / token accuracy. */
    public String table(boolean agreement) {
        Map<String, Map<Double, Cell>> byPolicy = new LinkedHashMap<>();
        TreeMap<Double, Boolean> rets = new TreeMap<>(java.util.Comparator.reverseOrder());
        for (Cell c : cells()) {
            if (!c.family().equals("all")) continue;
            byPolicy.computeIfAbsent(c.policy(), k -> new LinkedHashMap<>()).put(c.retention(), c);
            rets.put(c.retention(), true);
        }
        StringBuilder sb = new StringBuilder(String.format("%-34s", "policy \\ visual retention"));
        for (double r : rets.keySet()) sb.append(String.format("%16s", pct(r) + "%"));
        sb.append('\n');
        for (Map.Entry<String, Map<Double, Cell>> e : byPolicy.entrySet()) {
            sb.append(String.format("%-34s", e.getKey()));
            for (double r : rets.keySet()) {
                Cell c = e.getValue().get(r);
                sb.append(c == null ? String.format("%16s", "-") : agreement ? String.format(Locale.ROOT, "%16.3f", c.agreement())
                        : String.format(Locale.ROOT, "%9.3f (%.3f)", c.exactMatch(), c.tokenAccuracy()));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** The first {@code perFamily} examples of each family (all if ≤ 0), in file order. */
    public static List<GridVqa.Example> limitPerFamily(List<GridVqa.Example> all, int perFamily) {
        if (perFamily <= 0) return all;
        Map<String, Integer> seen = new LinkedHashMap<>();
        List<GridVqa.Example> out = new ArrayList<>();
        for (GridVqa.Example e : all) {
            int n = seen.merge(e.family(), 1, Integer::sum);
            if (n <= perFamily) out.add(e);
        }
        return out;
    }

    /**
     * AirCache's ablations: observation-window variants (the elite set; the last k = 1, 2, 4 instruction tokens, all
     * shorter than every GridVQA instruction, so they differ from all-text; all instruction tokens; the last 8 visual
     * tokens) and allocation variants.
     */
    public static List<Contender> ablationContenders() {
        List<Contender> out = new ArrayList<>();
        out.add(new Contender("aircache window=elite", new PolicyConfig("aircache", Map.of("window", "elite"))));
        for (int k : new int[] {1, 2, 4}) {
            out.add(new Contender("aircache window=last-k-text k=" + k, new PolicyConfig("aircache", Map.of("window", "last-k-text", "window-k", k))));
        }
        for (String w : List.of("all-text", "last-k-visual")) {
            out.add(new Contender("aircache window=" + w, new PolicyConfig("aircache", Map.of("window", w))));
        }
        for (String a : List.of("strength", "skewness", "uniform", "pyramid")) {
            out.add(new Contender("aircache allocation=" + a, new PolicyConfig("aircache", Map.of("allocation", a))));
        }
        return out;
    }
}
