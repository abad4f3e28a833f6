package io.github.kvpolicy.evaluation.gridvqa;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the GridVQA testbed lives (the {@code testbed/} folder of the repository, which holds {@code model/} and
 * {@code data/eval.jsonl}). In this order:
 * <ol>
 *   <li>the system property {@code kvpolicy.testbed}: the testbed folder itself;</li>
 *   <li>the system property {@code kvpolicy.home}: the repository root (set by {@code bin/kvpolicy}), testbed = its
 *       {@code testbed/};</li>
 *   <li>the working directory or the nearest folder above it that has a {@code testbed/model/config.json}: so the
 *       tests of any module (run with the module as working directory) and a tool started anywhere inside the
 *       checkout find the same files;</li>
 *   <li>otherwise {@code ./testbed}, which {@link #requireModel} then reports as missing.</li>
 * </ol>
 * Nothing is cached: each call looks again.
 */
public final class TestbedPaths {
    /** System property naming the testbed folder. */
    public static final String TESTBED_PROPERTY = "kvpolicy.testbed";
    /** System property naming the repository root. */
    public static final String HOME_PROPERTY = "kvpolicy.home";

    private TestbedPaths() {}

    /** The testbed folder (see the class comment for the order). */
    public static Path testbed() {
        String t = System.getProperty(TESTBED_PROPERTY);
        if (t != null && !t.isBlank()) return Path.of(t);
        String h = System.getProperty(HOME_PROPERTY);
        if (h != null && !h.isBlank()) return Path.of(h).resolve("testbed");
        Path cwd = Path.of("").toAbsolutePath();
        for (Path p = cwd; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("testbed/model/config.json"))) return p.resolve("testbed");
        }
        return cwd.resolve("testbed");
    }

    public static Path model() {
        return testbed().resolve("model");
    }

    public static Path evalSet() {
        return testbed().resolve("data/eval.jsonl");
    }

    /** The PyTorch reference activations ({@code testbed/make_fixtures.py}). */
    public static Path fixtures() {
        return testbed().resolve("fixtures/reference.json");
    }

    /** Fails with a clear message if the testbed model is missing. */
    public static Path requireModel(Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json")) || !Files.isRegularFile(dir.resolve("vocab.json"))) {
            throw new IllegalArgumentException("No GridVQA testbed model at " + dir.toAbsolutePath()
                    + " (expected config.json, model.safetensors and vocab.json; see testbed/README.md; set -D" + TESTBED_PROPERTY
                    + "=<testbed folder> to point elsewhere)");
        }
        return dir;
    }
}
