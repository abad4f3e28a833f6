package io.github.kvpolicy.evaluation.gridvqa;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.evaluation.engine.Answer;
import io.github.kvpolicy.evaluation.engine.Answerer;
import io.github.kvpolicy.evaluation.engine.Contender;
import io.github.kvpolicy.evaluation.engine.EvalExample;
import io.github.kvpolicy.evaluation.metrics.Metric;
import io.github.kvpolicy.evaluation.metrics.Metrics;
import io.github.kvpolicy.runtime.FinishReason;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.PolicyAction;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import io.github.kvpolicy.runtime.Sampling;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Accuracy of policies against visual retention on GridVQA. Each example is prefilled once (full cache, every prompt
 * query kept for the probe); its session is then forked for every (policy, retention), compressed by that policy and
 * decoded greedily. The first answer token comes from the prefill logits, before any compression, as in the papers.
 * Not thread-safe; one evaluation at a time per generator.
 */
public final class Evaluation {
    /** The outcome of one example under one (policy, retention). */
    public record Outcome(String exampleId, String family, String policy, double retention, boolean exact, int correctTokens,
                          int answerTokens, long[] generated, boolean agreesWithFull, double policyMs, double decodeMsMedian,
                          long keptVisual, long totalVisual) {}

    /** Tokens generated per answer at most: the longest GridVQA answer is 7 tokens with {@code <eos>}, with room to spare. */
    static final int MAX_ANSWER_TOKENS = 16;

    private final Generator generator;
    private final GridVqa task;
    private final Function<PolicyConfig, CompressionPolicy> policyFactory;
    private final Function<PolicyConfig, PolicyDeclaration> declarations;

    /** Policies are created by {@code registry} (null: this evaluation only builds prompts and requests). */
    public Evaluation(Generator generator, GridVqa task, PolicyRegistry registry) {
        this(generator, task, registry == null ? (Function<PolicyConfig, CompressionPolicy>) c -> {
            throw new IllegalStateException("no policy registry to create " + c);
        } : registry::create, registry == null ? c -> PolicyDeclaration.undeclared() : c -> PolicyDeclaration.of(registry.provider(c.policy())));
    }

    private Evaluation(Generator generator, GridVqa task, Function<PolicyConfig, CompressionPolicy> policyFactory,
                       Function<PolicyConfig, PolicyDeclaration> declarations) {
        this.generator = generator;
        this.task = task;
        this.policyFactory = java.util.Objects.requireNonNull(policyFactory);
        this.declarations = java.util.Objects.requireNonNull(declarations);
    }

    /** What the provider of {@code c} declared (enforced by the runtime), or undeclared for a bare policy factory. */
    public PolicyDeclaration declaration(PolicyConfig c) {
        return declarations.apply(c);
    }

    /**
     * An evaluation whose policies {@code policyFactory} creates, once per contender and run (e.g. a conformance
     * harness that builds the policy under test from its provider).
     */
    public static Evaluation withPolicies(Generator generator, GridVqa task, Function<PolicyConfig, CompressionPolicy> policyFactory) {
        return new Evaluation(generator, task, policyFactory, c -> PolicyDeclaration.undeclared());
    }

    /** As {@link #withPolicies(Generator, GridVqa, Function)}, with the declarations the runtime enforces. */
    public static Evaluation withPolicies(Generator generator, GridVqa task, Function<PolicyConfig, CompressionPolicy> policyFactory,
                                          Function<PolicyConfig, PolicyDeclaration> declarations) {
        return new Evaluation(generator, task, policyFactory, declarations);
    }

    /** The prompt of {@code e}: text prefix, the image as grid cells, the question and separator. */
    public Prompt prompt(GridVqa.Example e) {
        long[] attrs = GridVqa.pixelAttributes(e);
        long[][] cells = new long[GridVqa.CELLS][];
        for (int i = 0; i < cells.length; i++) cells[i] = new long[] {attrs[i * 3], attrs[i * 3 + 1], attrs[i * 3 + 2]};
        return Prompt.builder().text(task.prefixIds()).image(cells).text(task.suffixIds(e)).build();
    }

    public GridVqa task() {
        return task;
    }

    /** A session (not yet prefilled) for {@code e}; the caller closes it. */
    public GenerationSession generatorSession(GridVqa.Example e) {
        return generator.newSession(request(e, MAX_ANSWER_TOKENS));
    }

