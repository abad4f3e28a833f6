package io.github.kvpolicy.processing.image;

/**
 * Reads the EXIF orientation tag (0x0112) from a JPEG's APP1 segment. Returns 1 (normal) for anything else:
 * not a JPEG, no EXIF, a malformed or truncated segment. Never throws on bad bytes.
 */
final class Exif {
    private Exif() {}

    static int orientation(byte[] b) {
        try {
            if (b.length < 4 || (b[0] & 0xff) != 0xFF || (b[1] & 0xff) != 0xD8) return 1;
            int p = 2;
            while (p + 4 <= b.length) {
                if ((b[p] & 0xff) != 0xFF) return 1;
                int marker = b[p + 1] & 0xff;
                if (marker == 0xDA || marker == 0xD9) return 1; // start of scan: no more metadata
                int len = ((b[p + 2] & 0xff) << 8) | (b[p + 3] & 0xff);
                if (marker == 0xE1 && len >= 8 && p + 10 <= b.length && b[p + 4] == 'E' && b[p + 5] == 'x' && b[p + 6] == 'i'
                        && b[p + 7] == 'f' && b[p + 8] == 0 && b[p + 9] == 0) {
                    int o = tiffOrientation(b, p + 10, Math.min(b.length, p + 2 + len));
                    if (o >= 1) return o;
                }
                p += 2 + len;
            }
        } catch (ArrayIndexOutOfBoundsException e) {
            return 1;
        }
        return 1;
    }

    private static int tiffOrientation(byte[] b, int t, int end) {
        if (t + 8 > end) return -1;
        boolean le;
        if (b[t] == 'I' && b[t + 1] == 'I') le = true;
        else if (b[t] == 'M' && b[t + 1] == 'M') le = false;
        else return -1;
        int ifd = u32(b, t + 4, le);
        int p = t + ifd;
        if (ifd < 8 || p + 2 > end) return -1;
        int n = u16(b, p, le);
        for (int i = 0; i < n; i++) {
            int e = p + 2 + 12 * i;
            if (e + 12 > end) return -1;
            if (u16(b, e, le) == 0x0112) {
                int v = u16(b, e + 8, le);
                return v >= 1 && v <= 8 ? v : -1;
            }
        }
        return -1;
    }

    private static int u16(byte[] b, int p, boolean le) {
        return le ? (b[p] & 0xff) | ((b[p + 1] & 0xff) << 8) : ((b[p] & 0xff) << 8) | (b[p + 1] & 0xff);
    }

    private static int u32(byte[] b, int p, boolean le) {
        return le ? u16(b, p, true) | (u16(b, p + 2, true) << 16) : (u16(b, p, false) << 16) | u16(b, p + 2, false);
    }
}
