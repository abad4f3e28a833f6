package io.github.kvpolicy.runtime.model.safetensors;

import java.util.Arrays;

/**
 * One tensor's header entry in a safetensors file.
 *
 * @param name  the tensor name
 * @param dtype element type
 * @param shape dimensions (row-major, may be empty for a scalar); callers must not modify the array
 * @param begin byte offset of the first element, relative to the start of the data section
 * @param end   byte offset one past the last element, relative to the start of the data section
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {

    /** Number of elements (product of the shape; 1 for a scalar). */
    public long numel() {
        return numel(shape);
    }

    /** Size in bytes ({@code end - begin}). */
    public long byteSize() {
        return end - begin;
    }

    /** Product of dims, failing on overflow. */
    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** The shape as a string such as {@code [4, 8]}. */
    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + ":" + dtype + shapeString() + "@[" + begin + "," + end + ")";
    }
}
