package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionProbe;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.runtime.cache.KvCache;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.decode.PastTensors;
import io.github.kvpolicy.runtime.probe.CpuAttentionProbe;
import io.github.kvpolicy.runtime.probe.QueryStore;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * The resident path ({@link OrtDecoder}, {@link OrtAttentionProbe}) checked against the Java-API path
 * ({@link ModelSessions#decode} + {@link KvCache#append} over {@link PastTensors}, {@link CpuAttentionProbe}) on one
 * model and prompt: prefill in chunks with query export, greedy decoding across a growth, the cache read back and
 * compared, the probe compared for every reduction and head mapping, a random compaction applied to both and
 * compared, more decoding. Used by the tests on the CPU (exact logits and caches) and by {@code scripts/gpu-check.sh}
 * on CUDA (with tolerances). A mismatch throws {@link IllegalStateException} naming what differed and by how much.
 */
public final class OrtCrossCheck {
    /**
     * Tolerances: {@code logits} and {@code cache} absolute (0 = bit-equal), {@code probe} absolute on every score.
     * The greedy tokens must always be equal.
     */
    public record Tolerances(float logits, float cache, float probe) {
        public static Tolerances exact(float probe) {
            return new Tolerances(0f, 0f, probe);
        }
    }

    /** What was compared and the largest differences seen. */
    public record Result(List<Long> tokens, double maxLogitsDiff, double maxCacheDiff, double maxProbeDiff, int cacheCompares, int probeCompares) {}

    private OrtCrossCheck() {}

    /** One decode path: a decoder call plus the append of its new tokens. */
    interface Stepper {
        OrtDecoder.StepOutputs step(int s, float[] embeds, long[] positionIds, float[] inputMask, long[] queryIndex, long[] logitsIndex, int[] counts, int[][] pos);
    }

    /** The Java-API path as GenerationSession drives it. */
    static final class JavaPath implements Stepper, AutoCloseable {
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

    static final class Tracker {
        final Tolerances tol;
        double logits, cache, probe;
        int cacheCompares, probeCompares;

        Tracker(Tolerances tol) {
            this.tol = tol;
        }
    }

    /**
     * Runs the whole comparison for one row.
     *
     * @param model  the Java-API sessions (their device is the reference path's device); also serves the embeddings
     * @param device the resident decoder's device
     * @param prompt the prompt's embeddings {@code [n, H]}
     * @param chunk  prefill chunk
     * @throws IllegalStateException on the first difference beyond the tolerances
     */
    public static Result run(ModelSessions model, Device device, int threads, float[] prompt, int chunk, Tolerances tol) {
        int promptLen = prompt.length / model.hiddenSize();
        if (promptLen < 8) throw new IllegalArgumentException("the cross-check needs a prompt of at least 8 tokens, got " + promptLen);
        int[] window = IntStream.range(promptLen - 6, promptLen).toArray();
        QueryStore qsJava = new QueryStore(model.shape(), 1), qsOrt = new QueryStore(model.shape(), 1);
        Tracker t = new Tracker(tol);
        try (JavaPath java = new JavaPath(model, 1); OrtDecoder ort = OrtDecoder.open(model, device, 0, threads, 1, 1)) {
            List<float[]> wantLogits = new ArrayList<>(), gotLogits = new ArrayList<>();
            List<Long> want = prefill(java, model, prompt, chunk, window, qsJava, wantLogits);
            List<Long> got = prefill(ort::step, model, prompt, chunk, window, qsOrt, gotLogits);
            sameRun(want, got, wantLogits, gotLogits, t, "prefill");
            for (int l = 0; l < model.shape().layers(); l++) {
                t.logits = Math.max(t.logits, within(qsJava.data(0, l), qsOrt.data(0, l), tol.logits(), "exported queries of layer " + l));
            }
            sameCache(java.cache, ort, t, "after prefill");
            java.cache.reserve(5);
            ort.reserve(5);
            decode(java, model, want, wantLogits, promptLen, 9);   // crosses the reserve: growth on both sides
            decode(ort::step, model, got, gotLogits, promptLen, 9);
            sameRun(want, got, wantLogits, gotLogits, t, "decoding");
            sameCache(java.cache, ort, t, "after decoding");
            sameProbe(new CpuAttentionProbe(java.cache, qsJava), new OrtAttentionProbe(ort, qsJava), qsJava, promptLen, t, "before compaction");

            RetentionPlan plan = randomPlan(java.cache, 11);
            var javaReport = java.cache.compact(plan, 3);
            var ortReport = ort.compact(plan, 3);
            if (!javaReport.equals(ortReport)) throw new IllegalStateException("compaction reports differ: KvCache " + javaReport + ", resident " + ortReport);
            sameCache(java.cache, ort, t, "after compaction");
            sameProbe(new CpuAttentionProbe(java.cache, qsJava), new OrtAttentionProbe(ort, qsJava), qsJava, promptLen, t, "after compaction");
            decode(java, model, want, wantLogits, promptLen + 9, 6);
            decode(ort::step, model, got, gotLogits, promptLen + 9, 6);
            sameRun(want, got, wantLogits, gotLogits, t, "decoding on the compacted cache");
            sameCache(java.cache, ort, t, "after decoding on the compacted cache");
            return new Result(List.copyOf(want), t.logits, t.cache, t.probe, t.cacheCompares, t.probeCompares);
        }
    }

    static List<Long> prefill(Stepper p, ModelSessions model, float[] prompt, int chunk, int[] window, QueryStore qs, List<float[]> logits) {
        int hidden = model.hiddenSize(), n = prompt.length / hidden;
        float[] last = null;
        for (int c0 = 0; c0 < n; c0 += chunk) {
            int s = Math.min(chunk, n - c0);
            final int c = c0;
            long[] qidx = Arrays.stream(window).filter(x -> x >= c && x < c + s).mapToLong(x -> x - c).toArray();
            long[] pos = new long[s];
            for (int i = 0; i < s; i++) pos[i] = c0 + i;
            OrtDecoder.StepOutputs out = p.step(s, Arrays.copyOfRange(prompt, c0 * hidden, (c0 + s) * hidden), pos, new float[s], qidx,
                    new long[] {s - 1}, new int[] {s}, new int[][] {IntStream.range(c0, c0 + s).toArray()});
            for (int i = 0; i < qidx.length; i++) qs.add(0, (int) (c0 + qidx[i]), out.queries(), qidx.length, i);
            last = out.logits();
        }
        logits.add(last);
        return new ArrayList<>(List.of(argmax(last)));
    }

    static void decode(Stepper p, ModelSessions model, List<Long> tokens, List<float[]> logits, int startPos, int steps) {
        for (int t = 0; t < steps; t++) {
            long tok = tokens.getLast();
            int pos = startPos + t;
            OrtDecoder.StepOutputs out = p.step(1, model.embed(new long[] {tok}, 1, 1), new long[] {pos}, new float[1], new long[0], new long[1],
                    new int[] {1}, new int[][] {{pos}});
            logits.add(out.logits());
            tokens.add(argmax(out.logits()));
        }
    }

    static long argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    private static void sameRun(List<Long> want, List<Long> got, List<float[]> wantLogits, List<float[]> gotLogits, Tracker t, String when) {
        for (int i = 0; i < wantLogits.size(); i++) {
            t.logits = Math.max(t.logits, within(wantLogits.get(i), gotLogits.get(i), t.tol.logits(), when + ": logits of step " + i));
        }
        if (!want.equals(got)) throw new IllegalStateException(when + ": greedy tokens differ: Java-API path " + want + ", resident path " + got);
    }

    static void sameCache(KvCache want, OrtDecoder got, Tracker t, String when) {
        for (int l = 0; l < want.shape().layers(); l++) {
            OrtDecoder.LayerSnapshot snap = got.read(l);
            if (want.capacity(l) != snap.capacity()) {
                throw new IllegalStateException(when + ": layer " + l + " has " + snap.capacity() + " slots, KvCache " + want.capacity(l));
            }
            t.cache = Math.max(t.cache, within(array(want.keyBuffer(l)), snap.keys(), t.tol.cache(), when + ": keys of layer " + l));
            t.cache = Math.max(t.cache, within(array(want.valueBuffer(l)), snap.values(), t.tol.cache(), when + ": values of layer " + l));
            within(array(want.maskBuffer(l)), snap.mask(), 0f, when + ": mask of layer " + l);
            for (int r = 0; r < want.batchSize(); r++) {
                for (int h = 0; h < want.shape().kvHeads(); h++) {
                    if (!Arrays.equals(want.positions(r, l, h), got.positions(r, l, h))) {
                        throw new IllegalStateException(when + ": positions of layer " + l + " head " + h + " differ");
                    }
                    // the KvCacheView a policy would read
                    t.cache = Math.max(t.cache, within(rows(want.keys(r, l, h)), rows(got.keys(r, l, h)), t.tol.cache(), when + ": KvCacheView keys of layer " + l + " head " + h));
                    t.cache = Math.max(t.cache, within(rows(want.values(r, l, h)), rows(got.values(r, l, h)), t.tol.cache(), when + ": KvCacheView values of layer " + l + " head " + h));
                }
            }
            t.cacheCompares++;
        }
    }

    /** Max |a - b|; throws naming the first index beyond {@code tol} (0 = the bits must match). */
    private static double within(float[] want, float[] got, float tol, String what) {
        if (want.length != got.length) throw new IllegalStateException(what + ": " + got.length + " values, expected " + want.length);
        double max = 0;
        for (int i = 0; i < want.length; i++) {
            boolean ok = tol == 0f ? Float.floatToRawIntBits(want[i]) == Float.floatToRawIntBits(got[i]) : Math.abs(want[i] - got[i]) <= tol;
            if (!ok) throw new IllegalStateException(what + " differ at index " + i + ": expected " + want[i] + ", got " + got[i] + (tol == 0f ? " (bit-equal required)" : " (tolerance " + tol + ")"));
            max = Math.max(max, Math.abs(want[i] - got[i]));
        }
        return max;
    }

    private static float[] rows(MatrixView m) {
        float[] a = new float[m.rows() * m.cols()];
        for (int i = 0; i < m.rows(); i++) m.copyRow(i, a, i * m.cols());
        return a;
    }

    private static float[] array(FloatBuffer fb) {
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

    private static void sameProbe(AttentionProbe cpu, AttentionProbe ort, QueryStore qs, int promptLen, Tracker t, String when) {
        int[] qpos = qs.positions(0);
        if (!Arrays.equals(qpos, ort.queryPositions(0))) throw new IllegalStateException(when + ": probe query positions differ");
        int[] keys = IntStream.range(0, promptLen + 3).toArray(); // includes positions never cached
        List<AttentionQuery> queries = new ArrayList<>();
        for (Reduction red : Reduction.values()) for (HeadMapping hm : HeadMapping.values()) queries.add(AttentionQuery.of(0, qpos, keys).withReduction(red).withHeads(hm));
        queries.add(AttentionQuery.of(0, new int[] {qpos[0]}, new int[] {0, 1, qpos[0], qpos[0] + 1}).withLayers(1));
        for (AttentionQuery q : queries) {
            AttentionMap want = cpu.attention(q), got = ort.attention(q);
            if (!Arrays.equals(want.layers(), got.layers()) || want.heads() != got.heads()) throw new IllegalStateException(when + ": probe map shapes differ for " + q);
            for (int l : want.layers()) {
                for (int h = 0; h < want.heads(); h++) {
                    t.probe = Math.max(t.probe, within(want.scores(l, h), got.scores(l, h), t.tol.probe(), when + ": probe " + q.reduction() + "/" + q.heads() + " layer " + l + " head " + h));
                }
            }
            t.probeCompares++;
        }
    }
}
