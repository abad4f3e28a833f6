package io.github.kvpolicy.processing.image;

import java.util.ArrayList;
import java.util.List;

/**
 * SmolVLM / Idefics3 preprocessing ({@code Idefics3ImageProcessor}, {@code SmolVLMImageProcessor}):
 * <ol>
 *   <li>resize so the longest edge is {@code size.longest_edge}, the other side {@code int(side · ratio)} made
 *       even;</li>
 *   <li>with {@code do_image_splitting}: resize both sides up to multiples of {@code max_image_size.longest_edge}
 *       (M), and if the image is larger than M×M cut it into {@code rows × cols} tiles of
 *       {@code ceil(H/rows) × ceil(W/cols)} (row-major) followed by the whole image resized to M×M; otherwise
 *       (or without splitting) the single image is resized to M×M;</li>
 *   <li>rescale and normalise each frame. Shape {@code [1, frames, 3, M, M]}.</li>
 * </ol>
 * Visual tokens per frame: {@code (image_size / patch_size)² / scale_factor²}; the prompt expansion
 * ({@code <fake_token_around_image>}, {@code <row_r_col_c>}, {@code <global-img>}) uses
 * {@link ProcessedImage#tileRows()} and {@link ProcessedImage#tileCols()}; {@code visualTokens} counts all
 * frames. Immutable.
 */
final class SmolVlmProcessor implements ImageProcessor {
    private final int longestEdge;
    private final int maxImageSize;
    private final boolean split;
    private final boolean doResize;
    private final Resample.Filter filter;
    private final Normalize norm;
    private final int tokensPerFrame;

    SmolVlmProcessor(int longestEdge, int maxImageSize, boolean split, boolean doResize, Resample.Filter filter, Normalize norm, int tokensPerFrame) {
        this.longestEdge = longestEdge;
        this.maxImageSize = maxImageSize;
        this.split = split;
        this.doResize = doResize;
        this.filter = filter;
        this.norm = norm;
        this.tokensPerFrame = tokensPerFrame;
    }

    @Override
    public String family() {
        return "smolvlm";
    }

    /** Tokens of one frame (a tile or the global image). */
    int tokensPerFrame() {
        return tokensPerFrame;
    }

    @Override
    public ProcessedImage process(RgbImage image) {
        RgbImage img = image;
        if (doResize) {
            int[] hw = rescaleToMaxLen(img.height(), img.width(), longestEdge);
            img = Resample.resize(img, hw[1], hw[0], filter);
        }
        List<RgbImage> frames = new ArrayList<>();
        int rows = 0, cols = 0;
        int m = maxImageSize;
        if (split) {
            int h = img.height(), w = img.width();
            double aspect = (double) w / h;
            if (w >= h) {
                w = ceilTo(w, m);
                h = ceilTo((int) (w / aspect), m);
            } else {
                h = ceilTo(h, m);
                w = ceilTo((int) (h * aspect), m);
            }
            img = Resample.resize(img, w, h, filter);
            if (h > m || w > m) {
                rows = (h + m - 1) / m;
                cols = (w + m - 1) / m;
                int oh = (h + rows - 1) / rows, ow = (w + cols - 1) / cols;
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < cols; c++) {
                        int x0 = c * ow, y0 = r * oh;
                        frames.add(img.crop(x0, y0, Math.min(x0 + ow, w) - x0, Math.min(y0 + oh, h) - y0));
                    }
                }
            }
        }
        frames.add(Resample.resize(img, m, m, filter));
        int fh = frames.getFirst().height(), fw = frames.getFirst().width();
        for (RgbImage f : frames) {
            if (f.height() != fh || f.width() != fw) {
                throw new IllegalStateException("smolvlm: frames of different sizes (" + f + " vs " + fw + "x" + fh + ")");
            }
        }
        int plane = 3 * fh * fw;
        float[] out = new float[frames.size() * plane];
        for (int i = 0; i < frames.size(); i++) norm.chw(frames.get(i), out, i * plane);
        return new ProcessedImage(out, new long[] {1, frames.size(), 3, fh, fw}, tokensPerFrame * frames.size(),
                image.height(), image.width(), new int[0], rows, cols);
    }

    /** Idefics3's {@code _resize_output_size_rescale_to_max_len}: longest edge to {@code maxLen}, the other side even. */
    static int[] rescaleToMaxLen(int h, int w, int maxLen) {
        double aspect = (double) w / h;
        if (w >= h) {
            w = maxLen;
            h = (int) (w / aspect);
            if (h % 2 != 0) h++;
        } else {
            h = maxLen;
            w = (int) (h * aspect);
            if (w % 2 != 0) w++;
        }
        return new int[] {Math.max(h, 1), Math.max(w, 1)};
    }

    private static int ceilTo(int v, int m) {
        return (int) Math.ceil((double) v / m) * m;
    }
}
