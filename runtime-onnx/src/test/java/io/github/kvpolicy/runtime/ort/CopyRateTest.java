package io.github.kvpolicy.runtime.ort;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The copy-rate probe the benchmark's bound divides by. */
class CopyRateTest {
    @Test
    void copiesOnTheCpuAndReportsReadPlusWriteBytesPerSecond() {
        CopyRate.Result r = CopyRate.measure(Device.CPU, 0, 16L << 20, 5); // checks the copied content itself before timing
        assertEquals(16L << 20, r.bytes());
        assertTrue(r.medianMs() > 0, "a 16 MiB copy takes time: " + r);
        assertEquals(2.0 * r.bytes() / (r.medianMs() / 1e3), r.bytesPerSecond(), r.bytesPerSecond() * 1e-12);
        assertTrue(r.bytesPerSecond() < 2e12, "no CPU copies 2 TB/s; an elided copy would: " + r);
    }

    @Test
    void refusesSizesTooSmallToTime() {
        assertEquals("bytes must be a multiple of 4 and at least 1 MiB, got 1024",
                assertThrows(IllegalArgumentException.class, () -> CopyRate.measure(Device.CPU, 0, 1024, 5)).getMessage());
        assertEquals("reps must be at least 3, got 1",
                assertThrows(IllegalArgumentException.class, () -> CopyRate.measure(Device.CPU, 0, 1 << 20, 1)).getMessage());
    }
}
