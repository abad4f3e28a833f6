package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.runtime.cache.CompactionReport;
import io.github.kvpolicy.runtime.cache.KvCache;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.decode.PastTensors;

import java.util.Arrays;
import java.util.TreeSet;

/**
 * {@link GenerationSession}'s decoding algorithm (chunked prefill with image-aware chunk ends, M-RoPE offsets, image
 * groups, sliding-window past positions, query export, reserve, decoding steps, compaction) on the host
 * <em>reference</em> path: {@link KvCache} in Java-owned memory and {@link ModelSessions#decode} through the ONNX
 * Runtime Java API. The production path ({@code OrtDecoder}) is compared against it. Tokens are fed by the caller
 * (the session's own choices), so the two paths see identical inputs. Batch rows all stay active (no stop tokens).
 * Not thread-safe; owns its cache.
 */
final class HostReferencePath implements AutoCloseable {
    final ModelSessions model;
    final KvCache cache;
    private final PastTensors past;
    private final GenerationRequest request;
    private final int batch, hidden, vocab;
    private final int[] promptLength;
    private final int[][] window;
    private final long[][] imageGroup;
    private int fed;

    HostReferencePath(ModelSessions model, GenerationRequest request) {
        this.model = model;
        this.request = request;
        this.batch = request.batchSize();
        this.hidden = model.hiddenSize();
        this.vocab = model.vocabSize();
        this.cache = new KvCache(model.shape(), batch, 1);
        this.past = new PastTensors(model.env(), cache);
        this.promptLength = new int[batch];
        this.window = new int[batch][];
        TokenLayout layout = request.layout();
        for (int r = 0; r < batch; r++) {
            promptLength[r] = request.rows().get(r).length();
            window[r] = request.queryWindow().positions(layout.row(r));
        }
        if (model.takesImageGroups()) {
            imageGroup = new long[batch][];
            for (int r = 0; r < batch; r++) {
                imageGroup[r] = new long[promptLength[r]];
                int p = 0, next = 0;
                for (Prompt.Segment seg : request.rows().get(r).segments()) {
                    int id = seg.tokenIds() == null ? next++ : -1;
                    for (int i = 0; i < seg.length(); i++) imageGroup[r][p++] = id;
                }
            }
        } else {
            imageGroup = null;
        }
    }

    /** Row {@code r}'s prompt embeddings {@code [len, H]}, as the session embeds them. */
    private float[] embedRow(int r) {
        Prompt row = request.rows().get(r);
        float[] emb = new float[row.length() * hidden];
        int p = 0;
        for (Prompt.Segment s : row.segments()) {
            float[] part;
            if (s.tokenIds() != null) part = model.embed(s.tokenIds(), 1, s.length());
            else if (s.pixelAttributes() != null) part = model.vision(s.pixelAttributes());
            else {
                part = new float[s.length() * hidden];
                for (int i = 0; i < s.length(); i++) System.arraycopy(s.imageEmbeddings()[i], 0, part, i * hidden, hidden);
            }
            System.arraycopy(part, 0, emb, p * hidden, part.length);
            p += s.length();
        }
        return emb;
    }

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

    private long[][] pastPositions() {
        if (!model.hasWindowedLayers()) return null;
        long[][] out = new long[model.shape().layers()][];
        for (int l = 0; l < out.length; l++) if (model.window(l) > 0) out[l] = cache.pastPositions(l);
        return out;
    }

