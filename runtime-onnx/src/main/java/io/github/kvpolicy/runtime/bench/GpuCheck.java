package io.github.kvpolicy.runtime.bench;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.ort.Device;
import io.github.kvpolicy.runtime.ort.OrtGpuCheck;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * What {@code scripts/gpu-check.sh} runs: {@link OrtGpuCheck} (binding, provider, resident decoder against the
 * Java-API path, benchmark) plus the production path, a {@code GenerationSession} on the checked device: the testbed
 * model (or the random {@code tiny} preset without {@code --testbed}) with an image + text prompt, compacted to 25%
 * right after prefill by {@link BenchPolicies#sinkAndRecent()}, 24 greedy tokens; compared with the same request on
 * the CPU (which {@code OnePathEqualityTest} proves bit-equal to the host reference path): tokens equal, logits
 * within 2e-3 on CUDA (exactly equal on the CPU); then the benchmark grid with its bandwidth bound ({@link #grid}). Same
 * flags and exit codes as {@link OrtGpuCheck}.
 */
public final class GpuCheck {
    private GpuCheck() {}

    public static void main(String[] args) {
        OrtGpuCheck.run(args, List.of(new OrtGpuCheck.NamedExtra("generation session", GpuCheck::generation),
                new OrtGpuCheck.NamedExtra("bench grid", GpuCheck::grid)));
    }

    /**
     * The production benchmark ({@link Bench}: {@code GenerationSession}s with a compaction after prefill) over a grid,
     * with each row's bandwidth bound from the device's measured copy rate. On CUDA: {@code small-100m} in fp16, prompts
     * 2048 and 8192, batch 1 and 8, kept 100% and 10% (sized to fit the check's time limit; the 7B grid is a separate
     * {@code bench} run, see docs/gpu.md); on the CPU (the dry run and CI) the {@code tiny} preset in fp16-kv. The table
     * is printed (so it lands in the check's log) and written to {@code work/bench-grid-DEVICE.md}.
     */
    static String grid(Device device, Path work, Path testbed) throws IOException {
        boolean cuda = device == Device.CUDA;
        Path out = work.resolve("bench-grid-" + device.name().toLowerCase(Locale.ROOT) + ".md");
        Bench.Options o = cuda
                ? new Bench.Options("small-100m", 1, work, List.of(2048, 8192), List.of(1, 8), 32, List.of(1.0, 0.1), 2, 1, 512, 0, device, 32, out,
                        io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision.FP16, 0)
                : new Bench.Options("tiny", 7, work, List.of(32), List.of(1, 2), 4, List.of(1.0, 0.5), 1, 0, 16, 1, device, 8, out,
                        io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision.FP16_KV, 0);
        Bench.Report r = Bench.run(o, line -> System.out.println("  " + line));
        System.out.println(r.markdown());
        Files.writeString(out, r.markdown());
        double lo = r.ratios().stream().mapToDouble(Bench.RatioRow::boundRatio).min().orElseThrow();
        double hi = r.ratios().stream().mapToDouble(Bench.RatioRow::boundRatio).max().orElseThrow();
        return String.format(Locale.ROOT, "%d rows, copy rate %.1f GB/s, step / bound %.2f..%.2f, table in %s", r.ratios().size(),
                r.copyBytesPerSecond() / 1e9, lo, hi, out);
    }

    static String generation(Device device, Path work, Path testbed) throws IOException {
        ModelPackage.BuiltModel built;
        if (testbed != null) {
            Path copy = work.resolve("testbed-copy").toAbsolutePath();
            Files.createDirectories(copy);
            for (String f : new String[] {"config.json", "model.safetensors", "vocab.json"}) {
                Files.copy(testbed.resolve(f), copy.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
            }
            built = ModelPackage.open(copy).ensureBuilt();
        } else {
            built = ModelPackage.random("tiny-vlm", 7, work.resolve("tiny-vlm-7").toAbsolutePath()).ensureBuilt();
        }
        int cells = built.config().visionConfig().orElseThrow().numCells();
        Random r = new Random(3);
        long[][] img = new long[cells][];
        for (int i = 0; i < cells; i++) img[i] = new long[] {r.nextInt(4), r.nextInt(4), r.nextInt(4)};
        long[] text = r.longs(12, 4, built.config().vocabSize()).toArray();
        GenerationRequest req = GenerationRequest.builder().row(Prompt.builder().image(img).text(text).build()).maxNewTokens(24).recordLogits(true)
                .policy(BenchPolicies.sinkAndRecent(), Budget.ratio(0.25)).build();
        GenerationResult onDevice, onCpu;
        GeneratorConfig cfg = GeneratorConfig.defaults().withPrefillChunk(64);
        try (Generator g = Generator.open(built, cfg.withDevice(device))) {
            onDevice = g.generate(req);
        }
        try (Generator g = Generator.open(built, cfg.withDevice(Device.CPU))) {
            onCpu = g.generate(req);
        }
        if (!java.util.Arrays.equals(onDevice.tokens(0), onCpu.tokens(0))) {
            throw new IllegalStateException("greedy tokens differ: " + device + " " + java.util.Arrays.toString(onDevice.tokens(0)) + ", cpu "
                    + java.util.Arrays.toString(onCpu.tokens(0)));
        }
        double worst = 0;
        for (int t = 0; t < onCpu.logits().get(0).size(); t++) {
            float[] a = onDevice.logits().get(0).get(t), b = onCpu.logits().get(0).get(t);
            for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        double tol = device == Device.CUDA ? 2e-3 : 0;
        if (worst > tol) throw new IllegalStateException(String.format(Locale.ROOT, "logits differ from the CPU session by %.3g (tolerance %.1g)", worst, tol));
        var a = onDevice.actions().getFirst().memory();
        return String.format(Locale.ROOT, "%d tokens equal to the CPU session, max |diff| logits %.3g; compaction live KV %d -> %d bytes; decode median %.2f ms/token",
                onDevice.tokens(0).length, worst, a.liveBefore(), a.liveAfter(), onDevice.timings().medianDecodeMs());
    }
}
