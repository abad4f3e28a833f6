package io.github.kvpolicy.processing.image;

import java.util.ArrayList;
import java.util.List;

/**
 * "anyres" preprocessing of LLaVA-OneVision ({@code LlavaOnevisionImageProcessor}) and LLaVA-NeXT
 * ({@code LlavaNextImageProcessor}):
 * <ol>
 *   <li>pick the best resolution from {@code image_grid_pinpoints} ({@link #selectBestResolution}: the largest
 *       effective resolution {@code min(int(w·s)·int(h·s), w·h)} with {@code s = min(W/w, H/h)}, ties to the
 *       least wasted area);</li>
 *   <li>resize the image to fit it keeping the aspect ratio (the limiting side exactly, the other
 *       {@code min(ceil(side · scale), target)}) and pad it centred with black (0) to the best resolution;</li>
 *   <li>cut that into tiles of the base size (row-major) and put the whole image resized to the base size
 *       (aspect ratio not kept) first;</li>
 *   <li>LLaVA-NeXT only: every patch then goes through the CLIP steps (shortest edge to {@code size.shortest_edge},
 *       centre crop to {@code crop_size}; no-ops when both equal the tile size, as in released checkpoints);</li>
 *   <li>rescale and normalise each. Shape {@code [1, 1 + tiles, 3, h, w]}.</li>
 * </ol>
 * Base size and tile size: OneVision {@code size.height × size.width} for both; LLaVA-NeXT base
 * {@code shortest_edge²}, tiles {@code crop_size}.
 * The visual token count is the model's: base {@code p²} (p = vision image_size / patch_size) plus the tile
 * grid {@code (p·rows) × (p·cols)} unpadded to the image's aspect ratio, plus one newline token per unpadded
 * row, reduced by {@code anyres_max_N} (OneVision only) when the grid exceeds N base images by more than 10 %
 * (transformers' {@code _get_number_of_features}).
 *
 * <p>Tolerance against transformers 5.17 (fixture {@code llava_onevision}, 100×70 image): same shape
 * {@code [1, 5, 3, 56, 56]}, max difference 0.0150 (one 8-bit level after normalisation), mean 7.7e-5, from the
 * resize step only ({@link Resample} equals Pillow; the fixture's processor rounds a few pixels differently). Immutable.
 */
final class AnyResProcessor implements ImageProcessor {
    private final String family;
    private final int baseH, baseW;
    private final int tileH, tileW;
    private final int patchShortestEdge; // > 0: LLaVA-NeXT per-patch resize + crop to tile size
    private final int[][] pinpoints; // [height, width]
    private final Resample.Filter filter;
    private final Normalize norm;
    private final int patchesPerSide;
    private final int maxNumPatches; // <= 0: no anyres_max downscale

    /** LLaVA-OneVision: base and tiles {@code baseH × baseW}. */
    AnyResProcessor(int baseH, int baseW, int[][] pinpoints, Resample.Filter filter, Normalize norm, int patchesPerSide, int maxNumPatches) {
        this("llava_onevision", baseH, baseW, baseH, baseW, 0, pinpoints, filter, norm, patchesPerSide, maxNumPatches);
    }

    AnyResProcessor(String family, int baseH, int baseW, int tileH, int tileW, int patchShortestEdge, int[][] pinpoints,
                    Resample.Filter filter, Normalize norm, int patchesPerSide, int maxNumPatches) {
        if (pinpoints.length == 0) throw new IllegalArgumentException(family + ": image_grid_pinpoints is empty");
        this.family = family;
        this.baseH = baseH;
        this.baseW = baseW;
        this.tileH = tileH;
        this.tileW = tileW;
        this.patchShortestEdge = patchShortestEdge;
        this.pinpoints = pinpoints;
        this.filter = filter;
        this.norm = norm;
        this.patchesPerSide = patchesPerSide;
        this.maxNumPatches = maxNumPatches;
    }

    @Override
    public String family() {
        return family;
    }

