package io.github.kvpolicy.runtime;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.RandomWeights;

import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;

/** Random-weights models for the tests, written once per JVM under target/test-models (rebuilt if stale). */
public final class TestModels {
    private static final ConcurrentHashMap<String, ModelPackage.BuiltModel> BUILT = new ConcurrentHashMap<>();

    private TestModels() {}

    /** The builder's {@code preset} model with {@code seed}, built. */
    public static ModelPackage.BuiltModel built(String preset, long seed) {
        return BUILT.computeIfAbsent(preset + "-" + seed, k -> ModelPackage.random(preset, seed, dir(k)).ensureBuilt());
    }

    /** A model of {@code cfg} with {@code seed}, built; {@code name} names its folder. */
    public static ModelPackage.BuiltModel built(String name, ModelConfig cfg, long seed) {
        return BUILT.computeIfAbsent(name + "-" + seed, k -> ModelPackage.random(cfg, seed, dir(k)).ensureBuilt());
    }

    public static ModelConfig preset(String name) {
        return RandomWeights.preset(name);
    }

    /**
     * A private copy of the trained testbed model ({@code ../testbed/model}: config, weights, vocabulary) in
     * {@code dir} (created; files replaced), so builds of it never write into the repository's model folder.
     */
    public static Path testbedCopy(Path dir) throws java.io.IOException {
        Path src = Path.of("..", "testbed", "model");
        java.nio.file.Files.createDirectories(dir);
        for (String f : new String[] {"config.json", "model.safetensors", "vocab.json"}) {
            java.nio.file.Files.copy(src.resolve(f), dir.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
        }
        return dir;
    }

    /** The folder of the model named {@code name} (preset-seed), e.g. {@code tiny-7}. */
    public static Path dir(String name) {
        return Path.of(System.getProperty("kvpolicy.testModels", "target/test-models")).toAbsolutePath().resolve(name);
    }
}
