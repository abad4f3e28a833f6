package io.github.kvpolicy.cli;

import com.google.inject.Guice;
import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.host.config.KvPolicyConfig;
import io.github.kvpolicy.processing.StreamingDetokenizer;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Sampling;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code kvpolicy run}: a question about image files to a Hugging Face model folder. The folder's chat template renders
 * one user turn (images first, then the question), the family's image processor and the model's vision tower turn the
 * images into visual tokens that form image segments of the prompt (so the layout a policy sees carries the image
 * spans), the prompt is prefilled <b>once</b>, and every policy to show — the configured one (the full cache when none
 * was chosen), then each {@code --compare} entry, all at the same budget — continues from a fork of that prefill. Each
 * answer is streamed as it is generated (incremental detokenization), followed by its token ids, the visual tokens
 * kept, the KV-cache bytes before and after compression and the prefill/decode times.
 *
 * <p>{@code full} (as {@code --policy} or in {@code --compare}) means no compression. Greedy unless
 * {@code --temperature} &gt; 0; sampling is seeded ({@code --seed}, else the configuration's seed), and every fork of
 * the one prefill samples alike.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Ask a Hugging Face model folder a question about image files: chat template, image preprocessing, one prefill, "
                + "the answer streamed per policy (--compare: several policies side by side on the same prefill), then visual tokens kept, "
                + "KV bytes before/after and prefill/decode times.")
public final class RunCommand implements Callable<Integer> {
    /** The contender name that means the uncompressed cache. */
    static final String FULL = "full";

    @Mixin ConfigOptions config;
    @Spec CommandSpec spec;

    @Option(names = "--model", required = true, description = "A Hugging Face model folder (config.json, safetensors, tokenizer.json, chat template; "
            + "preprocessor_config.json for images).")
    Path model;

    @Option(names = "--image", description = "An image file (PNG or JPEG); repeat for several, in order.")
    List<Path> images = new ArrayList<>();

    @Option(names = "--prompt", required = true, description = "The question (the user's text).")
    String prompt;

    @Option(names = "--chat-template", description = "A Jinja chat template file to use instead of the folder's.")
    Path chatTemplate;

    @Option(names = "--compare", split = ",", description = "More policies to run on the same prefill at the same budget, e.g. full,snapkv.")
    List<String> compare = new ArrayList<>();

    @Option(names = "--max-new-tokens", description = "Tokens to generate at most (default: generation.max-new-tokens or 128).")
    Integer maxNewTokens;

    @Option(names = "--temperature", description = "Sampling temperature (default 0: greedy).", defaultValue = "0")
    double temperature;

    @Option(names = "--top-p", description = "Nucleus sampling: keep the smallest set of tokens whose probability reaches P (default 1).", defaultValue = "1")
    double topP;

    @Option(names = "--seed", description = "Sampling seed (default: the configuration's seed).")
    Long seed;

    @Option(names = "--device", description = "cpu or cuda (default: the configuration's device).")
    String device;

    @Option(names = "--threads", description = "ONNX Runtime intra-op threads (0 = default).", defaultValue = "0")
    int threads;

