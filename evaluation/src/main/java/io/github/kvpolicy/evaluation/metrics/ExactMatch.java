package io.github.kvpolicy.evaluation.metrics;

import java.util.List;
import java.util.Locale;

/**
 * Exact match: 1 if the prediction equals one of the answers after trimming, collapsing runs of white space to one
 * space and lower-casing (Locale.ROOT), else 0. No punctuation or article handling (that is {@link VqaAccuracy}'s).
 */
public final class ExactMatch implements Metric {
    @Override
    public String name() {
        return "exact";
    }

    @Override
    public double score(String prediction, List<String> answers) {
        Metric.requireAnswers(name(), answers);
        String p = normalise(prediction);
        for (String a : answers) if (normalise(a).equals(p)) return 1.0;
        return 0.0;
    }

    /** Trimmed, white space collapsed to single spaces, lower-cased; {@code null} counts as empty. */
    static String normalise(String s) {
        if (s == null) return "";
        return String.join(" ", s.trim().toLowerCase(Locale.ROOT).split("\\s+")).trim();
    }
}
