package io.github.kvpolicy.api;

import java.util.Arrays;

/** How candidates and mandatory tokens follow from layout, scope and protection; shared by every context implementation. */
@Stable
public final class Candidates {
    private Candidates() {}

    /**
     * Splits {@code cached} (ascending positions) into candidates ({@code result[0]}) and mandatory positions
     * ({@code result[1]}): out-of-scope positions and protected in-scope positions are mandatory.
     */
    public static int[][] split(RowLayout layout, int[] cached, Scope scope, Protection protection) {
        int[] inScope = new int[cached.length];
        int n = 0;
        for (int p : cached) if (scope.includes(layout.modality(p))) inScope[n++] = p;
        boolean[] keep = new boolean[n];
        for (int i = 0; i < Math.min(protection.sinks(), n); i++) keep[i] = true;
        for (int i = Math.max(0, n - protection.recent()); i < n; i++) keep[i] = true;
        if (!protection.modalities().isEmpty()) {
            for (int i = 0; i < n; i++) if (protection.modalities().contains(layout.modality(inScope[i]))) keep[i] = true;
        }
        int[] cand = new int[n];
        int c = 0;
        for (int i = 0; i < n; i++) if (!keep[i]) cand[c++] = inScope[i];
        cand = Arrays.copyOf(cand, c);
        int[] mandatory = new int[cached.length - c];
        int m = 0, j = 0;
        for (int p : cached) {
            if (j < c && cand[j] == p) j++;
            else mandatory[m++] = p;
        }
        return new int[][] {cand, mandatory};
    }

    /** The number of candidates of a freshly prefilled row (all prompt positions cached). */
    public static int atPrefill(RowLayout layout, Scope scope, Protection protection) {
        int[] all = new int[layout.promptLength()];
        for (int i = 0; i < all.length; i++) all[i] = i;
        return split(layout, all, scope, protection)[0].length;
    }
}
