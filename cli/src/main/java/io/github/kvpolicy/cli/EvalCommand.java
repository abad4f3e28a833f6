package io.github.kvpolicy.cli;

import com.google.inject.Guice;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.evaluation.dataset.VqaExample;
import io.github.kvpolicy.evaluation.dataset.VqaJsonl;
import io.github.kvpolicy.evaluation.engine.Answerer;
import io.github.kvpolicy.evaluation.engine.Contender;
import io.github.kvpolicy.evaluation.engine.EvalExample;
import io.github.kvpolicy.evaluation.engine.EvaluationEngine;
import io.github.kvpolicy.evaluation.engine.ResultLog;
import io.github.kvpolicy.evaluation.engine.ResultRecord;
import io.github.kvpolicy.evaluation.engine.ScoreTable;
import io.github.kvpolicy.evaluation.gridvqa.Evaluation;
import io.github.kvpolicy.evaluation.gridvqa.GridVqa;
import io.github.kvpolicy.evaluation.gridvqa.Heatmaps;
import io.github.kvpolicy.evaluation.gridvqa.Results;
import io.github.kvpolicy.evaluation.gridvqa.TestbedPaths;
import io.github.kvpolicy.evaluation.metrics.Metrics;
import io.github.kvpolicy.evaluation.report.Charts;
import io.github.kvpolicy.host.config.KvPolicyConfig;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Accuracy against visual retention for every policy on the GridVQA testbed; CSV, JSON and PNG plots. Every
 * (example, policy, retention) is appended to {@code results.jsonl} as it finishes, so {@code --resume} continues a
 * stopped run. The policy options of the configuration ({@code -p X --set policy.k=v}, the YAML file, the environment)
 * apply to contender X, which must be among the evaluated policies. With {@code --dataset FILE --images DIR --model DIR}
 * the examples are a user's VQA set answered by a Hugging Face vision-language model ({@link VlmAnswerer}, the path of
 * {@code kvpolicy run}).
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate policies on the GridVQA testbed: accuracy (exact match and per token) against visual retention; CSV, JSON, plots. "
                + "Or a VQA set (--dataset FILE --images DIR) on a Hugging Face vision-language model folder (--model DIR). "
                + "Results are appended per example to OUT/results.jsonl; --resume continues a stopped run.")
public final class EvalCommand implements Callable<Integer> {
    /** The files a GridVQA run writes into {@code --out}; a fresh run refuses to start where any of them exists. */
    static final List<String> OUTPUTS = List.of("results.jsonl", "results.csv", "results.json", "results-outcomes.csv", "accuracy_vs_retention.png",
            "agreement_vs_retention.png", "kept_tokens_heatmap.png", "ablations.jsonl", "ablations.csv", "ablations.json", "ablations-outcomes.csv", "elite_windows.csv");

    /** The files an {@code eval --dataset} run writes into {@code --out}. */
    static final List<String> DATASET_OUTPUTS = List.of("results.jsonl", "summary.csv", "summary.json", "score_vs_retention.png");

    @Mixin ConfigOptions config;
    @Spec CommandSpec spec;

    @Option(names = "--model", description = "Testbed model package (default: testbed/model); with --dataset, a Hugging Face vision-language model folder.")
    Path model;

    @Option(names = "--data", description = "Evaluation set, JSONL (default: testbed/data/eval.jsonl).")
    Path data;

    @Option(names = "--dataset", description = "A VQA set in kvpolicy's JSONL format (docs/evaluation.md) instead of GridVQA; needs --images.")
    Path dataset;

    @Option(names = "--images", description = "The folder the --dataset image paths are relative to.")
    Path images;

    @Option(names = "--metric", description = "Metric of --dataset lines that name none: ${COMPLETION-CANDIDATES} (default: vqa).",
            completionCandidates = MetricNames.class)
    String metric;

    @Option(names = "--limit", description = "Use the first N examples of each family (with --dataset: the first N examples; default: all).", defaultValue = "0")
    int limit;

    @Option(names = "--policies", split = ",", description = "Policies to evaluate (default: every shipped policy and every plugin policy).")
    List<String> policies = new ArrayList<>();

    @Option(names = "--retentions", split = ",", description = "Visual retentions in percent (default: ${DEFAULT-VALUE}).", defaultValue = "100,50,25,10,5,2,1")
    List<Double> retentions;

    @Option(names = "--ablations", description = "Also run AirCache's ablations (observation window and allocation variants) at 10%% and 1%%.")
    boolean ablations;

    @Option(names = "--heatmap-example", description = "Example id for the kept-token heatmap (default: the first where example).")
    String heatmapExample;

    @Option(names = "--out", description = "Output directory (default: ${DEFAULT-VALUE}).", defaultValue = "out/eval")
    Path out;

