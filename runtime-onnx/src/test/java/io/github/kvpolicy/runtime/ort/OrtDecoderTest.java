package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.runtime.Device;
import io.github.kvpolicy.runtime.TestModels;
import io.github.kvpolicy.runtime.cache.KvCache;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.decode.PastTensors;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.probe.CpuAttentionProbe;
import io.github.kvpolicy.runtime.probe.QueryStore;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link OrtDecoder} (cache in ORT-allocated memory, IO binding, scatter/gather/probe graphs) against the Java-API path
 * ({@link ModelSessions#decode} + {@link KvCache#append} over {@link PastTensors}) on the CPU: same logits bit for
 * bit, same greedy tokens, byte-equal caches after prefill, growth and compaction, probe within 1e-6.
 */
class OrtDecoderTest {
    /** One decode path: a decoder call plus the append of its new tokens. */
    interface Path2 {
        OrtDecoder.StepOutputs step(int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex, long[] logitsIndex, int[] counts, int[][] pos);
    }

    /** The Java-API path exactly as GenerationSession drives it. */
    static final class JavaPath implements Path2, AutoCloseable {
        final ModelSessions model;
        final KvCache cache;
        final PastTensors past;

        JavaPath(ModelSessions model, int batch) {
            this.model = model;
            this.cache = new KvCache(model.shape(), batch, 1);
            this.past = new PastTensors(model.env(), cache);
        }

        @Override
        public OrtDecoder.StepOutputs step(int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex, long[] logitsIndex, int[] counts, int[][] pos) {
            ModelSessions.DecoderOutputs out = model.decode(cache.batchSize(), s, embeds, positionIds, inputMask, queryIndex, logitsIndex, past.current());
            for (int l = 0; l < model.shape().layers(); l++) cache.append(l, out.presentKeys()[l], out.presentValues()[l], s, counts, pos);
            return new OrtDecoder.StepOutputs(out.logits(), out.queries());
        }

        @Override
        public void close() {
            past.close();
            cache.close();
        }
    }

    /** What a run produced: every step's logits and the greedy tokens. */
    record Run(List<float[]> logits, List<Long> tokens) {}

    /**
     * Prefills one row's prompt embeddings in chunks (exporting the queries of {@code window} into {@code qs}), then
     * decodes {@code steps} greedy tokens.
     */
    static Run prefill(Path2 p, ModelSessions model, float[] prompt, int chunk, int[] window, QueryStore qs) {
        int hidden = model.hiddenSize(), n = prompt.length / hidden;
        List<float[]> logits = new ArrayList<>();
        float[] last = null;
        for (int c0 = 0; c0 < n; c0 += chunk) {
            int s = Math.min(chunk, n - c0);
            final int c = c0;
            long[] qidx = Arrays.stream(window).filter(x -> x >= c && x < c + s).mapToLong(x -> x - c).toArray();
            OrtDecoder.StepOutputs out = p.step(s, Arrays.copyOfRange(prompt, c0 * hidden, (c0 + s) * hidden), LongStreamRange(c0, s), new float[s], qidx,
                    new long[] {s - 1}, new int[] {s}, new int[][] {IntStream.range(c0, c0 + s).toArray()});
            for (int i = 0; i < qidx.length; i++) qs.add(0, (int) (c0 + qidx[i]), out.queries(), qidx.length, i);
            last = out.logits();
        }
        logits.add(last);
        return new Run(logits, new ArrayList<>(List.of(argmax(last))));
    }

    static void decode(Path2 p, ModelSessions model, Run run, int startPos, int steps) {
        for (int t = 0; t < steps; t++) {
            long tok = run.tokens().getLast();
            int pos = startPos + t;
            OrtDecoder.StepOutputs out = p.step(1, model.embed(new long[] {tok}, 1, 1), new long[] {pos}, new float[1], new long[0], new long[1],
                    new int[] {1}, new int[][] {{pos}});
            run.logits().add(out.logits());
            run.tokens().add(argmax(out.logits()));
        }
    }

    static long[] LongStreamRange(int from, int n) {
        long[] a = new long[n];
        for (int i = 0; i < n; i++) a[i] = from + i;
        return a;
    }

    static long argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    static void assertSameRun(Run want, Run got) {
        assertEquals(want.tokens(), got.tokens(), "greedy tokens");
        for (int i = 0; i < want.logits().size(); i++) assertArrayEquals(want.logits().get(i), got.logits().get(i), "logits of step " + i);
    }

    static void assertSameCache(KvCache want, OrtDecoder got, String when) {
        for (int l = 0; l < want.shape().layers(); l++) {
            OrtDecoder.LayerSnapshot snap = got.read(l);
            assertEquals(want.capacity(l), snap.capacity(), when + ": capacity of layer " + l);
            assertArrayEquals(array(want.keyBuffer(l)), snap.keys(), when + ": keys of layer " + l);
            assertArrayEquals(array(want.valueBuffer(l)), snap.values(), when + ": values of layer " + l);
            assertArrayEquals(array(want.maskBuffer(l)), snap.mask(), when + ": mask of layer " + l);
            for (int r = 0; r < want.batchSize(); r++) {
                for (int h = 0; h < want.shape().kvHeads(); h++) {
                    assertArrayEquals(want.positions(r, l, h), got.positions(r, l, h), when + ": positions of layer " + l + " head " + h);
                }
            }
        }
    }

    static float[] array(FloatBuffer fb) {
        float[] a = new float[fb.remaining()];
        fb.duplicate().get(a);
        return a;
    }

    /** A plan that keeps, per (layer, head), a random subset of the cached positions (different sizes per head). */
    static RetentionPlan randomPlan(KvCache cache, long seed) {
        Random rnd = new Random(seed);
        RetentionPlan.Builder b = RetentionPlan.builder(1, cache.shape().layers(), cache.shape().kvHeads());
        for (int l = 0; l < cache.shape().layers(); l++) {
            for (int h = 0; h < cache.shape().kvHeads(); h++) {
                int[] pos = cache.positions(0, l, h);
                int[] kept = Arrays.stream(pos).filter(x -> rnd.nextInt(3) > 0 || x == pos[pos.length - 1]).toArray();
                b.set(0, l, h, kept);
            }
        }
        return b.build();
    }

    /**
     * The device probe against {@link CpuAttentionProbe}: every score within {@code tolerance} (absolute). The two
     * sum {@code q·k} in different orders (ORT's MatMul vs the CPU probe's axpy loop), so scores differ by float
     * rounding, which the softmax turns into probability differences that grow with how peaked the attention is.
     */
    static void assertProbesAgree(KvCache cache, OrtDecoder dec, QueryStore qs, int promptLen, String when, float tolerance) {
        CpuAttentionProbe cpu = new CpuAttentionProbe(cache, qs);
        OrtAttentionProbe ort = new OrtAttentionProbe(dec, qs);
        int[] qpos = qs.positions(0);
        assertArrayEquals(qpos, ort.queryPositions(0));
        int[] keys = IntStream.range(0, promptLen + 3).toArray(); // includes positions never cached
        for (Reduction red : Reduction.values()) {
            for (HeadMapping hm : HeadMapping.values()) {
                AttentionQuery q = AttentionQuery.of(0, qpos, keys).withReduction(red).withHeads(hm);
                AttentionMap want = cpu.attention(q), got = ort.attention(q);
                assertArrayEquals(want.layers(), got.layers());
                double maxDiff = 0;
                for (int l : want.layers()) {
                    for (int h = 0; h < want.heads(); h++) {
                        float[] a = want.scores(l, h), b = got.scores(l, h);
                        for (int i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
                    }
                }
                assertTrue(maxDiff <= tolerance, when + " " + red + "/" + hm + ": max |device - CPU| = " + maxDiff + " > " + tolerance);
            }
        }
        AttentionQuery one = AttentionQuery.of(0, new int[] {qpos[0]}, new int[] {0, 1, qpos[0], qpos[0] + 1}).withLayers(1);
        AttentionMap want = cpu.attention(one), got = ort.attention(one);
        for (int h = 0; h < want.heads(); h++) assertArrayEquals(want.scores(1, h), got.scores(1, h), tolerance, when + " single query, layer 1");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ort.attention(AttentionQuery.of(0, new int[] {1}, keys)));
        assertTrue(e.getMessage().contains("query position 1 of row 0 is not available"), e.getMessage());
    }

    /**
     * The whole comparison on one model: prefill (chunks, query export), decode, cache bytes, probe, a random
     * compaction on both sides, cache bytes and probe again, more decoding.
     */
    static void compareOn(ModelSessions model, float[] prompt, int chunk, float probeTolerance) {
        int promptLen = prompt.length / model.hiddenSize();
        int[] window = IntStream.range(promptLen - 6, promptLen).toArray();
        QueryStore qsJava = new QueryStore(model.shape(), 1), qsOrt = new QueryStore(model.shape(), 1);
        try (JavaPath java = new JavaPath(model, 1); OrtDecoder ort = OrtDecoder.open(model, Device.CPU, 0, 1, 1, 1)) {
            Run want = prefill(java, model, prompt, chunk, window, qsJava);
            Run got = prefill(ort::step, model, prompt, chunk, window, qsOrt);
            assertSameRun(want, got);
            for (int l = 0; l < model.shape().layers(); l++) assertArrayEquals(qsJava.data(0, l), qsOrt.data(0, l), "exported queries of layer " + l);
            assertSameCache(java.cache, ort, "after prefill");
            java.cache.reserve(5);
            ort.reserve(5);
            decode(java, model, want, promptLen, 9);   // crosses the reserve: growth on both sides
            decode(ort::step, model, got, promptLen, 9);
            assertSameRun(want, got);
            assertSameCache(java.cache, ort, "after decoding");
            assertProbesAgree(java.cache, ort, qsJava, promptLen, "before compaction", probeTolerance);

            RetentionPlan plan = randomPlan(java.cache, 11);
            java.cache.compact(plan, 3);
            ort.compact(plan, 3);
            assertSameCache(java.cache, ort, "after compaction");
            assertProbesAgree(java.cache, ort, qsJava, promptLen, "after compaction", probeTolerance);
            decode(java, model, want, promptLen + 9, 6);
            decode(ort::step, model, got, promptLen + 9, 6);
            assertSameRun(want, got);
            assertSameCache(java.cache, ort, "after decoding on the compacted cache");
        }
    }

    @Test
    void matchesTheJavaApiPathOnARandomPreset() {
        ModelPackage.BuiltModel built = TestModels.built("tiny", 7);
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), false, 0, 1)) {
            long[] ids = new Random(5).longs(29, 3, 250).toArray();
            compareOn(model, model.embed(ids, 1, ids.length), 8, 1e-6f);
        }
    }

    @Test
    void matchesTheJavaApiPathOnTheTestbedModel() throws IOException {
        Path src = Path.of("..", "testbed", "model");
        Path dir = Path.of("target", "test-models", "testbed-copy").toAbsolutePath();
        Files.createDirectories(dir);
        for (String f : new String[] {"config.json", "model.safetensors", "vocab.json"}) {
            Files.copy(src.resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
        }
        ModelPackage pkg = ModelPackage.open(dir);
        ModelPackage.BuiltModel built = pkg.ensureBuilt();
        int cells = pkg.config().visionConfig().orElseThrow().numCells();
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), false, 0, 1)) {
            Random r = new Random(3);
            long[] sys = r.longs(5, 4, 54).toArray(), question = r.longs(7, 4, 54).toArray();
            long[][] img = new long[cells][];
            for (int i = 0; i < cells; i++) img[i] = new long[] {r.nextInt(4), r.nextInt(4), r.nextInt(4)};
            float[] a = model.embed(sys, 1, sys.length), v = model.vision(img), q = model.embed(question, 1, question.length);
            float[] prompt = new float[a.length + v.length + q.length];
            System.arraycopy(a, 0, prompt, 0, a.length);
            System.arraycopy(v, 0, prompt, a.length, v.length);
            System.arraycopy(q, 0, prompt, a.length + v.length, q.length);
            // the trained model's attention is peaked: measured max |device - CPU| 1.25e-6 (a sum of 6 probabilities)
            // and 1.19e-6 (a single probability), from the q·k summation order; 1e-6 holds on the random preset
            compareOn(model, prompt, 16, 2e-6f);
        }
    }

    @Test
    void refusesBadInputWithOneClearLine() {
        ModelPackage.BuiltModel built = TestModels.built("tiny", 7);
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), false, 0, 1);
             OrtDecoder ort = OrtDecoder.open(model, Device.CPU, 0, 1, 1, 4)) {
            int hidden = model.hiddenSize();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ort.step(2, new float[hidden], new long[2], new float[2], new long[0], new long[1], new int[] {2}, new int[][] {{0, 1}}));
            assertTrue(e.getMessage().startsWith("embeds hold " + hidden + " floats, expected [B=1, S=2"), e.getMessage());
            ort.step(1, new float[hidden], new long[] {0}, new float[1], new long[0], new long[1], new int[] {1}, new int[][] {{5}});
            e = assertThrows(IllegalArgumentException.class,
                    () -> ort.step(1, new float[hidden], new long[] {0}, new float[1], new long[0], new long[1], new int[] {1}, new int[][] {{5}}));
            assertEquals("row 0: new position 5 does not follow 5 (positions must be strictly ascending)", e.getMessage());
            RetentionPlan bad = RetentionPlan.builder(1, 2, 2).setLayer(0, 0, new int[] {4}).setLayer(0, 1, new int[] {5}).build();
            e = assertThrows(IllegalArgumentException.class, () -> ort.compact(bad, 0));
            assertEquals("row 0, layer 0, KV head 0: position 4 is not cached", e.getMessage());
            assertEquals(1, ort.length(0, 0, 0), "a refused plan changes nothing");
        }
    }
}
