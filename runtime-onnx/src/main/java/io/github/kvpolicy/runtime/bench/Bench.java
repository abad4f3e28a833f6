package io.github.kvpolicy.runtime.bench;

import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.host.cli.Flags;
import io.github.kvpolicy.runtime.ort.CopyRate;
import io.github.kvpolicy.runtime.ort.Device;
import io.github.kvpolicy.runtime.ort.OrtDecoder;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.PolicyAction;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.Timings;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;
import io.github.kvpolicy.runtime.probe.CpuAttentionProbe;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The runtime benchmark (not part of the test suite): on a random-weights model, for every prompt length × batch size
 * × kept share of the cache: prefill time, decoding ms per step (one decoder call for the whole batch) on the cache
 * compressed after prefill, the policy's cost (scoring + validation, compaction) as a share of prefill, the KV bytes,
 * and the <b>bandwidth bound</b> of the step: {@code (weight bytes + live KV bytes) ÷ copy rate}, where the weight
 * bytes are those a step must read (every decoder matrix and the LM head, at the build's precision; the embedding
 * table only when it is the LM head), the live KV bytes are K and V of every live token at the middle of decoding, and
 * the copy rate is the device's read + write rate measured by {@link CopyRate} on the same device (or given with
 * {@code --copy-gbps}). Every figure is the median over {@code --reps} repetitions after {@code --warmup} discarded
 * ones. A probe-based policy and the CPU probe kernels are timed once, at the first prompt length and batch.
 *
 * <pre>
 * Bench [--preset small-100m] [--seed 1] [--dir target/bench-models] [--prompt 2048[,32768..]] [--batch 1[,8..]]
 *       [--decode 32] [--ratios 0.1,0.25,0.5,1.0] [--reps 3] [--warmup 1] [--chunk 512] [--threads 0] [--device cpu]
 *       [--probe-window 32] [--dtype fp32|fp16-kv|fp16] [--copy-gbps 0] [--out FILE] [--help]
 * </pre>
 * Flags are parsed by {@link Flags} ({@code --name value} or {@code --name=value}); a bad flag or value prints one line
 * and exits 2. {@code --dtype} builds the model in that precision ({@link ModelBuilder.Precision}: {@code fp16-kv} halves the
 * KV bytes with fp32 arithmetic, {@code fp16} also stores the weights and runs the projections in fp16) in its own graph folder.
 * The issue-12 grid on a GPU: {@code --preset qwen2-7b --device cuda --dtype fp16 --prompt 2048,32768 --batch 1,8
 * --ratios 1.0,0.25,0.1}.
 */
