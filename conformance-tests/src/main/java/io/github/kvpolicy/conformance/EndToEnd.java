package io.github.kvpolicy.conformance;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.PolicyAction;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.Sampling;
import io.github.kvpolicy.runtime.model.ModelPackage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The end-to-end level: the policy driven by {@code runtime-onnx} on a tiny random-weights decoder (preset
 * {@code tiny}: 2 layers, 4 query / 2 KV heads, hidden 64), written once per machine under
 * the private per-user cache ({@code ~/.cache/kvpolicy/models/conformance-tiny-7}) or taken from the system property {@value #MODEL_PROPERTY}
 * (a model package or built-graph folder). Images are given as embeddings, so no vision tower is needed. If the
 * model cannot be opened (e.g. no ONNX Runtime for this platform) the checks are skipped with the reason. The
 * generator is opened once per JVM and shared (it is only read); requests run one at a time.
 */
final class EndToEnd {
    /** System property: a model directory to use instead of the generated tiny one. */
    static final String MODEL_PROPERTY = "kvpolicy.conformance.model";
    static final int IMAGE_TOKENS = 24;

    private static Generator generator;
    private static String unavailable;

    private EndToEnd() {}

    /**
     * The shared generator. The level is required: if it was not opted out ({@link ConformanceSettings#OPT_OUT}) and
     * the model cannot be opened, the check fails (no free skip); if it was opted out, the check is skipped with
     * the opt-out's reason.
     */
    private static Generator generator(ConformanceHarness h) {
        java.util.Optional<String> optOut = h.settings().optOut(ConformanceSettings.LEVEL_END_TO_END);
        assumeTrue(optOut.isEmpty(), () -> "level " + ConformanceSettings.LEVEL_END_TO_END + " opted out: " + optOut.orElse(""));
        Generator g = open();
        if (g == null) {
            fail(h.failure(unavailable + "; the end-to-end level is required — opt out explicitly with -D" + ConformanceSettings.OPT_OUT
                    + "=end-to-end=<reason> (validate: --skip-level end-to-end=<reason> or --contract-only)", List.of()));
        }
        return g;
    }

    /** The fixture model's folder: kvpolicy-owned, in the private per-user cache (never a shared temp directory). */
    private static Path fixtureDir() {
        Path root = io.github.kvpolicy.runtime.model.cache.OwnedDirectory.claim(io.github.kvpolicy.runtime.model.cache.OwnedDirectory.userCacheRoot(), true);
        Path models = io.github.kvpolicy.runtime.model.cache.OwnedDirectory.claim(root.resolve("models"), true);
        return io.github.kvpolicy.runtime.model.cache.OwnedDirectory.claim(models.resolve("conformance-tiny-7"), true);
    }

    private static synchronized Generator open() {
        if (generator == null && unavailable == null) {
            try {
                String dir = System.getProperty(MODEL_PROPERTY);
                GeneratorConfig cfg = GeneratorConfig.defaults().withIntraOpThreads(1);
                generator = dir != null ? Generator.openModel(Path.of(dir), cfg)
                        : Generator.open(ModelPackage.random("tiny", 7, fixtureDir()), cfg);
                Runtime.getRuntime().addShutdownHook(new Thread(generator::close));
            } catch (RuntimeException | LinkageError e) {
                unavailable = "the end-to-end fixture model could not be opened: " + e;
            }
        }
        return generator;
    }

    /** A prompt: 5 text tokens, an image of {@link #IMAGE_TOKENS} embeddings, {@code question} text tokens. */
    private static Prompt prompt(Generator g, long seed, int question) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[][] image = new float[IMAGE_TOKENS][g.hiddenSize()];
        for (float[] row : image) for (int i = 0; i < row.length; i++) row[i] = (float) (rnd.nextGaussian() * 0.5);
        long[] sys = rnd.longs(5, 3, g.vocabSize()).toArray();
        long[] q = rnd.longs(question, 3, g.vocabSize()).toArray();
        return Prompt.builder().text(sys).imageEmbeddings(image).text(q).build();
    }

    private static GenerationRequest request(ConformanceHarness h, Generator g, CompressionPolicy p, Budget budget, int newTokens) {
        GenerationRequest.Builder b = GenerationRequest.builder().row(prompt(g, h.settings().seed(), 6)).maxNewTokens(newTokens)
                .stopTokens().sampling(Sampling.greedyDecoding()).policy(p, budget).policySeed(h.settings().seed());
        if (h.provider().capabilities().contains(Capability.BATCH)) b.row(prompt(g, h.settings().seed() + 1, 11));
        return b.build();
    }

    static void generationCompletes(ConformanceHarness h) {
        Generator g = generator(h);
        List<String> failures = new ArrayList<>();
        for (Budget budget : List.of(Budget.ratio(0.1), Budget.ratio(0.5), Budget.ratio(1.0), Budget.count(0))) {
            CompressionPolicy p = h.create();
            GenerationRequest req = request(h, g, p, budget, 8);
            try {
                GenerationResult r = g.generate(req);
                for (int row = 0; row < req.batchSize(); row++) {
                    if (r.tokens(row).length != 8) failures.add("budget " + budget + ": row " + row + " generated " + r.tokens(row).length + " of 8 tokens (" + r.finishReasons() + ")");
                }
                if (p.schedule().afterPrefill() && r.actions().stream().noneMatch(a -> a.phase() == Phase.PREFILL)) {
                    failures.add("budget " + budget + ": the policy is scheduled after prefill but never acted");
                }
            } catch (RuntimeException e) {
                failures.add("budget " + budget + ": generation failed: " + ConformanceHarness.describe(e));
            }
        }
        assertTrue(failures.isEmpty(), () -> h.failure("end-to-end generation on the tiny model failed", failures));
    }

    static void cacheShrinksToPlan(ConformanceHarness h) {
        Generator g = generator(h);
        CompressionPolicy p = h.create();
        GenerationRequest req = request(h, g, p, Budget.ratio(0.25), 32);
        try (GenerationSession s = g.newSession(req)) {
            s.prefill();
            PolicyAction action = null;
            float[][][][][] before = null;
            int[][][][] positionsBefore = null;
            if (p.schedule().afterPrefill()) {
                positionsBefore = positions(s.cache());
                before = keys(s.cache());
                action = s.applyPolicy(Phase.PREFILL);
            }
            while (action == null && s.step()) {
                if (s.hasActiveRows() && s.decodeTrigger()) {
                    positionsBefore = positions(s.cache());
                    before = keys(s.cache());
                    action = s.applyPolicy(Phase.DECODE);
                }
            }
            assumeTrue(action != null, "the policy never acted within 32 generated tokens at budget 25%");
            RetentionPlan plan = action.plan();
            KvCacheView cache = s.cache();
            ModelShape shape = cache.shape();
            List<String> failures = new ArrayList<>();
            long keptTotal = 0, beforeTotal = 0;
            for (int r = 0; r < cache.batchSize(); r++) {
                for (int l = 0; l < shape.layers(); l++) {
                    for (int hd = 0; hd < shape.kvHeads(); hd++) {
                        int[] now = cache.positions(r, l, hd);
                        int[] kept = plan.kept(r, l, hd);
                        keptTotal += now.length;
                        beforeTotal += positionsBefore[r][l][hd].length;
                        if (!Arrays.equals(now, kept)) {
                            failures.add(PlanRules.where(r, l, hd) + ": the cache holds " + now.length + " positions, the plan kept " + kept.length);
                            continue;
                        }
                        MatrixView k = cache.keys(r, l, hd);
                        for (int i = 0; i < now.length; i++) {
                            int j = Arrays.binarySearch(positionsBefore[r][l][hd], now[i]);
                            float[] row = new float[k.cols()];
                            k.copyRow(i, row, 0);
                            if (!Arrays.equals(row, before[r][l][hd][j])) {
                                failures.add(PlanRules.where(r, l, hd) + ": the key of kept position " + now[i] + " changed in compaction");
                                break;
                            }
                        }
                    }
                }
            }
            long kt = keptTotal, bt = beforeTotal;
            assertTrue(failures.isEmpty(), () -> h.failure("the runtime's cache does not match the plan after the policy acted", failures));
            assertTrue(kt <= bt, () -> h.failure("the cache grew from " + bt + " to " + kt + " tokens when the policy acted", List.of()));
        } catch (RuntimeException e) {
            fail(h.failure("end-to-end compression on the tiny model failed", List.of(ConformanceHarness.describe(e))), e);
        }
    }

    static void decodingStaysWithinBound(ConformanceHarness h) {
        Generator g = generator(h);
        CompressionPolicy p = h.create();
        Budget budget = Budget.count(6);
        int newTokens = 96;
        GenerationRequest req = request(h, g, p, budget, newTokens);
        int allowance = DecodingDriver.allowance(p.schedule());
        assertTrue(allowance >= 0, () -> h.failure("DECODING_TIME is declared but the schedule never acts during decoding", List.of()));
        List<String> failures = new ArrayList<>();
        int decodeActions = 0;
        try (GenerationSession s = g.newSession(req)) {
            s.prefill();
            int actions = 0;
            if (p.schedule().afterPrefill()) { s.applyPolicy(Phase.PREFILL); actions++; }
            while (s.step()) {
                if (s.hasActiveRows() && s.decodeTrigger()) { s.applyPolicy(Phase.DECODE); actions++; decodeActions++; }
                // the runtime does not act after the last token (nothing more is generated): judge only live steps
                if (actions == 0 || !s.hasActiveRows()) continue;
                ModelShape shape = s.cache().shape();
                for (int r = 0; r < req.batchSize(); r++) {
                    long b = PlanRules.budgetTokens(budget, req.layout().row(r), p.scope(), p.protection());
                    long total = 0;
                    for (int l = 0; l < shape.layers(); l++)
                        for (int hd = 0; hd < shape.kvHeads(); hd++)
                            total += PlanRules.split(req.layout().row(r), s.cache().positions(r, l, hd), p.scope(), p.protection()).candidates().length;
                    long bound = (long) shape.layers() * shape.kvHeads() * (b + allowance);
                    if (total > bound && failures.isEmpty()) {
                        failures.add("after decode step " + s.steps() + ", row " + r + " holds " + total + " candidates, over L·H·(B + " + allowance + ") = " + bound);
                    }
                }
            }
        } catch (RuntimeException e) {
            failures.add("generation failed: " + ConformanceHarness.describe(e));
        }
        int da = decodeActions;
        assertTrue(failures.isEmpty(), () -> h.failure("over a " + newTokens + "-token generation at budget " + budget + " the cache left its bound", failures));
        if (p.scope() == io.github.kvpolicy.api.Scope.ALL) {
            assertTrue(da > 0, () -> h.failure("over a " + newTokens + "-token generation with Scope.ALL at budget " + budget + " the policy never acted during decoding", List.of()));
        }
    }

    private static int[][][][] positions(KvCacheView c) {
        ModelShape s = c.shape();
        int[][][][] out = new int[c.batchSize()][s.layers()][s.kvHeads()][];
        for (int r = 0; r < c.batchSize(); r++)
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) out[r][l][h] = c.positions(r, l, h);
        return out;
    }

    private static float[][][][][] keys(KvCacheView c) {
        ModelShape s = c.shape();
        float[][][][][] out = new float[c.batchSize()][s.layers()][s.kvHeads()][][];
        for (int r = 0; r < c.batchSize(); r++)
            for (int l = 0; l < s.layers(); l++)
                for (int h = 0; h < s.kvHeads(); h++) {
                    MatrixView k = c.keys(r, l, h);
                    out[r][l][h] = new float[k.rows()][k.cols()];
                    for (int i = 0; i < k.rows(); i++) k.copyRow(i, out[r][l][h][i], 0);
                }
        return out;
    }
}
