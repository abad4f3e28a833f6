package io.github.kvpolicy.evaluation.metrics;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The metrics by name: {@code exact}, {@code vqa}, {@code anls}, {@code relaxed}. Immutable. */
public final class Metrics {
    private static final Map<String, Metric> BY_NAME = new LinkedHashMap<>();

    static {
        for (Metric m : List.of(new ExactMatch(), new VqaAccuracy(), new Anls(), new RelaxedAccuracy())) BY_NAME.put(m.name(), m);
    }

    private Metrics() {}

    /** Every metric name, in a fixed order. */
    public static List<String> names() {
        return List.copyOf(BY_NAME.keySet());
    }

    /**
     * The metric called {@code name}.
     *
     * @throws IllegalArgumentException naming the unknown metric and the known ones
     */
    public static Metric byName(String name) {
        Metric m = BY_NAME.get(name);
        if (m == null) throw new IllegalArgumentException("unknown metric '" + name + "'; expected one of " + String.join(", ", BY_NAME.keySet()));
        return m;
    }
}
