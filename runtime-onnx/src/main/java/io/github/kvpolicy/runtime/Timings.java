package io.github.kvpolicy.runtime;

import java.util.Arrays;
import java.util.List;

/**
 * Wall-clock times of one request, in milliseconds.
 *
 * @param prefillMs  embedding (text and images) and every prefill chunk through the decoder
 * @param decodeMs   each decoding step (one decoder call for the whole batch, plus sampling), in order
 * @param policyMs   Σ over the policy's actions of context building, {@code compress} and validation
 * @param compactionMs Σ over the policy's actions of cache compaction
 */
public record Timings(double prefillMs, List<Double> decodeMs, double policyMs, double compactionMs) {
    public Timings {
        decodeMs = List.copyOf(decodeMs);
    }

    /** The median decoding step, or NaN if there was none. */
    public double medianDecodeMs() {
        return median(decodeMs);
    }

    /** The median of {@code xs}, NaN if empty. */
    public static double median(List<Double> xs) {
        if (xs.isEmpty()) return Double.NaN;
        double[] a = xs.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(a);
        int n = a.length;
        return n % 2 == 1 ? a[n / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
    }
}
