package io.github.kvpolicy.api;

/** Whether probe results are per query head or combined onto KV heads (grouped-query attention). */
@Stable
public enum HeadMapping {
    /** One result per query head. */
    QUERY_HEADS,
    /** One result per KV head: mean over the query heads of its group. */
    KV_MEAN,
    /** One result per KV head: max over the query heads of its group. */
    KV_MAX,
    /** One result per KV head: sum over the query heads of its group. */
    KV_SUM
}
