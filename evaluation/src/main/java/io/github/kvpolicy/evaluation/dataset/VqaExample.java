package io.github.kvpolicy.evaluation.dataset;

import io.github.kvpolicy.evaluation.engine.EvalExample;
import io.github.kvpolicy.evaluation.metrics.Metric;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * One question of a user's VQA set, as read by {@link VqaJsonl}: its id, the images (existing files, resolved against
 * the images folder), the question, the reference answers, the metric that scores it and the line it came from.
 * Immutable; {@code images} and {@code answers} are non-empty.
 */
public record VqaExample(String id, List<Path> images, String question, List<String> answers, Metric metric, int line) implements EvalExample {
    public VqaExample {
        Objects.requireNonNull(id);
        Objects.requireNonNull(metric);
        images = List.copyOf(images);
        answers = List.copyOf(answers);
        if (images.isEmpty() || answers.isEmpty()) throw new IllegalArgumentException(id + ": an example needs at least one image and one answer");
    }
}
