package io.github.kvpolicy.api;

import java.util.Objects;

/**
 * The standard {@link PolicyContext}: candidates and budgets derived from the cache, layout, scope and
 * protection with {@link Candidates}. Used by the runtime and the conformance suite; immutable once built.
 */
@Stable
public final class SimplePolicyContext implements PolicyContext {
    private final ModelShape shape;
    private final TokenLayout layout;
    private final KvCacheView cache;
    private final AttentionProbe probe;
    private final Budget budget;
    private final Phase phase;
    private final int decodeStep;
    private final long seed;
    private final Scope scope;
    private final Protection protection;
    private final int[] sequenceLengths;
    private final int[] budgetTokens;
    private final int[][][][] candidates; // [row][layer][head]
    private final int[][][][] mandatory;

    private SimplePolicyContext(Builder b) {
        this.shape = Objects.requireNonNull(b.cache, "cache").shape();
        this.layout = Objects.requireNonNull(b.layout, "layout");
        this.cache = b.cache;
        this.probe = Objects.requireNonNull(b.probe, "probe");
        this.budget = Objects.requireNonNull(b.budget, "budget");
        this.phase = b.phase;
        this.decodeStep = b.decodeStep;
        this.seed = b.seed;
        this.scope = Objects.requireNonNull(b.scope, "scope");
        this.protection = Objects.requireNonNull(b.protection, "protection");
        int rows = layout.batchSize();
        if (cache.batchSize() != rows) throw new IllegalArgumentException("cache has " + cache.batchSize() + " rows, layout " + rows);
        this.sequenceLengths = new int[rows];
        this.budgetTokens = b.budgetTokens != null ? b.budgetTokens.clone() : budget.tokensPerRow(layout, scope, protection);
        if (budgetTokens.length != rows) throw new IllegalArgumentException("budgetTokens has " + budgetTokens.length + " entries, layout " + rows + " rows");
        this.candidates = new int[rows][shape.layers()][shape.kvHeads()][];
        this.mandatory = new int[rows][shape.layers()][shape.kvHeads()][];
        for (int r = 0; r < rows; r++) {
            RowLayout row = layout.row(r);
            sequenceLengths[r] = b.sequenceLengths == null ? row.promptLength() : b.sequenceLengths[r];
            for (int l = 0; l < shape.layers(); l++) {
                for (int h = 0; h < shape.kvHeads(); h++) {
                    int[][] split = Candidates.split(row, cache.positions(r, l, h), scope, protection);
                    candidates[r][l][h] = split[0];
                    mandatory[r][l][h] = split[1];
                }
            }
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override public ModelShape shape() { return shape; }
    @Override public TokenLayout layout() { return layout; }
    @Override public KvCacheView cache() { return cache; }
    @Override public AttentionProbe probe() { return probe; }
    @Override public Budget budget() { return budget; }
    @Override public Phase phase() { return phase; }
    @Override public int decodeStep() { return decodeStep; }
    @Override public long seed() { return seed; }
    @Override public Scope scope() { return scope; }
    @Override public Protection protection() { return protection; }
    @Override public int sequenceLength(int row) { return sequenceLengths[row]; }
    @Override public int budgetTokens(int row) { return budgetTokens[row]; }
    @Override public int[] candidates(int row, int layer, int kvHead) { return candidates[row][layer][kvHead].clone(); }
    @Override public int[] mandatory(int row, int layer, int kvHead) { return mandatory[row][layer][kvHead].clone(); }

    /** Builder; {@code layout}, {@code cache}, {@code probe} and {@code budget} are required. */
    @Stable
    public static final class Builder {
        private TokenLayout layout;
        private KvCacheView cache;
        private AttentionProbe probe;
        private Budget budget;
        private Phase phase = Phase.PREFILL;
        private int decodeStep;
        private long seed;
        private Scope scope = Scope.VISUAL;
        private Protection protection = Protection.none();
        private int[] sequenceLengths;
        private int[] budgetTokens;

        private Builder() {}

        public Builder layout(TokenLayout v) { layout = v; return this; }
        public Builder cache(KvCacheView v) { cache = v; return this; }
        public Builder probe(AttentionProbe v) { probe = v; return this; }
        public Builder budget(Budget v) { budget = v; return this; }
        public Builder phase(Phase v) { phase = v; return this; }
        public Builder decodeStep(int v) { decodeStep = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        /** Scope and protection of {@code policy}. */
        public Builder policy(CompressionPolicy policy) { scope = policy.scope(); protection = policy.protection(); return this; }
        public Builder scope(Scope v) { scope = v; return this; }
        public Builder protection(Protection v) { protection = v; return this; }
        /** Next position per row; defaults to the prompt lengths. */
        public Builder sequenceLengths(int... v) { sequenceLengths = v.clone(); return this; }

        /**
         * The budget already resolved per row (by {@link Budget#tokensPerRow}, once per request); defaults to
         * resolving {@link #budget} here.
         */
        public Builder budgetTokens(int... v) { budgetTokens = v.clone(); return this; }

        public SimplePolicyContext build() {
            return new SimplePolicyContext(this);
        }
    }
}
