package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.RowLayout;

import java.util.ArrayList;
import java.util.List;

/**
 * The prompt of one batch row: text and image segments in prompt order. Its {@link RowLayout} follows from the
 * segments (text after the last image is instruction text, other text system text). Immutable; arrays are copied in.
 *
 * <p>An image is given either as the testbed's grid cells ({@code pixel_attributes}, {@code N × 3} int64, embedded by
 * the model's {@code vision.onnx}) or directly as {@code N × hidden} float embeddings (spliced into
 * {@code inputs_embeds} as they are).
 */
public final class Prompt {
    /** One segment. Exactly one of the arrays is non-null. */
    public record Segment(long[] tokenIds, long[][] pixelAttributes, float[][] imageEmbeddings) {
        /** Number of positions. */
        public int length() {
            return tokenIds != null ? tokenIds.length : pixelAttributes != null ? pixelAttributes.length : imageEmbeddings.length;
        }

        public boolean isImage() {
            return tokenIds == null;
        }
    }

    private final List<Segment> segments;
    private final RowLayout layout;
    private final int length;
    private final long[][] ropeOffsets;

    private Prompt(List<Segment> segments, long[][] ropeOffsets) {
        this.segments = List.copyOf(segments);
        this.ropeOffsets = ropeOffsets;
        RowLayout.Builder b = RowLayout.builder();
        int n = 0;
        for (Segment s : segments) {
            if (s.isImage()) b.image(s.length());
            else b.text(s.length());
            n += s.length();
        }
        this.layout = b.build();
        this.length = n;
    }

    /** A text-only prompt. */
    public static Prompt ofTokens(long... ids) {
        return builder().text(ids).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public List<Segment> segments() { return segments; }

    public RowLayout layout() { return layout; }

    /** Number of prompt positions. */
    public int length() { return length; }

    /**
     * M-RoPE offsets ({@code [3][length]}, for models whose decoder takes {@code rope_offsets}, e.g. Qwen2-VL): the
     * temporal/height/width rotary position of prompt position p is {@code p + offsets[c][p]}; generated tokens use
     * offset 0. Null for 1-D positions. A copy.
     */
    public long[][] ropeOffsets() {
        if (ropeOffsets == null) return null;
        long[][] c = new long[3][];
        for (int i = 0; i < 3; i++) c[i] = ropeOffsets[i].clone();
        return c;
    }

    /** Appends segments in prompt order. */
    public static final class Builder {
        private final List<Segment> segments = new ArrayList<>();

        private Builder() {}

        /** Text token ids (≥ 1 of them, each ≥ 0; the model checks the vocabulary bound). */
        public Builder text(long... ids) {
            if (ids.length == 0) throw new IllegalArgumentException("a text segment needs at least one token id");
            for (long id : ids) if (id < 0) throw new IllegalArgumentException("token id " + id + " < 0");
            segments.add(new Segment(ids.clone(), null, null));
            return this;
        }

        /** One image as grid cells: {@code N ≥ 1} rows of 3 attributes (shape, colour, glyph ids), run through {@code vision.onnx}. */
        public Builder image(long[][] pixelAttributes) {
            if (pixelAttributes.length == 0) throw new IllegalArgumentException("an image needs at least one cell");
            long[][] c = new long[pixelAttributes.length][];
            for (int i = 0; i < c.length; i++) {
                if (pixelAttributes[i].length != 3) {
                    throw new IllegalArgumentException("pixel_attributes row " + i + " has " + pixelAttributes[i].length + " values, expected 3 (shape, colour, glyph)");
                }
                c[i] = pixelAttributes[i].clone();
            }
            segments.add(new Segment(null, c, null));
            return this;
        }

        /** One image as {@code N ≥ 1} visual-token embeddings of the model's hidden size. */
        public Builder imageEmbeddings(float[][] embeddings) {
            if (embeddings.length == 0) throw new IllegalArgumentException("an image needs at least one visual token");
            float[][] c = new float[embeddings.length][];
            for (int i = 0; i < c.length; i++) {
                if (embeddings[i].length != embeddings[0].length) throw new IllegalArgumentException("image embedding rows differ in length");
                c[i] = embeddings[i].clone();
            }
            segments.add(new Segment(null, null, c));
            return this;
        }

        private long[][] ropeOffsets;

        /** M-RoPE offsets {@code [3][prompt length]} (see {@link Prompt#ropeOffsets()}); checked against the length at build. */
        public Builder ropeOffsets(long[][] offsets) {
            if (offsets.length != 3) throw new IllegalArgumentException("rope offsets need 3 rows (temporal, height, width), got " + offsets.length);
            ropeOffsets = new long[][] {offsets[0].clone(), offsets[1].clone(), offsets[2].clone()};
            return this;
        }

        public Prompt build() {
            if (segments.isEmpty()) throw new IllegalArgumentException("a prompt needs at least one segment");
            if (ropeOffsets != null) {
                int n = segments.stream().mapToInt(Segment::length).sum();
                for (long[] row : ropeOffsets) {
                    if (row.length != n) throw new IllegalArgumentException("rope offsets have " + row.length + " values per row, the prompt has " + n + " positions");
                }
            }
            return new Prompt(segments, ropeOffsets);
        }
    }
}
