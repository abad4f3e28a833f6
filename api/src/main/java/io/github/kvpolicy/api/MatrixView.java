package io.github.kvpolicy.api;

/**
 * A read-only row-major view of a float matrix owned by the runtime (e.g. the keys of one KV head).
 * Valid only during the policy call that produced it; policies must not keep it. Not thread-safe to
 * read while the runtime mutates the cache (it never does during a policy call).
 */
@Stable
public interface MatrixView {
    int rows();

    int cols();

    float get(int row, int col);

    /** Copies row {@code row} into {@code dst[offset .. offset + cols())}. */
    default void copyRow(int row, float[] dst, int offset) {
        for (int c = 0, n = cols(); c < n; c++) dst[offset + c] = get(row, c);
    }

    /** The dot product of row {@code row} with {@code v} (length {@code cols()}). */
    default double dot(int row, float[] v) {
        double s = 0;
        for (int c = 0, n = cols(); c < n; c++) s += (double) get(row, c) * v[c];
        return s;
    }

    /** A view over a row-major array slice; {@code data} is not copied. */
    static MatrixView of(float[] data, int offset, int rows, int cols) {
        if (rows < 0 || cols < 0 || offset < 0 || (long) offset + (long) rows * cols > data.length) {
            throw new IllegalArgumentException("matrix " + rows + "x" + cols + " at offset " + offset + " exceeds array of " + data.length);
        }
        return new MatrixView() {
            @Override public int rows() { return rows; }
            @Override public int cols() { return cols; }
            @Override public float get(int r, int c) {
                if (r < 0 || r >= rows || c < 0 || c >= cols) throw new IndexOutOfBoundsException("(" + r + ", " + c + ") outside " + rows + "x" + cols);
                return data[offset + r * cols + c];
            }
            @Override public void copyRow(int r, float[] dst, int off) {
                if (r < 0 || r >= rows) throw new IndexOutOfBoundsException("row " + r + " outside " + rows);
                System.arraycopy(data, offset + r * cols, dst, off, cols);
            }
        };
    }
}
