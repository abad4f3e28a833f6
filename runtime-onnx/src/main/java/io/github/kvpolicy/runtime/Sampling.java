package io.github.kvpolicy.runtime;

/**
 * How the next token is chosen from the logits. Greedy picks the largest logit (ties: the lowest token id).
 * Sampling divides the logits by {@code temperature}, keeps the {@code topK} largest (0 = all), then the smallest
 * set whose probability reaches {@code topP} (1 = all), and draws with a generator seeded by {@code seed} and the row
 * number (so every row of a batch is reproducible on its own).
 *
 * @param greedy      true for greedy decoding (the other fields are then ignored)
 * @param temperature &gt; 0
 * @param topK        ≥ 0, 0 = no limit
 * @param topP        in (0, 1]
 * @param seed        random seed
 */
public record Sampling(boolean greedy, double temperature, int topK, double topP, long seed) {
    public Sampling {
        if (!(temperature > 0) || !Double.isFinite(temperature)) throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("topK must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
    }

    public static Sampling greedyDecoding() {
        return new Sampling(true, 1.0, 0, 1.0, 0);
    }

    public static Sampling sample(double temperature, int topK, double topP, long seed) {
        return new Sampling(false, temperature, topK, topP, seed);
    }
}