    /** A greedy request for {@code e} without a policy, keeping all prompt queries so any policy can be forked in. */
    public GenerationRequest request(GridVqa.Example e, int maxNewTokens) {
        return GenerationRequest.builder().row(prompt(e)).maxNewTokens(maxNewTokens).stopTokens(task.eosId())
                .sampling(Sampling.greedyDecoding()).extraQueryWindow(QueryWindow.all()).build();
    }

    /**
     * Runs every contender at every retention on every example.
     *
     * @param sink receives each outcome as it is produced
     */
    public void run(List<GridVqa.Example> examples, List<Contender> contenders, List<Double> retentions, Consumer<Outcome> sink, PrintStream progress) {
        Map<String, CompressionPolicy> policies = new LinkedHashMap<>();
        Map<String, PolicyDeclaration> declared = new LinkedHashMap<>();
        for (Contender c : contenders) {
            policies.put(c.label(), policyFactory.apply(c.config()));
            declared.put(c.label(), declarations.apply(c.config()));
        }
        long start = System.nanoTime();
        for (int i = 0; i < examples.size(); i++) {
            GridVqa.Example e = examples.get(i);
            int[] answer = task.answerIds(e);
            try (GenerationSession base = generator.newSession(request(e, MAX_ANSWER_TOKENS))) {
                base.prefill();
                long[] reference;
                try (GenerationSession full = base.fork(null, null)) {
                    reference = full.runToEnd().tokens(0); // the uncompressed answer every policy is compared with
                }
                for (Map.Entry<String, CompressionPolicy> p : policies.entrySet()) {
                    for (double r : retentions) {
                        try (GenerationSession s = base.fork(p.getValue(), Budget.ratio(r), declared.get(p.getKey()))) {
                            GenerationResult res = s.runToEnd();
                            sink.accept(outcome(e, p.getKey(), r, answer, res, reference));
                        }
                    }
                }
            }
            if (progress != null) progress(progress, i + 1, examples.size(), start);
        }
        if (progress != null) progress.println();
    }

    /**
     * A GridVQA example as the {@link io.github.kvpolicy.evaluation.engine.EvaluationEngine} sees it: one reference
     * answer (the answer words without {@code <eos>}), scored by exact match, grouped by family.
     */
    public record Item(GridVqa.Example example) implements EvalExample {
        private static final Metric EXACT = Metrics.byName("exact");

        @Override
        public String id() {
            return example.id();
        }

        @Override
        public List<String> answers() {
            return List.of(String.join(" ", example.answer().subList(0, example.answer().size() - 1)));
        }

        @Override
        public Metric metric() {
            return EXACT;
        }

        @Override
        public String group() {
            return example.family();
        }
    }

    /** Names of the numbers the answerer records besides the answer: as in {@link Outcome}. */
    public static final String CORRECT_TOKENS = "correct_tokens", ANSWER_TOKENS = "answer_tokens", AGREES_WITH_FULL = "agrees_with_full";

    /**
     * The testbed as an {@link Answerer}: {@code prepare} prefills the example once (every prompt query kept) and
     * decodes the uncompressed reference answer; each {@code answer} forks that session, compresses it with the
     * contender's policy at the retention and decodes greedily, exactly as {@link #run} does. The answer text is the
     * generated words joined by spaces ({@code <eos>} not included); {@code extra} holds {@value #CORRECT_TOKENS},
     * {@value #ANSWER_TOKENS} and {@value #AGREES_WITH_FULL} (1 or 0). Policies are created once per contender label.
     */
    public Answerer<Item> answerer() {
        Map<String, CompressionPolicy> policies = new LinkedHashMap<>();
        return item -> {
            GridVqa.Example e = item.example();
            int[] answer = task.answerIds(e);
            GenerationSession base = generator.newSession(request(e, MAX_ANSWER_TOKENS));
            long[] reference;
            try {
                base.prefill();
                try (GenerationSession full = base.fork(null, null)) {
                    reference = full.runToEnd().tokens(0);
                }
            } catch (RuntimeException ex) {
                base.close();
                throw ex;
            }
            return new Answerer.Prepared() {
                @Override
                public Answer answer(Contender c, double retention) {
                    CompressionPolicy p = policies.computeIfAbsent(c.label(), k -> policyFactory.apply(c.config()));
                    try (GenerationSession s = base.fork(p, Budget.ratio(retention), declarations.apply(c.config()))) {
                        Outcome o = outcome(e, c.label(), retention, answer, s.runToEnd(), reference);
                        String text = java.util.Arrays.stream(o.generated()).mapToObj(t -> task.token((int) t)).collect(Collectors.joining(" "));
                        return new Answer(text, o.policyMs(), o.decodeMsMedian(), o.keptVisual(), o.totalVisual(),
                                Map.of(CORRECT_TOKENS, (double) o.correctTokens(), ANSWER_TOKENS, (double) o.answerTokens(), AGREES_WITH_FULL, o.agreesWithFull() ? 1.0 : 0.0));
                    }
                }

                @Override
                public void close() {
                    base.close();
                }
            };
        };
    }

