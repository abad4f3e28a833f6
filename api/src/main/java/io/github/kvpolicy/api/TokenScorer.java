package io.github.kvpolicy.api;

/** Hook 1: scores every candidate of every (row, layer, KV head). */
@Stable
@FunctionalInterface
public interface TokenScorer {
    /** @return scores with every (row, layer, KV head) set; must not modify anything the context exposes */
    TokenScores score(PolicyContext context);
}
