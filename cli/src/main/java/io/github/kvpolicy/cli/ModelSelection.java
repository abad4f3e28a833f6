package io.github.kvpolicy.cli;

import io.github.kvpolicy.evaluation.gridvqa.TestbedPaths;
import io.github.kvpolicy.runtime.ort.Device;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.cache.OwnedDirectory;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;
import java.nio.file.Path;

/** Resolves the configured {@code model}: {@code testbed}, {@code random:<preset>[:seed]} or a model package directory. */
final class ModelSelection {
    private ModelSelection() {}

    static ModelPackage open(String model) {
        if (model.equals("testbed")) return ModelPackage.open(TestbedPaths.requireModel(TestbedPaths.model()));
        if (model.startsWith("random:")) {
            String[] parts = model.split(":", -1);
            if (parts.length < 2 || parts.length > 3 || parts[1].isBlank()) {
                throw new IllegalArgumentException("model '" + model + "': expected random:<preset>[:<seed>], e.g. random:small-100m or random:tiny:7");
            }
            String preset = parts[1];
            long seed;
            try {
                seed = parts.length > 2 ? Long.parseLong(parts[2]) : 1;
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("model '" + model + "': the seed '" + parts[2] + "' is not a whole number");
            }
            io.github.kvpolicy.runtime.model.RandomWeights.preset(preset); // unknown preset: one line listing the known ones
            // a private, kvpolicy-owned directory under the user's cache (never a shared temp directory where a planted
            // symbolic link could redirect the write)
            Path root = OwnedDirectory.claim(OwnedDirectory.userCacheRoot(), true);
            Path models = OwnedDirectory.claim(root.resolve("models"), true);
            Path dir = OwnedDirectory.claim(models.resolve("random-" + preset + "-" + seed), true);
            return ModelPackage.random(preset, seed, dir);
        }
        return ModelPackage.open(Path.of(model));
    }

    /** The generator configuration for {@code device}, {@code dtype} and {@code threads}; prints its caution, if any, as one line to stderr. */
    static GeneratorConfig config(String device, String dtype, int threads) {
        GeneratorConfig c = GeneratorConfig.defaults().withDevice(Device.parse(device)).withPrecision(ModelBuilder.Precision.parse(dtype)).withIntraOpThreads(threads);
        c.caution().ifPresent(line -> System.err.println("kvpolicy: note: " + line));
        return c;
    }
}