    /** The pinpoint {@code [height, width]} transformers' {@code select_best_resolution} picks for an {@code h × w} image. */
    static int[] selectBestResolution(int h, int w, int[][] pinpoints) {
        int[] best = null;
        long maxEffective = 0;
        long minWasted = Long.MAX_VALUE;
        for (int[] p : pinpoints) {
            double scale = Math.min((double) p[1] / w, (double) p[0] / h);
            long dw = (long) (w * scale), dh = (long) (h * scale);
            long effective = Math.min(dw * dh, (long) w * h);
            long wasted = (long) p[0] * p[1] - effective;
            if (effective > maxEffective || (effective == maxEffective && wasted < minWasted)) {
                maxEffective = effective;
                minWasted = wasted;
                best = p;
            }
        }
        return best;
    }

    @Override
    public ProcessedImage process(RgbImage image) {
        int h = image.height(), w = image.width();
        int[] best = selectBestResolution(h, w, pinpoints);
        int th = best[0], tw = best[1];
        double sw = (double) tw / w, sh = (double) th / h;
        int nh, nw;
        if (sw < sh) {
            nw = tw;
            nh = Math.min((int) Math.ceil(h * sw), th);
        } else {
            nh = th;
            nw = Math.min((int) Math.ceil(w * sh), tw);
        }
        RgbImage resized = Resample.resize(image, nw, nh, filter);
        RgbImage padded = resized.pad(tw, th, (tw - nw) / 2, (th - nh) / 2, 0, 0, 0);
        List<RgbImage> patches = new ArrayList<>();
        patches.add(Resample.resize(image, baseW, baseH, filter));
        for (int y = 0; y + tileH <= th; y += tileH) {
            for (int x = 0; x + tileW <= tw; x += tileW) patches.add(padded.crop(x, y, tileW, tileH));
        }
        if (patchShortestEdge > 0) {
            for (int i = 0; i < patches.size(); i++) {
                RgbImage p = ResizeCropProcessor.resizeShortestEdge(patches.get(i), patchShortestEdge, filter);
                if (p.height() != tileH || p.width() != tileW) p = ResizeCropProcessor.centerCrop(p, tileH, tileW);
                patches.set(i, p);
            }
        }
        int plane = 3 * tileH * tileW;
        float[] out = new float[patches.size() * plane];
        for (int i = 0; i < patches.size(); i++) {
            RgbImage p = patches.get(i);
            if (p.height() != tileH || p.width() != tileW) {
                throw new IllegalStateException(family + ": patch " + i + " is " + p + ", expected " + tileW + "x" + tileH
                        + " (base size and tile size differ; set crop_size equal to size)");
            }
            norm.chw(p, out, i * plane);
        }
        int tokens = visualTokens(h, w, th / tileH, tw / tileW);
        return new ProcessedImage(out, new long[] {1, patches.size(), 3, tileH, tileW}, tokens, h, w, new int[0], 0, 0);
    }

    /** Visual tokens of an {@code h × w} image whose best resolution is {@code rows × cols} base tiles. */
    int visualTokens(int h, int w, int rows, int cols) {
        int curH = patchesPerSide * rows, curW = patchesPerSide * cols;
        double originalAspect = (double) w / h, currentAspect = (double) curW / curH;
        if (originalAspect > currentAspect) {
            int newH = (int) round7(h * ((double) curW / w));
            curH -= ((curH - newH) / 2) * 2;
        } else {
            int newW = (int) round7(w * ((double) curH / h));
            curW -= ((curW - newW) / 2) * 2;
        }
        long unpadded = (long) curH * curW;
        long newlines = curH;
        double ratio = maxNumPatches <= 0 ? 0 : Math.sqrt((double) curH * curW / ((double) maxNumPatches * patchesPerSide * patchesPerSide));
        if (ratio > 1.1) {
            unpadded = (long) Math.floor(curH / ratio) * (long) Math.floor(curW / ratio);
            newlines = (long) Math.floor(curH / ratio);
        }
        return Math.toIntExact(unpadded + newlines + (long) patchesPerSide * patchesPerSide);
    }

    /** Python {@code round(x, 7)}. */
    private static double round7(double x) {
        return new java.math.BigDecimal(x).setScale(7, java.math.RoundingMode.HALF_EVEN).doubleValue();
    }
}
