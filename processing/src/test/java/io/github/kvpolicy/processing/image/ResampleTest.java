package io.github.kvpolicy.processing.image;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The resampler against Pillow's Image.resize (references made by resources/pil/make_pil_refs.py). */
class ResampleTest {

    @Test
    void bitIdenticalToPillowForEveryFilterUpAndDown() {
        RgbImage src = ImageLoader.load(ImageFixtures.resource("pil/src.png"));
        assertEquals(37, src.width());
        assertEquals(23, src.height());
        String[] names = {"nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"};
        Resample.Filter[] filters = {Resample.Filter.NEAREST, Resample.Filter.BILINEAR, Resample.Filter.BICUBIC,
            Resample.Filter.LANCZOS, Resample.Filter.BOX, Resample.Filter.HAMMING};
        int[][] sizes = {{17, 11}, {64, 50}, {50, 9}};
        for (int f = 0; f < names.length; f++) {
            for (int[] s : sizes) {
                RgbImage expected = ImageLoader.load(ImageFixtures.resource("pil/" + names[f] + "_" + s[0] + "x" + s[1] + ".png"));
                RgbImage got = Resample.resize(src, s[0], s[1], filters[f]);
                assertEquals(0, ImageFixtures.maxAbsDiff(expected, got), names[f] + " " + s[0] + "x" + s[1]);
            }
        }
    }

    @Test
    void pilCodesAndBadSizes() {
        assertEquals(Resample.Filter.BICUBIC, Resample.Filter.fromPil(3));
        assertEquals(Resample.Filter.LANCZOS, Resample.Filter.fromPil(1));
        assertThrows(IllegalArgumentException.class, () -> Resample.Filter.fromPil(7));
        RgbImage one = new RgbImage(1, 1, new byte[] {1, 2, 3});
        assertThrows(IllegalArgumentException.class, () -> Resample.resize(one, 0, 4, Resample.Filter.BICUBIC));
        assertSame(one, Resample.resize(one, 1, 1, Resample.Filter.BICUBIC));
    }
}
