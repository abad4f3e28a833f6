package io.github.kvpolicy.processing.image;

/**
 * CLIP, SigLIP and Gemma 3 preprocessing: resize (either the shortest edge to {@code shortestEdge} keeping the
 * aspect ratio, as CLIPImageProcessor does, or to a fixed {@code height × width}, as SigLIP and Gemma 3 do), an
 * optional centre crop, then rescale and normalise. Output shape {@code [1, 3, H, W]}.
 *
 * <p>Shortest-edge size follows transformers' {@code get_resize_output_image_size(default_to_square=False)}:
 * the short side becomes {@code shortestEdge}, the long side {@code int(shortestEdge · long / short)}. The crop
 * origin is {@code ((H − cropH) / 2, (W − cropW) / 2)} rounded down; a crop larger than the image pads with
 * zeros first, as transformers' {@code center_crop} does. {@code LlavaImageProcessor} with {@code do_pad} first
 * pads the image to a square, centred, with the background colour {@code int(image_mean · 255)} (LLaVA's
 * {@code expand2square}). Immutable.
 */
final class ResizeCropProcessor implements ImageProcessor {
    private final String family;
    private final int shortestEdge; // > 0: shortest-edge mode
    private final int height, width; // fixed-size mode when shortestEdge == 0
    private final boolean doResize;
    private final int cropH, cropW; // 0: no crop
    private final Resample.Filter filter;
    private final Normalize norm;
    private final int visualTokens;
    private final int[] padToSquare; // null: no padding; else the background colour

    ResizeCropProcessor(String family, int shortestEdge, int height, int width, boolean doResize, int cropH, int cropW,
                        Resample.Filter filter, Normalize norm, int visualTokens, int[] padToSquare) {
        if (doResize && shortestEdge <= 0 && (height <= 0 || width <= 0)) {
            throw new IllegalArgumentException(family + ": resize needs size.shortest_edge or size.height and size.width");
        }
        this.family = family;
        this.shortestEdge = shortestEdge;
        this.height = height;
        this.width = width;
        this.doResize = doResize;
        this.cropH = cropH;
        this.cropW = cropW;
        this.filter = filter;
        this.norm = norm;
        this.visualTokens = visualTokens;
        this.padToSquare = padToSquare == null ? null : padToSquare.clone();
    }

    @Override
    public String family() {
        return family;
    }

    @Override
    public ProcessedImage process(RgbImage image) {
        RgbImage img = image;
        if (padToSquare != null && img.width() != img.height()) {
            int side = Math.max(img.width(), img.height());
            img = img.pad(side, side, (side - img.width()) / 2, (side - img.height()) / 2, padToSquare[0], padToSquare[1], padToSquare[2]);
        }
        if (doResize) {
            if (shortestEdge > 0) {
                img = resizeShortestEdge(img, shortestEdge, filter);
            } else {
                img = Resample.resize(img, width, height, filter);
            }
        }
        if (cropH > 0 && cropW > 0 && (img.height() != cropH || img.width() != cropW)) img = centerCrop(img, cropH, cropW);
        float[] out = new float[3 * img.width() * img.height()];
        norm.chw(img, out, 0);
        return new ProcessedImage(out, new long[] {1, 3, img.height(), img.width()}, visualTokens, image.height(), image.width(),
                new int[0], 0, 0);
    }

    /** The short side to {@code edge}, the long side {@code int(edge · long / short)} (transformers, {@code default_to_square=False}). */
    static RgbImage resizeShortestEdge(RgbImage img, int edge, Resample.Filter filter) {
        int h = img.height(), w = img.width();
        int s = Math.min(h, w), l = Math.max(h, w);
        int newL = (int) ((long) edge * l / s);
        return Resample.resize(img, h <= w ? newL : edge, h <= w ? edge : newL, filter);
    }

    static RgbImage centerCrop(RgbImage img, int ch, int cw) {
        int h = img.height(), w = img.width();
        if (ch > h || cw > w) { // transformers pads with zeros to at least the crop size, centred
            int nh = Math.max(h, ch), nw = Math.max(w, cw);
            img = img.pad(nw, nh, (nw - w) / 2, (nh - h) / 2, 0, 0, 0);
            h = nh;
            w = nw;
        }
        return img.crop((w - cw) / 2, (h - ch) / 2, cw, ch);
    }
}
