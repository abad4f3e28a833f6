package io.github.kvpolicy.evaluation.metrics;

import java.util.List;

/**
 * ANLS, the DocVQA metric (Biten et al., "Scene Text Visual Question Answering", ICCV 2019; Mathew et al., "DocVQA",
 * WACV 2021): for each answer, NL = Levenshtein(p, a) / max(|p|, |a|) on strings lower-cased, trimmed and with inner
 * white space collapsed; the similarity is 1 − NL when NL &lt; 0.5 and 0 otherwise; the score is the maximum over the
 * answers. Two empty strings have NL = 0. Lengths count UTF-16 code units.
 */
public final class Anls implements Metric {
    /** Answers at this normalised distance or further count as wrong. */
    public static final double THRESHOLD = 0.5;

    @Override
    public String name() {
        return "anls";
    }

    @Override
    public double score(String prediction, List<String> answers) {
        Metric.requireAnswers(name(), answers);
        String p = ExactMatch.normalise(prediction);
        double best = 0;
        for (String a : answers) {
            String n = ExactMatch.normalise(a);
            int len = Math.max(p.length(), n.length());
            double nl = len == 0 ? 0 : levenshtein(p, n) / (double) len;
            best = Math.max(best, nl < THRESHOLD ? 1 - nl : 0);
        }
        return best;
    }

    /** Edit distance with unit costs for insertion, deletion and substitution. */
    static int levenshtein(String a, String b) {
        int[] prev = new int[b.length() + 1], cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) prev[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
