package io.github.kvpolicy.processing.image;

import io.github.kvpolicy.processing.error.ProcessingException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class ImageLoaderTest {

    @Test
    void alphaIsCompositedOnWhiteLikeTransformers() {
        RgbImage got = ImageLoader.load(ImageFixtures.resource("pil/rgba.png"));
        RgbImage expected = ImageLoader.load(ImageFixtures.resource("pil/rgba_on_white.png"));
        // Pillow's alpha_composite rounds in fixed point; ours in double: at most one level apart
        assertTrue(ImageFixtures.maxAbsDiff(expected, got) <= 1, "max diff " + ImageFixtures.maxAbsDiff(expected, got));
        assertEquals(255, ImageLoader.composite(0, 0));
        assertEquals(77, ImageLoader.composite(77, 255));
    }

    @Test
    void exifOrientationIsAppliedToJpeg() {
        RgbImage raw = ImageLoader.load(ImageFixtures.resource("pil/oriented6_raw.png"));
        RgbImage got = ImageLoader.load(ImageFixtures.resource("pil/oriented6.jpg"));
        RgbImage expected = ImageLoader.load(ImageFixtures.resource("pil/oriented6_transposed.png"));
        assertEquals(30, raw.width());
        assertEquals(20, got.width(), "orientation 6 swaps the sides");
        assertEquals(30, got.height());
        // JPEG decoders (ImageIO vs libjpeg) differ by a few levels near block edges; the layout must match
        assertTrue(ImageFixtures.maxAbsDiff(expected, got) <= 12, "max diff " + ImageFixtures.maxAbsDiff(expected, got));
        // the red quadrant (top-left as stored) is top-right once displayed
        assertTrue(got.get(15, 2, 0) > 200 && got.get(15, 2, 1) < 60, "red at top right");
    }

    @Test
    void everyOrientationMapsCornersLikeExifSays() {
        // 2x1 image: left pixel value 10, right 20 (all channels)
        RgbImage src = new RgbImage(2, 1, new byte[] {10, 10, 10, 20, 20, 20});
        assertEquals(20, ImageLoader.orient(src, 2).get(0, 0, 0)); // mirrored
        assertEquals(20, ImageLoader.orient(src, 3).get(0, 0, 0)); // rotated 180
        RgbImage r6 = ImageLoader.orient(src, 6); // rotate 90 cw to display: left ends on top
        assertEquals(1, r6.width());
        assertEquals(10, r6.get(0, 0, 0));
        RgbImage r8 = ImageLoader.orient(src, 8); // rotate 90 ccw: right ends on top
        assertEquals(20, r8.get(0, 0, 0));
        assertEquals(10, ImageLoader.orient(src, 5).get(0, 0, 0));
        assertEquals(20, ImageLoader.orient(src, 7).get(0, 0, 0));
    }

    @Test
    void greyPngKeepsItsValues(@TempDir Path dir) throws Exception {
        BufferedImage g = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_GRAY);
        g.getRaster().setSample(0, 0, 0, 0);
        g.getRaster().setSample(1, 0, 0, 100);
        g.getRaster().setSample(2, 0, 0, 255);
        Path f = dir.resolve("g.png");
        javax.imageio.ImageIO.write(g, "png", f.toFile());
        RgbImage img = ImageLoader.load(f);
        assertEquals(100, img.get(1, 0, 0));
        assertEquals(100, img.get(1, 0, 2));
        assertEquals(255, img.get(2, 0, 1));
    }

    @Test
    void badFilesNameThemselves(@TempDir Path dir) throws Exception {
        Path txt = dir.resolve("notes.png");
        Files.writeString(txt, "not an image");
        ProcessingException e = assertThrows(ProcessingException.class, () -> ImageLoader.load(txt));
        assertTrue(e.getMessage().startsWith(txt.toString()) && e.getMessage().contains("PNG or JPEG"), e.getMessage());
        ProcessingException missing = assertThrows(ProcessingException.class, () -> ImageLoader.load(dir.resolve("none.jpg")));
        assertTrue(missing.getMessage().contains("none.jpg"), missing.getMessage());
        assertEquals(1, Exif.orientation(new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, (byte) 0xE1, 0, 40, 'E'}), "truncated EXIF is ignored");
    }
}
