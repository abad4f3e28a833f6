package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.Modality;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RowLayout;
import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * Probe helpers: which queries to ask for, and attention over every cached key mapped onto the candidates.
 * Stateless; every method allocates its results.
 */
final class Attention {
    private Attention() {}

    /** Every position cached in at least one (layer, KV head) of {@code row}, ascending. */
    static int[] cachedUnion(PolicyContext ctx, int row) {
        ModelShape s = ctx.shape();
        int max = -1;
        for (int l = 0; l < s.layers(); l++)
            for (int h = 0; h < s.kvHeads(); h++) {
                int[] p = ctx.cache().positions(row, l, h);
                if (p.length > 0) max = Math.max(max, p[p.length - 1]);
            }
        boolean[] seen = new boolean[max + 1];
        int n = 0;
        for (int l = 0; l < s.layers(); l++)
            for (int h = 0; h < s.kvHeads(); h++)
                for (int p : ctx.cache().positions(row, l, h)) if (!seen[p]) { seen[p] = true; n++; }
        int[] out = new int[n];
        int k = 0;
        for (int p = 0; p <= max; p++) if (seen[p]) out[k++] = p;
        return out;
    }

    /** The last {@code n} query positions the probe offers for {@code row} (at prefill: the last n prompt positions of the window). */
    static int[] lastAvailable(PolicyContext ctx, int row, int n) {
        int[] a = ctx.probe().queryPositions(row);
        return Arrays.copyOfRange(a, Math.max(0, a.length - n), a.length);
    }

    /** The available query positions whose modality passes {@code keep}. */
    static int[] availableWhere(PolicyContext ctx, int row, IntPredicate keep) {
        return Arrays.stream(ctx.probe().queryPositions(row)).filter(keep).toArray();
    }

    /** Available query positions after the last image: instruction text and generated tokens (VL-Cache's post-vision queries). */
    static int[] postVision(PolicyContext ctx, int row) {
        RowLayout layout = ctx.layout().row(row);
        return availableWhere(ctx, row, p -> {
            Modality m = layout.modality(p);
            return m == Modality.INSTRUCTION_TEXT || m == Modality.GENERATED;
        });
    }

    /**
     * Attention of {@code queries} over every cached key of {@code row} (softmax over each head's cached keys, causal), all
     * layers; null if {@code queries} is empty.
     */
    static AttentionMap overCache(PolicyContext ctx, int row, int[] keys, int[] queries, Reduction reduction, HeadMapping heads) {
        if (queries.length == 0 || keys.length == 0) return null;
        return ctx.probe().attention(new AttentionQuery(row, new int[0], queries, keys, reduction, heads));
    }

    /**
     * The scores of {@code positions} (each one of {@code keys}) in {@code map} for (layer, head); 0 where {@code map} is null.
     */
    static float[] at(AttentionMap map, int[] keys, int layer, int head, int[] positions) {
        float[] out = new float[positions.length];
        if (map == null) return out;
        for (int i = 0; i < positions.length; i++) {
            int k = Arrays.binarySearch(keys, positions[i]);
            if (k < 0) throw new IllegalStateException("position " + positions[i] + " is not among the probed keys");
            out[i] = map.score(layer, head, k);
        }
        return out;
    }

    /** Replaces negative zero and non-finite values so that scores are valid ({@code TokenScores} rejects NaN). */
    static float[] sanitize(float[] v) {
        for (int i = 0; i < v.length; i++) if (Float.isNaN(v[i])) v[i] = 0f;
        return v;
    }
}
