package io.github.kvpolicy.api;

/**
 * Which prompt queries the policy's {@link AttentionProbe} must be able to use. The runtime keeps the
 * post-rotary queries of these positions (per row, every layer and query head) after prefill; asking the
 * probe for other query positions fails. During decoding the probe also has the queries of the generated
 * tokens since the policy last acted.
 *
 * @param kind  which positions
 * @param count for {@link Kind#LAST}: how many trailing prompt positions, ≥ 1
 */
@Stable
public record QueryWindow(Kind kind, int count) {
    /** The kinds of query windows. */
    @Stable
    public enum Kind { NONE, LAST, INSTRUCTION_TEXT, ALL }

    public QueryWindow {
        if (kind == Kind.LAST && count < 1) throw new IllegalArgumentException("LAST query window needs count >= 1");
        if (kind != Kind.LAST) count = 0;
    }

    public static QueryWindow none() { return new QueryWindow(Kind.NONE, 0); }

    public static QueryWindow last(int n) { return new QueryWindow(Kind.LAST, n); }

    public static QueryWindow instructionText() { return new QueryWindow(Kind.INSTRUCTION_TEXT, 0); }

    public static QueryWindow all() { return new QueryWindow(Kind.ALL, 0); }

    /** The prompt positions of {@code row} this window covers, ascending. */
    public int[] positions(RowLayout row) {
        int n = row.promptLength();
        return switch (kind) {
            case NONE -> new int[0];
            case ALL -> java.util.stream.IntStream.range(0, n).toArray();
            case LAST -> java.util.stream.IntStream.range(Math.max(0, n - count), n).toArray();
            case INSTRUCTION_TEXT -> row.instructionPositions();
        };
    }

    /** The union of this window and {@code other}. */
    public QueryWindow union(QueryWindow other) {
        if (kind == Kind.ALL || other.kind == Kind.ALL) return all();
        if (kind == Kind.NONE) return other;
        if (other.kind == Kind.NONE || this.equals(other)) return this;
        if (kind == Kind.LAST && other.kind == Kind.LAST) return last(Math.max(count, other.count));
        return all(); // LAST ∪ INSTRUCTION_TEXT is layout dependent: keep everything
    }
}