    /** Prefill in chunks of {@code chunk} and the reserve for {@code maxNew} tokens; per row the logits of its last prompt token. */
    float[][] prefill(int chunk, int decodeReserve, int maxNew) {
        float[][] emb = new float[batch][];
        for (int r = 0; r < batch; r++) emb[r] = embedRow(r);
        int maxLen = Arrays.stream(promptLength).max().orElseThrow();
        float[][] last = new float[batch][];
        for (int c0 = 0, end; c0 < maxLen; c0 = end) {
            end = chunkEnd(c0, chunk, maxLen);
            int s = end - c0;
            int[] counts = new int[batch];
            int[][] pos = new int[batch][];
            float[] embeds = new float[batch * s * hidden];
            long[] positionIds = new long[batch * s];
            float[] inputMask = new float[batch * s];
            long[] logitsIndex = new long[batch];
            long[] ropeOffsets = null, groups = null;
            TreeSet<Integer> qset = new TreeSet<>();
            for (int r = 0; r < batch; r++) {
                int n = Math.max(0, Math.min(s, promptLength[r] - c0));
                counts[r] = n;
                pos[r] = new int[n];
                for (int i = 0; i < s; i++) {
                    positionIds[r * s + i] = c0 + i;
                    if (i < n) pos[r][i] = c0 + i;
                    else inputMask[r * s + i] = KvCache.MASKED;
                }
                if (n > 0) System.arraycopy(emb[r], c0 * hidden, embeds, r * s * hidden, n * hidden);
                int lastIdx = promptLength[r] - 1 - c0;
                logitsIndex[r] = lastIdx >= 0 && lastIdx < s ? lastIdx : 0;
                for (int p : window[r]) if (p >= c0 && p < c0 + n) qset.add(p - c0);
                long[][] off = request.rows().get(r).ropeOffsets();
                if (off != null) {
                    if (ropeOffsets == null) ropeOffsets = new long[3 * batch * s];
                    for (int c = 0; c < 3; c++) for (int i = 0; i < n; i++) ropeOffsets[(c * batch + r) * s + i] = off[c][c0 + i];
                }
                if (imageGroup != null) {
                    if (groups == null) {
                        groups = new long[batch * s];
                        Arrays.fill(groups, -1);
                    }
                    System.arraycopy(imageGroup[r], c0, groups, r * s, n);
                }
            }
            long[] queryIndex = qset.stream().mapToLong(Integer::longValue).toArray();
            ModelSessions.DecoderOutputs out = model.decode(batch, s, embeds, positionIds, inputMask, queryIndex, logitsIndex, past.current(), ropeOffsets,
                    groups, pastPositions());
            for (int l = 0; l < model.shape().layers(); l++) cache.append(l, out.presentKeys()[l], out.presentValues()[l], s, counts, pos);
            for (int r = 0; r < batch; r++) {
                int lastIdx = promptLength[r] - 1 - c0;
                if (lastIdx >= 0 && lastIdx < s) last[r] = Arrays.copyOfRange(out.logits(), r * vocab, (r + 1) * vocab);
            }
        }
        cache.reserve(Math.min(decodeReserve, Math.max(0, maxNew - 1)));
        return last;
    }

    /** One decoding step feeding {@code tokens[r]} to every row; per row the logits. */
    float[][] step(long[] tokens) {
        long[] positionIds = new long[batch];
        int[] counts = new int[batch];
        int[][] pos = new int[batch][];
        for (int r = 0; r < batch; r++) {
            int p = promptLength[r] + fed;
            positionIds[r] = p;
            counts[r] = 1;
            pos[r] = new int[] {p};
        }
        float[] embeds = model.embed(tokens, batch, 1);
        ModelSessions.DecoderOutputs out = model.decode(batch, 1, embeds, positionIds, new float[batch], new long[0], new long[batch], past.current(), null,
                null, pastPositions());
        for (int l = 0; l < model.shape().layers(); l++) cache.append(l, out.presentKeys()[l], out.presentValues()[l], 1, counts, pos);
        fed++;
        float[][] logits = new float[batch][];
        for (int r = 0; r < batch; r++) logits[r] = Arrays.copyOfRange(out.logits(), r * vocab, (r + 1) * vocab);
        return logits;
    }

    CompactionReport compact(RetentionPlan plan, int reserve) {
        return cache.compact(plan, reserve);
    }

    @Override
    public void close() {
        past.close();
        cache.close();
    }
}
