package io.github.kvpolicy.api;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The modality of every prompt position of one batch row. Immutable and thread-safe.
 *
 * <p>Positions are 0-based and are the model's rotary positions: compaction never renumbers them, so a
 * position keeps its meaning for the whole request. Positions {@code ≥ promptLength()} are
 * {@link Modality#GENERATED}.
 */
@Stable
public final class RowLayout {
    private final byte[] modality;
    private final List<ImageSpan> images;

    private RowLayout(byte[] modality, List<ImageSpan> images) {
        this.modality = modality;
        this.images = List.copyOf(images);
    }

    /** A builder that appends segments in prompt order. */
    public static Builder builder() {
        return new Builder();
    }

    /** Shortcut: {@code system} text tokens, then one image of {@code visual} tokens, then {@code instruction} text tokens. */
    public static RowLayout of(int system, int visual, int instruction) {
        Builder b = builder();
        if (system > 0) b.text(system);
        if (visual > 0) b.image(visual);
        if (instruction > 0) b.text(instruction);
        return b.build();
    }

    /** Number of prompt positions, ≥ 1. */
    public int promptLength() {
        return modality.length;
    }

    /** The modality of {@code position}; {@link Modality#GENERATED} for positions past the prompt. */
    public Modality modality(int position) {
        if (position < 0) throw new IndexOutOfBoundsException("position " + position + " < 0");
        return position >= modality.length ? Modality.GENERATED : Modality.values()[modality[position]];
    }

    /** The images in prompt order. */
    public List<ImageSpan> images() {
        return images;
    }

    /** Image number of {@code position}, or -1 if it is not a visual token. */
    public int imageIndex(int position) {
        for (ImageSpan s : images) {
            if (position >= s.start() && position < s.end()) return s.index();
        }
        return -1;
    }

    /** True if {@code position} holds a visual token. */
    public boolean isVisual(int position) {
        return position >= 0 && position < modality.length && modality[position] == Modality.IMAGE.ordinal();
    }

    /** The prompt positions of {@code m}, ascending (a new array). Empty for {@link Modality#GENERATED}. */
    public int[] positions(Modality m) {
        int n = count(m);
        int[] out = new int[n];
        int k = 0;
        for (int i = 0; i < modality.length; i++) if (modality[i] == m.ordinal()) out[k++] = i;
        return out;
    }

    /** Number of prompt positions of modality {@code m}. */
    public int count(Modality m) {
        int n = 0;
        for (byte b : modality) if (b == m.ordinal()) n++;
        return n;
    }

    /** All visual positions of all images, ascending. */
    public int[] visualPositions() {
        return positions(Modality.IMAGE);
    }

    /** The instruction (post-image) text positions, ascending. */
    public int[] instructionPositions() {
        return positions(Modality.INSTRUCTION_TEXT);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RowLayout r && Arrays.equals(modality, r.modality);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(modality);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("RowLayout[");
        int i = 0;
        while (i < modality.length) {
            int j = i;
            while (j < modality.length && modality[j] == modality[i]) j++;
            if (i > 0) sb.append(", ");
            sb.append(Modality.values()[modality[i]]).append('×').append(j - i);
            i = j;
        }
        return sb.append(']').toString();
    }

    /** Appends text and image segments; text after the last image becomes instruction text, other text system text. */
    @Stable
    public static final class Builder {
        private final List<int[]> segments = new ArrayList<>(); // {isImage, length}

        private Builder() {}

        /** Appends {@code n ≥ 1} text tokens. */
        public Builder text(int n) {
            return add(0, n);
        }

        /** Appends one image of {@code n ≥ 1} visual tokens. */
        public Builder image(int n) {
            return add(1, n);
        }

        private Builder add(int kind, int n) {
            if (n < 1) throw new IllegalArgumentException("segment length must be >= 1, got " + n);
            segments.add(new int[] {kind, n});
            return this;
        }

        public RowLayout build() {
            if (segments.isEmpty()) throw new IllegalArgumentException("a row needs at least one token");
            int lastImage = -1;
            long total = 0;
            for (int s = 0; s < segments.size(); s++) {
                if (segments.get(s)[0] == 1) lastImage = s;
                total += segments.get(s)[1];
            }
            if (total > Integer.MAX_VALUE - 1) throw new IllegalArgumentException("prompt too long: " + total);
            byte[] mod = new byte[(int) total];
            List<ImageSpan> images = new ArrayList<>();
            int pos = 0;
            for (int s = 0; s < segments.size(); s++) {
                int[] seg = segments.get(s);
                Modality m = seg[0] == 1 ? Modality.IMAGE : (s > lastImage ? Modality.INSTRUCTION_TEXT : Modality.SYSTEM_TEXT);
                Arrays.fill(mod, pos, pos + seg[1], (byte) m.ordinal());
                if (seg[0] == 1) images.add(new ImageSpan(images.size(), pos, pos + seg[1]));
                pos += seg[1];
            }
            return new RowLayout(mod, images);
        }
    }
}
