package io.github.kvpolicy.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BudgetTest {
    @Test
    void parseAndResolve() {
        assertEquals(Budget.ratio(0.1), Budget.parse("10%"));
        assertEquals(Budget.ratio(0.25), Budget.parse("0.25"));
        assertEquals(Budget.count(64), Budget.parse(" 64 "));
        assertEquals(3, Budget.parse("1%").resolve(256)); // 2.56 rounds half up
        assertEquals(26, Budget.ratio(0.1).resolve(256));
        assertEquals(0, Budget.ratio(0.0).resolve(256));
        assertEquals(10, Budget.count(64).resolve(10));
        assertEquals("Invalid budget ratio 1.5: expected a value in [0, 1]", assertThrows(IllegalArgumentException.class, () -> Budget.parse("150%")).getMessage());
        assertEquals("Invalid budget count -3: expected a count >= 0", assertThrows(IllegalArgumentException.class, () -> Budget.count(-3)).getMessage());
    }

    @Test
    void proportionalSharesSumExactlyAndRespectBounds() {
        SplittableRandom rnd = new SplittableRandom(42);
        for (int trial = 0; trial < 500; trial++) {
            int n = 1 + rnd.nextInt(12);
            double[] w = new double[n];
            int[] min = new int[n], max = new int[n];
            long sumMin = 0, sumMax = 0;
            for (int i = 0; i < n; i++) {
                w[i] = rnd.nextDouble() < 0.1 ? -1 : rnd.nextDouble() * 5;
                min[i] = rnd.nextInt(3);
                max[i] = min[i] + rnd.nextInt(20);
                sumMin += min[i];
                sumMax += max[i];
            }
            long total = rnd.nextInt(300);
            int[] out = BudgetAllocation.proportional(total, w, min, max);
            long sum = 0;
            for (int i = 0; i < n; i++) {
                sum += out[i];
                assertEquals(true, out[i] >= min[i] && out[i] <= max[i], "trial " + trial + " index " + i);
            }
            assertEquals(Math.max(sumMin, Math.min(total, sumMax)), sum, "trial " + trial);
        }
        // proportionality when nothing clamps: 1:3 of 8
        assertArrayEquals(new int[] {2, 6}, BudgetAllocation.proportional(8, new double[] {1, 3}, new int[2], new int[] {10, 10}));
        // a clamp moves the excess to the others: weights 1:1:8 of 12 with max 4 on the heavy one
        assertArrayEquals(new int[] {4, 4, 4}, BudgetAllocation.proportional(12, new double[] {1, 1, 8}, new int[3], new int[] {10, 10, 4}));
    }

    @Test
    void topIndicesPrefersHighScoresThenEarlierPositions() {
        assertArrayEquals(new int[] {1, 3}, Evictor.topIndices(new float[] {0.1f, 0.9f, 0.5f, 0.9f}, 2));
        assertArrayEquals(new int[] {0, 1}, Evictor.topIndices(new float[] {1f, 1f, 1f}, 2));
        assertArrayEquals(new int[] {2}, Evictor.topIndices(new float[] {-3f, -2f, -0.0f, -1f}, 1));
        assertArrayEquals(new int[] {}, Evictor.topIndices(new float[] {1f}, 0));
        assertArrayEquals(new int[] {0}, Evictor.topIndices(new float[] {1f}, 5));
    }

    @Test
    void layoutAssignsModalities() {
        RowLayout r = RowLayout.builder().text(2).image(3).text(1).image(2).text(4).build();
        assertEquals(12, r.promptLength());
        assertArrayEquals(new int[] {0, 1, 5}, r.positions(Modality.SYSTEM_TEXT));
        assertArrayEquals(new int[] {8, 9, 10, 11}, r.instructionPositions());
        assertArrayEquals(new int[] {2, 3, 4, 6, 7}, r.visualPositions());
        assertEquals(1, r.imageIndex(7));
        assertEquals(-1, r.imageIndex(8));
        assertEquals(Modality.GENERATED, r.modality(12));
        assertArrayEquals(new int[] {0, 1, 2}, RowLayout.builder().text(3).build().instructionPositions());
        assertEquals("query heads (6) must be a multiple of KV heads (4)", assertThrows(IllegalArgumentException.class, () -> new ModelShape(1, 6, 4, 8)).getMessage());
    }
}
