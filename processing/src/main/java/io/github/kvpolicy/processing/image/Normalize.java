package io.github.kvpolicy.processing.image;

/**
 * transformers' {@code rescale} then {@code normalize}: {@code out = (v · rescale − mean[c]) / std[c]},
 * computed in double and stored as float32, channel-first. With {@code doRescale}/{@code doNormalize} off the
 * corresponding step is skipped. Immutable.
 */
record Normalize(boolean doRescale, double rescale, boolean doNormalize, double[] mean, double[] std) {
    Normalize {
        mean = mean.clone();
        std = std.clone();
        for (int c = 0; c < 3; c++) {
            if (!(std[c] > 0)) throw new IllegalArgumentException("image_std must be positive, got " + std[c] + " for channel " + c);
        }
    }

    float value(int v, int c) {
        double x = doRescale ? v * rescale : v;
        if (doNormalize) x = (x - mean[c]) / std[c];
        return (float) x;
    }

    /** Writes {@code img} as [3, H, W] floats at {@code offset} of {@code out}. */
    void chw(RgbImage img, float[] out, int offset) {
        int w = img.width(), h = img.height(), plane = w * h;
        byte[] px = img.raw();
        for (int i = 0; i < plane; i++) {
            for (int c = 0; c < 3; c++) out[offset + c * plane + i] = value(px[3 * i + c] & 0xff, c);
        }
    }
}