public final class Bench {
    /**
     * Benchmark options; see the class comment for the flags.
     *
     * @param prompts  prompt lengths in tokens (each ≥ 8)
     * @param batches  batch sizes (each ≥ 1); a batch's rows are different random prompts of the same length
     * @param copyGBps the device's copy rate in GB/s (read + write) for the bound; 0 = measure it with {@link CopyRate}
     */
    public record Options(String preset, long seed, Path dir, List<Integer> prompts, List<Integer> batches, int decode, List<Double> ratios, int reps,
                          int warmup, int chunk, int threads, Device device, int probeWindow, Path out, ModelBuilder.Precision dtype, double copyGBps) {
        public Options {
            java.util.Objects.requireNonNull(dtype, "dtype");
            prompts = List.copyOf(prompts);
            batches = List.copyOf(batches);
            ratios = List.copyOf(ratios);
        }

        /** One prompt length, batch 1, the copy rate measured. */
        public Options(String preset, long seed, Path dir, int prompt, int decode, List<Double> ratios, int reps, int warmup,
                       int chunk, int threads, Device device, int probeWindow, Path out, ModelBuilder.Precision dtype) {
            this(preset, seed, dir, List.of(prompt), List.of(1), decode, ratios, reps, warmup, chunk, threads, device, probeWindow, out, dtype, 0);
        }

        /** One prompt length, batch 1, fp32, the copy rate measured. */
        public Options(String preset, long seed, Path dir, int prompt, int decode, List<Double> ratios, int reps, int warmup,
                       int chunk, int threads, Device device, int probeWindow, Path out) {
            this(preset, seed, dir, prompt, decode, ratios, reps, warmup, chunk, threads, device, probeWindow, out, ModelBuilder.Precision.FP32);
        }

        public static Options defaults() {
            return new Options("small-100m", 1, Path.of("target/bench-models"), 2048, 32, List.of(0.1, 0.25, 0.5, 1.0), 3, 1, 512, 0, Device.CPU, 32, null);
        }

        /** Parses the flags (see the class comment). @throws IllegalArgumentException one line naming a bad flag or value */
        static Options parse(String[] args) {
            return of(FLAGS.parse(args));
        }

        static Options of(Flags.Parsed p) {
            Options o = new Options(p.string("--preset"), p.longValue("--seed"), p.path("--dir"), p.intList("--prompt"), p.intList("--batch"),
                    p.intValue("--decode"), p.doubleList("--ratios"), p.intValue("--reps"), p.intValue("--warmup"), p.intValue("--chunk"),
                    p.intValue("--threads"), p.as("--device", Device::parse), p.intValue("--probe-window"), p.path("--out"),
                    p.as("--dtype", ModelBuilder.Precision::parse), p.doubleValue("--copy-gbps"));
            if (o.reps < 1 || o.warmup < 0 || o.decode < 2) throw new IllegalArgumentException("need --reps >= 1, --warmup >= 0, --decode >= 2");
            if (o.prompts.isEmpty() || o.prompts.stream().anyMatch(x -> x < 8)) throw new IllegalArgumentException("--prompt: every length must be >= 8, got " + o.prompts);
            if (o.batches.isEmpty() || o.batches.stream().anyMatch(x -> x < 1)) throw new IllegalArgumentException("--batch: every size must be >= 1, got " + o.batches);
            if (o.ratios.isEmpty()) throw new IllegalArgumentException("--ratios: needs at least one ratio");
            if (!(o.copyGBps >= 0) || Double.isInfinite(o.copyGBps)) throw new IllegalArgumentException("--copy-gbps: must be >= 0, got " + o.copyGBps);
            return o;
        }
    }

    /** The flags; their defaults are those of {@link Options#defaults()}. */
    static final Flags FLAGS = new Flags("Bench [flags]")
            .value("--preset", "NAME", "small-100m", "random-weights model preset")
            .value("--seed", "N", "1", "seed of the random weights and the prompt")
            .value("--dir", "DIR", "target/bench-models", "where the random models are built")
            .value("--prompt", "TOKENS,..", "2048", "prompt lengths (each >= 8)")
            .value("--batch", "N,..", "1", "batch sizes (rows of different random prompts of one length)")
            .value("--decode", "TOKENS", "32", "decoded tokens (>= 2)")
            .value("--ratios", "R,..", "0.1,0.25,0.5,1.0", "kept shares of the cache to measure")
            .value("--reps", "N", "3", "measured repetitions (>= 1)")
            .value("--warmup", "N", "1", "discarded warm-up repetitions (>= 0)")
            .value("--chunk", "TOKENS", "512", "prefill chunk")
            .value("--threads", "N", "0", "intra-op threads (0: ONNX Runtime's default)")
            .value("--device", "cpu|cuda", "cpu", "execution device")
            .value("--probe-window", "N", "32", "queries of the probe-based policy")
            .value("--dtype", "fp32|fp16-kv|fp16", "fp32", "precision of the built decoder (fp16-kv: fp16 KV cache; fp16: fp16 weights, projections and KV)")
            .value("--copy-gbps", "GB/s", "0", "the device's copy rate (read + write) for the bound; 0 = measure it")
            .value("--out", "FILE", null, "also write the markdown table here");

