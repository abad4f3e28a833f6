package io.github.kvpolicy.cli;

import com.google.inject.Guice;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.evaluation.report.Charts;
import io.github.kvpolicy.evaluation.gridvqa.Evaluation;
import io.github.kvpolicy.evaluation.gridvqa.GridVqa;
import io.github.kvpolicy.evaluation.gridvqa.Heatmaps;
import io.github.kvpolicy.evaluation.gridvqa.Results;
import io.github.kvpolicy.evaluation.gridvqa.TestbedPaths;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Accuracy against visual retention for every policy on the GridVQA testbed; CSV, JSON and PNG plots. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate policies on the GridVQA testbed: accuracy (exact match and per token) against visual retention; CSV, JSON, plots.")
public final class EvalCommand implements Callable<Integer> {
    @Mixin ConfigOptions config;
    @Spec CommandSpec spec;

    @Option(names = "--model", description = "Testbed model package (default: testbed/model).")
    Path model;

    @Option(names = "--data", description = "Evaluation set, JSONL (default: testbed/data/eval.jsonl).")
    Path data;

    @Option(names = "--limit", description = "Use the first N examples of each family (default: all).", defaultValue = "0")
    int limit;

    @Option(names = "--policies", split = ",", description = "Policies to evaluate (default: every shipped policy and every plugin policy).")
    List<String> policies = new ArrayList<>();

    @Option(names = "--retentions", split = ",", description = "Visual retentions in percent (default: ${DEFAULT-VALUE}).", defaultValue = "100,50,25,10,5,2,1")
    List<Double> retentions;

    @Option(names = "--ablations", description = "Also run AirCache's ablations (observation window and allocation variants) at 10% and 1%.")
    boolean ablations;

    @Option(names = "--heatmap-example", description = "Example id for the kept-token heatmap (default: the first where example).")
    String heatmapExample;

    @Option(names = "--out", description = "Output directory (default: ${DEFAULT-VALUE}).", defaultValue = "out/eval")
    Path out;

    @Option(names = "--threads", description = "ONNX Runtime intra-op threads (0 = default).", defaultValue = "1")
    int threads;

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        Path modelDir = TestbedPaths.requireModel(model == null ? TestbedPaths.model() : model);
        List<GridVqa.Example> examples = Results.limitPerFamily(GridVqa.readExamples(data == null ? TestbedPaths.evalSet() : data), limit);
        GridVqa task = GridVqa.load(modelDir.resolve("vocab.json"));
        PolicyRegistry registry = Guice.createInjector(new KvPolicyModule(config.load())).getInstance(PolicyRegistry.class);
        List<Evaluation.Contender> contenders = policies.isEmpty() ? Evaluation.defaultContenders(registry)
                : policies.stream().map(p -> new Evaluation.Contender(p, PolicyConfig.of(p))).toList();
        List<Double> ratios = retentions.stream().map(r -> r / 100.0).toList();
        Files.createDirectories(out);
        try (Generator g = Generator.open(ModelPackage.open(modelDir), GeneratorConfig.defaults().withIntraOpThreads(threads))) {
            Evaluation eval = new Evaluation(g, task, registry);
            w.printf("GridVQA: %d examples × %d policies × %d retentions on %s%n", examples.size(), contenders.size(), ratios.size(), modelDir);
            w.flush();
            long t0 = System.nanoTime();
            List<Evaluation.Outcome> outcomes = new ArrayList<>();
            eval.run(examples, contenders, ratios, outcomes::add, System.err);
            double seconds = (System.nanoTime() - t0) / 1e9;
            Results main = new Results(outcomes);
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
            w.printf("%d runs in %.1f s (%.1f ms per example-policy-retention)%n", outcomes.size(), seconds, 1000 * seconds / Math.max(1, outcomes.size()));
            if (ablations) {
                List<Evaluation.Outcome> abl = new ArrayList<>();
                eval.run(examples, Results.ablationContenders(), List.of(0.10, 0.01), abl::add, System.err);
                Results ar = new Results(abl);
                ar.write(out, "ablations");
                w.println("AirCache ablations:");
                w.println(ar.table());
                w.println(ar.table(true));
            }
            GridVqa.Example hm = examples.stream().filter(e -> heatmapExample == null ? e.family().equals("where") : e.id().equals(heatmapExample))
                    .findFirst().orElse(examples.get(0));
            Heatmaps.write(eval, registry, hm, contenders, 0.10, out.resolve("kept_tokens_heatmap.png"));
            w.printf("wrote %s (results.csv, results.json, results-outcomes.csv, accuracy_vs_retention.png, agreement_vs_retention.png, kept_tokens_heatmap.png%s)%n",
                    out.toAbsolutePath(), ablations ? ", ablations.*" : "");
        }
        w.flush();
        return 0;
    }

}
