package io.github.kvpolicy.runtime;

import io.github.kvpolicy.runtime.ort.Device;
import io.github.kvpolicy.runtime.policy.PolicyFailureException;
import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.BudgetMode;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.InvalidPlanException;
import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.runtime.cache.CompactionReport;
import io.github.kvpolicy.runtime.ort.OrtDecoder;
import io.github.kvpolicy.runtime.cache.LayerBytes;
import io.github.kvpolicy.runtime.model.ModelPackage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/** The decode loop against an independent plain loop ({@link ReferenceDecoder}) on random-weights models. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GeneratorTest {
    ModelPackage.BuiltModel tiny, vlm;
    Generator gen, vlmGen;

    @BeforeAll
    void open() {
        tiny = TestModels.built("tiny", 7);
        vlm = TestModels.built("tiny-vlm", 7);
        gen = Generator.open(tiny, GeneratorConfig.defaults().withPrefillChunk(8).withIntraOpThreads(1));
        vlmGen = Generator.open(vlm, GeneratorConfig.defaults().withPrefillChunk(7).withIntraOpThreads(1));
    }

    @AfterAll
    void close() {
        gen.close();
        vlmGen.close();
    }

    static long[] tokens(long seed, int n) {
        return new Random(seed).longs(n, 3, 250).toArray();
    }

    static long[][] cells(long seed, int n) {
        Random r = new Random(seed);
        long[][] c = new long[n][];
        for (int i = 0; i < n; i++) c[i] = new long[] {r.nextInt(8), r.nextInt(8), r.nextInt(8)};
        return c;
    }

    static void assertLogits(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-5 + 1e-5 * Math.abs(want[i]), what + " logit " + i);
    }

    // ------------------------------------------------------------------------------------------------

    @Test
    void keepEverythingPolicyEqualsPlainLoopOnTextAndImage() throws Exception {
        long[] sys = tokens(1, 5), instr = tokens(2, 4);
        long[][] img = cells(3, vlm.config().visionConfig().orElseThrow().numCells());
        Prompt p = Prompt.builder().text(sys).image(img).text(instr).build();
        int maxNew = 12;
        GenerationResult r = vlmGen.generate(GenerationRequest.builder().row(p).maxNewTokens(maxNew)
                .policy(TestPolicies.keepAll(Schedule.everySteps(3)), Budget.ratio(1.0)).recordLogits(true).build());

        try (ReferenceDecoder ref = new ReferenceDecoder(vlm)) {
            int h = ref.hidden, n = p.length();
            float[] emb = new float[n * h];
            System.arraycopy(ref.embed(sys), 0, emb, 0, sys.length * h);
            System.arraycopy(ref.vision(img), 0, emb, sys.length * h, img.length * h);
            System.arraycopy(ref.embed(instr), 0, emb, (sys.length + img.length) * h, instr.length * h);
            float[] logits = ref.forward(emb, ReferenceDecoder.range(0, n));
            List<Long> want = new ArrayList<>();
            for (int t = 0; t < maxNew; t++) {
                assertLogits(logits, r.logits().get(0).get(t), "token " + t);
                int next = ReferenceDecoder.argmax(logits);
                want.add((long) next);
                if (t + 1 < maxNew) logits = ref.forward(ref.embed(next), new long[] {n + t});
            }
            assertArrayEquals(want.stream().mapToLong(Long::longValue).toArray(), r.tokens(0));
        }
        assertEquals(List.of(FinishReason.LENGTH), r.finishReasons());
        // after prefill, then after decoding steps 3, 6 and 9 (11 tokens are fed for 12 generated)
        assertEquals(List.of(0, 3, 6, 9), r.actions().stream().map(PolicyAction::decodeStep).toList());
        assertEquals(maxNew - 1, r.timings().decodeMs().size());
    }

    @Test
    void keepAllPlanChangesNothing() {
        try (GenerationSession s = gen.newSession(GenerationRequest.builder().row(Prompt.ofTokens(tokens(4, 21))).maxNewTokens(3).build())) {
            s.prefill();
            Object[] before = snapshot(s.kvCache());
            CompressionPolicy keep = TestPolicies.keepAll(Schedule.onceAfterPrefill());
            PolicyContext ctx = s.context(keep, Budget.ratio(1.0), Phase.PREFILL);
            CompactionReport rep = s.applyPlan(keep.name(), RetentionPlan.keepAll(s.cache()), ctx, BudgetMode.EXACT);
            assertEquals(rep.before(), rep.after());
            assertTrue(Arrays.deepEquals(before, snapshot(s.kvCache())), "cache bytes changed");
        }
    }

    @Test
    void subsetPlanGivesTheLogitsOfAFreshRunWithOnlyThoseKeys() throws Exception {
        long[] prompt = tokens(5, 30);
        int maxNew = 4;
        GenerationResult r = gen.generate(GenerationRequest.builder().row(Prompt.ofTokens(prompt)).maxNewTokens(maxNew)
                .policy(TestPolicies.randomSubset(Scope.ALL), Budget.ratio(0.4)).policySeed(11).recordLogits(true).build());
        PolicyAction a = r.actions().getFirst();
        RetentionPlan plan = a.plan();
        ModelShape s = gen.shape();
        // the plan really is a per-head, per-layer subset
        assertTrue(plan.totalKept() < (long) s.layers() * s.kvHeads() * prompt.length);
        assertFalse(plan.isHeadUniform(0, 0));

        try (ReferenceDecoder ref = new ReferenceDecoder(tiny)) {
            float[] logits = ref.forward(ref.embed(prompt), ReferenceDecoder.range(0, prompt.length));
            assertLogits(logits, r.logits().get(0).get(0), "prefill logits");
            int[][][] kept = new int[s.layers()][s.kvHeads()][];
            for (int l = 0; l < s.layers(); l++) for (int h = 0; h < s.kvHeads(); h++) kept[l][h] = plan.kept(0, l, h);
            ref.keepOnly(kept);
            for (int t = 0; t + 1 < maxNew; t++) {
                logits = ref.forward(ref.embed(r.tokens(0)[t]), new long[] {prompt.length + t});
                assertLogits(logits, r.logits().get(0).get(t + 1), "logits after compaction, token " + (t + 1));
            }
        }

        // KV bytes: after < before and exactly what the plan keeps (live), its largest list + reserve (allocated)
        int reserve = Math.min(gen.config().decodeReserve(), maxNew - 1);
        long floatBytes = 4L * s.headDim();
        for (int l = 0; l < s.layers(); l++) {
            LayerBytes before = a.memory().before().get(l), after = a.memory().after().get(l);
            long kept = 0;
            int maxKept = 0;
            for (int h = 0; h < s.kvHeads(); h++) {
                kept += plan.keptCount(0, l, h);
                maxKept = Math.max(maxKept, plan.keptCount(0, l, h));
            }
            assertEquals(2 * kept * floatBytes, after.liveBytes(), "layer " + l + " live bytes");
            assertEquals(2L * s.kvHeads() * (maxKept + reserve) * floatBytes, after.allocatedBytes(), "layer " + l + " allocated bytes");
            assertEquals(2L * s.kvHeads() * prompt.length * floatBytes, before.liveBytes());
            assertTrue(after.allocatedBytes() < before.allocatedBytes(), "layer " + l + ": " + before + " -> " + after);
            assertTrue(after.liveBytes() < before.liveBytes());
        }
    }

    @Test
    void probeMatchesASoftmaxOfTheExportedQueriesAndKeys() throws Exception {
        long[] prompt = tokens(6, 20);
        try (GenerationSession ses = gen.newSession(GenerationRequest.builder().row(Prompt.ofTokens(prompt)).maxNewTokens(1)
                .extraQueryWindow(QueryWindow.all()).build());
             ReferenceDecoder ref = new ReferenceDecoder(tiny)) {
            ses.prefill();
            ref.forward(ref.embed(prompt), ReferenceDecoder.range(0, prompt.length), null, ReferenceDecoder.range(0, prompt.length));
            ModelShape s = gen.shape();
            assertArrayEquals(IntStream.range(0, 20).toArray(), ses.probe().queryPositions(0));
            // evict a random subset so some keys are missing in some heads
            CompressionPolicy sub = TestPolicies.randomSubset(Scope.ALL);
            PolicyContext ctx = ses.context(sub, Budget.ratio(0.5), Phase.PREFILL);
            ses.applyPlan(sub.name(), sub.compress(ctx), ctx, sub.budgetMode());
            for (Reduction red : Reduction.values()) {
                for (HeadMapping map : HeadMapping.values()) {
                    for (AttentionQuery q : List.of(
                            new AttentionQuery(0, new int[0], new int[] {5, 12, 19}, IntStream.range(0, 20).toArray(), red, map),
                            new AttentionQuery(0, new int[] {1}, new int[] {2, 9}, new int[] {0, 1, 3, 4, 8, 9, 15}, red, map))) {
                        AttentionMap got = ses.probe().attention(q);
                        double[][][] want = directSoftmax(ref, ses.cache(), s, q);
                        for (int li = 0; li < got.layers().length; li++)
                            for (int h = 0; h < got.heads(); h++)
                                for (int j = 0; j < q.keys().length; j++)
                                    assertEquals(want[li][h][j], got.score(got.layers()[li], h, j), 1e-5, q + " layer " + got.layers()[li] + " head " + h + " key " + j);
                    }
                }
            }
        }
    }

    /** [layerIndex][head][key] in double from the reference's exported queries/keys (queries exported for every position). */
    static double[][][] directSoftmax(ReferenceDecoder ref, KvCacheView cache, ModelShape s, AttentionQuery q) {
        int[] layers = q.layers().length == 0 ? IntStream.range(0, s.layers()).toArray() : q.layers();
        int[] keys = q.keys();
        int g = s.groupSize(), d = s.headDim();
        double[][][] out = new double[layers.length][][];
        for (int li = 0; li < layers.length; li++) {
            int l = layers[li];
            double[][] per = new double[s.queryHeads()][keys.length];
            for (int h = 0; h < s.queryHeads(); h++) {
                int[] cached = cache.positions(q.row(), l, h / g);
                for (int qp : q.queries()) {
                    double[] e = new double[keys.length];
                    double z = 0, max = Double.NEGATIVE_INFINITY;
                    double[] lg = new double[keys.length];
                    for (int j = 0; j < keys.length; j++) {
                        if (keys[j] > qp || Arrays.binarySearch(cached, keys[j]) < 0) continue;
                        double dot = 0;
                        for (int x = 0; x < d; x++) dot += (double) ref.lastQueries[l][h][qp][x] * ref.lastKeys[l][h / g][keys[j]][x];
                        lg[j] = dot / Math.sqrt(d);
                        max = Math.max(max, lg[j]);
                    }
                    for (int j = 0; j < keys.length; j++) {
                        if (keys[j] > qp || Arrays.binarySearch(cached, keys[j]) < 0) continue;
                        e[j] = Math.exp(lg[j] - max);
                        z += e[j];
                    }
                    for (int j = 0; j < keys.length; j++) {
                        double p = z == 0 ? 0 : e[j] / z;
                        per[h][j] = q.reduction() == Reduction.MAX ? Math.max(per[h][j], p) : per[h][j] + p;
                    }
                }
                if (q.reduction() == Reduction.MEAN) for (int j = 0; j < keys.length; j++) per[h][j] /= q.queries().length;
            }
            if (q.heads() == HeadMapping.QUERY_HEADS) {
                out[li] = per;
                continue;
            }
            out[li] = new double[s.kvHeads()][keys.length];
            for (int kv = 0; kv < s.kvHeads(); kv++)
                for (int j = 0; j < keys.length; j++) {
                    double acc = 0;
                    for (int t = 0; t < g; t++) acc = q.heads() == HeadMapping.KV_MAX ? Math.max(acc, per[kv * g + t][j]) : acc + per[kv * g + t][j];
                    out[li][kv][j] = q.heads() == HeadMapping.KV_MEAN ? acc / g : acc;
                }
        }
        return out;
    }

    @Test
    void invalidPlanIsRefusedWithTheValidatorsMessageAndTheCacheIsUntouched() {
        CompressionPolicy bad = TestPolicies.unsorted();
        GenerationRequest req = GenerationRequest.builder().row(Prompt.ofTokens(tokens(8, 17))).maxNewTokens(3).policy(bad, Budget.ratio(1.0)).build();
        try (GenerationSession s = gen.newSession(req)) {
            s.prefill();
            Object[] before = snapshot(s.kvCache());
            PolicyContext ctx = s.context(bad, Budget.ratio(1.0), Phase.PREFILL);
            String expected = new InvalidPlanException(bad.name(), PlanValidator.violations(bad.compress(ctx), ctx, bad.budgetMode())).getMessage();
            InvalidPlanException e = assertThrows(InvalidPlanException.class, () -> s.applyPolicy(Phase.PREFILL));
            assertEquals(expected, e.getMessage());
            assertTrue(e.getMessage().startsWith("Invalid retention plan from policy 'test-unsorted': row 0, layer 0, KV head 0: positions must be strictly ascending"), e.getMessage());
            assertTrue(Arrays.deepEquals(before, snapshot(s.kvCache())), "cache changed after a refused plan");
        }
        assertThrows(InvalidPlanException.class, () -> gen.generate(req));
        PolicyFailureException f = assertThrows(PolicyFailureException.class, () -> gen.generate(
                GenerationRequest.builder().row(Prompt.ofTokens(tokens(8, 17))).maxNewTokens(3).policy(TestPolicies.throwing(), Budget.ratio(0.5)).build()));
        assertEquals("test-throwing", f.policy());
        assertTrue(f.getMessage().contains("policy 'test-throwing' failed after prefill") && f.getMessage().contains("boom"), f.getMessage());
        // the generator still works, and gives what a fresh generator gives
        GenerationRequest plain = GenerationRequest.builder().row(Prompt.ofTokens(tokens(8, 17))).maxNewTokens(5).build();
        long[] after = gen.generate(plain).tokens(0);
        try (Generator fresh = Generator.open(tiny, GeneratorConfig.defaults())) {
            assertArrayEquals(fresh.generate(plain).tokens(0), after);
        }
    }

    @Test
    void batchOfRaggedRowsEqualsEachRowAlone() {
        List<Prompt> rows = List.of(Prompt.ofTokens(tokens(9, 7)), Prompt.ofTokens(tokens(10, 19)), Prompt.ofTokens(tokens(11, 12)));
        for (CompressionPolicy policy : Arrays.asList(null, TestPolicies.keepAll(Schedule.everySteps(2)), TestPolicies.randomSubset(Scope.ALL))) {
            Budget budget = policy == null || policy.name().equals("test-keep-all") ? Budget.ratio(1.0) : Budget.ratio(0.5);
            GenerationRequest.Builder b = GenerationRequest.builder().rows(rows).maxNewTokens(6).recordLogits(true);
            if (policy != null) b.policy(policy, budget);
            GenerationResult batch = gen.generate(b.build());
            for (int r = 0; r < rows.size(); r++) {
                GenerationRequest.Builder one = GenerationRequest.builder().row(rows.get(r)).maxNewTokens(6).recordLogits(true);
                if (policy != null) one.policy(policy, budget);
                GenerationResult alone = gen.generate(one.build());
                assertArrayEquals(alone.tokens(0), batch.tokens(r), "row " + r + " with policy " + policy);
                for (int t = 0; t < alone.logits().get(0).size(); t++) assertLogits(alone.logits().get(0).get(t), batch.logits().get(r).get(t), "row " + r + " token " + t);
            }
        }
    }

    @Test
    void stopTokenEndsOnlyItsRow() {
        List<Prompt> rows = List.of(Prompt.ofTokens(tokens(12, 9)), Prompt.ofTokens(tokens(13, 14)));
        GenerationResult free = gen.generate(GenerationRequest.builder().rows(rows).maxNewTokens(6).build());
        long stop = free.tokens(0)[2];
        GenerationResult r = gen.generate(GenerationRequest.builder().rows(rows).maxNewTokens(6).stopTokens(stop).build());
        int firstStop = Arrays.stream(free.tokens(0)).boxed().toList().indexOf(stop);
        assertArrayEquals(Arrays.copyOf(free.tokens(0), firstStop), r.tokens(0));
        assertEquals(FinishReason.STOP, r.finishReasons().get(0));
        long[] row1 = free.tokens(1);
        int cut = Arrays.stream(row1).boxed().toList().indexOf(stop);
        assertArrayEquals(cut < 0 ? row1 : Arrays.copyOf(row1, cut), r.tokens(1));
    }

    @Test
    void decodingTimePoliciesKeepTheCacheBounded() {
        int sinks = 2, recent = 3, budget = 6;
        Protection prot = Protection.sinksAndRecent(sinks, recent);
        // every 4 steps: right after an action each (layer, head) holds sinks + recent + budget, then grows by one per step
        check(TestPolicies.recent(Schedule.everySteps(4), prot), sinks + recent + budget, sinks + recent + budget + 3, 4);
        // over budget + slack 2: acts once a list holds budget + 3 candidates
        check(TestPolicies.recent(Schedule.whenOverBudget(2), prot), sinks + recent + budget, sinks + recent + budget + 2, 0);
    }

    private void check(CompressionPolicy p, int afterAction, int bound, int every) {
        int maxNew = 50;
        int promptLength = 20;
        GenerationRequest req = GenerationRequest.builder().row(Prompt.ofTokens(tokens(14, promptLength))).maxNewTokens(maxNew).policy(p, Budget.count(6)).build();
        ModelShape s = gen.shape();
        int actions = 0;
        try (GenerationSession ses = gen.newSession(req)) {
            ses.prefill();
            ses.applyPolicy(Phase.PREFILL);
            assertEquals(afterAction, maxLength(ses.cache(), s));
            while (ses.step()) {
                assertTrue(maxLength(ses.cache(), s) <= bound + 1, "step " + ses.steps() + ": " + maxLength(ses.cache(), s) + " > " + (bound + 1));
                if (ses.hasActiveRows() && ses.decodeTrigger()) {
                    ses.applyPolicy(Phase.DECODE);
                    actions++;
                    if (every > 0) assertEquals(0, ses.steps() % every);
                    assertEquals(afterAction, maxLength(ses.cache(), s), "after the action at step " + ses.steps());
                    // the probe lost the generated queries of the previous window
                    assertEquals(0, ses.probe().queryPositions(0).length);
                }
            }
            assertTrue(actions >= 8, "acted " + actions + " times during decoding");
            assertEquals(maxNew, ses.result().tokens(0).length);
            // final memory is bounded by the policy, not by the generated length
            for (int l = 0; l < s.layers(); l++) {
                LayerBytes b = ses.kvCache().layerBytes(l);
                assertTrue(b.liveBytes() <= 2L * s.kvHeads() * (bound + 1) * s.headDim() * 4, "layer " + l + " " + b);
                assertTrue(b.capacity() < promptLength + maxNew / 2, "layer " + l + " " + b);
            }
        }
        // generate() applies the same schedule
        GenerationResult r = gen.generate(req);
        assertEquals(actions + 1, r.actions().size());
    }

    static int maxLength(KvCacheView c, ModelShape s) {
        int m = 0;
        for (int l = 0; l < s.layers(); l++) for (int h = 0; h < s.kvHeads(); h++) m = Math.max(m, c.length(0, l, h));
        return m;
    }

    @Test
    void cudaWithoutTheProviderFailsNamingTheAvailableOnes() {
        org.junit.jupiter.api.Assumptions.assumeFalse(ai.onnxruntime.OrtEnvironment.getAvailableProviders().contains(ai.onnxruntime.OrtProvider.CUDA),
                "CUDA is available here");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Generator.open(tiny, GeneratorConfig.defaults().withDevice(Device.CUDA)));
        assertTrue(e.getMessage().startsWith("device=cuda was requested but ONNX Runtime's CUDA execution provider is not available; available providers: ["), e.getMessage());
        assertTrue(e.getMessage().contains("CPU"), e.getMessage());
    }

    @Test
    void badRequestsNameWhatIsWrong() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> gen.generate(GenerationRequest.builder().row(Prompt.ofTokens(1, 2, 999)).build()));
        assertEquals("row 0: token id 999 is outside the vocabulary [0, 256)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> gen.generate(GenerationRequest.builder().row(Prompt.builder().text(1).image(cells(1, 16)).build()).build()));
        assertTrue(e.getMessage().contains("has no vision.onnx"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GenerationRequest.builder().row(Prompt.ofTokens(1)).policy(TestPolicies.throwing(), null).build());
        assertEquals("policy 'test-throwing' needs a budget", e.getMessage());
    }

    /** Everything observable about the cache: per layer capacity and version, per (row, layer, head) positions, keys and values. */
    static Object[] snapshot(OrtDecoder c) {
        List<Object> out = new ArrayList<>();
        ModelShape s = c.shape();
        for (int l = 0; l < s.layers(); l++) {
            out.add(c.capacity(l));
            out.add(c.version(l));
            out.add(c.read(l).mask());
            for (int r = 0; r < c.batchSize(); r++)
                for (int h = 0; h < s.kvHeads(); h++) {
                    out.add(c.positions(r, l, h));
                    float[] k = new float[c.length(r, l, h) * s.headDim()], v = new float[k.length];
                    for (int i = 0; i < c.length(r, l, h); i++) {
                        c.keys(r, l, h).copyRow(i, k, i * s.headDim());
                        c.values(r, l, h).copyRow(i, v, i * s.headDim());
                    }
                    out.add(k);
                    out.add(v);
                }
        }
        return out.toArray();
    }
}
