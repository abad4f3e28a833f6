package io.github.kvpolicy.runtime;

import io.github.kvpolicy.runtime.policy.PolicyFailureException;
import io.github.kvpolicy.api.AttentionProbe;
import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.BudgetMode;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.KvCacheView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.PlanValidator;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.SimplePolicyContext;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.runtime.cache.CompactionReport;
import io.github.kvpolicy.runtime.cache.SlotTable;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.ort.OrtAttentionProbe;
import io.github.kvpolicy.runtime.ort.OrtDecoder;
import io.github.kvpolicy.runtime.probe.CpuAttentionProbe;
import io.github.kvpolicy.runtime.probe.QueryStore;
import io.github.kvpolicy.runtime.policy.PolicyCallRunner;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import io.github.kvpolicy.runtime.policy.PolicyDriver;
import io.github.kvpolicy.runtime.policy.ReadOnlyCacheView;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;

/**
 * One request, step by step: {@link #prefill()}, then {@link #step()} until it returns false, with the policy applied
 * at its schedule ({@link #run()} does all of it; {@link Generator#generate} calls {@code run}). The stepwise methods,
 * {@link #cache()}, {@link #probe()}, {@link #context} and {@link #applyPlan} let a test or the conformance suite drive
 * a policy against a real cache.
 *
 * <p><b>Positions.</b> A row's prompt token {@code i} has rotary position {@code i}; its {@code g}-th generated token
 * position {@code promptLength + g}. Compaction never renumbers: kept tokens keep their positions, new tokens continue
 * at the row's next original position.
 *
 * <p><b>Queries for the probe.</b> Prefill exports the queries of the request's {@link QueryWindow} (the policy's
 * window ∪ the request's extra window), per row; while the policy acts during decoding, each step also exports the
 * new token's queries, dropped again after each decoding-time action.
 *
 * <p><b>One decode path.</b> Every decoder call (prefill chunks and decoding steps) runs through an {@link OrtDecoder}
 * made from the generator's shared resident sessions: the KV cache lives in memory of ONNX Runtime's allocator on
 * the configured device (CPU or CUDA) and is appended to, compacted, copied and probed there ({@link OrtAttentionProbe});
 * only the embeddings go up and the logits (and exported queries) come down. {@link ModelSessions} serves
 * {@code embed.onnx} and {@code vision.onnx}. The host {@code KvCache} is not used here (it is the tests' reference).
 *
 * <p>Not thread-safe (one request, one thread). Owns its KV cache (the {@link OrtDecoder}): {@link #close()} frees it.
 */
public final class GenerationSession implements AutoCloseable {
    private final ModelSessions model;
    private final GeneratorConfig config;
    private final GenerationRequest request;
    private final ModelShape shape;
    private final TokenLayout layout;
    private final int batch, hidden, vocab;
    private final int[] promptLength;
    private final int[][] window;           // per row, prompt query positions to keep
    private final CompressionPolicy policy; // may be null
    private final PolicyDriver driver;      // null without a policy
    private final PolicyCallRunner runner;
    private final Generator owner;          // released at close()
    private final boolean decodeQueries;
    private final OrtDecoder cache;         // the KV cache, resident on the configured device; owned
    private final QueryStore queries;
    private final OrtAttentionProbe probe;
    private final long[][] imageGroup;      // per row and prompt position its image index or -1; null unless the graph takes image_group

    private final List<LongList> generated = new ArrayList<>();
    private final List<List<float[]>> logits = new ArrayList<>();
    private final FinishReason[] finish;
    private final long[] pending;       // per row, the sampled token not yet fed (valid while active)
    private final int[] fedGenerated;   // per row, generated tokens already in the cache
    private final SplittableRandom[] rngs;
    private int steps;
    private boolean prefilled;
    private boolean closed;

    private double prefillMs, policyMs, compactionMs;
    private double[] decodeMs = new double[16];
    private int decodeCount;
    private final ActionLog actions;
    private TokenListener listener; // set during runToEnd(listener)

