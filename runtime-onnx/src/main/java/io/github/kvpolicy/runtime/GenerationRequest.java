package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.TokenLayout;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * One generation: a batch of prompts (rows may differ in length), how many tokens to generate, when to stop, how to
 * sample, and optionally a compression policy with its budget. Immutable.
 */
public final class GenerationRequest {
    private final List<Prompt> rows;
    private final int maxNewTokens;
    private final long[] stopTokens;
    private final Sampling sampling;
    private final CompressionPolicy policy;
    private final Budget budget;
    private final long policySeed;
    private final QueryWindow extraQueryWindow;
    private final boolean recordLogits;
    private final boolean recordPlans;
    private final io.github.kvpolicy.runtime.policy.PolicyDeclaration declaration;

    private GenerationRequest(Builder b) {
        if (b.rows.isEmpty()) throw new IllegalArgumentException("a request needs at least one prompt row");
        if (b.maxNewTokens < 0) throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + b.maxNewTokens);
        if ((b.policy == null) != (b.budget == null)) {
            throw new IllegalArgumentException(b.policy == null ? "a budget was given without a policy" : "policy '" + b.policy.name() + "' needs a budget");
        }
        this.rows = List.copyOf(b.rows);
        this.maxNewTokens = b.maxNewTokens;
        this.stopTokens = b.stopTokens.clone();
        Arrays.sort(stopTokens);
        this.sampling = Objects.requireNonNull(b.sampling, "sampling");
        this.policy = b.policy;
        this.budget = b.budget;
        this.policySeed = b.policySeed;
        this.extraQueryWindow = Objects.requireNonNull(b.extraQueryWindow, "extraQueryWindow");
        this.recordLogits = b.recordLogits;
        this.recordPlans = b.recordPlans;
        this.declaration = b.declaration;
    }

    public static Builder builder() {
        return new Builder();
    }

    public List<Prompt> rows() { return rows; }

    public int batchSize() { return rows.size(); }

    /** The token layout of the batch (one {@link io.github.kvpolicy.api.RowLayout} per prompt). */
    public TokenLayout layout() {
        return new TokenLayout(rows.stream().map(Prompt::layout).toList());
    }

    public int maxNewTokens() { return maxNewTokens; }

    /** Sorted stop token ids. */
    public long[] stopTokens() { return stopTokens.clone(); }

    public boolean isStop(long token) { return Arrays.binarySearch(stopTokens, token) >= 0; }

    public Sampling sampling() { return sampling; }

    /** The compression policy, or null for none. */
    public CompressionPolicy policy() { return policy; }

    /** The policy's budget, or null without a policy. */
    public Budget budget() { return budget; }

    /** The seed handed to the policy ({@link io.github.kvpolicy.api.PolicyContext#seed()}). */
    public long policySeed() { return policySeed; }

    /** Prompt queries to keep for the probe in addition to the policy's window (e.g. for inspection). */
    public QueryWindow extraQueryWindow() { return extraQueryWindow; }

    /** The prompt query window kept for the probe: the policy's window ∪ {@link #extraQueryWindow()}. */
    public QueryWindow queryWindow() {
        return policy == null ? extraQueryWindow : policy.queryWindow().union(extraQueryWindow);
    }

    /** Whether the result keeps the logits of every generated token (memory: tokens × vocabulary floats per row). */
    public boolean recordLogits() { return recordLogits; }

    /** Whether every action's plan is kept in the result (otherwise only the first action's). */
    public boolean recordPlans() { return recordPlans; }

    /** What the policy's provider declared ({@link io.github.kvpolicy.runtime.policy.PolicyDeclaration#undeclared()} if not given). */
    public io.github.kvpolicy.runtime.policy.PolicyDeclaration declaration() { return declaration; }

    /**
     * This request with another policy and budget (null for neither), everything else equal; used to fork a prefilled
     * session for several policies.
     */
    public GenerationRequest withPolicy(CompressionPolicy p, Budget b) {
        return withPolicy(p, b, io.github.kvpolicy.runtime.policy.PolicyDeclaration.undeclared());
    }

    /** As {@link #withPolicy(CompressionPolicy, Budget)}, with the policy's declaration. */
    public GenerationRequest withPolicy(CompressionPolicy p, Budget b, io.github.kvpolicy.runtime.policy.PolicyDeclaration d) {
        Builder copy = builder().rows(rows).maxNewTokens(maxNewTokens).stopTokens(stopTokens).sampling(sampling)
                .policySeed(policySeed).extraQueryWindow(extraQueryWindow).recordLogits(recordLogits).recordPlans(recordPlans);
        return copy.policy(p, b, d).build();
    }

    public static final class Builder {
        private final List<Prompt> rows = new ArrayList<>();
        private int maxNewTokens = 16;
        private long[] stopTokens = new long[0];
        private Sampling sampling = Sampling.greedyDecoding();
        private CompressionPolicy policy;
        private Budget budget;
        private long policySeed;
        private QueryWindow extraQueryWindow = QueryWindow.none();
        private boolean recordLogits;
        private boolean recordPlans;
        private io.github.kvpolicy.runtime.policy.PolicyDeclaration declaration = io.github.kvpolicy.runtime.policy.PolicyDeclaration.undeclared();

        private Builder() {}

        /** Adds one batch row. */
        public Builder row(Prompt p) { rows.add(Objects.requireNonNull(p, "prompt")); return this; }

        public Builder rows(List<Prompt> ps) { ps.forEach(this::row); return this; }

        /** Tokens to generate per row at most (default 16), ≥ 0. */
        public Builder maxNewTokens(int n) { maxNewTokens = n; return this; }

        public Builder stopTokens(long... ids) { stopTokens = ids.clone(); return this; }

        public Builder sampling(Sampling s) { sampling = s; return this; }

        /** The policy and its budget; both or neither. */
        public Builder policy(CompressionPolicy p, Budget b) { policy = p; budget = b; return this; }

        /**
         * The policy, its budget and what its provider declared (enforced by the engine: see
         * {@link io.github.kvpolicy.runtime.policy.PolicyDeclaration}). {@link #policy(CompressionPolicy, Budget)} is
         * the same with {@link io.github.kvpolicy.runtime.policy.PolicyDeclaration#undeclared()}.
         */
        public Builder policy(CompressionPolicy p, Budget b, io.github.kvpolicy.runtime.policy.PolicyDeclaration d) {
            policy = p; budget = b; declaration = Objects.requireNonNull(d, "declaration"); return this;
        }

        /** Keep every decoding-time action's plan in the result (default: only the first action's; see {@link PolicyAction#plan()}). */
        public Builder recordPlans(boolean on) { recordPlans = on; return this; }

        public Builder policySeed(long seed) { policySeed = seed; return this; }

        public Builder extraQueryWindow(QueryWindow w) { extraQueryWindow = w; return this; }

        public Builder recordLogits(boolean on) { recordLogits = on; return this; }

        public GenerationRequest build() {
            return new GenerationRequest(this);
        }
    }
}
