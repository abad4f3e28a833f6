package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.RandomWeights;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Manual benchmark (not part of CI; figures in docs/benchmarks.md): building the graphs of a full Qwen2-7B-shaped
 * checkpoint (28 layers, 7.6B parameters, random weights stored as F16 in 2 GB shards with an index) with the heap
 * limited by the caller, to show that weights are streamed, never held in the heap.
 * <pre>
 * ./mvnw -B -o -q verify -pl runtime-onnx -am -Dtest=LargeBuildBenchmark -Dsurefire.failIfNoSpecifiedTests=false \
 *   -Dkvpolicy.bench.large=true -Dkvpolicy.bench.dir=/tmp/kvpolicy-qwen2-7b -Dsurefire.argLine=-Xmx2g
 * </pre>
 * The directory is created if needed and reused on later runs (its random checkpoint is written once; the graphs are
 * rebuilt on every run into a fresh {@code onnx-bench-N} folder it creates).
 */
@EnabledIfSystemProperty(named = "kvpolicy.bench.large", matches = "true")
class LargeBuildBenchmark {
    @Test
    void qwen2SevenBShapeBuildsWithinTheHeapLimit() throws Exception {
        Path dir = Path.of(System.getProperty("kvpolicy.bench.dir", System.getProperty("java.io.tmpdir") + "/kvpolicy-qwen2-7b"));
        ModelConfig cfg = RandomWeights.preset("qwen2-7b");
        long t0 = System.nanoTime();
        ModelPackage.random("qwen2-7b", 42, dir);
        long t1 = System.nanoTime();
        long maxHeap = Runtime.getRuntime().maxMemory();
        for (boolean half : new boolean[]{true, false}) {
            Path out = Files.createTempDirectory(dir, "onnx-bench-");
            System.gc();
            for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) p.resetPeakUsage();
            long b0 = System.nanoTime();
            ModelBuilder.BuildOptions opt = new ModelBuilder.BuildOptions(half, ModelBuilder.BuildOptions.DEFAULT.externalDataThreshold());
            try (var w = io.github.kvpolicy.runtime.model.safetensors.WeightStore.openDirectory(dir)) {
                ModelBuilder.buildDecoder(cfg, w, out.resolve("decoder.onnx"), opt);
                ModelBuilder.buildEmbed(cfg, w, out.resolve("embed.onnx"), opt);
            }
            long b1 = System.nanoTime();
            long peak = 0;
            for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
                if (p.getType() == MemoryType.HEAP) peak += p.getPeakUsage().getUsed();
            }
            long bytes;
            try (Stream<Path> s = Files.list(out)) {
                bytes = s.mapToLong(p -> p.toFile().length()).sum();
            }
            System.out.printf("qwen2-7b shape (%,d params, F16 shards): %s graphs: build %.1f s, %,d MB written, peak heap (sum of pool peaks) %,d MB of max %,d MB%n",
                    cfg.decoderParamCount(), half ? "half-matrices" : "fp32", (b1 - b0) / 1e9, bytes >> 20, peak >> 20, maxHeap >> 20);
            assertTrue(bytes > (half ? 14L : 28L) << 30, "all weights written: " + bytes);
            try (Stream<Path> s = Files.list(out)) {
                for (Path p : s.toList()) Files.delete(p);
            }
            Files.delete(out);
        }
        System.out.printf("random checkpoint: %.1f s (0 when reused)%n", (t1 - t0) / 1e9);
    }
}
