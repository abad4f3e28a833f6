package io.github.kvpolicy.api;

/**
 * The prompt positions {@code [start, end)} of image number {@code index} (0-based, in prompt order).
 *
 * @param index image number, ≥ 0
 * @param start first position, inclusive
 * @param end   last position, exclusive; {@code end > start}
 */
@Stable
public record ImageSpan(int index, int start, int end) {
    public ImageSpan {
        if (index < 0 || start < 0 || end <= start) {
            throw new IllegalArgumentException("invalid image span: index=" + index + " [" + start + ", " + end + ")");
        }
    }

    /** Number of visual tokens of this image. */
    public int length() {
        return end - start;
    }
}
