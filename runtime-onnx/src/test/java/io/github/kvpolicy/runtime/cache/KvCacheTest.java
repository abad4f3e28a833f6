package io.github.kvpolicy.runtime.cache;

import io.github.kvpolicy.api.MatrixView;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.RetentionPlan;
import org.junit.jupiter.api.Test;

import java.nio.FloatBuffer;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.*;

class KvCacheTest {
    static final ModelShape SHAPE = new ModelShape(3, 4, 2, 8);

    /** [B, Hkv, S, D] with a value that encodes (tag, row, head, token, dim). */
    static float[] present(int b, int hkv, int s, int d, int tag, int offset) {
        float[] a = new float[b * hkv * s * d];
        for (int r = 0; r < b; r++)
            for (int h = 0; h < hkv; h++)
                for (int t = 0; t < s; t++)
                    for (int x = 0; x < d; x++) a[((r * hkv + h) * s + t) * d + x] = value(tag, r, h, offset + t, x);
        return a;
    }

    static float value(int tag, int r, int h, int pos, int x) {
        return tag * 1_000_000f + r * 100_000f + h * 10_000f + pos * 10f + x * 0.5f;
    }

    /** Appends positions [from, from + n_r) to every layer; keys tagged 1, values 2 (layer added to the tag). */
    static void fill(KvCache c, int from, int s, int[] counts) {
        int b = c.batchSize();
        int[][] pos = new int[b][];
        for (int r = 0; r < b; r++) {
            pos[r] = new int[counts[r]];
            for (int i = 0; i < counts[r]; i++) pos[r][i] = from + i;
        }
        for (int l = 0; l < c.shape().layers(); l++) {
            c.append(l, FloatBuffer.wrap(present(b, c.shape().kvHeads(), s, c.shape().headDim(), 1 + 10 * l, from)),
                    FloatBuffer.wrap(present(b, c.shape().kvHeads(), s, c.shape().headDim(), 2 + 10 * l, from)), s, counts, pos);
        }
    }

