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
    void runsWithReducedPrecision() {
        Bench.Report r32 = Bench.run(new Bench.Options("tiny", 7, Path.of("target/test-models"), 64, 3, List.of(0.25, 1.0), 1, 0, 16, 1, Device.CPU, 8, null), s -> {});
        for (var p : List.of(io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision.FP16_KV, io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision.FP16)) {
            Bench.Report r = Bench.run(new Bench.Options("tiny", 7, Path.of("target/test-models"), 64, 3, List.of(0.25, 1.0), 1, 0, 16, 1, Device.CPU, 8, null, p), s -> {});
            assertEquals(r32.ratios().get(1).allocatedBefore(), 2 * r.ratios().get(1).allocatedBefore(), p + ": fp16 K/V take half the bytes");
            assertTrue(r.markdown().contains("device cpu, precision " + p.label() + ","), r.markdown());
        }
    }

    @Test
    void badFlagsAreNamed() {
        IllegalArgumentException d = assertThrows(IllegalArgumentException.class, () -> Bench.Options.parse(new String[] {"--dtype", "fp8"}));
        assertTrue(d.getMessage().contains("dtype must be fp32, fp16-kv or fp16, got \"fp8\""), d.getMessage());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bench.Options.parse(new String[] {"--bogus", "1"}));
        assertTrue(e.getMessage().startsWith("unknown flag --bogus; known: --preset --seed"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Bench.Options.parse(new String[] {"--reps", "x"}));
        assertEquals("--reps: not an integer: 'x'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Bench.Options.parse(new String[] {"--ratios", "0.1,x"}));
        assertEquals("--ratios: not a comma-separated list of numbers: '0.1,x'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Bench.Options.parse(new String[] {"--out"}));
        assertEquals("--out: needs a value (--out FILE)", e.getMessage());
    }

    @Test
    void flagDefaultsAreTheOptionDefaultsAndBothFormsParse() {
        assertEquals(Bench.Options.defaults(), Bench.Options.parse(new String[0]));
        Bench.Options o = Bench.Options.parse(new String[] {"--preset", "tiny", "--seed=7", "--dir", "d", "--prompt", "64", "--decode", "3", "--ratios", "0.25, 1.0",
                "--reps", "2", "--warmup", "0", "--chunk", "16", "--threads", "1", "--device", "cpu", "--probe-window", "8", "--out", "o.md"});
        assertEquals(new Bench.Options("tiny", 7, Path.of("d"), 64, 3, List.of(0.25, 1.0), 2, 0, 16, 1, Device.CPU, 8, Path.of("o.md")), o);
        assertEquals(io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision.FP16, Bench.Options.parse(new String[] {"--dtype=fp16"}).dtype());
        assertTrue(Bench.FLAGS.help().contains("--ratios R,..  "), Bench.FLAGS.help());
    }
}