    /**
     * One (prompt, batch, kept share): medians. Bytes are summed over layers and rows, keys + values.
     *
     * @param boundMs the step's bandwidth bound: (weight bytes + live KV bytes at the middle of decoding) ÷ copy rate
     */
    public record RatioRow(int prompt, int batch, double ratio, double prefillMs, double decodeMsPerToken, double policyMs, double compactionMs,
                           long allocatedBefore, long allocatedAfter, long liveBefore, long liveAfter, int keptPerHead, double boundMs, long deviceInUse) {
        /** Measured step time over its bound (≥ 1 up to measurement noise). */
        public double boundRatio() { return decodeMsPerToken / boundMs; }
    }

    /**
     * Everything measured.
     *
     * @param copyBytesPerSecond the copy rate the bounds use (read + write bytes per second)
     * @param stepWeightBytes    the weight bytes one decoding step reads
     */
    public record Report(Options options, ModelShape shape, long params, double copyBytesPerSecond, long stepWeightBytes, List<RatioRow> ratios,
                         double probePolicyMs, double probeCompactionMs, double probeAxpyMs, double probeDotMs, OrtDecoder.DeviceMemory deviceMemory,
                         String markdown) {
        /** The prefill time of the first prompt length and batch. */
        public double prefillMs() { return ratios.getFirst().prefillMs(); }
    }

    private Bench() {}

    /** Standalone entry: a usage error prints one line and exits with status 2 (see {@link Flags#parseMain}). */
    public static void main(String[] args) throws IOException {
        java.util.Optional<Options> parsed = FLAGS.parseMain("bench", args, Options::of);
        if (parsed.isPresent()) runAndPrint(parsed.get(), System.out);
    }

    /**
     * Entry for a host command line ({@code kvpolicy bench}): prints the help on {@code --help}, otherwise runs the
     * benchmark printing progress and the table to {@code out}. Never exits the JVM.
     *
     * @throws IllegalArgumentException one line naming a bad flag or value, before anything has run
     */
    public static void runFromFlags(String[] args, java.io.PrintStream out) throws IOException {
        Flags.Parsed p = FLAGS.parse(args);
        if (p.helpRequested()) {
            out.print(p.help());
            return;
        }
        runAndPrint(Options.of(p), out);
    }

    private static void runAndPrint(Options o, java.io.PrintStream out) throws IOException {
        Report r = run(o, out::println);
        out.println();
        out.println(r.markdown());
        if (r.options().out() != null) {
            Files.writeString(r.options().out(), r.markdown());
            out.println("written to " + r.options().out());
        }
    }

    /**
     * Weight bytes one decoding step of {@code cfg}'s decoder reads at {@code precision}: every layer's matrices and norm
     * weights, the final norm and the LM head (the embedding table only as the LM head; the embedding graph gathers
     * just the new tokens' rows). Matrices take 2 bytes per element in an fp16 build and 4 otherwise; norm weights 4.
     */
    public static long stepWeightBytes(io.github.kvpolicy.runtime.model.config.ModelConfig cfg, ModelBuilder.Precision precision) {
        long h = cfg.hiddenSize(), embed = (long) cfg.vocabSize() * h;
        long all = cfg.decoderParamCount() - (cfg.tieWordEmbeddings() ? 0 : embed); // the input embedding is not read whole
        // 1-D norm weights, fp32 in every build: two per layer (Gemma: four, plus its q/k norms), Qwen3's q/k norms, the final norm
        long perLayerNorms = cfg.gemma3() != null ? 4L * h + 2L * cfg.headDim() : 2L * h + (cfg.qkNorm() ? 2L * cfg.headDim() : 0);
        long norms = perLayerNorms * cfg.numLayers() + h;
        long matrixElems = all - norms;
        return matrixElems * (precision.computeHalf() ? 2 : 4) + norms * 4;
    }

