package io.github.kvpolicy.api;

/** How attention rows of several queries are combined into one score per key. */
@Stable
public enum Reduction {
    /** Sum divided by the number of queries asked for. */
    MEAN,
    SUM,
    MAX
}
