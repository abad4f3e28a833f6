package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.VitVisionConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * LLaVA-OneVision's "anyres" image layout (transformers {@code select_best_resolution},
 * {@code get_anyres_image_grid_shape}, {@code unpad_image} and {@code LlavaOnevisionModel.pack_image_features}): an
 * image of original size (h, w) is shown as one base tile plus a grid of tiles picked from {@code image_grid_pinpoints};
 * the grid's features are arranged spatially, the padding the processor added is cut off, an {@code image_newline}
 * vector ends every row, and the base tile's features come first. Pure functions; thread-safe.
 */
public final class AnyresLayout {
    private AnyresLayout() {}

    /** The pinpoint [height, width] that shows an (h, w) image with the most effective and least wasted pixels. */
    public static int[] bestResolution(int height, int width, List<List<Integer>> pinpoints) {
        int[] best = null;
        long maxEffective = 0, minWasted = Long.MAX_VALUE;
        for (List<Integer> p : pinpoints) {
            int ph = p.get(0), pw = p.get(1);
            double scale = Math.min((double) pw / width, (double) ph / height);
            long dw = (long) (width * scale), dh = (long) (height * scale);
            long effective = Math.min(dw * dh, (long) width * height);
            long wasted = (long) pw * ph - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted)) {
                maxEffective = effective;
                minWasted = wasted;
                best = new int[]{ph, pw};
            }
        }
        if (best == null) throw new IllegalArgumentException("no image_grid_pinpoints to choose from");
        return best;
    }

    /** Tiles (rows, columns) of the grid for an (h, w) image. */
    public static int[] gridShape(int height, int width, VitVisionConfig v) {
        int[] r = bestResolution(height, width, v.gridPinpoints());
        return new int[]{r[0] / v.imageSize(), r[1] / v.imageSize()};
    }

    /** Tiles the processor makes for an (h, w) image: the base tile plus the grid. */
    public static int tileCount(int height, int width, VitVisionConfig v) {
        int[] g = gridShape(height, width, v);
        return 1 + g[0] * g[1];
    }

    /**
     * Packs per-tile features into the language model's image tokens.
     *
     * @param tiles   {@code [tileCount][side*side][H]}: the base tile first, then the grid tiles row-major
     * @param newline the {@code image_newline} vector [H]
     * @return the image token embeddings in prompt order: base tile (side² rows), then the unpadded grid, row by row,
     *         each row followed by {@code newline}
     * @throws IllegalArgumentException when the tile count does not fit the image size, or the image would need
     *                                  anyres_max downsampling (bilinear interpolation, not implemented)
     */
    public static float[][] pack(float[][][] tiles, float[] newline, int height, int width, VitVisionConfig v) {
        int side = v.patchesPerSide();
        int[] g = gridShape(height, width, v);
        if (tiles.length != 1 + g[0] * g[1]) {
            throw new IllegalArgumentException("an image of " + height + "x" + width + " needs 1 + " + g[0] + "x" + g[1]
                    + " tiles for image_grid_pinpoints " + v.gridPinpoints() + ", got " + tiles.length);
        }
        int rows = g[0] * side, cols = g[1] * side;
        // unpad_image on the [rows, cols] feature grid
        int r0 = 0, r1 = rows, c0 = 0, c1 = cols;
        double originalAspect = (double) width / height, currentAspect = (double) cols / rows;
        if (originalAspect > currentAspect) {
            double scale = (double) cols / width;
            int newHeight = (int) round7(height * scale);
            int pad = (rows - newHeight) / 2;
            r0 = pad;
            r1 = rows - pad;
        } else {
            double scale = (double) rows / height;
            int newWidth = (int) round7(width * scale);
            int pad = (cols - newWidth) / 2;
            c0 = pad;
            c1 = cols - pad;
        }
        int ch = r1 - r0, cw = c1 - c0;
        double ratio = Math.sqrt((double) ch * cw / ((double) v.anyresMaxPatches() * side * side));
        if (ratio > 1.1) {
            throw new IllegalArgumentException("an image of " + height + "x" + width + " gives a " + ch + "x" + cw + " feature grid, more than "
                    + "anyres_max_" + v.anyresMaxPatches() + " allows; the bilinear downsampling this needs is not supported");
        }
        List<float[]> out = new ArrayList<>();
        for (float[] f : tiles[0]) out.add(f);
        for (int r = r0; r < r1; r++) {
            int tr = r / side, pr = r % side;
            for (int c = c0; c < c1; c++) {
                int tc = c / side, pc = c % side;
                out.add(tiles[1 + tr * g[1] + tc][pr * side + pc]);
            }
            out.add(newline);
        }
        return out.toArray(float[][]::new);
    }

    /** Python's {@code round(x, 7)} (half-even at the 7th decimal is irrelevant at this precision). */
    private static double round7(double x) {
        return Math.round(x * 1e7) / 1e7;
    }
}