    /** Runs the benchmark; {@code log} receives progress lines. */
    public static Report run(Options o, java.util.function.Consumer<String> log) {
        log.accept("building/opening random model '" + o.preset() + "' (seed " + o.seed() + ") under " + o.dir());
        ModelPackage pkg = ModelPackage.random(o.preset(), o.seed(), o.dir().resolve(o.preset() + "-" + o.seed()));
        ModelPackage.BuiltModel built = o.dtype() == ModelBuilder.Precision.FP32 ? pkg.ensureBuilt()
                : ModelPackage.open(pkg.directory(), ModelBuilder.BuildOptions.DEFAULT.withPrecision(o.dtype())).ensureBuilt();
        GeneratorConfig cfg = GeneratorConfig.defaults().withDevice(o.device()).withIntraOpThreads(o.threads()).withPrefillChunk(o.chunk())
                .withPrecision(o.dtype());
        cfg.caution().ifPresent(line -> log.accept("note: " + line));
        double rate;
        if (o.copyGBps() > 0) {
            rate = o.copyGBps() * 1e9;
        } else {
            CopyRate.Result cr = CopyRate.measure(o.device(), 0, o.device() == Device.CUDA ? 2L << 30 : 256L << 20, 11);
            rate = cr.bytesPerSecond();
            log.accept(String.format(Locale.ROOT, "copy rate on %s: %.1f GB/s (read + write; %d MiB buffer, median %.2f ms)",
                    o.device().name().toLowerCase(Locale.ROOT), rate / 1e9, cr.bytes() >> 20, cr.medianMs()));
        }
        long weightBytes = stepWeightBytes(built.config(), o.dtype());
        List<RatioRow> rows = new ArrayList<>();
        List<double[]> probePolicy = new ArrayList<>();
        List<Double> axpy = new ArrayList<>(), dot = new ArrayList<>();
        try (Generator g = Generator.open(built, cfg)) {
            ModelShape shape = g.shape();
            long kvBytesPerToken = 2L * shape.layers() * shape.kvHeads() * shape.headDim() * (o.dtype().kvHalf() ? 2 : 4);
            boolean first = true;
            for (int promptLength : o.prompts()) {
                for (int batch : o.batches()) {
                    Random rnd = new Random(o.seed() + 17 + 31L * promptLength + batch);
                    List<Prompt> prompts = new ArrayList<>();
                    for (int b = 0; b < batch; b++) prompts.add(Prompt.ofTokens(rnd.longs(promptLength, 3, built.config().vocabSize()).toArray()));
                    Map<Double, List<double[]>> perRatio = new LinkedHashMap<>();
                    Map<Double, long[]> bytes = new LinkedHashMap<>();
                    for (int rep = 0; rep < o.warmup() + o.reps(); rep++) {
                        boolean measured = rep >= o.warmup();
                        String tag = String.format(Locale.ROOT, "prompt %d batch %d %s", promptLength, batch,
                                measured ? "rep " + (rep - o.warmup() + 1) + "/" + o.reps() : "warm-up " + (rep + 1) + "/" + o.warmup());
                        for (double ratio : o.ratios()) {
                            GenerationRequest.Builder rb = GenerationRequest.builder();
                            for (Prompt pr : prompts) rb.row(pr);
                            long[] inUse = {-1};
                            GenerationResult res;
                            try (GenerationSession s = g.newSession(rb.maxNewTokens(o.decode() + 1).policy(BenchPolicies.sinkAndRecent(), Budget.ratio(ratio)).build())) {
                                s.prefill();
                                int mid = o.decode() / 2 + 1; // tokens of row 0 (the first comes from prefill): the middle of decoding
                                int[] seen = {0};
                                res = s.runToEnd((row, token) -> {
                                    if (row == 0 && ++seen[0] == mid) inUse[0] = g.deviceMemory().map(OrtDecoder.DeviceMemory::inUse).orElse(-1L);
                                });
                            }
                            Timings t = res.timings();
                            PolicyAction a = res.actions().getFirst();
                            log.accept(String.format(Locale.ROOT, "%s ratio %.2f: prefill %.0f ms, decode median %.2f ms/step, policy %.2f ms, compaction %.2f ms",
                                    tag, ratio, t.prefillMs(), t.medianDecodeMs(), a.policyMs(), a.compactionMs()));
                            if (!measured) continue;
                            perRatio.computeIfAbsent(ratio, k -> new ArrayList<>()).add(new double[] {t.medianDecodeMs(), a.policyMs(), a.compactionMs(), t.prefillMs()});
                            bytes.put(ratio, new long[] {a.memory().allocatedBefore(), a.memory().allocatedAfter(), a.memory().liveBefore(), a.memory().liveAfter(),
                                    a.plan().keptCount(0, 0, 0), inUse[0]});
                        }
                        if (first) probeOnce(g, o, prompts.getFirst(), tag, measured, log, probePolicy, axpy, dot);
                    }
                    first = false;
                    for (var e : perRatio.entrySet()) {
                        long[] b = bytes.get(e.getKey());
                        long liveMid = b[3] + kvBytesPerToken * batch * (o.decode() / 2);
                        double bound = (weightBytes + liveMid) / rate * 1e3;
                        rows.add(new RatioRow(promptLength, batch, e.getKey(), median(e.getValue(), 3), median(e.getValue(), 0), median(e.getValue(), 1),
                                median(e.getValue(), 2), b[0], b[1], b[2], b[3], (int) b[4], bound, b[5]));
                    }
                }
            }
            long params = built.config().decoderParamCount();
            double ppm = median(probePolicy, 0), pcm = median(probePolicy, 1);
            OrtDecoder.DeviceMemory mem = g.deviceMemory().orElse(null);
            String md = markdown(o, shape, params, rate, weightBytes, rows, ppm, pcm, Timings.median(axpy), Timings.median(dot), mem);
            return new Report(o, shape, params, rate, weightBytes, rows, ppm, pcm, Timings.median(axpy), Timings.median(dot), mem, md);
        }
    }

