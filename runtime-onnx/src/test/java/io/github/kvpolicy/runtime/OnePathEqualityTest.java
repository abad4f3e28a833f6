package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.runtime.cache.CompactionReport;
import io.github.kvpolicy.runtime.cache.KvCache;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.verify.ModelVerifier;
import io.github.kvpolicy.runtime.model.verify.ReferenceFile;
import io.github.kvpolicy.runtime.ort.OrtDecoder;
import io.github.kvpolicy.runtime.probe.CpuAttentionProbe;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The one decode path ({@link GenerationSession} over {@code OrtDecoder}) against the host reference path
 * ({@link KvCache} + {@link ModelSessions#decode}, {@link HostReferencePath}) on every model family the runtime
 * supports: the random presets (text, grid VLM, a ragged batch of two), the testbed model, Gemma 3 (sliding-window
 * layer, bidirectional image, {@code past_position}/{@code image_group}) and Qwen2-VL (M-RoPE offsets). Over prefill
 * and 21 decoding steps, with and without a compaction at step 7, every logit is bit-equal (both paths run the same
 * graph on the same CPU provider over byte-equal caches); the cache positions and memory accounting agree; and the
 * resident probe ({@code OrtAttentionProbe}) agrees with the CPU probe over the reference cache within 1e-5,
 * including Gemma 3's window and image masking. Also: the session's decoder is the only cache it has, and a fork
 * continues exactly like the session it was forked from.
 */
class OnePathEqualityTest {
    static final int MAX_NEW = 22, COMPACT_AT = 7;

    @TempDir
    static Path tmp;

    /** One model to compare on: the generator, its prompt rows and the probe masking of the reference. */
    record Case(String name, Generator gen, List<Prompt> rows) {}

    @ParameterizedTest(name = "{0}, compaction {1}")
    @org.junit.jupiter.params.provider.CsvSource({"tiny,false", "tiny,true", "tiny-vlm,false", "tiny-vlm,true", "tiny-batch,false", "tiny-batch,true",
            "testbed,false", "testbed,true", "gemma3,false", "gemma3,true", "qwen2_vl,false", "qwen2_vl,true"})
    void logitsAreBitEqualToTheHostReferencePath(String model, boolean compact) throws IOException {
        Case c = open(model);
        try (Generator gen = c.gen()) {
            compare(c, compact);
        }
    }

    private static void compare(Case c, boolean compact) {
        Generator gen = c.gen();
        GenerationRequest.Builder rb = GenerationRequest.builder().maxNewTokens(MAX_NEW).recordLogits(true).extraQueryWindow(QueryWindow.last(3));
        for (Prompt p : c.rows()) rb.row(p);
        GenerationRequest req = rb.build();
        int batch = req.batchSize();
        CompressionPolicy policy = TestPolicies.randomSubset(Scope.ALL);
        RetentionPlan plan = null;
        int reserveAtCompaction = -1;
        GenerationResult result;
        CompactionReport sessionReport = null;
        try (GenerationSession s = gen.newSession(req)) {
            s.prefill();
            // the probe right after prefill: resident vs the CPU probe over a reference cache (checked below)
            while (s.hasActiveRows()) {
                if (compact && s.steps() == COMPACT_AT) {
                    PolicyContext ctx = s.context(policy, Budget.ratio(0.4), Phase.DECODE);
                    plan = policy.compress(ctx);
                    reserveAtCompaction = Math.min(gen.config().decodeReserve(), Math.max(0, MAX_NEW - 1 - s.steps()));
                    sessionReport = s.applyPlan(policy.name(), plan, ctx, policy.budgetMode());
                    assertTrue(sessionReport.after().stream().mapToLong(b -> b.liveBytes()).sum()
                            < sessionReport.before().stream().mapToLong(b -> b.liveBytes()).sum(), c.name() + ": the plan evicts");
                }
                if (!s.step()) break;
            }
            result = s.result();
            assertEquals(MAX_NEW - 1, s.steps());
        }
        try (HostReferencePath ref = new HostReferencePath(gen.sessions(), req)) {
            float[][] logits = ref.prefill(gen.config().prefillChunk(), gen.config().decodeReserve(), MAX_NEW);
            for (int t = 0; t < MAX_NEW; t++) {
                for (int r = 0; r < batch; r++) {
                    assertArrayEquals(logits[r], result.logits().get(r).get(t), c.name() + ": row " + r + ", logits of token " + t);
                }
                if (t + 1 == MAX_NEW) break;
                if (plan != null && t == COMPACT_AT) {
                    CompactionReport refReport = ref.compact(plan, reserveAtCompaction);
                    assertEquals(refReport, sessionReport, c.name() + ": compaction reports");
                }
                long[] feed = new long[batch];
                for (int r = 0; r < batch; r++) feed[r] = result.tokens(r)[t];
                logits = ref.step(feed);
            }
            assertEquals(ref.cache.layerBytes(), result.finalMemory(), c.name() + ": final KV memory");
        }
    }

    /** The resident probe with the model's masking equals the CPU probe over the reference cache, after prefill and after a compaction. */
    @ParameterizedTest
    @ValueSource(strings = {"tiny-vlm", "gemma3"})
    void residentProbeEqualsTheCpuProbe(String model) throws IOException {
        Case c = open(model);
        try (Generator gen = c.gen()) {
            GenerationRequest.Builder rb = GenerationRequest.builder().maxNewTokens(4).extraQueryWindow(QueryWindow.all());
            for (Prompt p : c.rows()) rb.row(p);
            GenerationRequest req = rb.build();
            ModelSessions ms = gen.sessions();
            try (GenerationSession s = gen.newSession(req); HostReferencePath ref = new HostReferencePath(ms, req)) {
                s.prefill();
                ref.prefill(gen.config().prefillChunk(), gen.config().decodeReserve(), 4);
                CpuAttentionProbe cpu = new CpuAttentionProbe(ref.cache, s.queries(), CpuAttentionProbe.Kernel.AXPY, masking(ms, req));
                checkProbe(c.name() + " after prefill", s, cpu);
                PolicyContext ctx = s.context(TestPolicies.randomSubset(Scope.ALL), Budget.ratio(0.3), Phase.PREFILL);
                RetentionPlan plan = TestPolicies.randomSubset(Scope.ALL).compress(ctx);
                s.applyPlan("test-random-subset", plan, ctx, io.github.kvpolicy.api.BudgetMode.AT_MOST);
                ref.compact(plan, Math.min(gen.config().decodeReserve(), 3));
                checkProbe(c.name() + " after compaction", s, cpu);
            }
        }
    }

    private static void checkProbe(String what, GenerationSession s, CpuAttentionProbe cpu) {
        int[] q = s.probe().queryPositions(0);
        int len = s.sequenceLengths()[0];
        int[] keys = IntStream.range(0, len).toArray();
        for (Reduction red : Reduction.values()) {
            for (HeadMapping hm : HeadMapping.values()) {
                AttentionQuery aq = AttentionQuery.of(0, q, keys).withReduction(red).withHeads(hm);
                AttentionMap a = s.probe().attention(aq), b = cpu.attention(aq);
                double worst = 0;
                for (int l : a.layers()) {
                    for (int h = 0; h < a.heads(); h++) {
                        float[] x = a.scores(l, h), y = b.scores(l, h);
                        for (int k = 0; k < x.length; k++) worst = Math.max(worst, Math.abs(x[k] - y[k]));
                    }
                }
                assertTrue(worst < 1e-5, what + ", " + red + "/" + hm + ": probe max|Δ| " + worst);
            }
        }
    }

    private static CpuAttentionProbe.Masking masking(ModelSessions ms, GenerationRequest req) {
        if (!ms.hasWindowedLayers() && !ms.takesImageGroups() && !ms.declaresAttentionScale()) return CpuAttentionProbe.Masking.CAUSAL;
        int[] w = new int[ms.shape().layers()];
        for (int l = 0; l < w.length; l++) w[l] = ms.window(l);
        long[][] groups = null;
        if (ms.takesImageGroups()) {
            groups = new long[req.batchSize()][];
            for (int r = 0; r < groups.length; r++) {
                Prompt p = req.rows().get(r);
                groups[r] = new long[p.length()];
                int i = 0, next = 0;
                for (Prompt.Segment seg : p.segments()) {
                    int id = seg.tokenIds() == null ? next++ : -1;
                    for (int j = 0; j < seg.length(); j++) groups[r][i++] = id;
                }
            }
        }
        return new CpuAttentionProbe.Masking(ms.attentionScale(), w, groups);
    }

    /**
     * A fork taken mid-decoding (no policy) continues with the same logits, token for token, as the session it was
     * forked from; on Gemma 3 the copy includes the sliding-window layers' device-resident slot positions.
     */
    @ParameterizedTest
    @ValueSource(strings = {"tiny-vlm", "gemma3"})
    void aForkContinuesExactlyLikeItsOrigin(String model) throws IOException {
        Case c = open(model);
        try (Generator gen = c.gen()) {
            GenerationRequest req = GenerationRequest.builder().row(c.rows().getFirst()).maxNewTokens(16).recordLogits(true).build();
            try (GenerationSession s = gen.newSession(req)) {
                s.prefill();
                for (int i = 0; i < 5; i++) assertTrue(s.step());
                GenerationResult forked;
                try (GenerationSession f = s.fork(null, null)) {
                    assertEquals(s.kvCache().layerBytes(), f.kvCache().layerBytes());
                    forked = f.runToEnd();
                }
                GenerationResult original = s.runToEnd();
                assertArrayEquals(original.tokens(0), forked.tokens(0));
                assertEquals(original.logits().get(0).size(), forked.logits().get(0).size());
                for (int t = 0; t < original.logits().get(0).size(); t++) {
                    assertArrayEquals(original.logits().get(0).get(t), forked.logits().get(0).get(t), "token " + t);
                }
            }
        }
    }

    /** The session's cache is the resident decoder; neither the session nor the generator holds or returns a host cache. */
    @Test
    void generationSessionHasOneDecodePath() throws IOException {
        Case c = open("tiny");
        try (Generator gen = c.gen(); GenerationSession s = gen.newSession(GenerationRequest.builder().row(c.rows().getFirst()).maxNewTokens(2).build())) {
            assertTrue(s.kvCache() instanceof OrtDecoder);
        }
        for (Class<?> cls : List.of(GenerationSession.class, Generator.class)) {
            for (java.lang.reflect.Field f : cls.getDeclaredFields()) {
                assertFalse(f.getType() == KvCache.class || f.getType().getName().endsWith(".PastTensors"), cls.getSimpleName() + "." + f.getName() + " holds a host cache");
            }
        }
        // the calls (ModelSessions.decode) are covered by the ONE_DECODE_PATH ArchUnit rule in cli's ArchitectureTest
        for (java.lang.reflect.Method m : GenerationSession.class.getDeclaredMethods()) {
            assertFalse(m.getReturnType() == KvCache.class, "GenerationSession." + m.getName() + " returns the host cache");
        }
    }

    // ------------------------------------------------------------------ the models

    static Case open(String name) throws IOException {
        GeneratorConfig cfg = GeneratorConfig.defaults().withIntraOpThreads(1).withPrefillChunk(7);
        return switch (name) {
            case "tiny" -> new Case(name, Generator.open(TestModels.built("tiny", 7), cfg), List.of(Prompt.ofTokens(GeneratorTest.tokens(11, 19))));
            case "tiny-batch" -> new Case(name, Generator.open(TestModels.built("tiny", 7), cfg),
                    List.of(Prompt.ofTokens(GeneratorTest.tokens(12, 23)), Prompt.ofTokens(GeneratorTest.tokens(13, 9))));
            case "tiny-vlm" -> {
                ModelPackage.BuiltModel built = TestModels.built("tiny-vlm", 7);
                yield new Case(name, Generator.open(built, cfg), List.of(Prompt.builder().text(GeneratorTest.tokens(3, 5)).image(GeneratorTest.cells(4, 16))
                        .text(GeneratorTest.tokens(5, 6)).build()));
            }
            case "testbed" -> {
                Path tb = Path.of("..", "testbed", "model");
                Assumptions.assumeTrue(Files.isRegularFile(tb.resolve("model.safetensors")), "the testbed model is not trained here");
                Path copy = TestModels.testbedCopy(tmp.resolve("testbed"));
                ModelPackage pkg = ModelPackage.open(copy);
                int cells = pkg.config().visionConfig().orElseThrow().numCells();
                Generator g = Generator.open(pkg, cfg.withPrefillChunk(64));
                java.util.Random r = new java.util.Random(3);
                long[][] img = new long[cells][];
                for (int i = 0; i < cells; i++) img[i] = new long[] {r.nextInt(4), r.nextInt(4), r.nextInt(4)};
                long[] text = r.longs(12, 4, g.vocabSize()).toArray();
                yield new Case(name, g, List.of(Prompt.builder().image(img).text(text).build()));
            }
            case "gemma3", "qwen2_vl" -> {
                Path dir = Files.createDirectories(tmp.resolve(name));
                for (String f : List.of("config.json", "generation_config.json", "model.safetensors", "reference.safetensors")) {
                    try (InputStream in = OnePathEqualityTest.class.getResourceAsStream("/hf/" + name + "/" + f)) {
                        Files.write(dir.resolve(f), in.readAllBytes());
                    }
                }
                ModelPackage pkg = ModelPackage.open(dir);
                ModelConfig mc = pkg.config();
                // chunk 6 splits Gemma 3's image (positions 4..7), so the chunk end moves
                Generator g = Generator.open(pkg, cfg.withPrefillChunk(6));
                ReferenceFile ref = ReferenceFile.read(dir.resolve("reference.safetensors"));
                long[] ids = ref.longs("input_ids");
                float[][] image = ModelVerifier.imageEmbeddings(g.sessions(), mc, ref, ids);
                long[][] offsets = ModelVerifier.ropeOffsets(mc, ref, ids);
                assertEquals(name.equals("qwen2_vl"), offsets != null, name + ": M-RoPE offsets");
                assertEquals(name.equals("gemma3"), g.sessions().hasWindowedLayers() && g.sessions().takesImageGroups(), name + ": Gemma 3 inputs");
                yield new Case(name, g, List.of(ModelVerifier.prompt(mc, ids, image, offsets)));
            }
            default -> throw new IllegalArgumentException(name);
        };
    }
}