    /** {@code resident}: the generator's shared decoder sessions (retained by this session's decoder until {@link #close}). */
    GenerationSession(ModelSessions model, OrtDecoder.Sessions resident, GeneratorConfig config, GenerationRequest request, PolicyCallRunner runner,
                      Generator owner) {
        this.owner = owner;
        this.model = model;
        this.config = config;
        this.request = request;
        this.shape = model.shape();
        this.layout = request.layout();
        this.batch = request.batchSize();
        this.hidden = model.hiddenSize();
        this.vocab = model.vocabSize();
        this.policy = request.policy();
        this.runner = runner;
        this.promptLength = new int[batch];
        this.window = new int[batch][];
        QueryWindow w = request.queryWindow();
        for (int r = 0; r < batch; r++) {
            promptLength[r] = request.rows().get(r).length();
            if (model.slidingWindow() > 0 && promptLength[r] + request.maxNewTokens() > model.slidingWindow()) {
                throw new IllegalArgumentException("row " + r + ": " + promptLength[r] + " prompt + " + request.maxNewTokens()
                        + " new tokens exceed the model's sliding_window of " + model.slidingWindow() + " tokens; sliding-window attention is not supported");
            }
            window[r] = w.positions(layout.row(r));
            for (Prompt.Segment s : request.rows().get(r).segments()) {
                if (s.imageEmbeddings() != null && s.imageEmbeddings()[0].length != hidden) {
                    throw new IllegalArgumentException("row " + r + ": image embeddings have " + s.imageEmbeddings()[0].length + " values per token, the model's hidden size is " + hidden);
                }
                if (s.pixelAttributes() != null && !model.hasVision()) {
                    throw new IllegalArgumentException("row " + r + ": an image is given as pixel attributes but the model at " + model.directory()
                            + " has no vision.onnx; give it as embeddings instead");
                }
                if (s.tokenIds() != null) {
                    for (long id : s.tokenIds()) {
                        if (id >= vocab) throw new IllegalArgumentException("row " + r + ": token id " + id + " is outside the vocabulary [0, " + vocab + ")");
                    }
                }
            }
        }
        this.driver = policy == null ? null : new PolicyDriver(policy, request.declaration(), runner, request.budget(), layout, request.policySeed());
        this.decodeQueries = driver != null && driver.schedule().actsDuringDecoding();
        this.actions = new ActionLog();
        this.finish = new FinishReason[batch];
        this.pending = new long[batch];
        this.fedGenerated = new int[batch];
        this.rngs = new SplittableRandom[batch];
        for (int r = 0; r < batch; r++) {
            generated.add(new LongList());
            logits.add(new ArrayList<>());
            rngs[r] = new SplittableRandom(request.sampling().seed() * 0x9E3779B97F4A7C15L + r);
        }
        this.queries = new QueryStore(shape, batch);
        this.imageGroup = model.takesImageGroups() ? imageGroups() : null;
        CpuAttentionProbe.Masking masking = probeMasking();
        this.cache = OrtDecoder.open(resident, batch, 1); // last: nothing below can fail and leak it
        this.probe = new OrtAttentionProbe(cache, queries, masking);
    }

    /** A copy of {@code base}'s state (cache, queries, generated tokens, timings) running {@code forked}. */
    private GenerationSession(GenerationSession base, GenerationRequest forked) {
        this.model = base.model;
        this.config = base.config;
        this.request = forked;
        this.shape = base.shape;
        this.layout = base.layout;
        this.batch = base.batch;
        this.hidden = base.hidden;
        this.vocab = base.vocab;
        this.promptLength = base.promptLength.clone();
        this.window = base.window.clone();
        this.policy = forked.policy();
        this.runner = base.runner;
        this.owner = base.owner;
        this.driver = policy == null ? null : new PolicyDriver(policy, forked.declaration(), runner, forked.budget(), layout, forked.policySeed());
        this.decodeQueries = driver != null && driver.schedule().actsDuringDecoding();
        this.finish = base.finish.clone();
        this.pending = base.pending.clone();
        this.fedGenerated = base.fedGenerated.clone();
        this.rngs = new SplittableRandom[batch];
        for (int r = 0; r < batch; r++) {
            generated.add(new LongList(base.generated.get(r)));
            logits.add(new ArrayList<>(base.logits.get(r)));
            // a fork re-seeds its samplers from (seed, row, step), so every fork of one base continues alike
            rngs[r] = new SplittableRandom((forked.sampling().seed() * 0x9E3779B97F4A7C15L + r) ^ (0xBF58476D1CE4E5B9L * (base.steps + 1)));
        }
        this.steps = base.steps;
        this.prefilled = base.prefilled;
        this.prefillMs = base.prefillMs;
        this.policyMs = base.policyMs;
        this.compactionMs = base.compactionMs;
        this.decodeMs = base.decodeMs.clone();
        this.decodeCount = base.decodeCount;
        this.actions = new ActionLog(base.actions);
        this.queries = base.queries.copy();
        this.imageGroup = base.imageGroup;
        CpuAttentionProbe.Masking masking = probeMasking();
        this.cache = base.cache.copy(); // last: nothing below can fail and leak it
        this.probe = new OrtAttentionProbe(cache, queries, masking);
    }

