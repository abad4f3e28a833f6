package io.github.kvpolicy.cli;

import com.google.inject.Guice;
import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.evaluation.report.Charts;
import io.github.kvpolicy.evaluation.gridvqa.Evaluation;
import io.github.kvpolicy.evaluation.gridvqa.GridVqa;
import io.github.kvpolicy.evaluation.gridvqa.TestbedPaths;
import io.github.kvpolicy.host.config.KvPolicyConfig;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.evaluation.gridvqa.Results;
import io.github.kvpolicy.evaluation.engine.Contender;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** The README's first command: one GridVQA example with the configured policy (AirCache at 10% by default) next to the full cache. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Run a GridVQA testbed example with the configured policy (default AirCache at 10%% of the visual cache) next to the full cache.")
public final class DemoCommand implements Callable<Integer> {
    @Mixin ConfigOptions config;
    @Spec CommandSpec spec;

    @Option(names = "--example", description = "Example id (default: ${DEFAULT-VALUE}).", defaultValue = "eval-where-000")
    String example;

    @Option(names = "--out", description = "Where the heatmap goes (default: ${DEFAULT-VALUE}).", defaultValue = "out/demo")
    Path out;

    @Option(names = "--summary", description = "Examples per task family in the closing summary (exact match at 10%% and 1%%; 0 = none; default: ${DEFAULT-VALUE}).",
            defaultValue = "8")
    int summary;

