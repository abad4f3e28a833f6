package io.github.kvpolicy.processing;

import io.github.kvpolicy.api.ImageSpan;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.processing.image.ProcessedImage;

import java.util.List;

/**
 * A model-ready prompt: token ids with every image placeholder expanded, the images' model inputs, and the
 * token layout that compression policies see.
 *
 * <p>Invariants: {@code layout.promptLength() == inputIds.length}; the {@link io.github.kvpolicy.api.Modality#IMAGE} positions of
 * {@code layout} are exactly the positions holding the family's image token (anyres newline slots included,
 * Qwen vision start/end and Gemma begin/end-of-image excluded), and their number is the sum of
 * {@link ProcessedImage#visualTokens()}; {@code visualSpans} are the maximal runs of such positions in order
 * (one per image, except SmolVLM where each tile and the global image is its own run, and adjacent images,
 * which are still split at the image boundary); {@code spanImage[i]} is the image (0-based, in prompt order)
 * that span {@code i} belongs to. {@link #templatePrefix()} is {@code [0, first visual position)} and
 * {@link #instruction()} is {@code [end of the last visual span, length)}; for a text-only prompt the prefix
 * is empty and the instruction is the whole prompt (the api's convention). Immutable.
 *
 * @see io.github.kvpolicy.api.Modality
 */
public record Prompt(int[] inputIds, RowLayout layout, List<ImageSpan> visualSpans, int[] spanImage, List<ProcessedImage> images) {
    public Prompt {
        inputIds = inputIds.clone();
        spanImage = spanImage.clone();
        visualSpans = List.copyOf(visualSpans);
        images = List.copyOf(images);
        if (layout.promptLength() != inputIds.length) {
            throw new IllegalArgumentException("layout covers " + layout.promptLength() + " positions, prompt has " + inputIds.length);
        }
        if (spanImage.length != visualSpans.size()) throw new IllegalArgumentException("one image index per visual span expected");
    }

    /** A half-open range of prompt positions {@code [start, end)}. */
    public record Range(int start, int end) {
        public Range {
            if (start < 0 || end < start) throw new IllegalArgumentException("invalid range [" + start + ", " + end + ")");
        }

        public int length() {
            return end - start;
        }
    }

    @Override
    public int[] inputIds() {
        return inputIds.clone();
    }

    @Override
    public int[] spanImage() {
        return spanImage.clone();
    }

    /** Prompt length in tokens. */
    public int length() {
        return inputIds.length;
    }

    /** Positions {@code [0, first visual token)}: the template text before the first image; empty without images. */
    public Range templatePrefix() {
        return new Range(0, visualSpans.isEmpty() ? 0 : visualSpans.getFirst().start());
    }

    /** Positions after the last visual token: the instruction (question plus the generation prompt). */
    public Range instruction() {
        return new Range(visualSpans.isEmpty() ? 0 : visualSpans.getLast().end(), inputIds.length);
    }

    /** The last prompt position, where AirCache-style policies anchor their observation window. */
    public int lastInstructionToken() {
        return inputIds.length - 1;
    }

    /** Positions {@code [first, end)} of image {@code image}'s visual tokens (its first span's start to its last span's end). */
    public Range imageRange(int image) {
        int s = -1, e = -1;
        for (int i = 0; i < spanImage.length; i++) {
            if (spanImage[i] != image) continue;
            if (s < 0) s = visualSpans.get(i).start();
            e = visualSpans.get(i).end();
        }
        if (s < 0) throw new IndexOutOfBoundsException("image " + image + " not in a prompt with " + images.size() + " images");
        return new Range(s, e);
    }

    /** 1 at visual positions, 0 elsewhere (Gemma 3's {@code token_type_ids}, Qwen's {@code mm_token_type_ids}). */
    public int[] tokenTypeIds() {
        int[] t = new int[inputIds.length];
        for (ImageSpan s : visualSpans) java.util.Arrays.fill(t, s.start(), s.end(), 1);
        return t;
    }
}
