import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.model.ModelPackage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Decode ms/token of {@code GenerationSession} through the public API only, so the same source runs against any
 * build of runtime-onnx (used to compare two commits, docs/benchmarks.md). A single-file program:
 *
 * <pre>
 * java -Xmx4g --enable-native-access=ALL-UNNAMED -cp runtime-onnx/target/classes:$(cat runtime-onnx/target/cp.txt) \
 *     scripts/DecodeBench.java MODEL PROMPT DECODE WARMUP REPS THREADS [MODELS_DIR]
 * </pre>
 *
 * MODEL is a model folder (config.json + safetensors, e.g. a copy of testbed/model; its graphs are built into it) or
 * {@code preset:NAME} for a random-weights preset written to MODELS_DIR/NAME-1 (default /tmp/kvbench/models). Each
 * repetition is one request of PROMPT random text tokens and DECODE + 1 new tokens (greedy, no policy) on one
 * generator; the first WARMUP repetitions are dropped; prints each repetition's median decode step and the median
 * over repetitions. Environment: FRESH=1 opens a new generator per repetition, STEPS=1 prints every step's time.
 */
public class DecodeBench {
    public static void main(String[] a) {
        String model = a[0];
        int promptLen = Integer.parseInt(a[1]), decode = Integer.parseInt(a[2]), warmup = Integer.parseInt(a[3]), reps = Integer.parseInt(a[4]),
                threads = Integer.parseInt(a[5]);
        Path models = Path.of(a.length > 6 ? a[6] : "/tmp/kvbench/models");
        ModelPackage.BuiltModel built = model.startsWith("preset:")
                ? ModelPackage.random(model.substring(7), 1, models.resolve(model.substring(7) + "-1")).ensureBuilt()
                : ModelPackage.open(Path.of(model)).ensureBuilt();
        GeneratorConfig cfg = GeneratorConfig.defaults().withIntraOpThreads(threads).withPrefillChunk(512);
        List<Double> dec = new ArrayList<>(), pre = new ArrayList<>();
        boolean fresh = System.getenv("FRESH") != null;
        Generator shared = fresh ? null : Generator.open(built, cfg);
        for (int rep = 0; rep < warmup + reps; rep++) {
            Generator g = fresh ? Generator.open(built, cfg) : shared;
            long[] prompt = new Random(18).longs(promptLen, 3, g.vocabSize()).toArray();
            GenerationResult r = g.generate(GenerationRequest.builder().row(Prompt.ofTokens(prompt)).maxNewTokens(decode + 1).build());
            System.out.printf(Locale.ROOT, "%s rep %d: prefill %.1f ms, decode median %.3f ms/token, rss %d MiB%n", rep < warmup ? "warm-up" : "measured", rep,
                    r.timings().prefillMs(), r.timings().medianDecodeMs(), rss() >> 20);
            if (System.getenv("STEPS") != null) {
                System.out.println("   steps " + r.timings().decodeMs().stream().map(x -> String.format(Locale.ROOT, "%.0f", x)).toList());
            }
            if (rep >= warmup) {
                dec.add(r.timings().medianDecodeMs());
                pre.add(r.timings().prefillMs());
            }
            if (fresh) g.close();
        }
        if (shared != null) shared.close();
        System.out.printf(Locale.ROOT, "RESULT %s prompt %d decode %d threads %d: decode ms/token median of %d reps %.3f (reps %s), prefill ms median %.1f%n",
                model, promptLen, decode, threads, reps, median(dec), dec.stream().map(x -> String.format(Locale.ROOT, "%.3f", x)).toList(), median(pre));
    }

    static long rss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return -1;
    }

    static double median(List<Double> x) {
        List<Double> s = new ArrayList<>(x);
        s.sort(null);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
