package io.github.kvpolicy.cli.testbed;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the testbed lives: {@code $kvpolicy.home/testbed} (set by {@code bin/kvpolicy}), else {@code ./testbed}. */
public final class TestbedPaths {
    private TestbedPaths() {}

    public static Path home() {
        String h = System.getProperty("kvpolicy.home");
        return h == null ? Path.of("").toAbsolutePath() : Path.of(h);
    }

    public static Path model() {
        return home().resolve("testbed/model");
    }

    public static Path evalSet() {
        return home().resolve("testbed/data/eval.jsonl");
    }

    /** Fails with a clear message if the testbed model is missing. */
    public static Path requireModel(Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json")) || !Files.isRegularFile(dir.resolve("vocab.json"))) {
            throw new IllegalArgumentException("No GridVQA testbed model at " + dir.toAbsolutePath()
                    + " (expected config.json, model.safetensors and vocab.json; see testbed/README.md)");
        }
        return dir;
    }
}
