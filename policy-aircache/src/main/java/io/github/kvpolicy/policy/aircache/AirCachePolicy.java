package io.github.kvpolicy.policy.aircache;

import io.github.kvpolicy.api.BudgetAllocation;
import io.github.kvpolicy.api.BudgetAllocator;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Evictor;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.api.TokenScores;
import java.util.Arrays;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * AirCache — Huang et al., "AirCache: Activating Inter-modal Relevancy KV Cache Compression for Efficient Large
 * Vision-Language Model Inference", ICCV 2025, arXiv 2503.23956.
 *
 * <p>One compression of the visual KV cache after prefill; every text token is kept (scope {@link Scope#VISUAL}, no
 * protection). Per batch row, with N_v visual tokens, the instruction text T (the prompt text after the last image),
 * D the head dimension:
 * <ol>
 *   <li><b>Elite observation window</b> (per layer, on the head mean): {@code Att = softmax(q_last K_Tᵀ/√D)}, the
 *       attention of the last instruction token over the instruction tokens, averaged over the layer's query heads;
 *       the elite set is {@code E_l = { j ∈ T : Att[j] ≥ α · max Att }}, α = 0.9.</li>
 *   <li><b>Visual importance</b>: {@code A = softmax(Q_E K_{V∪E}ᵀ/√D)} (causal; the softmax runs over the visual keys
 *       and the elite keys only), {@code I_v = mean over the elite queries of A[:, V]}, per query head. A KV head's
 *       importance aggregates its query heads (mean, or max with {@code head-aggregation: max}); the layer's
 *       importance, used for the statistics, is the mean over all its query heads.</li>
 *   <li><b>Layer budget</b>: strength {@code s_t = Σ_i I_v[i]}; skewness
 *       {@code s_k = N_v/((N_v−1)(N_v−2)) Σ_i ((I_v[i] − μ)/σ)³} (σ the sample standard deviation). Negative
 *       skewness is clamped to 0 and undefined skewness (N_v &lt; 3, or flat importance: σ ≤ 10⁻⁶|μ|) counts as 0.
 *       Each is divided by its mean over layers ({@code s' = s / mean_l s}; a term whose mean is 0 becomes 1 for every
 *       layer). {@code r̂_l = ½ (s'_t + s'_k) · r}: the layer's weight {@code w_l = ½ (s'_t + s'_k)} has mean 1, so the
 *       layer targets {@code w_l · B} per KV head sum to the global budget. Each layer is clamped to
 *       {@code [min-per-layer, N_v]} and the budget redistributed (water-filling, {@code BudgetAllocation.proportional}):
 *       the kept visual tokens sum to the exact total, split evenly over a layer's KV heads.</li>
 *   <li><b>Eviction</b>: each (layer, KV head) keeps its top {@code r̂_l · N_v} visual tokens by its importance.</li>
 * </ol>
 * Ablations (paper §4): {@code window} = elite | last-k-text | all-text | last-k-visual (k = {@code window-k}) replaces the
 * elite set by that query set (keys: visual ∪ window); {@code allocation} = strength-skewness | strength | skewness |
 * uniform | pyramid (PyramidKV's linear schedule, β = 20) replaces the layer weights.
 *
 * <p>A row without instruction text has no observation window: its importance is 0 everywhere, its layers get equal
 * weights and each head keeps its earliest visual tokens. Stateless, immutable and thread-safe (a
 * {@linkplain #reportingWindows window listener} must be thread-safe itself if the policy is shared between threads).
 */
public final class AirCachePolicy implements CompressionPolicy {
    private final String name;
    private final AirCacheSettings settings;
    private final Consumer<int[][][]> windowListener; // null: no diagnostic

    public AirCachePolicy(String name, AirCacheSettings settings) {
        this(name, settings, null);
    }

    private AirCachePolicy(String name, AirCacheSettings settings, Consumer<int[][][]> windowListener) {
        this.name = Objects.requireNonNull(name, "name");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.windowListener = windowListener;
    }

    /**
     * The same policy, reporting on every {@link #compress} call the observation window it chose: {@code [row][layer]}
     * → the query positions (ascending prompt positions; for the elite window, the instruction tokens whose head-mean
     * attention from the last instruction token reaches α × its maximum). The plans are unchanged; the listener runs on
     * the calling thread, after the analysis and before eviction. A diagnostic (the elite-window table of
     * {@code kvpolicy eval --ablations}), not part of the SPI.
     */
    public AirCachePolicy reportingWindows(Consumer<int[][][]> listener) {
        return new AirCachePolicy(name, settings, Objects.requireNonNull(listener, "listener"));
    }

    public AirCacheSettings settings() {
        return settings;
    }

    @Override public String name() { return name; }

    @Override public Scope scope() { return Scope.VISUAL; }

    @Override
    public QueryWindow queryWindow() {
        return settings.window() == AirCacheSettings.Window.LAST_K_VISUAL ? QueryWindow.all() : QueryWindow.instructionText();
    }

    /** Scores: each candidate's importance for its KV head (one probe pass; see the class doc, step 2). */
    @Override
    public TokenScorer scorer() {
        return ctx -> scores(ctx, AirCacheAnalysis.analyse(ctx, settings));
    }

    /** Layer budgets from strength and skewness (step 3); probes on its own when used apart from {@link #compress}. */
    @Override
    public BudgetAllocator allocator() {
        return (ctx, scores) -> allocation(ctx, AirCacheAnalysis.analyse(ctx, settings), settings);
    }

    @Override
    public RetentionPlan compress(PolicyContext ctx) {
        AirCacheAnalysis.Row[] rows = AirCacheAnalysis.analyse(ctx, settings);
        if (windowListener != null) {
            int[][][] windows = new int[rows.length][][];
            for (int r = 0; r < rows.length; r++) {
                windows[r] = new int[rows[r].window().length][];
                for (int l = 0; l < windows[r].length; l++) windows[r][l] = rows[r].window()[l].clone();
            }
            windowListener.accept(windows);
        }
        return Evictor.topK().evict(ctx, scores(ctx, rows), allocation(ctx, rows, settings));
    }

    static TokenScores scores(PolicyContext ctx, AirCacheAnalysis.Row[] rows) {
        ModelShape s = ctx.shape();
        TokenScores out = TokenScores.forContext(ctx);
        for (int r = 0; r < rows.length; r++)
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) {
                    int[] cand = ctx.candidates(r, l, h);
                    float[] imp = rows[r].importance()[l][h];
                    float[] sc = new float[cand.length];
                    for (int i = 0; i < cand.length; i++) {
                        int j = Arrays.binarySearch(rows[r].visual(), cand[i]);
                        float v = j >= 0 ? imp[j] : 0f;
                        sc[i] = Float.isNaN(v) ? 0f : v;
                    }
                    out.set(r, l, h, sc);
                }
        return out;
    }

    /**
     * Splits each row's exact total over layers by the analysis weights, each layer within
     * {@code [min(minPerLayer, its candidates), its candidates]} per KV head, evenly over its KV heads (when every head
     * of a layer holds the same candidates and the total divides by the KV heads — always right after prefill with a
     * budget below N_v; otherwise over (layer, head) pairs).
     */
    static BudgetAllocation allocation(PolicyContext ctx, AirCacheAnalysis.Row[] rows, AirCacheSettings st) {
        ModelShape s = ctx.shape();
        int layers = s.layers(), heads = s.kvHeads();
        int[][][] out = new int[rows.length][layers][heads];
        for (int r = 0; r < rows.length; r++) {
            int b = ctx.budgetTokens(r);
            int minTokens = Math.min(st.minPerLayer().resolve(b), b);
            double[] w = rows[r].weights();
            int[][] cand = new int[layers][heads];
            boolean even = true;
            for (int l = 0; l < layers; l++)
                for (int h = 0; h < heads; h++) { cand[l][h] = ctx.candidates(r, l, h).length; even &= cand[l][h] == cand[l][0]; }
            long total = ctx.exactTotal(r);
            if (even && total % heads == 0) {
                int[] min = new int[layers], max = new int[layers];
                long sumMin = 0;
                for (int l = 0; l < layers; l++) { max[l] = cand[l][0]; min[l] = Math.min(minTokens, max[l]); sumMin += min[l]; }
                if (sumMin > total / heads) Arrays.fill(min, 0);
                int[] per = BudgetAllocation.proportional(total / heads, w, min, max);
                for (int l = 0; l < layers; l++) Arrays.fill(out[r][l], per[l]);
            } else {
                double[] fw = new double[layers * heads];
                int[] min = new int[layers * heads], max = new int[layers * heads];
                long sumMin = 0;
                for (int l = 0; l < layers; l++)
                    for (int h = 0; h < heads; h++) {
                        int i = l * heads + h;
                        fw[i] = w[l];
                        max[i] = cand[l][h];
                        min[i] = Math.min(minTokens, max[i]);
                        sumMin += min[i];
                    }
                if (sumMin > total) Arrays.fill(min, 0);
                int[] flat = BudgetAllocation.proportional(total, fw, min, max);
                for (int l = 0; l < layers; l++) for (int h = 0; h < heads; h++) out[r][l][h] = flat[l * heads + h];
            }
        }
        return BudgetAllocation.of(out);
    }

    @Override
    public String toString() {
        return "AirCachePolicy[" + name + ", " + settings + "]";
    }
}