    /**
     * An independent session that continues from this one's current state (typically right after {@link #prefill()})
     * with {@code policy} and {@code budget} instead of the request's: the cache, kept queries and generated tokens are
     * copied, so one prefill can be evaluated under many policies. The probe of the fork offers the queries this
     * session kept (prefill with {@link GenerationRequest.Builder#extraQueryWindow} {@code all()} to serve any policy).
     * Policy actions already applied here stay applied. The caller closes the fork; this session is unchanged.
     *
     * @param policy the fork's policy, or null for none (then {@code budget} must be null too)
     */
    public GenerationSession fork(CompressionPolicy policy, Budget budget) {
        return fork(policy, budget, PolicyDeclaration.undeclared());
    }

    /** As {@link #fork(CompressionPolicy, Budget)}, with what the policy's provider declared (enforced). */
    public GenerationSession fork(CompressionPolicy policy, Budget budget, PolicyDeclaration declaration) {
        checkOpen();
        owner.acquire();
        try {
            return new GenerationSession(this, request.withPolicy(policy, budget, declaration));
        } catch (RuntimeException | Error e) {
            owner.release();
            throw e;
        }
    }

    // ------------------------------------------------------------------ read access

    public GenerationRequest request() { return request; }

    public TokenLayout layout() { return layout; }

    /** A read-only view of the live KV cache (valid until the next mutation). */
    public KvCacheView cache() { return ReadOnlyCacheView.of(cache); }

    /**
     * The runtime-side cache, with memory accounting ({@link OrtDecoder#layerBytes()}, capacities): the session's
     * resident decoder, owned by this session (do not close it; mutating it directly bypasses the policy machinery).
     */
    public OrtDecoder kvCache() { return cache; }

    public AttentionProbe probe() { return probe; }

    /** The kept queries behind {@link #probe()} (e.g. to build a probe with another kernel). */
    public QueryStore queries() { return queries; }

    /** Decoding steps run so far (= generated tokens in the cache of a row that is still active). */
    public int steps() { return steps; }

    /** The next original position of every row (prompt length + generated tokens cached). */
    public int[] sequenceLengths() {
        int[] n = new int[batch];
        for (int r = 0; r < batch; r++) n[r] = promptLength[r] + fedGenerated[r];
        return n;
    }

    /** True while at least one row still generates. */
    public boolean hasActiveRows() {
        for (FinishReason f : finish) if (f == null) return true;
        return false;
    }

    // ------------------------------------------------------------------ the whole request

    /** Prefill, the policy after prefill (if scheduled), decoding with the policy at its triggers; then the result. */
    public GenerationResult run() {
        prefill();
        return runToEnd();
    }

    /**
     * Continues a prefilled session to the end: the policy after prefill (if scheduled and not yet applied after
     * prefill), then decoding with the policy at its triggers; returns the result.
     */
    public GenerationResult runToEnd() {
        return runToEnd(null);
    }

    /** Receives each generated token as soon as it is chosen (for streaming); called on the generating thread. */
    @FunctionalInterface
    public interface TokenListener {
        void onToken(int row, long token);
    }

