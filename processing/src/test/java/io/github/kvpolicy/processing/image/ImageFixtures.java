package io.github.kvpolicy.processing.image;

import java.net.URISyntaxException;
import java.nio.file.Path;

final class ImageFixtures {
    private ImageFixtures() {}

    static Path resource(String path) {
        try {
            var url = ImageFixtures.class.getResource("/" + path);
            if (url == null) throw new IllegalStateException("test resource " + path + " missing");
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static int maxAbsDiff(RgbImage a, RgbImage b) {
        if (a.width() != b.width() || a.height() != b.height()) throw new AssertionError("sizes differ: " + a + " vs " + b);
        byte[] x = a.rgb(), y = b.rgb();
        int m = 0;
        for (int i = 0; i < x.length; i++) m = Math.max(m, Math.abs((x[i] & 0xff) - (y[i] & 0xff)));
        return m;
    }
}
