package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.BudgetMode;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.PolicyAction;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.ReferenceDecoder;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.json.Json;
import io.github.kvpolicy.runtime.model.verify.ModelVerifier;
import io.github.kvpolicy.runtime.model.verify.ReferenceFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real per-(layer, KV head) eviction plan run end to end on each HF VLM fixture equals a fresh run on only the kept
 * keys: the {@link Generator} prefills the fixture's prompt (the image as the prompt's image segment, embeddings from
 * {@code vision.onnx}), a policy keeps a seeded random subset of 25% of the visual tokens per (layer, KV head) and
 * evicts the rest, and every decoding step's logits are compared (1e-4) with {@link ReferenceDecoder},
 * which runs {@code decoder.onnx} directly on the whole prompt, drops exactly the evicted keys and decodes the same
 * tokens with an explicit past. For M-RoPE families (Qwen2-VL, Qwen2.5-VL) the kept visual keys must be the ones
 * computed at their original 3-D positions (the prompt's {@code rope_offsets}), which are not the 1-D ones. The
 * compressed run must differ from the full run, so the comparison can fail. Also a Mistral model that declares a
 * {@code sliding_window} (the sequence within it) with a plan over all tokens.
 *
 * <p>(The AirCache policy is not on this module's test class path, hence the test policy.)
 */
class HfCompressedRunTest {
    static final double LOGITS_TOL = 1e-4;
    static final double KEY_TOL = 1e-4;
    /** The compressed run must move some logit of the full run by at least this much. */
    static final double MIN_EFFECT = 1e-3;
    static final double KEEP = 0.25;
    static final int MAX_NEW = 6;

    @TempDir
    Path tmp;

    /**
     * Keeps the mandatory positions and a random subset of {@code budgetTokens} candidates per (row, layer, KV head),
     * drawn from a stream seeded by the context's seed, the layer and the head (so the heads keep different subsets).
     */
    static CompressionPolicy randomSubset(Scope scope) {
        return randomSubset(scope, Schedule.onceAfterPrefill());
    }

    /** As {@link #randomSubset(Scope)}, acting on {@code schedule}. */
    static CompressionPolicy randomSubset(Scope scope, Schedule schedule) {
        return new CompressionPolicy() {
            @Override public String name() { return "test-random-subset-" + scope.name().toLowerCase(); }
            @Override public Schedule schedule() { return schedule; }
            @Override public TokenScorer scorer() { throw new UnsupportedOperationException("compress() is overridden"); }
            @Override public Scope scope() { return scope; }
            @Override public BudgetMode budgetMode() { return BudgetMode.EXACT; }
            @Override
            public RetentionPlan compress(PolicyContext ctx) {
                ModelShape s = ctx.shape();
                int rows = ctx.layout().batchSize();
                RetentionPlan.Builder b = RetentionPlan.builder(rows, s.layers(), s.kvHeads());
                for (int r = 0; r < rows; r++) {
                    for (int l = 0; l < s.layers(); l++) {
                        for (int h = 0; h < s.kvHeads(); h++) {
                            SplittableRandom rnd = new SplittableRandom(ctx.seed() * 1000003 + l * 31L + h);
                            int[] cand = ctx.candidates(r, l, h);
                            int n = Math.min(ctx.budgetTokens(r), cand.length);
                            int[] pick = rnd.ints(0, cand.length).distinct().limit(n).map(i -> cand[i]).toArray();
                            int[] mand = ctx.mandatory(r, l, h);
                            int[] kept = Arrays.copyOf(mand, mand.length + pick.length);
                            System.arraycopy(pick, 0, kept, mand.length, pick.length);
                            Arrays.sort(kept);
                            b.set(r, l, h, kept);
                        }
                    }
                }
                return b.build();
            }
        };
    }

    @ParameterizedTest
    @ValueSource(strings = {"llava15", "smolvlm", "llava_onevision", "qwen2_vl", "qwen2_5_vl"})
    void visualPlanEqualsAFreshRunOnTheKeptKeys(String family) throws Exception {
        HfFixture fx = new HfFixture(family);
        Path dir = fx.copyTo(tmp.resolve(family), "model.safetensors");
        Path refPath = dir.resolve("reference.safetensors");
        Files.write(refPath, fx.resource("reference.safetensors"));
        ModelPackage pkg = ModelPackage.open(dir);
        ModelConfig cfg = pkg.config();
        long[] ids = fx.inputIds();
        int len = ids.length;
        try (Generator gen = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1).withPrefillChunk(16))) {
            ReferenceFile ref = ReferenceFile.read(refPath);
            float[][] image = ModelVerifier.imageEmbeddings(gen.sessions(), cfg, ref, ids);
            long[][] offsets = ModelVerifier.ropeOffsets(cfg, ref, ids);
            assertEquals(family.startsWith("qwen2"), offsets != null, "M-RoPE offsets");
            assertEquals(offsets != null, gen.sessions().takesRopeOffsets(), "the decoder takes rope_offsets");
            Prompt prompt = ModelVerifier.prompt(cfg, ids, image, offsets);
            int[] visual = prompt.layout().visualPositions();
            assertTrue(visual.length >= 4, family + ": " + visual.length + " visual tokens");
            assertEquals(visual.length, image.length);
            float[] emb = ModelVerifier.embeddings(gen.sessions(), cfg, ids, image);

            Outcome o = compressedEqualsKeptKeys(family, gen, pkg.ensureBuilt(), prompt, emb, offsets, randomSubset(Scope.VISUAL), 13);

            // the plan: every text token kept, ~KEEP of the visual tokens per (layer, KV head), different subsets per head
            Set<String> subsets = new HashSet<>();
            ModelShape s = gen.shape();
            int textTokens = len - visual.length;
            for (int l = 0; l < s.layers(); l++) {
                for (int h = 0; h < s.kvHeads(); h++) {
                    int[] kept = o.plan.kept(0, l, h);
                    int[] keptVisual = Arrays.stream(kept).filter(p -> Arrays.binarySearch(visual, p) >= 0).toArray();
                    assertEquals(textTokens, kept.length - keptVisual.length, family + " layer " + l + " head " + h + ": text tokens kept");
                    double frac = (double) keptVisual.length / visual.length;
                    assertTrue(frac >= 0.1 && frac <= 0.3, family + " layer " + l + " head " + h + ": kept " + keptVisual.length + " of " + visual.length + " visual tokens");
                    subsets.add(Arrays.toString(keptVisual));
                }
            }
            assertTrue(subsets.size() > 1, family + ": every (layer, head) keeps the same visual tokens");

            // M-RoPE: the kept visual keys were rotated at their original 3-D positions, not at the 1-D ones
            if (offsets != null) {
                int moved = 0;
                for (int p : visual) if (offsets[0][p] != 0 || offsets[1][p] != 0 || offsets[2][p] != 0) moved++;
                assertTrue(moved > visual.length / 2, family + ": only " + moved + " visual tokens have 3-D positions apart from their 1-D one");
                try (ReferenceDecoder flat = new ReferenceDecoder(pkg.ensureBuilt())) {
                    flat.forward(emb, ReferenceDecoder.range(0, len), null);
                    double apart = 0;
                    for (int h = 0; h < s.kvHeads(); h++) {
                        for (int p : o.plan.kept(0, 0, h)) {
                            if (Arrays.binarySearch(visual, p) < 0) continue;
                            apart = Math.max(apart, maxAbsDiff(o.cachedKeys[0][h].get(p), flat.key(0, h, p)));
                        }
                    }
                    assertTrue(apart > MIN_EFFECT, family + ": layer-0 kept visual keys equal keys rotated at 1-D positions (max|Δ| " + apart + ")");
                    // and the logits comparison sees it: the same kept keys rotated at 1-D positions give other logits
                    int[][][] kept = new int[s.layers()][s.kvHeads()][];
                    for (int l = 0; l < s.layers(); l++) for (int h = 0; h < s.kvHeads(); h++) kept[l][h] = o.plan.kept(0, l, h);
                    flat.keepOnly(kept);
                    double flatDiff = 0;
                    for (int t = 0; t + 1 < MAX_NEW; t++) {
                        float[] lg = flat.forward(flat.embed(o.result.tokens(0)[t]), new long[] {len + t}, new long[3][1]);
                        flatDiff = Math.max(flatDiff, maxAbsDiff(lg, o.result.logits().get(0).get(t + 1)));
                    }
                    assertTrue(flatDiff > MIN_EFFECT, family + ": a kept-keys run at 1-D positions gives the compressed run's logits (max|Δ| " + flatDiff + ")");
                    System.out.printf("%s: kept visual keys vs 1-D rotation max|Δ| %.3g; logits vs a 1-D kept-keys run max|Δ| %.3g%n", family, apart, flatDiff);
                }
            }
        }
    }

    /**
     * M-RoPE through repeated compaction: a plan over all tokens after prefill and every 2 decoding steps (so the image's
     * 3-D-rotated keys, the text after it and generated tokens are evicted and compacted several times) equals, at
     * every step, the direct decoder run on the prompt with its {@code rope_offsets} that drops the same keys at the
     * same steps.
     */
    @ParameterizedTest
    @ValueSource(strings = {"qwen2_vl", "qwen2_5_vl"})
    void repeatedPlansKeepTheOriginal3dPositions(String family) throws Exception {
        HfFixture fx = new HfFixture(family);
        Path dir = fx.copyTo(tmp.resolve(family), "model.safetensors");
        Path refPath = dir.resolve("reference.safetensors");
        Files.write(refPath, fx.resource("reference.safetensors"));
        ModelPackage pkg = ModelPackage.open(dir);
        ModelConfig cfg = pkg.config();
        long[] ids = fx.inputIds();
        int len = ids.length, maxNew = 9;
        try (Generator gen = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1).withPrefillChunk(16))) {
            ReferenceFile ref = ReferenceFile.read(refPath);
            float[][] image = ModelVerifier.imageEmbeddings(gen.sessions(), cfg, ref, ids);
            long[][] offsets = ModelVerifier.ropeOffsets(cfg, ref, ids);
            Prompt prompt = ModelVerifier.prompt(cfg, ids, image, offsets);
            float[] emb = ModelVerifier.embeddings(gen.sessions(), cfg, ids, image);
            ModelShape s = gen.shape();
            GenerationResult r = gen.generate(GenerationRequest.builder().row(prompt).maxNewTokens(maxNew)
                    .policy(randomSubset(Scope.ALL, Schedule.everySteps(2)), Budget.ratio(0.5)).policySeed(23)
                    .recordLogits(true).recordPlans(true).build());
            assertEquals(maxNew, r.tokens(0).length);
            // after prefill and decoding steps 2, 4, 6 (the 8th fed token ends the request)
            assertEquals(List.of(0, 2, 4, 6), r.actions().stream().map(PolicyAction::decodeStep).toList());
            Map<Integer, RetentionPlan> plans = new java.util.HashMap<>();
            for (PolicyAction a : r.actions()) plans.put(a.decodeStep(), a.plan());

            double worst = 0, flatWorst = 0;
            try (ReferenceDecoder dec = new ReferenceDecoder(pkg.ensureBuilt()); ReferenceDecoder flat = new ReferenceDecoder(pkg.ensureBuilt())) {
                float[] logits = dec.forward(emb, ReferenceDecoder.range(0, len), offsets);
                flat.forward(emb, ReferenceDecoder.range(0, len), null);
                worst = Math.max(worst, check(logits, r.logits().get(0).get(0), family + ": prefill logits"));
                for (int t = 0; t + 1 < maxNew; t++) {
                    RetentionPlan plan = plans.get(t);
                    if (plan != null) {
                        int[][][] kept = new int[s.layers()][s.kvHeads()][];
                        for (int l = 0; l < s.layers(); l++) {
                            for (int h = 0; h < s.kvHeads(); h++) {
                                kept[l][h] = plan.kept(0, l, h);
                                assertTrue(kept[l][h].length < len + t, family + " step " + t + " layer " + l + " head " + h + ": nothing evicted");
                            }
                        }
                        dec.keepOnly(kept);
                        flat.keepOnly(kept);
                        for (int l = 0; l < s.layers(); l++)
                            for (int h = 0; h < s.kvHeads(); h++) assertArrayEquals(kept[l][h], dec.positions(l, h), family + " step " + t);
                    }
                    long tok = r.tokens(0)[t];
                    logits = dec.forward(dec.embed(tok), new long[] {len + t}, new long[3][1]);
                    worst = Math.max(worst, check(logits, r.logits().get(0).get(t + 1), family + ": logits at step " + (t + 1)));
                    flatWorst = Math.max(flatWorst, maxAbsDiff(flat.forward(flat.embed(tok), new long[] {len + t}, new long[3][1]), r.logits().get(0).get(t + 1)));
                }
            }
            // evicting half the keys changed the run, and a run whose kept keys were rotated at 1-D positions is told apart
            GenerationResult plain = gen.generate(GenerationRequest.builder().row(prompt).maxNewTokens(maxNew).recordLogits(true).build());
            assertTrue(maxAbsDiff(plain.logits().get(0).get(1), r.logits().get(0).get(1)) > MIN_EFFECT, family + ": step 1 equals the full run");
            assertTrue(flatWorst > MIN_EFFECT, family + ": a 1-D kept-keys run gives the same logits (max|Δ| " + flatWorst + ")");
            System.out.printf("%s: %d actions, compressed vs kept-keys reference max|Δ| %.3g; vs a 1-D kept-keys run max|Δ| %.3g%n",
                    family, r.actions().size(), worst, flatWorst);
        }
    }

    @Test
    void slidingWindowModelWithAPlanEqualsAFreshRunOnTheKeptKeys() throws Exception {
        HfFixture fx = new HfFixture("llama3");
        Path dir = fx.copyTo(tmp.resolve("mistral"), "model.safetensors");
        Map<String, Object> cfg = Json.parseObject(Files.readString(dir.resolve("config.json")), "config.json");
        cfg.put("model_type", "mistral");
        cfg.put("architectures", List.of("MistralForCausalLM"));
        cfg.put("sliding_window", 48L);
        Files.writeString(dir.resolve("config.json"), Json.writePretty(cfg));
        ModelPackage pkg = ModelPackage.open(dir);
        assertEquals(48, pkg.config().slidingWindow());
        long[] ids = Arrays.copyOf(fx.inputIds(), 40);
        try (Generator gen = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1).withPrefillChunk(16))) {
            assertEquals(48, gen.sessions().slidingWindow());
            float[] emb = ModelVerifier.embeddings(gen.sessions(), pkg.config(), ids, null);
            Outcome o = compressedEqualsKeptKeys("mistral (sliding_window 48)", gen, pkg.ensureBuilt(), Prompt.ofTokens(ids), emb, null,
                    randomSubset(Scope.ALL), 17);
            ModelShape s = gen.shape();
            for (int l = 0; l < s.layers(); l++) {
                for (int h = 0; h < s.kvHeads(); h++) {
                    int n = o.plan.keptCount(0, l, h);
                    assertTrue(n == 10, "layer " + l + " head " + h + ": kept " + n + " of 40");
                }
            }
        }
    }

    /** The applied plan and, per (layer 0, KV head), the runtime's cached key of each kept position after compaction. */
    record Outcome(RetentionPlan plan, Map<Integer, float[]>[][] cachedKeys, GenerationResult result) {}

    /**
     * Runs {@code prompt} through the generator with {@code policy} at {@link #KEEP} and checks: one prefill action
     * whose plan evicts something; the prefill logits and every later step's logits equal (1e-4) a
     * {@link ReferenceDecoder} run on the whole prompt ({@code emb}, {@code offsets}) that then keeps only the plan's
     * keys; the compacted cache holds exactly the plan's positions with the keys that reference computed for them
     * (original positions, 3-D where M-RoPE); and the compressed logits differ from the uncompressed run's.
     */
    @SuppressWarnings("unchecked")
    static Outcome compressedEqualsKeptKeys(String what, Generator gen, ModelPackage.BuiltModel built, Prompt prompt, float[] emb,
                                            long[][] offsets, CompressionPolicy policy, long seed) throws Exception {
        int len = prompt.length();
        ModelShape s = gen.shape();
        GenerationRequest req = GenerationRequest.builder().row(prompt).maxNewTokens(MAX_NEW)
                .policy(policy, Budget.ratio(KEEP)).policySeed(seed).recordLogits(true).build();
        GenerationResult r = gen.generate(req);
        assertEquals(MAX_NEW, r.tokens(0).length, what);
        assertEquals(1, r.actions().size(), what + ": actions " + r.actions());
        PolicyAction a = r.actions().getFirst();
        assertEquals(Phase.PREFILL, a.phase());
        RetentionPlan plan = a.plan();
        assertNotNull(plan);
        long full = (long) s.layers() * s.kvHeads() * len;
        assertTrue(plan.totalKept() < full, what + ": the plan keeps everything");

        int[][][] kept = new int[s.layers()][s.kvHeads()][];
        for (int l = 0; l < s.layers(); l++) for (int h = 0; h < s.kvHeads(); h++) kept[l][h] = plan.kept(0, l, h);

        double worst = 0;
        Map<Integer, float[]>[][] cachedKeys = new Map[s.layers()][s.kvHeads()];
        try (ReferenceDecoder ref = new ReferenceDecoder(built)) {
            float[] logits = ref.forward(emb, ReferenceDecoder.range(0, len), offsets);
            worst = Math.max(worst, check(logits, r.logits().get(0).get(0), what + ": prefill logits"));
            ref.keepOnly(kept);

            // the compacted cache: exactly the plan's positions, each with the key the reference computed at its original position
            try (GenerationSession ses = gen.newSession(req)) {
                ses.prefill();
                ses.applyPolicy(Phase.PREFILL);
                double keyDiff = 0;
                for (int l = 0; l < s.layers(); l++) {
                    for (int h = 0; h < s.kvHeads(); h++) {
                        int[] pos = ses.cache().positions(0, l, h);
                        assertArrayEquals(kept[l][h], pos, what + " layer " + l + " head " + h + ": cached positions");
                        assertArrayEquals(kept[l][h], ref.positions(l, h), what + " layer " + l + " head " + h + ": reference positions");
                        MatrixView k = ses.cache().keys(0, l, h);
                        cachedKeys[l][h] = new java.util.HashMap<>();
                        for (int i = 0; i < pos.length; i++) {
                            float[] row = new float[s.headDim()];
                            k.copyRow(i, row, 0);
                            cachedKeys[l][h].put(pos[i], row);
                            keyDiff = Math.max(keyDiff, maxAbsDiff(row, ref.key(l, h, pos[i])));
                        }
                    }
                }
                assertTrue(keyDiff < KEY_TOL, what + ": compacted keys max|Δ| " + keyDiff);
                System.out.printf("%s: compacted keys vs reference max|Δ| %.3g%n", what, keyDiff);
            }

            for (int t = 0; t + 1 < MAX_NEW; t++) {
                long tok = r.tokens(0)[t];
                logits = ref.forward(ref.embed(tok), new long[] {len + t}, offsets == null ? null : new long[3][1]);
                worst = Math.max(worst, check(logits, r.logits().get(0).get(t + 1), what + ": logits after compaction, token " + (t + 1)));
            }
        }

        // the test can fail: without the plan the same tokens give other logits
        GenerationResult plain = gen.generate(GenerationRequest.builder().row(prompt).maxNewTokens(MAX_NEW).recordLogits(true).build());
        assertTrue(plain.actions().isEmpty());
        double effect = 0;
        int sameTokens = 0;
        while (sameTokens < MAX_NEW && plain.tokens(0)[sameTokens] == r.tokens(0)[sameTokens]) sameTokens++;
        // compare the steps whose inputs agree: step t+1 depends on tokens 0..t
        for (int t = 1; t <= Math.min(sameTokens, MAX_NEW - 1); t++) {
            effect = Math.max(effect, maxAbsDiff(plain.logits().get(0).get(t), r.logits().get(0).get(t)));
        }
        assertEquals(0.0, maxAbsDiff(plain.logits().get(0).get(0), r.logits().get(0).get(0)), 1e-6, what + ": prefill logits before the plan");
        assertTrue(effect > MIN_EFFECT, what + ": the compressed run equals the full run (max|Δ| " + effect + ")");
        System.out.printf("%s: L=%d kept %d of %d keys; compressed vs kept-keys reference max|Δ| %.3g; vs full run max|Δ| %.3g%n",
                what, len, plan.totalKept(), full, worst, effect);
        return new Outcome(plan, cachedKeys, r);
    }

    private static double check(float[] want, float[] got, String what) {
        double d = maxAbsDiff(want, got);
        assertTrue(d < LOGITS_TOL, what + " max|Δ| " + d);
        return d;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertNotNull(a);
        assertNotNull(b);
        return ModelVerifier.maxAbsDiff(a, b);
    }
}