    /**
     * As {@link #runToEnd()}, calling {@code listener} (may be null) with every generated token of every row as soon as
     * it is chosen, starting with the tokens already chosen (e.g. the one sampled at the end of prefill). A stop token
     * is not passed on, as it is not part of the result.
     */
    public GenerationResult runToEnd(TokenListener listener) {
        checkOpen();
        if (!prefilled) throw new IllegalStateException("call prefill() first");
        if (listener != null) {
            for (int r = 0; r < batch; r++) for (long t : generated.get(r).toArray()) listener.onToken(r, t);
        }
        this.listener = listener;
        try {
            if (driver != null && driver.dueAfterPrefill() && steps == 0 && !actions.any(Phase.PREFILL)) {
                applyPolicy(Phase.PREFILL);
            }
            while (step()) {
                if (driver != null && hasActiveRows() && decodeTrigger()) applyPolicy(Phase.DECODE);
            }
        } finally {
            this.listener = null;
        }
        return result();
    }

    // ------------------------------------------------------------------ prefill

    /** Embeds the prompts, runs the decoder over them in chunks, caches their K/V and samples each row's first token. */
    /** M-RoPE offsets {@code [3, batch, s]} of prompt chunk {@code [c0, c0+s)}, or null when no row has any. */
    private long[] ropeOffsets(int c0, int s, int[] counts) {
        long[] out = null;
        for (int r = 0; r < batch; r++) {
            long[][] off = request.rows().get(r).ropeOffsets();
            if (off == null) continue;
            if (out == null) out = new long[3 * batch * s];
            for (int c = 0; c < 3; c++) {
                for (int i = 0; i < counts[r]; i++) out[(c * batch + r) * s + i] = off[c][c0 + i];
            }
        }
        return out;
    }

    /**
     * What the probe needs beyond causal attention: the graph's score scale, its per-layer windows and the image
     * spans (Gemma 3); {@link CpuAttentionProbe.Masking#CAUSAL} for every model without them.
     */
    private CpuAttentionProbe.Masking probeMasking() {
        if (!model.hasWindowedLayers() && imageGroup == null && !model.declaresAttentionScale()) return CpuAttentionProbe.Masking.CAUSAL;
        int[] windows = new int[shape.layers()];
        for (int l = 0; l < windows.length; l++) windows[l] = model.window(l);
        return new CpuAttentionProbe.Masking(model.attentionScale(), windows, imageGroup);
    }

    /** Per row, each prompt position's image index (each image segment is one image) or −1 for text. */
    private long[][] imageGroups() {
        long[][] g = new long[batch][];
        for (int r = 0; r < batch; r++) {
            g[r] = new long[promptLength[r]];
            int p = 0, next = 0;
            for (Prompt.Segment seg : request.rows().get(r).segments()) {
                boolean image = seg.tokenIds() == null;
                int id = image ? next++ : -1;
                for (int i = 0; i < seg.length(); i++) g[r][p++] = id;
            }
        }
        return g;
    }

    /**
     * End of the prefill chunk starting at {@code c0}: {@code c0 + chunk} (capped at {@code maxLen}), except that with
     * bidirectional image attention no image may straddle a chunk boundary (its tokens attend to each other in both
     * directions, which needs them in one decoder call): the end moves back to the image's start, or forward past its
     * end when the image starts the chunk.
     */
    private int chunkEnd(int c0, int chunk, int maxLen) {
        int end = Math.min(c0 + chunk, maxLen);
        if (imageGroup == null) return end;
        boolean moved = true;
        while (moved) {
            moved = false;
            for (long[] g : imageGroup) {
                if (end >= g.length || end <= c0 || g[end] < 0 || g[end] != g[end - 1]) continue;
                int a = end;
                while (a > 0 && g[a - 1] == g[end]) a--;
                int b = end;
                while (b < g.length && g[b] == g[end]) b++;
                end = a > c0 ? a : b;
                moved = true;
            }
        }
        return end;
    }

    /** Chunk {@code [c0, c0+s)}'s image indices {@code [batch, s]} (−1 for text and padding), or null without image groups. */
    private long[] chunkImageGroups(int c0, int s, int[] counts) {
        if (imageGroup == null) return null;
        long[] out = new long[batch * s];
        Arrays.fill(out, -1);
        for (int r = 0; r < batch; r++) System.arraycopy(imageGroup[r], c0, out, r * s, counts[r]);
        return out;
    }

