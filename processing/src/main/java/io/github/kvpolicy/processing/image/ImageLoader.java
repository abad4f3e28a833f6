package io.github.kvpolicy.processing.image;

import io.github.kvpolicy.processing.error.ProcessingException;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reads PNG and JPEG (anything ImageIO reads) into an {@link RgbImage} the way transformers' {@code load_image}
 * plus {@code convert_rgb} do: EXIF orientation applied ({@code ImageOps.exif_transpose}), grey expanded to
 * three channels, and alpha composited on white ({@code convert_to_rgb}: {@code alpha_composite} over an opaque
 * white background, then RGB). Grey and grey+alpha rasters are read from their samples directly, so no colour
 * conversion changes their values; 16-bit samples are reduced to 8 bits with rounding. Stateless.
 */
public final class ImageLoader {
    private ImageLoader() {}

    /**
     * Loads an image file.
     *
     * @throws ProcessingException naming the file when it is missing or not a readable image
     */
    public static RgbImage load(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new ProcessingException(file + ": cannot read image (" + e.getMessage() + ")", e);
        }
        return decode(bytes, file.toString());
    }

    /** Decodes image bytes; {@code name} is used in error messages. */
    public static RgbImage decode(byte[] bytes, String name) {
        BufferedImage img;
        try {
            img = ImageIO.read(new ByteArrayInputStream(bytes));
        } catch (IOException | RuntimeException e) {
            throw new ProcessingException(name + ": not a readable image (expected PNG or JPEG: " + e.getMessage() + ")", e);
        }
        if (img == null) throw new ProcessingException(name + ": not a readable image (expected PNG or JPEG)");
        RgbImage rgb = toRgb(img);
        int orientation = Exif.orientation(bytes);
        return orientation > 1 ? orient(rgb, orientation) : rgb;
    }

    /** Converts a decoded image to 8-bit RGB, compositing any alpha on white. */
    public static RgbImage toRgb(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        byte[] out = new byte[3 * w * h];
        ColorModel cm = img.getColorModel();
        Raster raster = img.getRaster();
        int bands = raster.getNumBands();
        boolean grey = cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY && bands <= 2;
        if (grey) {
            int bits = cm.getComponentSize(0);
            int max = (1 << bits) - 1;
            int[] px = new int[bands];
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    raster.getPixel(x, y, px);
                    int v = (int) Math.round(px[0] * 255.0 / max);
                    int a = bands == 2 ? (int) Math.round(px[1] * 255.0 / ((1 << cm.getComponentSize(1)) - 1)) : 255;
                    int c = composite(v, a);
                    int i = 3 * (y * w + x);
                    out[i] = out[i + 1] = out[i + 2] = (byte) c;
                }
            }
        } else {
            boolean alpha = cm.hasAlpha();
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                img.getRGB(0, y, w, 1, row, 0, w); // non-premultiplied sRGB
                for (int x = 0; x < w; x++) {
                    int argb = row[x];
                    int a = alpha ? argb >>> 24 : 255;
                    int i = 3 * (y * w + x);
                    out[i] = (byte) composite((argb >> 16) & 0xff, a);
                    out[i + 1] = (byte) composite((argb >> 8) & 0xff, a);
                    out[i + 2] = (byte) composite(argb & 0xff, a);
                }
            }
        }
        return new RgbImage(w, h, out, true);
    }

    /** {@code c} with alpha {@code a} over white: {@code round((c·a + 255·(255 − a)) / 255)}. */
    static int composite(int c, int a) {
        if (a == 255) return c;
        return (int) Math.round((c * a + 255.0 * (255 - a)) / 255.0);
    }

    /** Applies EXIF orientation 2..8 (the inverse of how the camera stored the pixels), as {@code exif_transpose}. */
    static RgbImage orient(RgbImage src, int orientation) {
        int w = src.width(), h = src.height();
        boolean swap = orientation >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        byte[] in = src.raw();
        byte[] out = new byte[in.length];
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int sx, sy;
                switch (orientation) {
                    case 2 -> { sx = w - 1 - x; sy = y; }            // mirror horizontal
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }    // rotate 180
                    case 4 -> { sx = x; sy = h - 1 - y; }            // mirror vertical
                    case 5 -> { sx = y; sy = x; }                    // transpose
                    case 6 -> { sx = y; sy = h - 1 - x; }            // rotate 90 clockwise to display
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }    // transverse
                    case 8 -> { sx = w - 1 - y; sy = x; }            // rotate 90 counter-clockwise to display
                    default -> throw new IllegalArgumentException("EXIF orientation must be 1..8, got " + orientation);
                }
                System.arraycopy(in, 3 * (sy * w + sx), out, 3 * (y * ow + x), 3);
            }
        }
        return new RgbImage(ow, oh, out, true);
    }
}
