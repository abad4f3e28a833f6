package io.github.kvpolicy.cli;

import com.google.inject.Guice;
import com.google.inject.Injector;
import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.evaluation.gridvqa.Evaluation;
import io.github.kvpolicy.evaluation.gridvqa.GridVqa;
import io.github.kvpolicy.evaluation.gridvqa.TestbedPaths;
import io.github.kvpolicy.host.config.KvPolicyConfig;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.PolicyAction;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.Sampling;
import io.github.kvpolicy.runtime.cache.LayerBytes;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Generates from a model package, the testbed or a random-weights model with the configured policy and budget. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate with the configured policy and budget; prints tokens, timings and KV bytes per layer before/after compression.")
public final class GenerateCommand implements Callable<Integer> {
    @Mixin ConfigOptions config;
    @Spec CommandSpec spec;

    @Option(names = "--model", description = "testbed (default), random:<tiny|tiny-vlm|small-100m|qwen2-7b>[:seed], or a model package directory.")
    String model;

    @Option(names = "--example", description = "A GridVQA example id from the evaluation set (testbed model), e.g. eval-where-003.")
    String example;

    @Option(names = "--tokens", split = ",", description = "Prompt token ids, comma-separated.")
    long[] tokens;

    @Option(names = "--random-prompt", description = "A random prompt of N tokens (for random-weights models).", defaultValue = "0")
    int randomPrompt;

    @Option(names = "--max-new-tokens", description = "Tokens to generate at most (default: generation.max-new-tokens or 16).")
    Integer maxNewTokens;

    @Option(names = "--temperature", description = "Sample with this temperature (default: greedy).", defaultValue = "0")
    double temperature;

    @Option(names = "--device", description = "cpu or cuda (default: the configuration's device).")
    String device;

    @Option(names = "--threads", description = "ONNX Runtime intra-op threads (0 = default).", defaultValue = "0")
    int threads;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        KvPolicyConfig cfg = config.load();
        Injector injector = Guice.createInjector(new KvPolicyModule(cfg));
        CompressionPolicy policy = injector.getInstance(CompressionPolicy.class);
        PolicyDeclaration declaration = injector.getInstance(PolicyDeclaration.class);
        Budget budget = cfg.budget();
        int given = (example != null ? 1 : 0) + (tokens != null ? 1 : 0) + (randomPrompt != 0 ? 1 : 0);
        if (given > 1) throw new IllegalArgumentException("give one prompt: --example, --tokens or --random-prompt, not several");
        if (randomPrompt < 0) throw new IllegalArgumentException("--random-prompt must be a positive token count, got " + randomPrompt);
        if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        Sampling sampling = temperature == 0 ? Sampling.greedyDecoding() : Sampling.sample(temperature, 0, 1.0, cfg.seed());
        ModelPackage pkg = ModelSelection.open(model != null ? model : cfg.model());
        int max = maxNewTokens != null ? maxNewTokens : ((Number) cfg.generation("max-new-tokens").orElse(16)).intValue();
        if (max < 0) throw new IllegalArgumentException("--max-new-tokens must be >= 0, got " + max);
        try (Generator g = Generator.open(pkg, ModelSelection.config(device != null ? device : cfg.device(), cfg.dtype(), threads))) {
            GridVqa task = GridVqa.isTestbedModel(pkg.directory()) ? GridVqa.load(pkg.directory()) : null;
            GenerationRequest.Builder rb = GenerationRequest.builder().maxNewTokens(max).policy(policy, budget, declaration).policySeed(cfg.seed())
                    .sampling(sampling);
            GridVqa.Example ex = null;
            if (example != null || (tokens == null && randomPrompt == 0)) {
                if (task == null) throw new IllegalArgumentException("--example needs the GridVQA testbed model (a vocab.json and a prompt template in config.json); give --tokens or --random-prompt for " + pkg.directory());
                List<GridVqa.Example> all = GridVqa.readExamples(TestbedPaths.evalSet());
                ex = example == null ? all.stream().filter(e -> e.family().equals("where")).findFirst().orElseThrow()
                        : all.stream().filter(e -> e.id().equals(example)).findFirst()
                                .orElseThrow(() -> new IllegalArgumentException("no example '" + example + "' in " + TestbedPaths.evalSet()));
                rb.row(new Evaluation(g, task, null).prompt(ex)).stopTokens(task.eosId());
                out.printf("example %s: %s%n  expected: %s%n", ex.id(), String.join(" ", ex.question()), String.join(" ", ex.answer()));
            } else if (tokens != null) {
                rb.row(Prompt.ofTokens(tokens));
            } else {
                long[] ids = new Random(cfg.seed()).longs(randomPrompt, 3, g.vocabSize()).toArray();
                rb.row(Prompt.ofTokens(ids));
            }
            for (long stop : pkg.config().eosTokenIds()) rb.stopTokens(stop);
            GenerationResult r = g.generate(rb.build());
            long[] gen = r.tokens(0);
            out.printf("policy %s at %s: generated %d tokens (%s)%n  ids: %s%n", policy.name(), budget, gen.length, r.finishReasons().get(0),
                    java.util.Arrays.toString(gen));
            if (task != null) out.printf("  text: %s%n", java.util.Arrays.stream(gen).mapToObj(t -> task.token((int) t)).collect(Collectors.joining(" ")));
            out.printf(Locale.ROOT, "prefill %.1f ms, decode %.2f ms/token (median of %d), policy %.2f ms, compaction %.2f ms%n",
                    r.timings().prefillMs(), r.timings().medianDecodeMs(), r.timings().decodeMs().size(), r.timings().policyMs(), r.timings().compactionMs());
            for (PolicyAction a : r.actions()) {
                out.printf("%s action at step %d: KV live %s → %s, allocated %s → %s%n", a.phase(), a.decodeStep(),
                        mib(a.memory().liveBefore()), mib(a.memory().liveAfter()), mib(a.memory().allocatedBefore()), mib(a.memory().allocatedAfter()));
                out.println("  layer  capacity before→after  live KiB before→after");
                for (int l = 0; l < a.memory().before().size(); l++) {
                    LayerBytes b = a.memory().before().get(l), f = a.memory().after().get(l);
                    out.printf(Locale.ROOT, "  %5d  %8d → %-8d  %10.1f → %.1f%n", l, b.capacity(), f.capacity(), b.liveBytes() / 1024.0, f.liveBytes() / 1024.0);
                }
            }
        }
        out.flush();
        return 0;
    }

    static String mib(long bytes) {
        return bytes < 1 << 20 ? String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0) : String.format(Locale.ROOT, "%.2f MiB", bytes / (1024.0 * 1024.0));
    }

}
