package io.github.kvpolicy.evaluation.engine;

import io.github.kvpolicy.api.provider.PolicyConfig;
import java.util.Objects;

/**
 * A policy under evaluation: the label it is recorded and plotted under, and the configuration it is built from (its
 * name and options). Labels are unique within one run; a results record names its contender by label.
 */
public record Contender(String label, PolicyConfig config) {
    public Contender {
        Objects.requireNonNull(config);
        if (label == null || label.isBlank()) throw new IllegalArgumentException("a contender needs a non-empty label");
    }

    /** The policy {@code name} at its defaults, labelled by its name. */
    public static Contender of(String name) {
        return new Contender(name, PolicyConfig.of(name));
    }
}
