package io.github.kvpolicy.runtime.ort;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import io.github.kvpolicy.host.cli.Flags;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;

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
 * model, the fp16-kv and fp16 decoders against the fp32 one ({@link OrtPrecisionCheck}: equal greedy tokens, max |logit
 * diff| / max |logit| at most 2e-2 on the preset and 1e-1 on the testbed), then {@link OrtBench}. Prints one {@code PASS}/{@code FAIL} line per check and exits 1 on the first failure
 * (2 on bad flags), so a run that stops early is never mistaken for a pass.
 *
 * <pre>
 * OrtGpuCheck --device cuda|cpu --work DIR [--testbed DIR] [--bench-preset small-100m] [--bench-lengths 512,2048]
 *             [--bench-steps 24] [--bench-out FILE] [--help]
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

    /** The flags of this check (and of {@code runtime.bench.GpuCheck}). */
    static final Flags FLAGS = new Flags("gpu-check --work DIR [flags]   (main class OrtGpuCheck, or runtime.bench.GpuCheck as scripts/gpu-check.sh runs it)")
            .value("--device", "cpu|cuda", "cpu", "device to check")
            .value("--work", "DIR", null, "required: a folder this check may write random models into (created if missing)")
            .value("--testbed", "DIR", null, "also cross-check the testbed model in DIR (must hold config.json)")
            .value("--bench-preset", "NAME", "small-100m", "random-weights preset of the benchmark")
            .value("--bench-lengths", "N,..", "512,2048", "cache lengths of the benchmark")
            .value("--bench-steps", "N", "24", "greedy steps of the benchmark per length")
            .value("--bench-out", "FILE", null, "also write the benchmark's markdown table here");

    public static void main(String[] args) {
        run(args, List.of());
    }

    /** The check with {@code extras} after the cross-checks; exits the JVM as {@link #main} does. */
    public static void run(String[] args, List<NamedExtra> extras) {
        Device device;
        Path work, testbed, benchOut;
        String benchPreset, benchLengths, benchSteps;
        try {
            Flags.Parsed p = FLAGS.parse(args);
            if (p.helpRequested()) {
                System.out.print(p.help());
                System.exit(0);
                return;
            }
            device = p.as("--device", Device::parse);
            work = p.path("--work");
            testbed = p.path("--testbed");
            benchOut = p.path("--bench-out");
            benchPreset = p.string("--bench-preset");
            // checked here (exit 2), passed on to OrtBench as text
            benchLengths = String.join(",", p.intList("--bench-lengths").stream().map(String::valueOf).toList());
            benchSteps = Integer.toString(p.intValue("--bench-steps"));
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
        // reduced precision against fp32 on the resident decoder (OrtPrecisionCheck): same greedy tokens, max |logit diff| / max |logit|
        // within a stated tolerance. CPU measured: fp16-kv 6.6e-5 (tiny-7) and 8e-4 (testbed), fp16 2.5e-3 and 1.9e-2; on CUDA
        // TF32/fp16 matmul accumulation adds to the rounding, hence the margins
        for (ModelBuilder.Precision p : List.of(ModelBuilder.Precision.FP16_KV, ModelBuilder.Precision.FP16)) {
            step(p.label() + " tiny", () -> {
                Files.createDirectories(w);
                Path dir = w.resolve("tiny-7").toAbsolutePath();
                ModelPackage.random("tiny", 7, dir);
                return describe(p, OrtPrecisionCheck.compare(dir, p, dev, 0, 0, new Random(5).longs(29, 3, 250).toArray(), 24), 2e-2);
            });
            if (tb != null) {
                step(p.label() + " testbed", () -> {
                    Path dir = w.resolve("testbed-copy").toAbsolutePath(); // copied by the cross-check above
                    return describe(p, OrtPrecisionCheck.compare(dir, p, dev, 0, 0, new Random(3).longs(20, 4, 54).toArray(), 24), 1e-1);
                });
            }
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
        // the same benchmark with the fp16 resident build (weights, projections and KV in fp16) against the fp32 Java-API path:
        // greedy tokens are reported, not required equal (fp16 arithmetic may flip a near-tie of random weights)
        step("bench fp16", () -> {
            OrtBench.Options o = OrtBench.Options.parse(new String[] {"--preset", bp, "--dir", w.toString(), "--lengths", bl, "--steps", bs, "--warmup", "4",
                    "--device", dev.name().toLowerCase(Locale.ROOT), "--dtype", "fp16"});
            OrtBench.Report r = OrtBench.run(o, line -> System.out.println("  " + line));
            String md = r.markdown();
            System.out.println(md);
            if (bo != null) Files.writeString(bo.resolveSibling(bo.getFileName().toString().replaceFirst("(\\.md)?$", "-fp16.md")), md);
            return r.rows().size() + " cache lengths measured; greedy tokens equal to fp32: "
                    + r.rows().stream().map(x -> Boolean.toString(x.tokensEqual())).toList();
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

    /** Fails unless the greedy tokens are equal and max |logit diff| / max |logit| within {@code relTol}; else the PASS detail. */
    private static String describe(ModelBuilder.Precision p, OrtPrecisionCheck.Result r, double relTol) {
        double rel = r.maxLogitDiff() / r.maxLogit();
        String d = String.format(Locale.ROOT, "tokens %s; %s argmax %s; max |logit diff| %.3g of max |logit| %.3g = %.2g (tolerance %.0e); KV bytes %d -> %d",
                r.tokens32(), p.label(), r.tokensEqual() ? "equal" : r.tokens16(), r.maxLogitDiff(), r.maxLogit(), rel, relTol, r.kvBytes32(), r.kvBytes16());
        if (!r.tokensEqual() || !(rel <= relTol)) throw new IllegalStateException(p.label() + " differs from fp32: " + d);
        return d;
    }

    private static String describe(OrtCrossCheck.Result r) {
        return String.format(Locale.ROOT, "tokens %s; max |diff| logits %.3g, cache %.3g, probe %.3g (%d cache and %d probe comparisons)", r.tokens(),
                r.maxLogitsDiff(), r.maxCacheDiff(), r.maxProbeDiff(), r.cacheCompares(), r.probeCompares());
    }
}