    @Option(names = "--chat-template", description = "With --dataset: a Jinja chat template file to use instead of the model folder's.")
    Path chatTemplate;

    @Option(names = "--max-new-tokens", description = "With --dataset: answer tokens to generate at most (default: 32).")
    Integer maxNewTokens;

    @Option(names = "--resume", description = "Continue the run whose results.jsonl is in --out: finished (example, policy, retention) records are kept, the rest computed.")
    boolean resume;

    @Option(names = "--threads", description = "ONNX Runtime intra-op threads (0 = default).", defaultValue = "1")
    int threads;

    /** The metric names, for the help text. */
    static final class MetricNames extends ArrayList<String> {
        MetricNames() {
            super(Metrics.names());
        }
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        KvPolicyConfig cfg = config.load();
        if (limit < 0) throw new IllegalArgumentException("--limit must be a positive number of examples (or 0 for all), got " + limit);
        if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        List<Double> ratios = new ArrayList<>();
        for (double r : retentions) {
            if (!(r > 0 && r <= 100)) throw new IllegalArgumentException("--retentions: " + r + " is not a percentage in (0, 100]");
            ratios.add(r / 100.0);
        }
        if (dataset != null) {
            if (data != null || ablations || heatmapExample != null) throw new IllegalArgumentException("--dataset cannot be combined with --data, --ablations or --heatmap-example (GridVQA only)");
            return datasetEval(w, cfg, ratios);
        }
        if (images != null || metric != null || chatTemplate != null || maxNewTokens != null) {
            throw new IllegalArgumentException("--images, --metric, --chat-template and --max-new-tokens apply to --dataset only");
        }
        Path modelDir = TestbedPaths.requireModel(model == null ? TestbedPaths.model() : model);
        List<GridVqa.Example> examples = Results.limitPerFamily(GridVqa.readExamples(data == null ? TestbedPaths.evalSet() : data), limit);
        if (examples.isEmpty()) throw new IllegalArgumentException("no examples in " + (data == null ? TestbedPaths.evalSet() : data));
        GridVqa task = GridVqa.load(modelDir);
        PolicyRegistry registry = Guice.createInjector(new KvPolicyModule(cfg)).getInstance(PolicyRegistry.class);
        List<Contender> contenders = contenders(policies, configuredPolicy(cfg), () -> Evaluation.defaultContenders(registry));
        for (Contender c : contenders) registry.create(c.config()); // unknown names and bad options fail here, before any work
        boolean resuming = resume && Files.exists(out.resolve("results.jsonl"));
        if (!resuming) requireFresh(out, OUTPUTS);
        Files.createDirectories(out);
        try (Generator g = Generator.open(ModelPackage.open(modelDir), ModelSelection.config(cfg.device(), cfg.dtype(), threads))) {
            Evaluation eval = new Evaluation(g, task, registry);
            List<Evaluation.Item> items = examples.stream().map(Evaluation.Item::new).toList();
            w.printf("GridVQA: %d examples × %d policies × %d retentions on %s (precision %s)%n", examples.size(), contenders.size(), ratios.size(), modelDir,
                    g.sessions().precision().label());
            w.flush();
            long t0 = System.nanoTime();
            Results main;
            int computed;
            try (ResultLog log = ResultLog.open(out.resolve("results.jsonl"), resuming)) {
                reportResume(w, log);
                computed = EvaluationEngine.run(items, contenders, ratios, eval.answerer(), log, progress(System.err)).computed();
                System.err.println();
                main = Results.fromRecords(inGrid(log.records(), items, contenders, ratios));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            main.write(out, "results");
            Map<String, Map<Double, Double>> series = main.exactMatchSeries();
            Charts.accuracyVsRetention(out.resolve("accuracy_vs_retention.png"),
                    "GridVQA exact match vs visual KV retention (" + examples.size() + " examples)", series);
            w.println("exact match (per-token accuracy):");
            w.println(main.table());
            w.println("agreement with the uncompressed answer:");
            w.println(main.table(true));
            Charts.lineChart(out.resolve("agreement_vs_retention.png"),
                    "GridVQA: answers equal to the full cache's vs visual KV retention (" + examples.size() + " examples)",
                    "share of answers equal to the uncompressed answer", main.agreementSeries());
            w.printf("%d runs computed in %.1f s (%.1f ms per example-policy-retention)%n", computed, seconds, 1000 * seconds / Math.max(1, computed));
            if (ablations) {
                List<Contender> variants = Results.ablationContenders();
                List<Double> at = List.of(0.10, 0.01);
                Results ar;
                try (ResultLog log = ResultLog.open(out.resolve("ablations.jsonl"), resuming)) {
                    reportResume(w, log);
                    EvaluationEngine.run(items, variants, at, eval.answerer(), log, progress(System.err));
                    System.err.println();
                    ar = Results.fromRecords(inGrid(log.records(), items, variants, at));
                }
                ar.write(out, "ablations");
                w.println("AirCache ablations:");
                w.println(ar.table());
                w.println(ar.table(true));
                List<EliteWindows.Entry> windows = EliteWindows.collect(eval, PolicyDeclaration.of(registry.provider("aircache")), examples, 0.10);
                EliteWindows.writeCsv(out.resolve("elite_windows.csv"), windows);
                w.printf("AirCache's observation window (default: elite, alpha = 0.9) per layer on %d examples at 10%% (elite_windows.csv):%n", examples.size());
                w.println(EliteWindows.table(windows));
            }
            GridVqa.Example hm = examples.stream().filter(e -> heatmapExample == null ? e.family().equals("where") : e.id().equals(heatmapExample))
                    .findFirst().orElse(examples.get(0));
            Heatmaps.write(eval, registry, hm, contenders, 0.10, out.resolve("kept_tokens_heatmap.png"));
            w.printf("wrote %s (results.jsonl, results.csv, results.json, results-outcomes.csv, accuracy_vs_retention.png, agreement_vs_retention.png, kept_tokens_heatmap.png%s)%n",
                    out.toAbsolutePath(), ablations ? ", ablations.*, elite_windows.csv" : "");
        }
        w.flush();
        return 0;
    }

