package io.github.kvpolicy.runtime.bench;

import io.github.kvpolicy.runtime.ort.Device;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The benchmark's code path on the tiny model (the real benchmark is run by hand; see docs/benchmarks.md). */
class BenchSmokeTest {
    @Test
    void runsEndToEndOnTheTinyModel() {
        Bench.Options o = new Bench.Options("tiny", 7, Path.of("target/test-models"), 64, 3, List.of(0.25, 1.0), 1, 0, 16, 1, Device.CPU, 8, null);
        Bench.Report r = Bench.run(o, s -> {});
        assertEquals(2, r.ratios().size());
        Bench.RatioRow quarter = r.ratios().get(0), all = r.ratios().get(1);
        assertEquals(16, quarter.keptPerHead(), "25% of 64 candidates");
        assertEquals(64, all.keptPerHead());
        // live bytes after = kept / prompt of before (every head keeps the same count here)
        assertEquals(quarter.liveBefore() / 4, quarter.liveAfter());
        assertTrue(quarter.allocatedAfter() < quarter.allocatedBefore());
        assertEquals(all.liveBefore(), all.liveAfter());
        assertTrue(r.prefillMs() > 0 && quarter.decodeMsPerToken() > 0 && r.probePolicyMs() > 0);
        assertTrue(r.markdown().contains("| 25% | 16 |"), r.markdown());
    }

    @Test
    void badFlagsAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bench.Options.parse(new String[] {"--bogus", "1"}));
        assertTrue(e.getMessage().startsWith("unknown option --bogus"), e.getMessage());
    }
}