    public void prefill() {
        checkOpen();
        if (prefilled) throw new IllegalStateException("prefill() was already called");
        prefilled = true;
        long t0 = System.nanoTime();
        float[][] emb = embedPrompts();
        int maxLen = Arrays.stream(promptLength).max().orElseThrow();
        int chunk = config.prefillChunk();
        float[][] lastLogits = new float[batch][];
        for (int c0 = 0, end; c0 < maxLen; c0 = end) {
            end = chunkEnd(c0, chunk, maxLen);
            int s = end - c0;
            int[] counts = new int[batch];
            int[][] pos = new int[batch][];
            float[] embeds = new float[batch * s * hidden];
            long[] positionIds = new long[batch * s];
            float[] inputMask = new float[batch * s];
            long[] logitsIndex = new long[batch];
            TreeSet<Integer> qset = new TreeSet<>();
            for (int r = 0; r < batch; r++) {
                int n = Math.max(0, Math.min(s, promptLength[r] - c0));
                counts[r] = n;
                pos[r] = new int[n];
                for (int i = 0; i < s; i++) {
                    positionIds[r * s + i] = c0 + i;
                    if (i < n) pos[r][i] = c0 + i;
                    else inputMask[r * s + i] = SlotTable.MASKED;
                }
                if (n > 0) System.arraycopy(emb[r], c0 * hidden, embeds, r * s * hidden, n * hidden);
                int last = promptLength[r] - 1 - c0;
                logitsIndex[r] = last >= 0 && last < s ? last : 0;
                for (int p : window[r]) if (p >= c0 && p < c0 + n) qset.add(p - c0);
            }
            long[] queryIndex = qset.stream().mapToLong(Integer::longValue).toArray();
            long[] ropeOffsets = ropeOffsets(c0, s, counts);
            OrtDecoder.StepOutputs out = cache.step(s, embeds, positionIds, inputMask, queryIndex, logitsIndex, ropeOffsets,
                    chunkImageGroups(c0, s, counts), counts, pos);
            if (queryIndex.length > 0) {
                for (int r = 0; r < batch; r++) {
                    for (int p : window[r]) {
                        if (p >= c0 && p < c0 + counts[r]) queries.add(r, p, out.queries(), queryIndex.length, Arrays.binarySearch(queryIndex, p - c0));
                    }
                }
            }
            for (int r = 0; r < batch; r++) {
                int last = promptLength[r] - 1 - c0;
                if (last >= 0 && last < s) lastLogits[r] = Arrays.copyOfRange(out.logits(), r * vocab, (r + 1) * vocab);
            }
        }
        cache.reserve(Math.min(config.decodeReserve(), Math.max(0, request.maxNewTokens() - 1)));
        for (int r = 0; r < batch; r++) {
            if (request.maxNewTokens() == 0) finish[r] = FinishReason.LENGTH;
            else choose(r, lastLogits[r]);
        }
        prefillMs = ms(t0);
    }

    private float[][] embedPrompts() {
        int maxLen = Arrays.stream(promptLength).max().orElseThrow();
        long[] ids = new long[batch * maxLen];
        boolean[][] isText = new boolean[batch][maxLen];
        for (int r = 0; r < batch; r++) {
            int p = 0;
            for (Prompt.Segment s : request.rows().get(r).segments()) {
                if (s.tokenIds() != null) {
                    for (long id : s.tokenIds()) {
                        ids[r * maxLen + p] = id;
                        isText[r][p++] = true;
                    }
                } else {
                    p += s.length();
                }
            }
        }
        float[] text = model.embed(ids, batch, maxLen);
        float[][] emb = new float[batch][];
        for (int r = 0; r < batch; r++) {
            emb[r] = new float[promptLength[r] * hidden];
            for (int p = 0; p < promptLength[r]; p++) {
                if (isText[r][p]) System.arraycopy(text, (r * maxLen + p) * hidden, emb[r], p * hidden, hidden);
            }
            int p = 0;
            for (Prompt.Segment s : request.rows().get(r).segments()) {
                if (s.pixelAttributes() != null) {
                    float[] v = model.vision(s.pixelAttributes());
                    if (v.length != s.length() * hidden) {
                        throw new IllegalStateException("vision.onnx returned " + v.length + " floats for " + s.length() + " cells, expected " + s.length() + " × " + hidden);
                    }
                    System.arraycopy(v, 0, emb[r], p * hidden, v.length);
                } else if (s.imageEmbeddings() != null) {
                    for (int i = 0; i < s.length(); i++) System.arraycopy(s.imageEmbeddings()[i], 0, emb[r], (p + i) * hidden, hidden);
                }
                p += s.length();
            }
        }
        return emb;
    }