    /**
     * {@code eval --dataset}: the set is read and checked (skipped lines reported), then run through the same
     * resumable engine into {@code results.jsonl}, {@code summary.csv}/{@code .json} and {@code score_vs_retention.png}.
     * The model is a Hugging Face VLM folder ({@code --model}), answering through the same path as {@code kvpolicy run}
     * ({@link VlmAnswerer}); it is opened (and a bad folder refused) before any file is written.
     */
    private int datasetEval(PrintWriter w, KvPolicyConfig cfg, List<Double> ratios) throws java.io.IOException {
        if (images == null) throw new IllegalArgumentException("--dataset needs --images DIR, the folder its image paths are relative to");
        VqaJsonl.Loaded loaded = VqaJsonl.read(dataset, images, Metrics.byName(metric == null ? "vqa" : metric));
        PrintWriter err = spec.commandLine().getErr();
        for (VqaJsonl.Issue i : loaded.skipped()) err.println("kvpolicy: " + i);
        err.flush();
        w.printf("dataset %s: %d examples, %d lines skipped%n", dataset, loaded.examples().size(), loaded.skipped().size());
        w.flush();
        if (loaded.examples().isEmpty()) throw new IllegalArgumentException("dataset " + dataset + " has no usable example");
        List<VqaExample> examples = limit > 0 && limit < loaded.examples().size() ? loaded.examples().subList(0, limit) : loaded.examples();
        PolicyRegistry registry = Guice.createInjector(new KvPolicyModule(cfg)).getInstance(PolicyRegistry.class);
        List<Contender> contenders = contenders(policies, configuredPolicy(cfg), () -> Evaluation.defaultContenders(registry));
        for (Contender c : contenders) registry.create(c.config());
        if (model == null) {
            throw new IllegalArgumentException("eval --dataset needs --model DIR, a Hugging Face vision-language model folder (config.json, safetensors, "
                    + "tokenizer.json, chat template, preprocessor_config.json); the GridVQA testbed takes grid cells, not image files");
        }
        int maxNew = maxNewTokens == null ? 32 : maxNewTokens;
        if (maxNew < 1) throw new IllegalArgumentException("--max-new-tokens must be >= 1, got " + maxNew);
        try (VisionLanguageModel vlm = VisionLanguageModel.open(model, chatTemplate, ModelSelection.config(cfg.device(), cfg.dtype(), threads), true)) {
            w.printf("model: %s — %s%n", model, vlm.describe());
            Answerer<VqaExample> answerer = new VlmAnswerer(vlm, registry, contenders, maxNew);
            boolean resuming = resume && Files.exists(out.resolve("results.jsonl"));
            if (!resuming) requireFresh(out, DATASET_OUTPUTS);
            Files.createDirectories(out);
            ScoreTable table;
            int computed;
            try (ResultLog log = ResultLog.open(out.resolve("results.jsonl"), resuming)) {
                reportResume(w, log);
                try {
                    computed = EvaluationEngine.run(examples, contenders, ratios, answerer, log, progress(System.err)).computed();
                } finally {
                    System.err.println(); // ends the progress line, so an error starts a line of its own
                }
                table = new ScoreTable(inGrid(log.records(), examples, contenders, ratios), "full");
            }
            table.write(out, "summary");
            table.plot(out.resolve("score_vs_retention.png"), dataset.getFileName() + ": mean score vs visual KV retention");
            w.println(table.table());
            w.printf("%d runs computed%n", computed);
            w.printf("wrote %s (results.jsonl, summary.csv, summary.json, score_vs_retention.png)%n", out.toAbsolutePath());
        }
        w.flush();
        return 0;
    }

