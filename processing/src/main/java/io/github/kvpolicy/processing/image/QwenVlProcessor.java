package io.github.kvpolicy.processing.image;

/**
 * Qwen2-VL / Qwen2.5-VL preprocessing ({@code Qwen2VLImageProcessor}): {@link #smartResize} to multiples of
 * {@code patch_size · merge_size} with the pixel count inside {@code [min_pixels, max_pixels]}, resize (bicubic
 * by default), rescale, normalise, repeat the frame {@code temporal_patch_size} times and cut into patches:
 * output {@code [gridT·gridH·gridW, C·T·P·P]} with rows ordered (t, h-block, w-block, h-in-block, w-in-block)
 * for merge blocks of {@code merge_size²} patches, columns ordered (channel, frame, row, column);
 * {@code image_grid_thw = [1, H/P, W/P]}. Visual tokens: {@code gridH·gridW / merge_size²}. Immutable.
 */
final class QwenVlProcessor implements ImageProcessor {
    private final String family;
    private final int patch, merge, temporal;
    private final long minPixels, maxPixels;
    private final Resample.Filter filter;
    private final Normalize norm;

    QwenVlProcessor(String family, int patch, int merge, int temporal, long minPixels, long maxPixels, Resample.Filter filter, Normalize norm) {
        this.family = family;
        this.patch = patch;
        this.merge = merge;
        this.temporal = temporal;
        this.minPixels = minPixels;
        this.maxPixels = maxPixels;
        this.filter = filter;
        this.norm = norm;
    }

    @Override
    public String family() {
        return family;
    }

    /**
     * transformers' {@code smart_resize}: {@code [height, width]} rounded (Python's half-even {@code round}) to
     * multiples of {@code factor}, scaled down (floor) when above {@code maxPixels} or up (ceil) when below {@code minPixels}.
     *
     * @throws IllegalArgumentException when the aspect ratio exceeds 200, as transformers refuses it
     */
    static int[] smartResize(int height, int width, int factor, long minPixels, long maxPixels) {
        if ((double) Math.max(height, width) / Math.min(height, width) > 200) {
            throw new IllegalArgumentException("absolute aspect ratio must be smaller than 200, got " + height + "x" + width);
        }
        int hBar = Math.max(factor, (int) Math.rint((double) height / factor) * factor);
        int wBar = Math.max(factor, (int) Math.rint((double) width / factor) * factor);
        if ((long) hBar * wBar > maxPixels) {
            double beta = Math.sqrt((double) height * width / maxPixels);
            hBar = Math.max(factor, (int) Math.floor(height / beta / factor) * factor);
            wBar = Math.max(factor, (int) Math.floor(width / beta / factor) * factor);
        } else if ((long) hBar * wBar < minPixels) {
            double beta = Math.sqrt((double) minPixels / ((double) height * width));
            hBar = (int) Math.ceil(height * beta / factor) * factor;
            wBar = (int) Math.ceil(width * beta / factor) * factor;
        }
        return new int[] {hBar, wBar};
    }

    @Override
    public ProcessedImage process(RgbImage image) {
        int[] hw = smartResize(image.height(), image.width(), patch * merge, minPixels, maxPixels);
        RgbImage img = Resample.resize(image, hw[1], hw[0], filter);
        int H = hw[0], W = hw[1];
        float[] chw = new float[3 * H * W];
        norm.chw(img, chw, 0);
        int gh = H / patch, gw = W / patch;
        int cols = 3 * temporal * patch * patch;
        int rows = gh * gw;
        float[] out = new float[rows * cols];
        int row = 0;
        for (int hb = 0; hb < gh / merge; hb++) {
            for (int wb = 0; wb < gw / merge; wb++) {
                for (int mh = 0; mh < merge; mh++) {
                    for (int mw = 0; mw < merge; mw++, row++) {
                        int y0 = (hb * merge + mh) * patch, x0 = (wb * merge + mw) * patch;
                        int col = 0;
                        for (int c = 0; c < 3; c++) {
                            for (int t = 0; t < temporal; t++) {
                                for (int py = 0; py < patch; py++) {
                                    System.arraycopy(chw, c * H * W + (y0 + py) * W + x0, out, row * cols + col, patch);
                                    col += patch;
                                }
                            }
                        }
                    }
                }
            }
        }
        return new ProcessedImage(out, new long[] {rows, cols}, rows / (merge * merge), image.height(), image.width(),
                new int[] {1, gh, gw}, 0, 0);
    }
}