    /** One policy to show: its label, the policy (null for the full cache) and its configuration. */
    private record Shown(String label, PolicyConfig config) {}

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        KvPolicyConfig cfg = config.load();
        if (prompt.isBlank()) throw new IllegalArgumentException("--prompt is empty; give the question to ask");
        if (!(temperature >= 0) || !Double.isFinite(temperature)) throw new IllegalArgumentException("--temperature must be a number >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
        if (threads < 0) throw new IllegalArgumentException("--threads must be >= 0, got " + threads);
        int max = maxNewTokens != null ? maxNewTokens : ((Number) cfg.generation("max-new-tokens").orElse(128)).intValue();
        if (max < 1) throw new IllegalArgumentException("--max-new-tokens must be >= 1, got " + max);
        long sampleSeed = seed != null ? seed : cfg.seed();
        Sampling sampling = temperature == 0 ? Sampling.greedyDecoding() : Sampling.sample(temperature, 0, topP, sampleSeed);
        Budget budget = cfg.budget();

        PolicyRegistry registry = Guice.createInjector(new KvPolicyModule(cfg)).getInstance(PolicyRegistry.class);
        List<Shown> shown = shown(cfg);
        List<CompressionPolicy> policies = new ArrayList<>();
        List<PolicyDeclaration> declarations = new ArrayList<>();
        QueryWindow window = QueryWindow.none();
        for (Shown s : shown) { // unknown names and bad options fail here, before the model is opened
            CompressionPolicy p = s.config() == null ? null : registry.create(s.config());
            policies.add(p);
            declarations.add(p == null ? null : PolicyDeclaration.of(registry.provider(s.config().policy())));
            if (p != null) window = window.union(p.queryWindow());
        }

        for (Path p : images) if (!java.nio.file.Files.isRegularFile(p)) throw new IllegalArgumentException("--image " + p + ": file does not exist");
        try (VisionLanguageModel vlm = VisionLanguageModel.open(model, chatTemplate, ModelSelection.config(device != null ? device : cfg.device(), cfg.dtype(), threads),
                !images.isEmpty())) {
            out.printf(Locale.ROOT, "model: %s — %s, ready in %.1f s%n", model, vlm.describe(), vlm.openSeconds());
            VisionLanguageModel.Built built = vlm.prompt(prompt, images);
            var layout = built.prompt().layout();
            out.printf(Locale.ROOT, "prompt: %d tokens, %d visual tokens in %d image span(s) from %d image(s)%s%n", built.prompt().length(),
                    built.visualTokens(), built.processed().visualSpans().size(), images.size(),
                    images.isEmpty() ? "" : String.format(Locale.ROOT, " (vision tower %.1f ms)", built.visionMs()));
            GenerationRequest request = GenerationRequest.builder().row(built.prompt()).maxNewTokens(max).stopTokens(vlm.stopTokens())
                    .sampling(sampling).policySeed(cfg.seed()).extraQueryWindow(window).build();
            try (GenerationSession base = vlm.generator().newSession(request)) {
                base.prefill();
                out.printf(Locale.ROOT, "prefill: %.1f ms%n", base.result().timings().prefillMs());
                for (int i = 0; i < shown.size(); i++) {
                    Shown s = shown.get(i);
                    String title = s.config() == null ? "full cache" : s.label() + " @ " + budget;
                    out.printf("%n[%s]%n", title);
                    out.flush();
                    StreamingDetokenizer detok = vlm.processor().tokenizer().streaming(true);
                    VisionLanguageModel.Outcome o = VisionLanguageModel.continueWith(base, policies.get(i), budget, declarations.get(i), layout, t -> {
                        out.print(detok.push((int) t));
                        out.flush();
                    });
                    out.println(detok.finish());
                    report(out, o, built.visualTokens(), layout.visualPositions().length);
                }
            }
        }
        out.flush();
        return 0;
    }

    /** The configured policy (or the full cache when none was chosen) and then each {@code --compare} entry, without repeats. */
    private List<Shown> shown(KvPolicyConfig cfg) {
        boolean chosen = config.policy != null || cfg.asMap().containsKey("policy");
        List<Shown> out = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        PolicyConfig main = chosen ? cfg.policy() : null;
        String mainLabel = main == null || main.policy().equals(FULL) ? FULL : EvalCommand.label(main);
        out.add(new Shown(mainLabel, mainLabel.equals(FULL) ? null : main));
        seen.add(main == null ? FULL : main.policy());
        for (String c : compare) {
            String name = c.trim();
            if (name.isEmpty()) throw new IllegalArgumentException("--compare: an empty policy name in " + compare);
            if (!seen.add(name)) continue;
            out.add(new Shown(name, name.equals(FULL) ? null : PolicyConfig.of(name)));
        }
        return out;
    }

    private static void report(PrintWriter out, VisionLanguageModel.Outcome o, int visualTokens, int visualPositions) {
        var r = o.result();
        long[] t = o.tokens();
        out.printf("  tokens (%d, %s): %s%n", t.length, r.finishReasons().get(0).toString().toLowerCase(Locale.ROOT), Arrays.toString(t));
        if (o.totalVisual() > 0) {
            double perHead = (double) o.keptVisual() / (o.totalVisual() / (double) visualPositions);
            out.printf(Locale.ROOT, "  visual tokens: %.1f of %d kept (mean over layers and KV heads, %.1f%%)%n", perHead, visualTokens,
                    100.0 * o.keptVisual() / o.totalVisual());
        } else if (visualTokens > 0) {
            out.printf("  visual tokens: all %d kept%n", visualTokens);
        }
        out.printf("  KV cache: %s before compression, %s after%s%n", GenerateCommand.mib(o.liveBefore()), GenerateCommand.mib(o.liveAfter()),
                r.actions().isEmpty() ? " (no compression)" : "");
        double decodeTotal = r.timings().decodeMs().stream().mapToDouble(Double::doubleValue).sum();
        out.printf(Locale.ROOT, "  prefill %.1f ms, policy %.2f ms, compaction %.2f ms, decode %.1f ms (%d steps, median %.2f ms/token)%n",
                r.timings().prefillMs(), r.timings().policyMs(), r.timings().compactionMs(), decodeTotal, r.timings().decodeMs().size(),
                r.timings().medianDecodeMs());
        out.flush();
    }
}
