package io.github.kvpolicy.api;

import java.util.Locale;

/**
 * How many compressible tokens a policy may keep, per batch row, per layer and KV head on average.
 *
 * <p>The compressible tokens of a row are its <em>candidates</em> at prefill: the prompt positions in the
 * policy's {@link Scope} that its {@link Protection} does not protect. The budget is resolved once per row,
 * against that prefill count, into a token count {@code B}; the same {@code B} applies at every later action
 * of the policy (decoding-time policies therefore keep the cache bounded). Tokens outside the scope and
 * protected tokens are always kept and never counted.
 */
@Stable
public sealed interface Budget permits Budget.Ratio, Budget.Count {

    /** The number of tokens kept out of {@code compressible ≥ 0} candidates; in {@code [0, compressible]} for ratios. */
    int resolve(int compressible);

    /**
     * The budget {@code B} of every row of {@code layout}: {@link #resolve} of that row's candidate count at prefill
     * ({@link Candidates#atPrefill}). This is the one place where a budget becomes token counts; the runtime, the
     * policy context and the conformance suite all call it.
     *
     * @return a new array, one entry per row, each ≥ 0
     */
    default int[] tokensPerRow(TokenLayout layout, Scope scope, Protection protection) {
        int[] b = new int[layout.batchSize()];
        for (int r = 0; r < b.length; r++) b[r] = resolve(Candidates.atPrefill(layout.row(r), scope, protection));
        return b;
    }

    /** A fraction of the candidates, rounded half up: {@code round(fraction × n)}. */
    static Budget ratio(double fraction) {
        return new Ratio(fraction);
    }

    /** An absolute token count; a count above the candidates keeps them all. */
    static Budget count(int tokens) {
        return new Count(tokens);
    }

    /**
     * Parses {@code "10%"} or {@code "0.1"} (a ratio; a decimal point is required) or {@code "64"} (a count).
     *
     * @throws IllegalArgumentException naming the text and the accepted forms
     */
    static Budget parse(String text) {
        String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        try {
            if (t.endsWith("%")) return ratio(Double.parseDouble(t.substring(0, t.length() - 1).trim()) / 100.0);
            if (t.contains(".") || t.contains("e")) return ratio(Double.parseDouble(t));
            return count(Integer.parseInt(t));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("Invalid budget '" + text + "': expected a percentage such as '10%', a ratio in [0, 1] such as '0.1', or a token count such as '64'");
        }
    }

    /** A fraction of the candidates. @param fraction in [0, 1] */
    @Stable
    record Ratio(double fraction) implements Budget {
        public Ratio {
            if (!(fraction >= 0.0 && fraction <= 1.0)) {
                throw new IllegalArgumentException("Invalid budget ratio " + fraction + ": expected a value in [0, 1]");
            }
        }

        @Override
        public int resolve(int compressible) {
            if (compressible < 0) throw new IllegalArgumentException("compressible < 0: " + compressible);
            return (int) Math.min(compressible, Math.floor(fraction * compressible + 0.5));
        }

        @Override
        public String toString() {
            return (fraction * 100.0) + "%";
        }
    }

    /** An absolute count. @param tokens ≥ 0 */
    @Stable
    record Count(int tokens) implements Budget {
        public Count {
            if (tokens < 0) throw new IllegalArgumentException("Invalid budget count " + tokens + ": expected a count >= 0");
        }

        @Override
        public int resolve(int compressible) {
            if (compressible < 0) throw new IllegalArgumentException("compressible < 0: " + compressible);
            return Math.min(tokens, compressible);
        }

        @Override
        public String toString() {
            return Integer.toString(tokens);
        }
    }
}
