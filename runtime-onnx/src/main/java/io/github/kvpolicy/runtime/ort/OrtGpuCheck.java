package io.github.kvpolicy.runtime.ort;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.ModelPackage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The unattended device check {@code scripts/gpu-check.sh} runs: the binding's self-check, the provider, the
 * resident decoder against the Java-API path ({@link OrtCrossCheck}) on a random preset and optionally the testbed
 * model, then {@link OrtBench}. Prints one {@code PASS}/{@code FAIL} line per check and exits 1 on the first failure
 * (2 on bad flags), so a run that stops early is never mistaken for a pass.
 *
 * <pre>
 * OrtGpuCheck --device cuda|cpu --work DIR [--testbed DIR] [--bench-preset small-100m] [--bench-lengths 512,2048]
 *             [--bench-steps 24] [--bench-out FILE]
 * </pre>
 * {@code --work} is a folder this check may write random models into (created if missing).
 *
 * <p>Callers outside this package add checks of their own ({@link #run(String[], List)}): {@code runtime.bench.GpuCheck},
 * which the script runs, adds a {@code GenerationSession} decode on the device (this package may not depend on
 * {@code runtime}'s root package).
 */
public final class OrtGpuCheck {
    private OrtGpuCheck() {}

    /** A check added by a caller, run after the cross-checks and before the benchmark, with the parsed flags. */
    public interface Extra {
        /** @param testbed the {@code --testbed} folder, or null; returns the PASS line's detail, throws on failure */
        String run(Device device, Path work, Path testbed) throws IOException;
    }

    /** A named {@link Extra}. */
    public record NamedExtra(String name, Extra check) {}

    public static void main(String[] args) {
        run(args, List.of());
    }

    /** The check with {@code extras} after the cross-checks; exits the JVM as {@link #main} does. */
    public static void run(String[] args, List<NamedExtra> extras) {
        Device device = Device.CPU;
        Path work = null, testbed = null, benchOut = null;
        String benchPreset = "small-100m", benchLengths = "512,2048", benchSteps = "24";
        try {
            for (int i = 0; i < args.length; i++) {
                if (i + 1 >= args.length) throw new IllegalArgumentException("flag " + args[i] + " needs a value");
                String v = args[++i];
                switch (args[i - 1]) {
                    case "--device" -> device = Device.parse(v);
                    case "--work" -> work = Path.of(v);
                    case "--testbed" -> testbed = Path.of(v);
                    case "--bench-preset" -> benchPreset = v;
                    case "--bench-lengths" -> benchLengths = v;
                    case "--bench-steps" -> benchSteps = v;
                    case "--bench-out" -> benchOut = Path.of(v);
                    default -> throw new IllegalArgumentException("unknown flag " + args[i - 1]
                            + "; known: --device --work --testbed --bench-preset --bench-lengths --bench-steps --bench-out");
                }
            }
            if (work == null) throw new IllegalArgumentException("--work DIR is required (a folder for the random models)");
            if (testbed != null && !Files.isRegularFile(testbed.resolve("config.json"))) {
                throw new IllegalArgumentException("--testbed " + testbed + " holds no config.json");
            }
        } catch (IllegalArgumentException e) {
            System.err.println("gpu-check: " + e.getMessage());
            System.exit(2);
            return;
        }
        final Device dev = device;
        final Path w = work, tb = testbed;
        boolean cuda = dev == Device.CUDA;
        // CUDA: the two paths run the same kernels; TF32 and kernel choice may still differ between sessions
        OrtCrossCheck.Tolerances tol = cuda ? new OrtCrossCheck.Tolerances(2e-3f, 2e-3f, 1e-4f) : OrtCrossCheck.Tolerances.exact(2e-6f);
        step("binding", () -> {
            OrtApi api = OrtApi.get();
            api.selfCheck();
            EnumSet<OrtProvider> providers = OrtEnvironment.getAvailableProviders();
            if (cuda && !providers.contains(OrtProvider.CUDA)) {
                throw new IllegalStateException("the CUDA provider is not available (providers " + providers + "): is -Donnxruntime.native.path set to the GPU natives?");
            }
            return "ONNX Runtime " + api.version() + ", API " + OrtApi.ORT_API_VERSION + ", providers " + providers;
        });
        step("cross-check tiny", () -> {
            Files.createDirectories(w);
            ModelPackage.BuiltModel built = ModelPackage.random("tiny", 7, w.resolve("tiny-7").toAbsolutePath()).ensureBuilt();
            try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), cuda, 0, 0)) {
                long[] ids = new Random(5).longs(29, 3, 250).toArray();
                return describe(OrtCrossCheck.run(model, dev, 0, model.embed(ids, 1, ids.length), 8, tol));
            }
        });
        if (tb != null) {
            step("cross-check testbed", () -> {
                Path copy = w.resolve("testbed-copy").toAbsolutePath();
                Files.createDirectories(copy);
                for (String f : new String[] {"config.json", "model.safetensors", "vocab.json"}) {
                    Files.copy(tb.resolve(f), copy.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
                }
                ModelPackage pkg = ModelPackage.open(copy);
                ModelPackage.BuiltModel built = pkg.ensureBuilt();
                int cells = pkg.config().visionConfig().orElseThrow().numCells();
                try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), cuda, 0, 0)) {
                    Random r = new Random(3);
                    long[] text = r.longs(12, 4, model.vocabSize()).toArray();
                    long[][] img = new long[cells][];
                    for (int i = 0; i < cells; i++) img[i] = new long[] {r.nextInt(4), r.nextInt(4), r.nextInt(4)};
                    float[] a = model.embed(text, 1, text.length), v = model.vision(img);
                    float[] prompt = new float[a.length + v.length];
                    System.arraycopy(v, 0, prompt, 0, v.length);
                    System.arraycopy(a, 0, prompt, v.length, a.length);
                    return describe(OrtCrossCheck.run(model, dev, 0, prompt, 16, tol));
                }
            });
        }
        for (NamedExtra x : extras) step(x.name(), () -> x.check().run(dev, w, tb));
        final String bp = benchPreset, bl = benchLengths, bs = benchSteps;
        final Path bo = benchOut;
        step("bench", () -> {
            OrtBench.Options o = OrtBench.Options.parse(new String[] {"--preset", bp, "--dir", w.toString(), "--lengths", bl, "--steps", bs, "--warmup", "4",
                    "--device", dev.name().toLowerCase(Locale.ROOT)});
            OrtBench.Report r = OrtBench.run(o, line -> System.out.println("  " + line));
            String md = r.markdown();
            System.out.println(md);
            if (bo != null) Files.writeString(bo, md);
            if (r.rows().stream().anyMatch(x -> !x.tokensEqual())) throw new IllegalStateException("greedy tokens differ between the two paths in the benchmark");
            return r.rows().size() + " cache lengths measured";
        });
        System.out.println("gpu-check: ALL PASSED (device " + dev.name().toLowerCase(Locale.ROOT) + ")");
    }

    private interface Check {
        String run() throws IOException;
    }

    private static void step(String name, Check c) {
        long t0 = System.nanoTime();
        try {
            String detail = c.run();
            System.out.printf(Locale.ROOT, "PASS %s (%.1f s): %s%n", name, (System.nanoTime() - t0) / 1e9, detail);
        } catch (IOException e) {
            fail(name, new UncheckedIOException(e));
        } catch (RuntimeException | Error e) {
            fail(name, e);
        }
    }

    private static void fail(String name, Throwable e) {
        System.out.println("FAIL " + name + ": " + e);
        e.printStackTrace(System.out);
        System.out.println("gpu-check: FAILED at '" + name + "'");
        System.exit(1);
    }

    private static String describe(OrtCrossCheck.Result r) {
        return String.format(Locale.ROOT, "tokens %s; max |diff| logits %.3g, cache %.3g, probe %.3g (%d cache and %d probe comparisons)", r.tokens(),
                r.maxLogitsDiff(), r.maxCacheDiff(), r.maxProbeDiff(), r.cacheCompares(), r.probeCompares());
    }
}
