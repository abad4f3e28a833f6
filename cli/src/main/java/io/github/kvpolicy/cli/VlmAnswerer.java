package io.github.kvpolicy.cli;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.evaluation.dataset.VqaExample;
import io.github.kvpolicy.evaluation.engine.Answer;
import io.github.kvpolicy.evaluation.engine.Answerer;
import io.github.kvpolicy.evaluation.engine.Contender;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Sampling;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@link Answerer} of {@code eval --dataset} for a Hugging Face VLM folder, on the path of {@code kvpolicy run}:
 * {@link #prepare} renders the question after the example's images with the folder's chat template, embeds the images
 * with the vision tower and prefills once (greedy, keeping the prompt queries every contender's policy asks for);
 * {@link Prepared#answer} forks that prefill with the contender's policy at {@code Budget.ratio(retention)} and decodes
 * up to {@code maxNewTokens} tokens or a stop token. The answer text is the decoded tokens, special tokens skipped,
 * trimmed.
 *
 * <p>Answers depend only on (example, contender, retention): greedy decoding from the same prefill, the policy seeded by
 * the request's fixed policy seed, and a fresh fork per answer, so a resumed run reproduces them. Policies are created
 * once per contender label and reused (the engine is single-threaded). Not thread-safe.
 */
final class VlmAnswerer implements Answerer<VqaExample> {
    /** The name of {@link Answer#extra()}'s entry holding the number of generated tokens. */
    static final String ANSWER_TOKENS = "answer_tokens";
    /** The policy seed of every request (policies that draw random numbers draw the same ones on a resumed run). */
    static final long POLICY_SEED = 0;

    private final VisionLanguageModel vlm;
    private final PolicyRegistry registry;
    private final int maxNewTokens;
    private final QueryWindow window;
    private final Map<String, CompressionPolicy> policies = new HashMap<>();
    private final Map<String, PolicyDeclaration> declarations = new HashMap<>();

    /**
     * @param contenders the contenders that will be asked for: their policies are created here (bad names and options
     *                   fail now) and their query windows kept by every prefill
     */
    VlmAnswerer(VisionLanguageModel vlm, PolicyRegistry registry, List<Contender> contenders, int maxNewTokens) {
        this.vlm = vlm;
        this.registry = registry;
        this.maxNewTokens = maxNewTokens;
        QueryWindow w = QueryWindow.none();
        for (Contender c : contenders) w = w.union(policy(c).queryWindow());
        this.window = w;
    }

    private CompressionPolicy policy(Contender c) {
        return policies.computeIfAbsent(c.label(), k -> {
            PolicyConfig pc = c.config();
            declarations.put(k, PolicyDeclaration.of(registry.provider(pc.policy())));
            return registry.create(pc);
        });
    }

    @Override
    public Prepared prepare(VqaExample example) {
        VisionLanguageModel.Built built;
        try {
            built = vlm.prompt(example.question(), example.images());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("example '" + example.id() + "' (line " + example.line() + "): " + Main.userMessage(e), e);
        }
        GenerationRequest request = GenerationRequest.builder().row(built.prompt()).maxNewTokens(maxNewTokens).stopTokens(vlm.stopTokens())
                .sampling(Sampling.greedyDecoding()).policySeed(POLICY_SEED).extraQueryWindow(window).build();
        GenerationSession base = vlm.generator().newSession(request);
        try {
            base.prefill();
        } catch (RuntimeException | Error e) {
            base.close();
            throw e;
        }
        return new Prepared() {
            @Override
            public Answer answer(Contender c, double retention) {
                CompressionPolicy p = policy(c);
                VisionLanguageModel.Outcome o = VisionLanguageModel.continueWith(base, p, Budget.ratio(retention), declarations.get(c.label()),
                        built.prompt().layout(), t -> { });
                long[] tokens = o.tokens();
                int[] ids = new int[tokens.length];
                for (int i = 0; i < ids.length; i++) ids[i] = (int) tokens[i];
                String text = vlm.processor().tokenizer().decode(ids, true).strip();
                var timings = o.result().timings();
                return new Answer(text, o.result().actions().isEmpty() ? 0 : timings.policyMs(), timings.medianDecodeMs(), o.keptVisual(), o.totalVisual(),
                        Map.of(ANSWER_TOKENS, (double) tokens.length));
            }

            @Override
            public void close() {
                base.close();
            }
        };
    }
}