    @Override
    public Integer call() throws Exception {
        PrintWriter w = spec.commandLine().getOut();
        if (summary < 0) throw new IllegalArgumentException("--summary must be >= 0 examples per family, got " + summary);
        KvPolicyConfig cfg = config.load();
        PolicyRegistry registry = Guice.createInjector(new KvPolicyModule(cfg)).getInstance(PolicyRegistry.class);
        CompressionPolicy policy = registry.create(cfg.policy());
        PolicyDeclaration declaration = PolicyDeclaration.of(registry.provider(cfg.policy().policy()));
        Budget budget = cfg.budget();
        Path modelDir = TestbedPaths.requireModel(TestbedPaths.model());
        GridVqa task = GridVqa.load(modelDir);
        GridVqa.Example ex = GridVqa.readExamples(TestbedPaths.evalSet()).stream().filter(e -> e.id().equals(example)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no example '" + example + "' in " + TestbedPaths.evalSet()));
        ModelPackage pkg = ModelPackage.open(modelDir);
        try (Generator g = Generator.open(pkg, ModelSelection.config(cfg.device(), cfg.dtype(), 1))) {
            Evaluation eval = new Evaluation(g, task, registry);
            w.printf("GridVQA testbed (%s) — example %s%n", g.shape(), ex.id());
            w.printf("  image: %d×%d grid, %d objects: %s%n", GridVqa.GRID, GridVqa.GRID, ex.objects().length, describe(ex));
            w.printf("  question: %s%n  expected: %s%n%n", String.join(" ", ex.question()), String.join(" ", ex.answer()));
            RowLayout layout = task.layout(ex);
            RetentionPlan plan = null;
            try (GenerationSession base = eval.generatorSession(ex)) {
                base.prefill();
                GenerationResult full, compressed;
                for (int warm = 0; warm < 3; warm++) { // JIT and ONNX Runtime warm-up, so the decode times compare like for like
                    try (GenerationSession s = base.fork(null, null); GenerationSession c = base.fork(policy, budget, declaration)) {
                        s.runToEnd();
                        c.runToEnd();
                    }
                }
                try (GenerationSession s = base.fork(null, null)) {
                    full = s.runToEnd();
                }
                try (GenerationSession s = base.fork(policy, budget, declaration)) {
                    compressed = s.runToEnd();
                }
                long fullLive = base.kvCache().layerBytes().stream().mapToLong(b -> b.liveBytes()).sum();
                line(w, task, ex, "full cache", full, fullLive, "all " + layout.visualPositions().length + " visual tokens in every layer");
                if (!compressed.actions().isEmpty()) {
                    var a = compressed.actions().get(0);
                    plan = a.plan();
                    int[] perLayer = new int[plan.layers()];
                    double[][] grid = Evaluation.keptGrid(plan, layout);
                    for (int l = 0; l < plan.layers(); l++) perLayer[l] = (int) Math.round(Arrays.stream(grid[l]).sum());
                    line(w, task, ex, policy.name() + " @ " + budget, compressed, a.memory().liveAfter(),
                            "visual tokens kept per layer " + Arrays.toString(perLayer) + " of " + layout.visualPositions().length
                                    + String.format(Locale.ROOT, "; policy %.2f ms, compaction %.2f ms", a.policyMs(), a.compactionMs()));
                } else {
                    line(w, task, ex, policy.name() + " @ " + budget, compressed, fullLive, "the policy did not act");
                }
            }
            if (plan != null) {
                Files.createDirectories(out);
                Path png = out.resolve("kept_tokens_heatmap.png");
                LinkedHashMap<String, double[][]> kept = new LinkedHashMap<>();
                kept.put(policy.name() + " " + budget, Evaluation.keptGrid(plan, layout));
                List<int[]> cells = new ArrayList<>();
                for (int[] o : ex.objects()) cells.add(new int[] {o[0], o[1]});
                Charts.keptHeatmap(png, ex.id() + ": " + String.join(" ", ex.question()) + " → " + String.join(" ", ex.answer()) + "  (red: objects)",
                        GridVqa.GRID, cells, kept);
                w.printf("%nkept-token heatmap: %s%n", png.toAbsolutePath());
            }
            if (summary > 0) summary(w, cfg, eval);
        }
        w.flush();
        return 0;
    }

    /**
     * Exact match of the full cache, the configured policy and SnapKV at 10% and 1% of the visual cache over the first
     * {@code summary} held-out examples of each family: the measured picture next to the single example above.
     */
    private void summary(PrintWriter w, KvPolicyConfig cfg, Evaluation eval) {
        List<GridVqa.Example> examples = Results.limitPerFamily(GridVqa.readExamples(TestbedPaths.evalSet()), summary);
        List<Contender> contenders = new ArrayList<>();
        contenders.add(Contender.of("full"));
        String label = cfg.policy().policy();
        if (!label.equals("full")) contenders.add(new Contender(label, cfg.policy()));
        if (!label.equals("snapkv")) contenders.add(Contender.of("snapkv"));
        List<Double> retentions = List.of(0.10, 0.01);
        java.util.Map<String, int[]> tally = new LinkedHashMap<>(); // label@retention -> {exact, n}
        long t0 = System.nanoTime();
        eval.run(examples, contenders, retentions, o -> {
            int[] t = tally.computeIfAbsent(o.policy() + "@" + o.retention(), k -> new int[2]);
            if (o.exact()) t[0]++;
            t[1]++;
        }, null);
        w.printf(Locale.ROOT, "%nsummary: exact match on %d held-out examples (%d per family: %s), %.1f s%n",
                examples.size(), summary, String.join(", ", examples.stream().map(GridVqa.Example::family).distinct().toList()),
                (System.nanoTime() - t0) / 1e9);
        w.printf(Locale.ROOT, "  %-22s %10s %10s%n", "policy", "10% kept", "1% kept");
        for (Contender c : contenders) {
            int[] a = tally.get(c.label() + "@0.1"), b = tally.get(c.label() + "@0.01");
            w.printf(Locale.ROOT, "  %-22s %9.1f%% %9.1f%%%n", c.label(), 100.0 * a[0] / a[1], 100.0 * b[0] / b[1]);
        }
        w.println("  (full evaluation and ablations: bin/kvpolicy eval)");
    }

    private static void line(PrintWriter w, GridVqa task, GridVqa.Example ex, String label, GenerationResult r, long liveBytes, String detail) {
        long[] gen = r.tokens(0);
        String text = Arrays.stream(gen).mapToObj(t -> task.token((int) t)).collect(Collectors.joining(" "));
        List<String> expected = ex.answer().subList(0, ex.answer().size() - 1);
        boolean ok = text.equals(String.join(" ", expected));
        w.printf(Locale.ROOT, "%-22s answer: %-24s %s  KV %s, decode %.3f ms/token (median)%n%22s %s%n", label, '"' + text + '"', ok ? "correct" : "WRONG",
                GenerateCommand.mib(liveBytes), r.timings().medianDecodeMs(), "", detail);
    }

    private static String describe(GridVqa.Example ex) {
        String[] shapes = {"", "circle", "square", "triangle", "star", "heart", "diamond"};
        String[] colours = {"", "red", "green", "blue", "yellow", "purple", "orange"};
        String[] glyphs = "0 1 2 3 4 5 6 7 8 9 A B C D E F".split(" ");
        return Arrays.stream(ex.objects()).map(o -> colours[o[3]] + " " + shapes[o[2]] + " " + glyphs[o[4] - 1] + "@(" + o[0] + "," + o[1] + ")")
                .collect(Collectors.joining(", "));
    }

}