    // ------------------------------------------------------------------ decoding

    /**
     * Feeds every active row's last sampled token (one decoder call for the batch), caches its K/V and samples the
     * next token.
     *
     * @return false (and does nothing) if no row is active any more
     */
    public boolean step() {
        checkOpen();
        if (!prefilled) throw new IllegalStateException("call prefill() first");
        if (!hasActiveRows()) return false;
        long t0 = System.nanoTime();
        long[] ids = new long[batch];
        int[] counts = new int[batch];
        int[][] pos = new int[batch][];
        long[] positionIds = new long[batch];
        float[] inputMask = new float[batch];
        for (int r = 0; r < batch; r++) {
            int p = promptLength[r] + fedGenerated[r];
            positionIds[r] = p;
            if (finish[r] == null) {
                ids[r] = pending[r];
                counts[r] = 1;
                pos[r] = new int[] {p};
            } else {
                pos[r] = new int[0];
                inputMask[r] = SlotTable.MASKED;
            }
        }
        float[] embeds = model.embed(ids, batch, 1);
        long[] queryIndex = decodeQueries ? new long[] {0} : new long[0];
        OrtDecoder.StepOutputs out = cache.step(1, embeds, positionIds, inputMask, queryIndex, new long[batch], null, null, counts, pos);
        steps++;
        for (int r = 0; r < batch; r++) {
            if (counts[r] == 0) continue;
            if (decodeQueries) queries.add(r, pos[r][0], out.queries(), 1, 0);
            fedGenerated[r]++;
            choose(r, Arrays.copyOfRange(out.logits(), r * vocab, (r + 1) * vocab));
        }
        if (decodeCount == decodeMs.length) decodeMs = Arrays.copyOf(decodeMs, decodeCount * 2);
        decodeMs[decodeCount++] = ms(t0);
        return true;
    }

    private void choose(int r, float[] rowLogits) {
        for (float x : rowLogits) {
            if (!Float.isFinite(x)) {
                throw new IllegalStateException("the model produced non-finite logits (" + x + ") for row " + r + (steps == 0 ? " after prefill" : " at decoding step " + steps)
                        + "; its weights or inputs hold NaN/Inf values (check the weight files)");
            }
        }
        int t = Sampler.pick(rowLogits, 0, vocab, request.sampling(), rngs[r]);
        if (request.recordLogits()) logits.get(r).add(rowLogits);
        if (request.isStop(t)) {
            finish[r] = FinishReason.STOP;
            return;
        }
        generated.get(r).add((long) t);
        if (listener != null) listener.onToken(r, t);
        pending[r] = t;
        if (generated.get(r).size() >= request.maxNewTokens()) finish[r] = FinishReason.LENGTH;
    }

    /** Whether the request's policy is due during decoding now ({@link PolicyDriver#dueAfterDecodeStep}). */
    public boolean decodeTrigger() {
        return driver != null && driver.dueAfterDecodeStep(steps, cache);
    }

    // ------------------------------------------------------------------ policies and plans

    /**
     * A {@link SimplePolicyContext} of the current cache (a read-only view) for {@code p} with {@code budget}; for
     * tests and the conformance suite, which call policies themselves.
     */
    public PolicyContext context(CompressionPolicy p, Budget budget, Phase phase) {
        checkOpen();
        return SimplePolicyContext.builder().layout(layout).cache(ReadOnlyCacheView.of(cache)).probe(probe).budget(budget).phase(phase).decodeStep(steps)
                .seed(request.policySeed()).policy(p).sequenceLengths(sequenceLengths()).build();
    }

