package io.github.kvpolicy.evaluation.metrics;

import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;
import java.util.regex.Pattern;

/**
 * Relaxed accuracy, the ChartQA metric (Masry et al., ACL Findings 2022; as implemented for Pix2Struct/MatCha): if
 * both the prediction and the answer read as numbers and the answer is not 0, the prediction is correct when
 * |p − a| / |a| ≤ 5%; otherwise it is correct when the two strings are equal ignoring case (after trimming). The score
 * is the maximum over the answers (1 or 0).
 *
 * <p>A number is an optionally signed decimal with an optional exponent, after trimming; a trailing {@code %} divides
 * it by 100 ({@code "5%"} = 0.05, as in the reference implementation); thousands separators in the form
 * {@code 1,000} / {@code 12,345.6} are accepted (the reference implementation's {@code float()} rejects them and falls
 * back to string equality; charts label large numbers that way, so we read them as numbers). {@code NaN} and infinity
 * are not numbers here.
 */
public final class RelaxedAccuracy implements Metric {
    /** The largest relative change that still counts as correct. */
    public static final double TOLERANCE = 0.05;

    private static final Pattern PLAIN = Pattern.compile("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?");
    private static final Pattern GROUPED = Pattern.compile("[+-]?\\d{1,3}(,\\d{3})+(\\.\\d*)?");

    @Override
    public String name() {
        return "relaxed";
    }

    @Override
    public double score(String prediction, List<String> answers) {
        Metric.requireAnswers(name(), answers);
        String p = prediction == null ? "" : prediction.trim();
        OptionalDouble pn = number(p);
        for (String answer : answers) {
            String a = answer.trim();
            OptionalDouble an = number(a);
            if (pn.isPresent() && an.isPresent() && an.getAsDouble() != 0) {
                if (Math.abs(pn.getAsDouble() - an.getAsDouble()) / Math.abs(an.getAsDouble()) <= TOLERANCE) return 1.0;
            } else if (p.toLowerCase(Locale.ROOT).equals(a.toLowerCase(Locale.ROOT))) {
                return 1.0;
            }
        }
        return 0.0;
    }

    /** {@code s} as a number (see the class comment), or empty. */
    static OptionalDouble number(String s) {
        String t = s.trim();
        double scale = 1;
        if (t.endsWith("%")) {
            t = t.substring(0, t.length() - 1).trim();
            scale = 0.01;
        }
        if (GROUPED.matcher(t).matches()) t = t.replace(",", "");
        if (!PLAIN.matcher(t).matches()) return OptionalDouble.empty();
        double v = Double.parseDouble(t) * scale;
        return Double.isFinite(v) ? OptionalDouble.of(v) : OptionalDouble.empty();
    }
}