    @Test
    void appendStoresRowsInSlotOrderWithMaskAndPositions() {
        try (KvCache c = new KvCache(SHAPE, 2, 4)) {
            fill(c, 0, 5, new int[] {5, 3});  // row 1 is padded after 3 tokens
            fill(c, 5, 1, new int[] {1, 0});  // row 1 finished
            assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5}, c.positions(0, 1, 1));
            assertArrayEquals(new int[] {0, 1, 2}, c.positions(1, 2, 0));
            assertEquals(6, c.length(0, 0, 0));
            assertEquals(3, c.length(1, 0, 1));
            MatrixView k = c.keys(1, 2, 1);
            assertEquals(3, k.rows());
            assertEquals(8, k.cols());
            assertEquals(value(21, 1, 1, 2, 3), k.get(2, 3));
            float[] row = new float[8];
            c.values(0, 0, 1).copyRow(5, row, 0);
            assertEquals(value(2, 0, 1, 5, 7), row[7]);
            // mask: 0 on live slots, MASKED elsewhere; capacity grew from 4
            int cap = c.capacity(0);
            assertTrue(cap >= 6, "capacity " + cap);
            FloatBuffer m = c.maskBuffer(0);
            assertEquals(2 * 2 * cap, m.remaining());
            for (int r = 0; r < 2; r++)
                for (int h = 0; h < 2; h++)
                    for (int s = 0; s < cap; s++) {
                        boolean live = s < c.length(r, 0, h);
                        assertEquals(live ? 0f : KvCache.MASKED, m.get((r * 2 + h) * cap + s), "slot " + s);
                    }
            // the key buffer is the [B, Hkv, cap, D] tensor
            FloatBuffer kb = c.keyBuffer(2);
            assertEquals(2 * 2 * c.capacity(2) * 8, kb.remaining());
            assertEquals(value(21, 0, 1, 4, 6), kb.get(((0 * 2 + 1) * c.capacity(2) + 4) * 8 + 6));
        }
    }

    @Test
    void growthKeepsContentsAndBumpsVersion() {
        try (KvCache c = new KvCache(SHAPE, 1, 2)) {
            long v0 = c.version(0);
            for (int t = 0; t < 40; t++) fill(c, t, 1, new int[] {1});
            assertNotEquals(v0, c.version(0));
            assertTrue(c.capacity(0) >= 40 && c.capacity(0) < 80, "geometric growth, capacity " + c.capacity(0));
            for (int t = 0; t < 40; t++) assertEquals(value(11, 0, 1, t, 2), c.keys(0, 1, 1).get(t, 2));
        }
    }

    @Test
    void rejectsNonAscendingAppend() {
        try (KvCache c = new KvCache(SHAPE, 1, 8)) {
            fill(c, 0, 3, new int[] {3});
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> fill(c, 2, 1, new int[] {1}));
            assertTrue(e.getMessage().contains("new position 2 does not follow 2"), e.getMessage());
        }
    }

    @Test
    void compactKeepsPlannedTokensAndShrinksEachLayerToItsLargestKeptList() {
        try (KvCache c = new KvCache(SHAPE, 2, 1)) {
            fill(c, 0, 20, new int[] {20, 12});
            List<LayerBytes> before = c.layerBytes();
            RetentionPlan.Builder b = RetentionPlan.builder(2, 3, 2);
            Random rnd = new Random(3);
            int[][][][] kept = new int[2][3][2][];
            for (int r = 0; r < 2; r++)
                for (int l = 0; l < 3; l++)
                    for (int h = 0; h < 2; h++) {
                        int n = c.length(r, l, h);
                        kept[r][l][h] = rnd.ints(0, n).distinct().limit(1 + l * 2 + h).sorted().toArray();
                        b.set(r, l, h, kept[r][l][h]);
                    }
            RetentionPlan plan = b.build();
            CompactionReport rep = c.compact(plan, 0);
            assertEquals(before, rep.before());
            for (int l = 0; l < 3; l++) {
                int maxKept = 0;
                long live = 0;
                for (int r = 0; r < 2; r++)
                    for (int h = 0; h < 2; h++) {
                        maxKept = Math.max(maxKept, kept[r][l][h].length);
                        live += kept[r][l][h].length;
                        assertArrayEquals(kept[r][l][h], c.positions(r, l, h));
                        for (int i = 0; i < kept[r][l][h].length; i++) {
                            assertEquals(value(1 + 10 * l, r, h, kept[r][l][h][i], 5), c.keys(r, l, h).get(i, 5));
                            assertEquals(value(2 + 10 * l, r, h, kept[r][l][h][i], 1), c.values(r, l, h).get(i, 1));
                        }
                    }
                LayerBytes after = rep.after().get(l);
                assertEquals(maxKept, after.capacity(), "layer " + l + " capacity = largest kept list");
                assertEquals(2L * 2 * 2 * maxKept * 8 * 4, after.allocatedBytes());
                assertEquals(2L * live * 8 * 4, after.liveBytes());
                assertTrue(after.allocatedBytes() < before.get(l).allocatedBytes());
                assertTrue(after.liveBytes() < before.get(l).liveBytes());
            }
            assertNotEquals(rep.after().get(0).capacity(), rep.after().get(2).capacity(), "layers differ physically");
            assertEquals(rep.allocatedAfter(), c.bytes());
            // appending after compaction continues each (row, head) list
            fill(c, 20, 1, new int[] {1, 1});
            int[] p = c.positions(1, 2, 1);
            assertEquals(20, p[p.length - 1]);
        }
    }

    @Test
    void keepAllPlanChangesNothingAndReserveAddsHeadroom() {
        try (KvCache c = new KvCache(SHAPE, 1, 1)) {
            fill(c, 0, 20, new int[] {20});
            assertEquals(20, c.capacity(1), "a large append grows to exactly what it needs");
            long v = c.version(1);
            CompactionReport rep = c.compact(RetentionPlan.keepAll(c), 5);
            assertEquals(rep.before(), rep.after());
            assertEquals(v, c.version(1));
            c.reserve(5);
            assertEquals(25, c.capacity(1));
            assertArrayEquals(IntStream.range(0, 20).toArray(), c.positions(0, 1, 0));
        }
    }

    @Test
    void invalidPlanThrowsAndLeavesCacheUnchanged() {
        try (KvCache c = new KvCache(SHAPE, 1, 1)) {
            fill(c, 0, 6, new int[] {6});
            RetentionPlan.Builder b = RetentionPlan.builder(1, 3, 2);
            for (int l = 0; l < 3; l++) b.setLayer(0, l, new int[] {0, 2});
            b.set(0, 2, 1, new int[] {3, 1});
            long v0 = c.version(0);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.compact(b.build(), 0));
            assertTrue(e.getMessage().contains("row 0, layer 2, KV head 1"), e.getMessage());
            b.set(0, 2, 1, new int[] {1, 9});
            e = assertThrows(IllegalArgumentException.class, () -> c.compact(b.build(), 0));
            assertTrue(e.getMessage().contains("position 9 is not cached"), e.getMessage());
            assertEquals(v0, c.version(0));
            assertEquals(6, c.length(0, 0, 0));
        }
    }

    @Test
    void closedCacheRefusesAccess() {
        KvCache c = new KvCache(SHAPE, 1, 4);
        fill(c, 0, 2, new int[] {2});
        MatrixView k = c.keys(0, 0, 0);
        c.close();
        c.close();
        assertThrows(IllegalStateException.class, () -> k.get(0, 0));
        assertThrows(IllegalStateException.class, () -> c.length(0, 0, 0));
    }
}
