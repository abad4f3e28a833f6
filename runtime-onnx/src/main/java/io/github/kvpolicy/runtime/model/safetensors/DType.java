package io.github.kvpolicy.runtime.model.safetensors;

import java.util.Locale;
import java.util.Set;

/**
 * The safetensors element types this project reads and writes. All are little-endian IEEE-style
 * floats; {@link #F16} and {@link #BF16} are widened exactly to {@code float} on read.
 */
public enum DType {
    /** IEEE 754 binary32. */
    F32(4),
    /** IEEE 754 binary16. */
    F16(2),
    /** bfloat16 (the upper 16 bits of a binary32). */
    BF16(2);

    /** Dtype names the safetensors format defines but this reader does not accept. */
    static final Set<String> KNOWN_UNSUPPORTED = Set.of(
            "F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL",
            "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64");

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element (4 or 2). */
    public int bytes() {
        return bytes;
    }

    /** Parses a header dtype string; {@code null} when it is not one of F32, F16, BF16. */
    static DType parseOrNull(String s) {
        for (DType d : values()) {
            if (d.name().equals(s)) return d;
        }
        return null;
    }

    /** bfloat16 bits → float (exact). */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** float → bfloat16 bits, round-to-nearest-even; NaN stays a (quiet) NaN. */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if ((x & 0x7fffffff) > 0x7f800000) {
            return (short) ((x >>> 16) | 0x0040);
        }
        int rounding = 0x7fff + ((x >>> 16) & 1);
        return (short) ((x + rounding) >>> 16);
    }

    /** binary16 bits → float (exact). */
    public static float f16ToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** float → binary16 bits, round-to-nearest-even (values beyond ±65504 become ±inf). */
    public static short floatToF16(float f) {
        return Float.floatToFloat16(f);
    }

    @Override
    public String toString() {
        return name().toUpperCase(Locale.ROOT);
    }
}