    /** The configured policy if the user chose one ({@code -p}, or a {@code policy} key in the file, environment or {@code --set}); else null. */
    private PolicyConfig configuredPolicy(KvPolicyConfig cfg) {
        return config.policy != null || cfg.asMap().containsKey("policy") ? cfg.policy() : null;
    }

    /**
     * The contenders: each listed policy at its defaults, except the configured one, which gets its options (and a
     * label naming them, so a resumed run never mixes two settings under one label). With no list, the defaults, the
     * configured policy's options applied likewise.
     *
     * @param configured the configured policy, or null if none was chosen
     * @throws IllegalArgumentException if the configured policy has options (or was chosen with {@code -p}) but is not listed
     */
    static List<Contender> contenders(List<String> listed, PolicyConfig configured, java.util.function.Supplier<List<Contender>> defaults) {
        List<Contender> out = new ArrayList<>();
        if (listed.isEmpty()) {
            out.addAll(defaults.get());
        } else {
            Set<String> seen = new HashSet<>();
            for (String p : listed) {
                String name = p.trim();
                if (name.isEmpty()) throw new IllegalArgumentException("--policies: an empty policy name in " + listed);
                if (!seen.add(name)) throw new IllegalArgumentException("--policies: '" + name + "' is listed twice");
                out.add(Contender.of(name));
            }
        }
        if (configured == null) return out;
        boolean hasOptions = !configured.options().isEmpty();
        for (int i = 0; i < out.size(); i++) {
            if (out.get(i).label().equals(configured.policy())) {
                out.set(i, new Contender(label(configured), configured));
                return out;
            }
        }
        if (listed.isEmpty()) {
            out.add(new Contender(label(configured), configured));
            return out;
        }
        if (hasOptions) {
            throw new IllegalArgumentException("policy options " + configured.options() + " are for '" + configured.policy() + "', which is not among --policies "
                    + String.join(",", listed) + "; add it to --policies or drop the options");
        }
        throw new IllegalArgumentException("--policy " + configured.policy() + " is not among --policies " + String.join(",", listed)
                + "; eval runs the --policies list (add it there)");
    }

    /** {@code name} alone, or {@code name k=v …} with the options sorted by key. */
    static String label(PolicyConfig c) {
        if (c.options().isEmpty()) return c.policy();
        return c.policy() + " " + new TreeMap<>(c.options()).entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" "));
    }

    /** Fails naming the first of {@code outputs} that already exists in {@code dir}: a fresh run replaces none. */
    static void requireFresh(Path dir, List<String> outputs) {
        for (String f : outputs) {
            if (Files.exists(dir.resolve(f))) {
                throw new IllegalArgumentException(dir.resolve(f) + " already exists; pass --resume to continue that run (it needs its results.jsonl), or choose another --out");
            }
        }
    }

    private static void reportResume(PrintWriter w, ResultLog log) {
        if (log.resumed() == 0 && !log.droppedUnfinishedLine()) return;
        w.printf("resuming %s: %d finished records kept%s%n", log.file(), log.resumed(), log.droppedUnfinishedLine() ? ", an unfinished last line dropped" : "");
        w.flush();
    }

    /** The records of this run's grid (a resumed file may hold others, e.g. from a wider earlier run). */
    private static List<ResultRecord> inGrid(List<ResultRecord> records, List<? extends EvalExample> items, List<Contender> contenders, List<Double> ratios) {
        Set<ResultRecord.Key> keys = new HashSet<>();
        for (EvalExample i : items) for (Contender c : contenders) for (double r : ratios) keys.add(new ResultRecord.Key(i.id(), c.label(), r));
        return records.stream().filter(r -> keys.contains(r.key())).toList();
    }

    private static EvaluationEngine.Progress progress(PrintStream out) {
        long start = System.nanoTime();
        return (done, total, computed) -> {
            int width = 30, filled = (int) ((long) done * width / Math.max(1, total));
            double elapsed = (System.nanoTime() - start) / 1e9;
            double eta = elapsed / done * (total - done); // rough after a resume: finished examples take no time
            out.printf("\r[%s%s] %d/%d examples, %d runs computed  %.0fs elapsed, ETA %.0fs ", "#".repeat(filled), ".".repeat(width - filled), done, total, computed,
                    elapsed, eta);
            out.flush();
        };
    }
}