    private Outcome outcome(GridVqa.Example e, String policy, double retention, int[] answer, GenerationResult res, long[] reference) {
        long[] gen = res.tokens(0);
        boolean stopped = res.finishReasons().get(0) == FinishReason.STOP;
        // compare token by token with the answer (which ends with <eos>); a stop counts as producing <eos>
        int correct = 0;
        for (int k = 0; k < answer.length; k++) {
            long produced = k < gen.length ? gen[k] : (k == gen.length && stopped ? task.eosId() : -1);
            if (produced == answer[k]) correct++;
        }
        boolean exact = stopped && gen.length == answer.length - 1 && correct == answer.length;
        long kept = 0, total = 0;
        double policyMs = 0;
        if (!res.actions().isEmpty()) {
            PolicyAction a = res.actions().get(0);
            policyMs = a.policyMs();
            RowLayout row = task.layout(e);
            int[] visual = row.visualPositions();
            RetentionPlan plan = a.plan();
            for (int l = 0; l < plan.layers(); l++) {
                for (int h = 0; h < plan.kvHeads(); h++) {
                    int[] k = plan.kept(0, l, h);
                    for (int v : visual) if (java.util.Arrays.binarySearch(k, v) >= 0) kept++;
                    total += visual.length;
                }
            }
        }
        return new Outcome(e.id(), e.family(), policy, retention, exact, correct, answer.length, gen, java.util.Arrays.equals(gen, reference), policyMs,
                res.timings().medianDecodeMs(), kept, total);
    }

    static void progress(PrintStream out, int done, int total, long startNanos) {
        int width = 30;
        int filled = (int) ((long) done * width / Math.max(1, total));
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        double eta = done == 0 ? 0 : elapsed / done * (total - done);
        out.printf("\r[%s%s] %d/%d examples  %.0fs elapsed, ETA %.0fs ", "#".repeat(filled), ".".repeat(width - filled), done, total, elapsed, eta);
        out.flush();
    }

    /** The kept-visual-token share per layer and grid cell (averaged over KV heads) of {@code plan}. */
    public static double[][] keptGrid(RetentionPlan plan, RowLayout row) {
        int[] visual = row.visualPositions();
        double[][] out = new double[plan.layers()][visual.length];
        for (int l = 0; l < plan.layers(); l++) {
            for (int h = 0; h < plan.kvHeads(); h++) {
                int[] k = plan.kept(0, l, h);
                for (int c = 0; c < visual.length; c++) if (java.util.Arrays.binarySearch(k, visual[c]) >= 0) out[l][c] += 1.0 / plan.kvHeads();
            }
        }
        return out;
    }

    /** Helper for callers: the default contenders (every shipped policy at its defaults). */
    public static List<Contender> defaultContenders(PolicyRegistry registry) {
        List<Contender> out = new ArrayList<>();
        for (String n : List.of("full", "aircache", "snapkv", "pyramidkv", "adakv", "h2o", "vl-cache", "prefixkv", "tova", "streamingllm", "knorm", "random")) {
            if (registry.names().contains(n)) out.add(new Contender(n, PolicyConfig.of(n)));
        }
        for (String n : registry.names()) {
            boolean builtIn = out.stream().anyMatch(c -> c.label().equals(n)) || n.equals("decoding") || n.equals("layer-budgets");
            if (!builtIn) out.add(new Contender(n, PolicyConfig.of(n)));
        }
        return out;
    }
}
