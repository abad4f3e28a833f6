package io.github.kvpolicy.cli;

import io.github.kvpolicy.evaluation.gridvqa.TestbedPaths;
import io.github.kvpolicy.runtime.Device;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import java.nio.file.Path;

/** Resolves the configured {@code model}: {@code testbed}, {@code random:<preset>[:seed]} or a model package directory. */
final class ModelSelection {
    private ModelSelection() {}

    static ModelPackage open(String model) {
        if (model.equals("testbed")) return ModelPackage.open(TestbedPaths.requireModel(TestbedPaths.model()));
        if (model.startsWith("random:")) {
            String[] parts = model.split(":");
            String preset = parts[1];
            long seed = parts.length > 2 ? Long.parseLong(parts[2]) : 1;
            Path dir = Path.of(System.getProperty("java.io.tmpdir"), "kvpolicy-models", "random-" + preset + "-" + seed);
            if (java.nio.file.Files.isRegularFile(dir.resolve("config.json"))) return ModelPackage.open(dir);
            return ModelPackage.random(preset, seed, dir);
        }
        return ModelPackage.open(Path.of(model));
    }

    static GeneratorConfig config(String device, int threads) {
        return GeneratorConfig.defaults().withDevice(Device.parse(device)).withIntraOpThreads(threads);
    }
}
