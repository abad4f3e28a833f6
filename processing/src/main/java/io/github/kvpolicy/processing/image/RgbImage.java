package io.github.kvpolicy.processing.image;

import java.util.Arrays;

/**
 * An 8-bit sRGB image, rows top to bottom, pixels interleaved {@code R, G, B}. Immutable: the constructor and
 * {@link #rgb()} copy.
 *
 * <p>Invariant: {@code width ≥ 1}, {@code height ≥ 1}, {@code rgb.length == 3 · width · height}.
 */
public final class RgbImage {
    private final int width;
    private final int height;
    private final byte[] rgb;

    public RgbImage(int width, int height, byte[] rgb) {
        this(width, height, rgb.clone(), true);
    }

    RgbImage(int width, int height, byte[] rgb, boolean owned) {
        if (width < 1 || height < 1) throw new IllegalArgumentException("image size must be at least 1x1, got " + width + "x" + height);
        if (rgb.length != 3L * width * height) {
            throw new IllegalArgumentException("an RGB image of " + width + "x" + height + " needs " + 3L * width * height
                    + " bytes, got " + rgb.length);
        }
        this.width = width;
        this.height = height;
        this.rgb = rgb;
    }

    /** Width in pixels. */
    public int width() {
        return width;
    }

    /** Height in pixels. */
    public int height() {
        return height;
    }

    /** Channel {@code c} (0 = R) of pixel {@code (x, y)}, 0..255. */
    public int get(int x, int y, int c) {
        return rgb[3 * (y * width + x) + c] & 0xff;
    }

    /** A copy of the interleaved bytes. */
    public byte[] rgb() {
        return rgb.clone();
    }

    /** The backing array, not copied: callers in this package must not modify it. */
    byte[] raw() {
        return rgb;
    }

    /** The sub-image {@code [x, x+w) × [y, y+h)}. */
    public RgbImage crop(int x, int y, int w, int h) {
        if (x < 0 || y < 0 || w < 1 || h < 1 || x + w > width || y + h > height) {
            throw new IllegalArgumentException("crop " + w + "x" + h + "+" + x + "+" + y + " outside the " + width + "x" + height + " image");
        }
        byte[] out = new byte[3 * w * h];
        for (int r = 0; r < h; r++) System.arraycopy(rgb, 3 * ((y + r) * width + x), out, 3 * r * w, 3 * w);
        return new RgbImage(w, h, out, true);
    }

    /** This image pasted at {@code (x, y)} on a {@code w × h} canvas of colour {@code (r, g, b)}; parts outside are cut. */
    public RgbImage pad(int w, int h, int x, int y, int r, int g, int b) {
        byte[] out = new byte[3 * w * h];
        for (int i = 0; i < w * h; i++) {
            out[3 * i] = (byte) r;
            out[3 * i + 1] = (byte) g;
            out[3 * i + 2] = (byte) b;
        }
        for (int row = 0; row < height; row++) {
            int ty = y + row;
            if (ty < 0 || ty >= h) continue;
            int x0 = Math.max(0, x), x1 = Math.min(w, x + width);
            if (x1 <= x0) continue;
            System.arraycopy(rgb, 3 * (row * width + (x0 - x)), out, 3 * (ty * w + x0), 3 * (x1 - x0));
        }
        return new RgbImage(w, h, out, true);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RgbImage i && i.width == width && i.height == height && Arrays.equals(i.rgb, rgb);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * width + height) + Arrays.hashCode(rgb);
    }

    @Override
    public String toString() {
        return "RgbImage[" + width + "x" + height + "]";
    }
}
