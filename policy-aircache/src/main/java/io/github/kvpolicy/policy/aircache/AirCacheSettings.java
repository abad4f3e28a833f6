package io.github.kvpolicy.policy.aircache;

import io.github.kvpolicy.api.Budget;
import java.util.Objects;

/**
 * Validated AirCache settings. Immutable.
 *
 * @param alpha          relevancy threshold of the elite window, in [0, 1]
 * @param minPerLayer    the least a layer keeps per KV head: a ratio is a fraction of the per-head budget B
 *                       ({@code round(ratio · B)}), a count is tokens ({@code min(count, B)})
 * @param headMax        true: a KV head's importance is the max over its query heads; false: the mean
 * @param window         observation window (elite, or an ablation)
 * @param windowK        k of the last-k windows, ≥ 1
 * @param allocation     layer allocation rule (strength + skewness, or an ablation)
 */
public record AirCacheSettings(double alpha, Budget minPerLayer, boolean headMax, Window window, int windowK, Allocation allocation) {
    /** Pyramid steepness of the {@link Allocation#PYRAMID} ablation (PyramidKV's β). */
    public static final double PYRAMID_BETA = 20.0;

    public AirCacheSettings {
        if (!(alpha >= 0 && alpha <= 1)) throw new IllegalArgumentException("alpha must be in [0, 1], got " + alpha);
        Objects.requireNonNull(minPerLayer, "minPerLayer");
        Objects.requireNonNull(window, "window");
        Objects.requireNonNull(allocation, "allocation");
        if (windowK < 1) throw new IllegalArgumentException("windowK must be >= 1, got " + windowK);
    }

    /** The paper's configuration: α = 0.9, elite window, strength + skewness, at least 10% of B per layer, mean over heads. */
    public static AirCacheSettings defaults() {
        return new AirCacheSettings(0.9, Budget.ratio(0.1), false, Window.ELITE, 8, Allocation.STRENGTH_SKEWNESS);
    }

    /** The observation window whose queries score the visual tokens. */
    public enum Window {
        /** The elite instruction tokens: those the last instruction token attends to at least α times its maximum. */
        ELITE("elite"),
        /** The last k instruction-text tokens. */
        LAST_K_TEXT("last-k-text"),
        /** Every instruction-text token. */
        ALL_TEXT("all-text"),
        /** The last k visual tokens. */
        LAST_K_VISUAL("last-k-visual");

        final String option;

        Window(String option) { this.option = option; }

        static Window of(String option) {
            for (Window w : values()) if (w.option.equals(option)) return w;
            throw new IllegalArgumentException("unknown window '" + option + "'");
        }
    }

    /** How the visual budget is spread over layers. */
    public enum Allocation {
        /** ½ (strength' + skewness'), the paper's rule. */
        STRENGTH_SKEWNESS("strength-skewness"),
        STRENGTH("strength"),
        SKEWNESS("skewness"),
        UNIFORM("uniform"),
        /** PyramidKV's linear schedule (β = 20), for the ablation. */
        PYRAMID("pyramid");

        final String option;

        Allocation(String option) { this.option = option; }

        static Allocation of(String option) {
            for (Allocation a : values()) if (a.option.equals(option)) return a;
            throw new IllegalArgumentException("unknown allocation '" + option + "'");
        }
    }
}
