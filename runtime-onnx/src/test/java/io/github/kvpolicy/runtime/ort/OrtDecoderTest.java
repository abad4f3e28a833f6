package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.runtime.TestModels;
import io.github.kvpolicy.runtime.cache.KvCache;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.decode.PastTensors;
import io.github.kvpolicy.runtime.probe.QueryStore;
import io.github.kvpolicy.runtime.model.ModelPackage;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link OrtDecoder} (cache in ORT-allocated memory, IO binding, scatter/gather/probe graphs) against the Java-API path
 * on the CPU through {@link OrtCrossCheck}: same logits bit for bit, same greedy tokens, bit-equal caches after
 * prefill, growth and compaction (the compaction is {@code KvCache.compact}'s, byte for byte), probe within 1e-6
 * (random preset) / 2e-6 (trained testbed model).
 */
class OrtDecoderTest {
    static final Device DEVICE = Device.CPU;

    @Test
    void matchesTheJavaApiPathOnARandomPreset() {
        ModelPackage.BuiltModel built = TestModels.built("tiny", 7);
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), false, 0, 1)) {
            long[] ids = new Random(5).longs(29, 3, 250).toArray();
            OrtCrossCheck.Result r = OrtCrossCheck.run(model, DEVICE, 1, model.embed(ids, 1, ids.length), 8, OrtCrossCheck.Tolerances.exact(1e-6f));
            assertEquals(16, r.tokens().size());
            assertEquals(0.0, r.maxLogitsDiff());
            assertEquals(0.0, r.maxCacheDiff());
            assertEquals(4 * 2, r.cacheCompares(), "4 cache comparisons × 2 layers");
            assertEquals(2 * (3 * 4 + 1), r.probeCompares(), "every reduction × head mapping + one single query, before and after compaction");
        }
    }

    @Test
    void matchesTheJavaApiPathOnTheTestbedModel() throws IOException {
        Path dir = io.github.kvpolicy.runtime.TestModels.testbedCopy(io.github.kvpolicy.runtime.TestModels.dir("testbed-copy"));
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
            OrtCrossCheck.Result res = OrtCrossCheck.run(model, DEVICE, 1, prompt, 16, OrtCrossCheck.Tolerances.exact(2e-6f));
            assertTrue(res.maxProbeDiff() > 0, "the probe is computed on the device, not copied from the CPU probe");
        }
    }

    @Test
    void theCrossCheckSeesADifferentCache() {
        ModelPackage.BuiltModel built = TestModels.built("tiny", 7);
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), false, 0, 1);
             OrtCrossCheck.JavaPath java = new OrtCrossCheck.JavaPath(model, 1); OrtDecoder ort = OrtDecoder.open(model, DEVICE, 0, 1, 1, 1)) {
            float[] e = model.embed(new long[] {5, 6, 7, 8}, 1, 4);
            java.step(4, e, new long[] {0, 1, 2, 3}, new float[4], new long[0], new long[] {3}, new int[] {4}, new int[][] {{0, 1, 2, 3}});
            e[0] += 1; // one input value differs
            ort.step(4, e, new long[] {0, 1, 2, 3}, new float[4], new long[0], new long[] {3}, new int[] {4}, new int[][] {{0, 1, 2, 3}});
            IllegalStateException x = assertThrows(IllegalStateException.class,
                    () -> OrtCrossCheck.sameCache(java.cache, ort, new OrtCrossCheck.Tracker(OrtCrossCheck.Tolerances.exact(1e-6f)), "test"));
            assertTrue(x.getMessage().startsWith("test: keys of layer 0 differ at index 0: expected "), x.getMessage());
        }
    }

    @Test
    void refusesBadInputWithOneClearLine() {
        ModelPackage.BuiltModel built = TestModels.built("tiny", 7);
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), false, 0, 1);
             OrtDecoder ort = OrtDecoder.open(model, DEVICE, 0, 1, 1, 4)) {
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
            ort.close();
            IllegalStateException closed = assertThrows(IllegalStateException.class, () -> ort.length(0, 0, 0));
            assertEquals("the ORT decoder was closed", closed.getMessage());
        }
    }

    /**
     * Two rows of different prompt lengths (padding in the chunks, as GenerationSession batches them): the resident
     * path writes the padding tokens' K/V into masked slots and may grow a layer further than KvCache, so the past
     * length the decoder sees can differ; masked slots contribute exactly 0 to the softmax, so logits agree to float
     * rounding and the greedy tokens are equal.
     */
    @Test
    void raggedBatchGivesTheSameTokens() {
        ModelPackage.BuiltModel built = TestModels.built("tiny", 7);
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), false, 0, 1);
             OrtCrossCheck.JavaPath java = new OrtCrossCheck.JavaPath(model, 2); OrtDecoder ort = OrtDecoder.open(model, DEVICE, 0, 1, 2, 1)) {
            int hidden = model.hiddenSize(), chunk = 8;
            int[] len = {21, 12};
            long[][] ids = {new Random(1).longs(len[0], 3, 250).toArray(), new Random(2).longs(len[1], 3, 250).toArray()};
            long[][] next = new long[2][];
            for (OrtCrossCheck.Stepper p : new OrtCrossCheck.Stepper[] {java, ort::step}) {
                float[][] lastLogits = new float[2][];
                for (int c0 = 0; c0 < len[0]; c0 += chunk) {
                    int s = Math.min(chunk, len[0] - c0);
                    float[] emb = new float[2 * s * hidden], mask = new float[2 * s];
                    long[] pos = new long[2 * s], li = new long[2];
                    int[] counts = new int[2];
                    int[][] kept = new int[2][];
                    for (int r = 0; r < 2; r++) {
                        counts[r] = Math.max(0, Math.min(s, len[r] - c0));
                        kept[r] = new int[counts[r]];
                        for (int i = 0; i < s; i++) {
                            pos[r * s + i] = c0 + i;
                            if (i < counts[r]) kept[r][i] = c0 + i;
                            else mask[r * s + i] = KvCache.MASKED;
                        }
                        if (counts[r] > 0) System.arraycopy(model.embed(Arrays.copyOfRange(ids[r], c0, c0 + counts[r]), 1, counts[r]), 0, emb, r * s * hidden, counts[r] * hidden);
                        int last = len[r] - 1 - c0;
                        li[r] = last >= 0 && last < s ? last : 0;
                    }
                    float[] logits = p.step(s, emb, pos, mask, new long[0], li, counts, kept).logits();
                    for (int r = 0; r < 2; r++) {
                        int last = len[r] - 1 - c0;
                        if (last >= 0 && last < s) lastLogits[r] = Arrays.copyOfRange(logits, r * 256, (r + 1) * 256);
                    }
                }
                long[] tok = {OrtCrossCheck.argmax(lastLogits[0]), OrtCrossCheck.argmax(lastLogits[1])};
                long[] out = new long[2 * 7];
                for (int t = 0; t < 7; t++) {
                    out[2 * t] = tok[0];
                    out[2 * t + 1] = tok[1];
                    float[] emb = new float[2 * hidden];
                    for (int r = 0; r < 2; r++) System.arraycopy(model.embed(new long[] {tok[r]}, 1, 1), 0, emb, r * hidden, hidden);
                    float[] logits = p.step(1, emb, new long[] {len[0] + t, len[1] + t}, new float[2], new long[0], new long[2], new int[] {1, 1},
                            new int[][] {{len[0] + t}, {len[1] + t}}).logits();
                    for (int r = 0; r < 2; r++) tok[r] = OrtCrossCheck.argmax(Arrays.copyOfRange(logits, r * 256, (r + 1) * 256));
                }
                next[p == java ? 0 : 1] = out;
            }
            assertArrayEquals(next[0], next[1], "greedy tokens of both rows, interleaved");
            for (int l = 0; l < 2; l++) {
                for (int r = 0; r < 2; r++) {
                    for (int h = 0; h < 2; h++) assertArrayEquals(java.cache.positions(r, l, h), ort.positions(r, l, h));
                }
            }
        }
    }


    /**
     * {@link OrtDecoder#copy} forks like {@code KvCache.copy}: after prefill, the copy decodes a different continuation
     * bit-equal to a forked Java-API path, the original is unaffected, and the shared sessions outlive the original.
     */
    @Test
    void copyForksLikeKvCacheCopy() {
        ModelPackage.BuiltModel built = TestModels.built("tiny", 7);
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), false, 0, 1)) {
            long[] ids = new Random(9).longs(19, 3, 250).toArray();
            float[] prompt = model.embed(ids, 1, ids.length);
            QueryStore qs = new QueryStore(model.shape(), 1);
            OrtCrossCheck.JavaPath java = new OrtCrossCheck.JavaPath(model, 1);
            OrtDecoder ort = OrtDecoder.open(model, DEVICE, 0, 1, 1, 1);
            List<float[]> jl = new ArrayList<>(), ol = new ArrayList<>();
            List<Long> jt = OrtCrossCheck.prefill(java, model, prompt, 8, new int[0], qs, jl);
            List<Long> ot = OrtCrossCheck.prefill(ort::step, model, prompt, 8, new int[0], qs, ol);
            assertEquals(jt, ot);
            KvCache javaCopy = java.cache.copy();
            try (PastTensors past = new PastTensors(model.env(), javaCopy); OrtDecoder ortCopy = ort.copy()) {
                OrtCrossCheck.sameCache(javaCopy, ortCopy, new OrtCrossCheck.Tracker(OrtCrossCheck.Tolerances.exact(1e-6f)), "fresh copy");
                OrtCrossCheck.Stepper javaFork = (s, e, p, m, q, li, c, pos) -> {
                    ModelSessions.DecoderOutputs out = model.decode(1, s, e, p, m, q, li, past.current());
                    for (int l = 0; l < model.shape().layers(); l++) javaCopy.append(l, out.presentKeys()[l], out.presentValues()[l], s, c, pos);
                    return new OrtDecoder.StepOutputs(out.logits(), out.queries());
                };
                List<Long> jf = new ArrayList<>(List.of(7L)), of = new ArrayList<>(List.of(7L)); // a different continuation
                OrtCrossCheck.decode(javaFork, model, jf, new ArrayList<>(), ids.length, 5);
                OrtCrossCheck.decode(ortCopy::step, model, of, new ArrayList<>(), ids.length, 5);
                assertEquals(jf, of, "tokens of the forks");
                OrtCrossCheck.sameCache(javaCopy, ortCopy, new OrtCrossCheck.Tracker(OrtCrossCheck.Tolerances.exact(1e-6f)), "fork after decoding");
                // the originals are untouched by the fork, and the copy keeps working after the original is closed
                OrtCrossCheck.sameCache(java.cache, ort, new OrtCrossCheck.Tracker(OrtCrossCheck.Tolerances.exact(1e-6f)), "original after the fork decoded");
                ort.close();
                java.close();
                OrtCrossCheck.decode(javaFork, model, jf, new ArrayList<>(), ids.length + 5, 3);
                OrtCrossCheck.decode(ortCopy::step, model, of, new ArrayList<>(), ids.length + 5, 3);
                assertEquals(jf, of, "tokens of the forks after the originals were closed");
            } finally {
                javaCopy.close();
                ort.close();
                java.close();
            }
        }
    }


    /**
     * What a step uploads does not grow with the cache: on Gemma 3 (sliding-window layers, whose slot positions
     * were once rebuilt on the host and uploaded every call) the bytes bound from host memory for a one-token step
     * are the same with 20 and with 220 cached tokens, and are exactly the documented {@code O(B·S)} inputs.
     */
    @Test
    void aStepUploadsTheSameBytesWhateverTheCacheLength() throws IOException {
        Path dir = Files.createDirectories(TestModels.dir("gemma3-uploads"));
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors")) {
            try (var in = OrtDecoderTest.class.getResourceAsStream("/hf/gemma3/" + f)) {
                Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
        ModelPackage.BuiltModel built = ModelPackage.open(dir).ensureBuilt();
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), false, 0, 1); OrtDecoder ort = OrtDecoder.open(model, DEVICE, 0, 1, 1, 1)) {
            assertTrue(model.hasWindowedLayers() && model.takesImageGroups(), "Gemma 3 has sliding-window layers and image groups");
            int layers = model.shape().layers(), hkv = model.shape().kvHeads();
            long expected = 4L * model.hiddenSize() + 8 + 4 + 8 + 8   // embeds, position id, input mask, logits index, image group
                    + (24L + 4 + 8) * hkv                              // source slots, mask values, positions of the new K/V heads
                    + 24L * hkv * layers;                              // destination slots per layer
            Random r = new Random(11);
            ort.reserve(240);
            List<Long> perStep = new ArrayList<>();
            for (int pos = 0; pos < 221; pos++) {
                long before = ort.uploadedBytes();
                long[] id = {3 + r.nextInt(200)};
                ort.step(1, model.embed(id, 1, 1), new long[] {pos}, new float[1], new long[0], new long[] {0}, new int[] {1}, new int[][] {{pos}});
                perStep.add(ort.uploadedBytes() - before);
            }
            assertEquals(240, ort.capacity(0), "no growth while measuring");
            assertEquals(expected, perStep.get(20), "bytes uploaded by the step at 20 cached tokens");
            assertEquals(expected, perStep.get(220), "bytes uploaded by the step at 220 cached tokens");
            long before = ort.uploadedBytes();
            ort.reserve(400);
            assertEquals(12L * hkv * (220 + 1 + 400) * layers, ort.uploadedBytes() - before, "a re-allocation uploads its slot map (i64 index + f32 mask per slot)");
        }
    }
}
