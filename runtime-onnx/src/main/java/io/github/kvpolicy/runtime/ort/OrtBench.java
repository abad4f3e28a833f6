package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.host.cli.Flags;
import io.github.kvpolicy.runtime.cache.KvCache;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.decode.PastTensors;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.graph.OnnxGraph;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Decode step time of {@link OrtDecoder} (cache resident in ORT memory) against the Java-API path
 * ({@link ModelSessions#decode} + {@link KvCache#append}, as {@code GenerationSession} decodes) on a random-weights
 * model at a few cache lengths, plus a check that the in-place scatter does not copy the cache.
 *
 * <p>Per cache length both paths prefill the same random prompt, then decode greedily with their steps
 * <em>interleaved</em> (Java step, ORT step, Java step, …) so machine load hits both alike; each step's wall time is
 * measured, the first {@code --warmup} steps are dropped and the medians reported, plus the median of the per-step
 * ratios (each Java step against the resident step right after it, which cancels slow drifts of machine load). The greedy tokens of the two paths
 * are compared (they must be equal on the CPU). Not part of the test suite; {@code OrtBenchSmokeTest} runs it on the
 * tiny preset.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp ... io.github.kvpolicy.runtime.ort.OrtBench \
 *   [--preset small-100m] [--seed 1] [--dir target/bench-models] [--lengths 512,2048] [--steps 24] [--warmup 4]
 *   [--chunk 512] [--threads 0] [--device cpu|cuda] [--dtype fp32|fp16-kv|fp16] [--scatter-capacities 1024,65536] [--out FILE] [--help]
 * </pre>
 * With {@code --dtype fp16-kv} or {@code fp16} the resident path runs that build of the model ({@link ModelBuilder.Precision})
 * while the Java-API path keeps the fp32 build (it takes fp32 K/V only), so "same tokens" compares the reduced precision with fp32.
 * Flags are parsed by {@link Flags} ({@code --name value} or {@code --name=value}); a bad flag or value prints one line
 * and exits 2.
 */
public final class OrtBench {
    /** Options; see the class comment. */
    public record Options(String preset, long seed, Path dir, int[] lengths, int steps, int warmup, int chunk, int threads, Device device,
                          int[] scatterCapacities, Path out, ModelBuilder.Precision dtype) {
        public Options {
            java.util.Objects.requireNonNull(dtype, "dtype");
        }

        /** fp32 KV. */
        public Options(String preset, long seed, Path dir, int[] lengths, int steps, int warmup, int chunk, int threads, Device device,
                       int[] scatterCapacities, Path out) {
            this(preset, seed, dir, lengths, steps, warmup, chunk, threads, device, scatterCapacities, out, ModelBuilder.Precision.FP32);
        }

        static Options defaults() {
            return new Options("small-100m", 1, Path.of("target", "bench-models"), new int[] {512, 2048}, 24, 4, 512, 0, Device.CPU,
                    new int[] {1024, 65536}, null);
        }

        /** Parses the flags (see {@link #FLAGS}). @throws IllegalArgumentException one line naming a bad flag or value */
        public static Options parse(String[] args) {
            return of(FLAGS.parse(args));
        }

        static Options of(Flags.Parsed p) {
            Options o = new Options(p.string("--preset"), p.longValue("--seed"), p.path("--dir"), ints(p.intList("--lengths")), p.intValue("--steps"),
                    p.intValue("--warmup"), p.intValue("--chunk"), p.intValue("--threads"), p.as("--device", Device::parse),
                    ints(p.intList("--scatter-capacities")), p.path("--out"), p.as("--dtype", ModelBuilder.Precision::parse));
            if (o.steps <= o.warmup) throw new IllegalArgumentException("--steps (" + o.steps + ") must exceed --warmup (" + o.warmup + ")");
            if (o.chunk < 1) throw new IllegalArgumentException("--chunk must be >= 1, got " + o.chunk);
            if (o.lengths.length == 0) throw new IllegalArgumentException("--lengths: needs at least one length");
            for (int l : o.lengths) if (l < 1) throw new IllegalArgumentException("--lengths must be >= 1, got " + l);
            return o;
        }

        private static int[] ints(List<Integer> v) {
            return v.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    /** The flags; their defaults are those of {@link Options#defaults()}. */
    static final Flags FLAGS = new Flags("OrtBench [flags]")
            .value("--preset", "NAME", "small-100m", "random-weights model preset")
            .value("--seed", "N", "1", "seed of the random weights and the prompts")
            .value("--dir", "DIR", "target/bench-models", "where the random models are built")
            .value("--lengths", "N,..", "512,2048", "cache lengths to measure")
            .value("--steps", "N", "24", "greedy decode steps per length (> --warmup)")
            .value("--warmup", "N", "4", "first steps dropped")
            .value("--chunk", "TOKENS", "512", "prefill chunk (>= 1)")
            .value("--threads", "N", "0", "intra-op threads (0: ONNX Runtime's default)")
            .value("--device", "cpu|cuda", "cpu", "execution device")
            .value("--dtype", "fp32|fp16-kv|fp16", "fp32", "precision of the resident path's decoder build")
            .value("--scatter-capacities", "N,..", "1024,65536", "cache slots of the in-place append timing (empty: skip it)")
            .value("--out", "FILE", null, "also write the markdown table here");

    /** One cache length: medians in ms, and whether the greedy tokens agreed. */
    public record Row(int length, double javaPrefillMs, double ortPrefillMs, double javaStepMs, double ortStepMs, double pairedRatio, boolean tokensEqual) {
        /** Ratio of the two medians. */
        public double ratio() { return javaStepMs / ortStepMs; }
    }

    /** The in-place scatter of one new token into a one-layer cache of {@code capacity} slots: median ms. */
    public record ScatterRow(int capacity, long cacheBytes, double ms) {}

    public record Report(String header, List<Row> rows, List<ScatterRow> scatter) {
        public String markdown() {
            StringBuilder sb = new StringBuilder(header).append("\n\n");
            sb.append("| cache length | prefill ms Java API / resident | decode ms/step Java API | decode ms/step resident | Java / resident (medians) | median of per-step Java / resident | same tokens |\n");
            sb.append("|---:|---:|---:|---:|---:|---:|:---:|\n");
            for (Row r : rows) {
                sb.append(String.format(Locale.ROOT, "| %d | %.0f / %.0f | %.2f | %.2f | %.2f | %.2f | %s |%n", r.length, r.javaPrefillMs, r.ortPrefillMs, r.javaStepMs,
                        r.ortStepMs, r.ratio(), r.pairedRatio, r.tokensEqual ? "yes" : "NO"));
            }
            if (!scatter.isEmpty()) {
                sb.append("\nIn-place append (scatter graph, 1 layer, 1 new token, output bound to the cache's own memory):\n\n");
                sb.append("| cache slots | cache bytes (K+V+mask) | median ms |\n|---:|---:|---:|\n");
                for (ScatterRow s : scatter) sb.append(String.format(Locale.ROOT, "| %d | %.1f MiB | %.3f |%n", s.capacity, s.cacheBytes / 1048576.0, s.ms));
            }
            return sb.toString();
        }
    }

    private OrtBench() {}

    public static void main(String[] args) {
        java.util.Optional<Options> parsed = FLAGS.parseMain("ort-bench", args, Options::of);
        if (parsed.isEmpty()) return;
        Options o = parsed.get();
        Report r = run(o, System.out::println);
        String md = r.markdown();
        System.out.println(md);
        if (o.out() != null) {
            try {
                Files.writeString(o.out(), md);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + o.out(), e);
            }
        }
        if (r.rows().stream().anyMatch(x -> !x.tokensEqual) && o.device() == Device.CPU) {
            System.err.println("ort-bench: the resident path's greedy tokens differ from the Java-API path's on the CPU");
            System.exit(1);
        }
    }

    /** Runs the benchmark, logging progress to {@code log}. */
    public static Report run(Options o, java.util.function.Consumer<String> log) {
        ModelPackage pkg = ModelPackage.random(o.preset(), o.seed(), o.dir().resolve(o.preset() + "-" + o.seed()).toAbsolutePath());
        ModelPackage.BuiltModel built = pkg.ensureBuilt();
        ModelPackage.BuiltModel resident = o.dtype() == ModelBuilder.Precision.FP32 ? built
                : ModelPackage.open(pkg.directory(), ModelBuilder.BuildOptions.DEFAULT.withPrecision(o.dtype())).ensureBuilt();
        boolean cuda = o.device() == Device.CUDA;
        List<Row> rows = new ArrayList<>();
        ModelShape shape;
        String header;
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), cuda, 0, o.threads());
             ModelSessions ortModel = resident == built ? null : ModelSessions.open(resident.decoder().getParent(), cuda, 0, o.threads())) {
            shape = model.shape();
            OrtApi api = OrtApi.get();
            header = String.format(Locale.ROOT, "Model: random `%s` (seed %d, %s), device %s, resident precision %s, ONNX Runtime %s, intra-op threads %s; "
                            + "per cache length: prefill in chunks of %d, then %d greedy steps interleaved between the two paths, first %d dropped, medians.",
                    o.preset(), o.seed(), shape, o.device().name().toLowerCase(Locale.ROOT), o.dtype().label(), api.version(), o.threads() == 0 ? "default" : o.threads(),
                    o.chunk(), o.steps(), o.warmup());
            for (int length : o.lengths()) {
                rows.add(measure(model, ortModel == null ? model : ortModel, o, length));
                Row r = rows.getLast();
                log.accept(String.format(Locale.ROOT, "length %d: Java %.2f ms/step, resident %.2f ms/step (×%.2f; paired ×%.2f), tokens equal %s", length,
                        r.javaStepMs, r.ortStepMs, r.ratio(), r.pairedRatio, r.tokensEqual));
            }
        }
        List<ScatterRow> sc = new ArrayList<>();
        for (int cap : o.scatterCapacities()) sc.add(scatter(shape, cap, o.device(), o.dtype()));
        return new Report(header, rows, sc);
    }

    /** {@code model} serves the Java-API path (and the embeddings), {@code ortModel} the resident decoder (the same one for fp32). */
    private static Row measure(ModelSessions model, ModelSessions ortModel, Options o, int length) {
        ModelShape shape = model.shape();
        long[] ids = new Random(o.seed() * 31 + length).longs(length, 3, model.vocabSize()).toArray();
        try (KvCache cache = new KvCache(shape, 1, 1); PastTensors past = new PastTensors(model.env(), cache);
             OrtDecoder ort = OrtDecoder.open(ortModel, o.device(), 0, o.threads(), 1, 1)) {
            long t0 = System.nanoTime();
            float[] jl = null, ol = null;
            for (int c0 = 0; c0 < length; c0 += o.chunk()) {
                int s = Math.min(o.chunk(), length - c0);
                jl = javaStep(model, cache, past, Arrays.copyOfRange(ids, c0, c0 + s), c0, s - 1);
            }
            double javaPrefill = ms(t0);
            t0 = System.nanoTime();
            for (int c0 = 0; c0 < length; c0 += o.chunk()) {
                int s = Math.min(o.chunk(), length - c0);
                ol = ortStep(model, ort, Arrays.copyOfRange(ids, c0, c0 + s), c0, s - 1);
            }
            double ortPrefill = ms(t0);
            cache.reserve(o.steps());
            ort.reserve(o.steps());
            long jt = argmax(jl), ot = argmax(ol);
            boolean equal = jt == ot;
            double[] jms = new double[o.steps()], oms = new double[o.steps()];
            for (int t = 0; t < o.steps(); t++) {
                int pos = length + t;
                long a = System.nanoTime();
                jl = javaStep(model, cache, past, new long[] {jt}, pos, 0);
                jms[t] = ms(a);
                a = System.nanoTime();
                ol = ortStep(model, ort, new long[] {ot}, pos, 0);
                oms[t] = ms(a);
                jt = argmax(jl);
                ot = argmax(ol);
                equal &= jt == ot;
            }
            double[] ratios = new double[o.steps() - o.warmup()];
            for (int t = o.warmup(); t < o.steps(); t++) ratios[t - o.warmup()] = jms[t] / oms[t];
            return new Row(length, javaPrefill, ortPrefill, median(Arrays.copyOfRange(jms, o.warmup(), o.steps())),
                    median(Arrays.copyOfRange(oms, o.warmup(), o.steps())), median(ratios), equal);
        }
    }

    /** A decoder call of {@code ids} at positions {@code start..} plus the append, as GenerationSession does; returns the logits of {@code logitsIndex}. */
    private static float[] javaStep(ModelSessions model, KvCache cache, PastTensors past, long[] ids, int start, int logitsIndex) {
        int s = ids.length;
        ModelSessions.DecoderOutputs out = model.decode(1, s, model.embed(ids, 1, s), positions(start, s), new float[s], new long[0], new long[] {logitsIndex},
                past.current());
        int[][] pos = {ints(start, s)};
        for (int l = 0; l < model.shape().layers(); l++) cache.append(l, out.presentKeys()[l], out.presentValues()[l], s, new int[] {s}, pos);
        return out.logits();
    }

    private static float[] ortStep(ModelSessions model, OrtDecoder ort, long[] ids, int start, int logitsIndex) {
        int s = ids.length;
        return ort.step(s, model.embed(ids, 1, s), positions(start, s), new float[s], new long[0], new long[] {logitsIndex}, new int[] {s},
                new int[][] {ints(start, s)}).logits();
    }

    /** Times the scatter graph appending one token to a one-layer cache of {@code capacity} slots (median of 30 runs after 5). */
    static ScatterRow scatter(ModelShape shape, int capacity, Device device, ModelBuilder.Precision dtype) {
        int hkv = shape.kvHeads(), d = shape.headDim();
        int F32 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, I64 = OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
        boolean half = dtype.kvHalf();
        int KV = half ? OrtApi.ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 : F32;
        OnnxGraph.Elem kvElem = half ? OnnxGraph.Elem.FLOAT16 : OnnxGraph.Elem.FLOAT;
        try (NativeSession s = NativeSession.openGraph(ResidentGraphs.scatter(new int[1], hkv, d, kvElem), "kv_scatter", device, 0, 1);
             NativeTensor k = s.allocate(new long[] {1, hkv, capacity, d}, KV); NativeTensor v = s.allocate(new long[] {1, hkv, capacity, d}, KV);
             NativeTensor m = s.allocate(new long[] {1, hkv, capacity}, F32); NativeTensor kn = s.allocate(new long[] {1, hkv, 1, d}, KV);
             NativeTensor vn = s.allocate(new long[] {1, hkv, 1, d}, KV); Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(8L * hkv * 3, 64), dst = arena.allocate(8L * hkv * 3, 64), mn = arena.allocate(4L * hkv, 64);
            for (int h = 0; h < hkv; h++) {
                src.setAtIndex(ValueLayout.JAVA_LONG, h * 3L + 1, h);
                dst.setAtIndex(ValueLayout.JAVA_LONG, h * 3L + 1, h);
                dst.setAtIndex(ValueLayout.JAVA_LONG, h * 3L + 2, capacity / 2);
            }
            try (NativeTensor ts = s.wrapHost(src, new long[] {hkv, 3}, I64); NativeTensor td = s.wrapHost(dst, new long[] {hkv, 3}, I64);
                 NativeTensor tm = s.wrapHost(mn, new long[] {hkv}, F32); NativeBinding b = s.binding()) {
                b.input("k.0", k).input("v.0", v).input("m.0", m).input("kn.0", kn).input("vn.0", vn).input("src", ts).input("dst.0", td).input("mn", tm);
                b.output("ko.0", k).output("vo.0", v).output("mo.0", m);
                double[] t = new double[35];
                for (int i = 0; i < t.length; i++) {
                    long a = System.nanoTime();
                    b.run();
                    t[i] = ms(a);
                }
                return new ScatterRow(capacity, k.byteSize() + v.byteSize() + m.byteSize(), median(Arrays.copyOfRange(t, 5, t.length)));
            }
        }
    }

    private static long[] positions(int start, int n) {
        long[] a = new long[n];
        for (int i = 0; i < n; i++) a[i] = start + i;
        return a;
    }

    private static int[] ints(int start, int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = start + i;
        return a;
    }

    private static long argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static double median(double[] a) {
        double[] c = a.clone();
        Arrays.sort(c);
        int n = c.length;
        return n % 2 == 1 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
    }

    private static double ms(long t0) {
        return (System.nanoTime() - t0) / 1e6;
    }
}
