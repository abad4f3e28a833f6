package io.github.kvpolicy.runtime;

import java.util.Arrays;
import java.util.SplittableRandom;

/** Picks tokens from logits per {@link Sampling}. Stateless apart from the caller's random generator. */
final class Sampler {
    private Sampler() {}

    /** The token chosen from {@code logits[off .. off + v)}. */
    static int pick(float[] logits, int off, int v, Sampling s, SplittableRandom rng) {
        if (s.greedy()) {
            int best = 0;
            float bv = logits[off];
            for (int i = 1; i < v; i++) {
                if (logits[off + i] > bv) {
                    bv = logits[off + i];
                    best = i;
                }
            }
            return best;
        }
        // candidates sorted by logit descending (ties: lower id first)
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> {
            int c = Float.compare(logits[off + b], logits[off + a]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        int k = s.topK() > 0 ? Math.min(s.topK(), v) : v;
        double max = logits[off + order[0]] / s.temperature();
        double[] p = new double[k];
        double sum = 0;
        for (int i = 0; i < k; i++) {
            p[i] = Math.exp(logits[off + order[i]] / s.temperature() - max);
            sum += p[i];
        }
        int n = k;
        if (s.topP() < 1.0) {
            double cum = 0;
            for (int i = 0; i < k; i++) {
                cum += p[i] / sum;
                if (cum >= s.topP()) {
                    n = i + 1;
                    break;
                }
            }
        }
        double total = 0;
        for (int i = 0; i < n; i++) total += p[i];
        double u = rng.nextDouble() * total;
        for (int i = 0; i < n; i++) {
            u -= p[i];
            if (u < 0) return order[i];
        }
        return order[n - 1];
    }
}
