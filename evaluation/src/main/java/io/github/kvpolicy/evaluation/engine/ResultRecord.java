package io.github.kvpolicy.evaluation.engine;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.kvpolicy.evaluation.json.JsonLines;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One line of a results file: the outcome of one example under one contender at one retention. Its key is
 * (example, policy, retention); a results file holds each key at most once. JSON field names are snake_case; NaN
 * timings are written as {@code null}. Immutable.
 */
public record ResultRecord(String example, String group, String policy, double retention, String metric, double score, String answer,
                           double policyMs, double decodeMs, long keptVisual, long totalVisual, Map<String, Double> extra) {
    public ResultRecord {
        Objects.requireNonNull(example);
        Objects.requireNonNull(policy);
        Objects.requireNonNull(answer);
        extra = Map.copyOf(extra);
        if (!(retention > 0 && retention <= 1)) throw new IllegalArgumentException("retention must be in (0, 1], got " + retention);
        if (!(score >= 0 && score <= 1)) throw new IllegalArgumentException("score must be in [0, 1], got " + score);
    }

    /** The record's key: example, policy and retention. */
    public Key key() {
        return new Key(example, policy, retention);
    }

    /** (example, policy, retention): what a resumed run skips when it is already in the file. */
    public record Key(String example, String policy, double retention) {}

    /** One line of JSON, without the line break. */
    public String toJson() {
        ObjectNode o = JsonLines.object();
        o.put("example", example).put("group", group).put("policy", policy).put("retention", retention).put("metric", metric)
                .put("score", score).put("answer", answer);
        num(o, "policy_ms", policyMs);
        num(o, "decode_ms", decodeMs);
        o.put("kept_visual", keptVisual).put("total_visual", totalVisual);
        ObjectNode x = o.putObject("extra");
        new java.util.TreeMap<>(extra).forEach((k, v) -> num(x, k, v));
        return JsonLines.compact(o);
    }

    private static void num(ObjectNode o, String k, double v) {
        if (Double.isFinite(v)) o.put(k, v);
        else o.putNull(k);
    }

    /**
     * Reads a record written by {@link #toJson}.
     *
     * @throws IllegalArgumentException naming the missing or mistyped field
     */
    public static ResultRecord fromJson(JsonNode o) {
        if (!o.isObject()) throw new IllegalArgumentException("expected a JSON object");
        Map<String, Double> extra = new LinkedHashMap<>();
        JsonNode x = o.get("extra");
        if (x != null && x.isObject()) {
            for (Map.Entry<String, JsonNode> e : x.properties()) {
                extra.put(e.getKey(), e.getValue().isNumber() ? e.getValue().doubleValue() : Double.NaN);
            }
        }
        return new ResultRecord(str(o, "example"), str(o, "group"), str(o, "policy"), dbl(o, "retention"), str(o, "metric"), dbl(o, "score"),
                str(o, "answer"), dbl(o, "policy_ms"), dbl(o, "decode_ms"), (long) dbl(o, "kept_visual"), (long) dbl(o, "total_visual"), extra);
    }

    private static String str(JsonNode o, String k) {
        JsonNode n = o.get(k);
        if (n == null || !n.isTextual()) throw new IllegalArgumentException("field \"" + k + "\" must be a string");
        return n.asText();
    }

    private static double dbl(JsonNode o, String k) {
        JsonNode n = o.get(k);
        if (n != null && n.isNull()) return Double.NaN;
        if (n == null || !n.isNumber()) throw new IllegalArgumentException("field \"" + k + "\" must be a number");
        return n.doubleValue();
    }
}