    /**
     * Runs the request's policy now through its {@link PolicyDriver}: context, {@code compress} (time limit, plugin
     * class loader, every throwable contained), validation, compaction; records the action (bounded: see
     * {@link PolicyAction#plan()}).
     *
     * @throws PolicyFailureException if the policy throws, overruns its time limit or is quarantined (naming it); the
     *                                cache is unchanged
     * @throws io.github.kvpolicy.api.InvalidPlanException if its plan breaks the SPI's rules; the cache is unchanged
     */
    public PolicyAction applyPolicy(Phase phase) {
        checkOpen();
        if (driver == null) throw new IllegalStateException("the request has no policy");
        PolicyDriver.Outcome o = driver.act(target, phase, steps);
        if (phase == Phase.DECODE) for (int r = 0; r < batch; r++) queries.truncateFrom(r, promptLength[r]);
        policyMs += o.policyMs();
        compactionMs += o.compactionMs();
        boolean keepPlan = actions.isEmpty() || request.recordPlans();
        PolicyAction a = new PolicyAction(phase, steps, o.plan(), o.policyMs(), o.compactionMs(), o.memory());
        actions.add(keepPlan ? a : new PolicyAction(phase, steps, null, o.policyMs(), o.compactionMs(), o.memory()));
        return a;
    }

    private final PolicyDriver.Target target = new PolicyDriver.Target() {
        @Override public KvCacheView cache() { return cache; }
        @Override public AttentionProbe probe() { return probe; }
        @Override public int[] sequenceLengths() { return GenerationSession.this.sequenceLengths(); }
        @Override public CompactionReport compact(RetentionPlan plan) { return cache.compact(plan, reserveNow()); }
    };

    /**
     * Validates {@code plan} against {@code ctx} (made by {@link #context} for the current cache) and compacts the cache
     * to it. An invalid plan throws the validator's {@link io.github.kvpolicy.api.InvalidPlanException} and leaves
     * the cache untouched.
     */
    public CompactionReport applyPlan(String policyName, RetentionPlan plan, PolicyContext ctx, BudgetMode mode) {
        checkOpen();
        if (!ReadOnlyCacheView.isViewOf(ctx.cache(), cache)) throw new IllegalArgumentException("the context was not made for this session's cache");
        PlanValidator.check(policyName, plan, ctx, mode);
        return cache.compact(plan, reserveNow());
    }

    private int reserveNow() {
        int remaining = hasActiveRows() ? Math.max(0, request.maxNewTokens() - 1 - steps) : 0;
        return Math.min(config.decodeReserve(), remaining);
    }

    // ------------------------------------------------------------------ result

    /** The result so far (complete after {@link #step()} returned false). */
    public GenerationResult result() {
        List<long[]> tokens = new ArrayList<>();
        List<FinishReason> reasons = new ArrayList<>();
        for (int r = 0; r < batch; r++) {
            tokens.add(generated.get(r).toArray());
            reasons.add(finish[r] == null ? FinishReason.LENGTH : finish[r]);
        }
        return new GenerationResult(tokens, reasons, new Timings(prefillMs, Arrays.stream(decodeMs, 0, decodeCount).boxed().toList(), policyMs, compactionMs),
                actions.retained(), actions.count(), cache.layerBytes(), logits);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("the generation session was closed");
    }

    private static double ms(long t0) {
        return (System.nanoTime() - t0) / 1e6;
    }

    /** Frees the KV cache (the decoder's tensors and bindings); idempotent. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            cache.close();
        } finally {
            owner.release();
        }
    }
}

/** A growable array of longs (8 bytes a token instead of a boxed {@code Long}); not thread-safe. */
final class LongList {
    private long[] a;
    private int n;

    LongList() { a = new long[16]; }

    LongList(LongList o) { a = o.a.clone(); n = o.n; }

    void add(long v) {
        if (n == a.length) a = Arrays.copyOf(a, n * 2);
        a[n++] = v;
    }

    int size() { return n; }

    long[] toArray() { return Arrays.copyOf(a, n); }
}
