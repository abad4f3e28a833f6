package io.github.kvpolicy.evaluation.engine;

import io.github.kvpolicy.evaluation.metrics.Metric;
import java.util.List;

/**
 * What the engine needs of an example, whatever the dataset: a unique id, the reference answers, the metric that
 * scores it and a group for per-group tables. Invariants: {@code id} is non-empty and unique within a dataset,
 * {@code answers} is non-empty, {@code group} is non-empty and not {@code "all"} (that name is the whole set's).
 */
public interface EvalExample {
    String id();

    List<String> answers();

    Metric metric();

    /** The group of examples that belong to none: tabulated under {@code all} only. */
    String NO_GROUP = "-";

    /** The group the example is tabulated under as well as under {@code all} (e.g. a GridVQA family); default {@link #NO_GROUP}. */
    default String group() {
        return NO_GROUP;
    }
}