    /** A probe-based policy at the smallest ratio, and the CPU probe kernels on its cache (first prompt length and batch only). */
    private static void probeOnce(Generator g, Options o, Prompt p, String tag, boolean measured, java.util.function.Consumer<String> log,
                                  List<double[]> probePolicy, List<Double> axpy, List<Double> dot) {
        double small = o.ratios().stream().mapToDouble(Double::doubleValue).min().orElse(0.1);
        CompressionPolicy probePol = BenchPolicies.probeTopK(o.probeWindow());
        try (GenerationSession s = g.newSession(GenerationRequest.builder().row(p).maxNewTokens(1).policy(probePol, Budget.ratio(small)).build())) {
            s.prefill();
            int[] qs = s.probe().queryPositions(0);
            int[] keys = s.cache().positions(0, 0, 0);
            AttentionQuery q = new AttentionQuery(0, new int[0], qs, keys, Reduction.MEAN, HeadMapping.KV_MEAN);
            // alternate the two kernels 5 times each, take the medians
            List<Double> axs = new ArrayList<>(), dts = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                axs.add(time(() -> new CpuAttentionProbe(s.cache(), s.queries(), CpuAttentionProbe.Kernel.AXPY).attention(q)));
                dts.add(time(() -> new CpuAttentionProbe(s.cache(), s.queries(), CpuAttentionProbe.Kernel.DOT).attention(q)));
            }
            double ax = Timings.median(axs), dt = Timings.median(dts);
            PolicyAction a = s.applyPolicy(io.github.kvpolicy.api.Phase.PREFILL);
            log.accept(String.format(Locale.ROOT, "%s probe policy (window %d, ratio %.2f): policy %.1f ms, compaction %.2f ms; probe axpy %.1f ms, dot %.1f ms",
                    tag, o.probeWindow(), small, a.policyMs(), a.compactionMs(), ax, dt));
            if (measured) {
                probePolicy.add(new double[] {a.policyMs(), a.compactionMs()});
                axpy.add(ax);
                dot.add(dt);
            }
        }
    }

    private static double time(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return (System.nanoTime() - t0) / 1e6;
    }

    private static double median(List<double[]> xs, int i) {
        return Timings.median(xs.stream().map(a -> a[i]).toList());
    }

    private static String markdown(Options o, ModelShape s, long params, double rate, long weightBytes, List<RatioRow> rows, double ppm, double pcm,
                                   double axpy, double dot, OrtDecoder.DeviceMemory mem) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "Model: random `%s` (%s, %.1fM decoder parameters), prompts of %s tokens (chunks of %d), batch %s, %d decoded tokens, "
                        + "device %s, precision %s, intra-op threads %s; medians of %d repetitions after %d warm-up.%n%n",
                o.preset(), s, params / 1e6, o.prompts(), o.chunk(), o.batches(), o.decode(), o.device().name().toLowerCase(Locale.ROOT), o.dtype().label(),
                o.threads() == 0 ? "default" : Integer.toString(o.threads()), o.reps(), o.warmup()));
        sb.append(String.format(Locale.ROOT, "Bound per step = (%.1f MB of weights read per step + live KV bytes at the middle of decoding) ÷ copy rate %.1f GB/s "
                        + "(read + write, %s).%n%n", weightBytes / 1e6, rate / 1e9, o.copyGBps() > 0 ? "given with --copy-gbps" : "measured on the device"));
        sb.append("| prompt | batch | kept | tokens per (layer, head) | prefill ms | decode ms/step | bound ms | step / bound | policy ms | compaction ms "
                + "| (policy+compaction) / prefill | KV allocated before → after | KV live before → after | device memory in use |\n");
        sb.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (RatioRow r : rows) {
            sb.append(String.format(Locale.ROOT, "| %d | %d | %.0f%% | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f%% | %s → %s | %s → %s | %s |%n", r.prompt(), r.batch(),
                    r.ratio() * 100, r.keptPerHead(), r.prefillMs(), r.decodeMsPerToken(), r.boundMs(), r.boundRatio(), r.policyMs(), r.compactionMs(),
                    100 * (r.policyMs() + r.compactionMs()) / r.prefillMs(), mib(r.allocatedBefore()), mib(r.allocatedAfter()), mib(r.liveBefore()), mib(r.liveAfter()),
                    r.deviceInUse() < 0 ? "n/a" : mib(r.deviceInUse())));
        }
        sb.append(mem == null ? String.format(Locale.ROOT, "%nDevice memory: the allocators keep no statistics (n/a).%n")
                : String.format(Locale.ROOT, "%nDevice memory (ONNX Runtime's arenas of the decoder and helper graphs, measured at the middle of each row's decoding; "
                        + "weights are counted where ORT places initializers in the arena): at the end %s in use, %s reserved; sum of the arenas' peaks %s.%n",
                mib(mem.inUse()), mib(mem.reserved()), mib(mem.peakInUse())));
        double small = o.ratios().stream().mapToDouble(Double::doubleValue).min().orElse(0.1);
        double prefill0 = rows.getFirst().prefillMs();
        sb.append(String.format(Locale.ROOT, "%nProbe-based policy (mean attention of the last %d queries over all %d keys, every layer, KV_MEAN; top-k to %.0f%%; "
                        + "first prompt, one row): policy (probe + scoring + validation) **%.1f ms**, compaction %.2f ms = **%.2f%%** of that row's prefill.%n",
                o.probeWindow(), o.prompts().getFirst(), small * 100, ppm, pcm, 100 * (ppm + pcm) / prefill0));
        sb.append(String.format(Locale.ROOT, "Probe kernel on that query (%d layers × %d query heads × %d queries × %d keys × %d dims): axpy %.1f ms, dot %.1f ms.%n",
                s.layers(), s.queryHeads(), o.probeWindow(), o.prompts().getFirst(), s.headDim(), axpy, dot));
        return sb.toString();
    }

    private static String mib(long b) {
        return String.format(Locale.ROOT, "%.1f MiB", b / 1048576.0);
    }
}
