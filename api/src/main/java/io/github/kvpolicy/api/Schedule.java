package io.github.kvpolicy.api;

/**
 * When the runtime calls a policy.
 *
 * @param afterPrefill   once, after the prompt has been prefilled
 * @param everySteps     during decoding, after every {@code everySteps} generated tokens; 0 = never
 * @param whenOverBudget during decoding, whenever a (row, layer, KV head) holds more than
 *                       {@code budget + slack} candidates
 * @param slack          tokens over budget tolerated before {@code whenOverBudget} fires, ≥ 0
 */
@Stable
public record Schedule(boolean afterPrefill, int everySteps, boolean whenOverBudget, int slack) {
    public Schedule {
        if (everySteps < 0 || slack < 0) throw new IllegalArgumentException("everySteps and slack must be >= 0");
        if (!afterPrefill && everySteps == 0 && !whenOverBudget) throw new IllegalArgumentException("a schedule must act at least once");
    }

    /** Once after prefill (the default). */
    public static Schedule onceAfterPrefill() {
        return new Schedule(true, 0, false, 0);
    }

    /** After prefill and every {@code n ≥ 1} decoding steps. */
    public static Schedule everySteps(int n) {
        if (n < 1) throw new IllegalArgumentException("everySteps must be >= 1, got " + n);
        return new Schedule(true, n, false, 0);
    }

    /** After prefill and whenever the cache exceeds the budget by more than {@code slack} tokens. */
    public static Schedule whenOverBudget(int slack) {
        return new Schedule(true, 0, true, slack);
    }

    /**
     * Whether the policy is due after decoding step {@code step ≥ 1}: every {@link #everySteps} steps, or when
     * {@link #whenOverBudget} and {@code overBudget} (some (row, layer, KV head) holds more than {@code B + slack}
     * candidates). The single statement of this rule: the runtime and the conformance suite both call it.
     */
    public boolean dueAfterDecodeStep(int step, boolean overBudget) {
        if (step < 1) return false;
        if (everySteps > 0 && step % everySteps == 0) return true;
        return whenOverBudget && overBudget;
    }

    /** True if the policy acts during decoding. */
    public boolean actsDuringDecoding() {
        return everySteps > 0 || whenOverBudget;
    }
}
