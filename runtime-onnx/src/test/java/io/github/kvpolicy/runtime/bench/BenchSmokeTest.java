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
        // device memory from ORT's arenas (CPU arenas here): in the middle of decoding they hold at least the live cache
        assertNotNull(r.deviceMemory(), "the CPU arenas keep statistics");
        System.out.println(r.markdown());
        for (Bench.RatioRow row : r.ratios()) assertTrue(row.deviceInUse() >= row.allocatedAfter(), row.toString());
        assertTrue(all.deviceInUse() - quarter.deviceInUse() >= all.allocatedAfter() - quarter.allocatedAfter(), "keeping 25% needs less device memory");
        assertTrue(r.deviceMemory().reserved() >= r.deviceMemory().inUse() && r.deviceMemory().peakInUse() >= r.deviceMemory().inUse(), r.deviceMemory().toString());
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
        Bench.Options grid = Bench.Options.parse(new String[] {"--prompt", "2048,32768", "--batch", "1,8", "--copy-gbps", "4300"});
        assertEquals(List.of(2048, 32768), grid.prompts());
        assertEquals(List.of(1, 8), grid.batches());
        assertEquals(4300.0, grid.copyGBps());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bench.Options.parse(new String[] {"--batch", "0"}));
        assertEquals("--batch: every size must be >= 1, got [0]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Bench.Options.parse(new String[] {"--prompt", "64,4"}));
        assertEquals("--prompt: every length must be >= 8, got [64, 4]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Bench.Options.parse(new String[] {"--copy-gbps", "-1"}));
        assertEquals("--copy-gbps: must be >= 0, got -1.0", e.getMessage());
    }

    @Test
    void measuresTheGridWithItsBandwidthBound() {
        Bench.Options o = new Bench.Options("tiny", 7, Path.of("target/test-models"), List.of(32, 48), List.of(1, 2), 4, List.of(0.5, 1.0), 1, 0, 16, 1,
                Device.CPU, 8, null, io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision.FP32, 0);
        Bench.Report r = Bench.run(o, s -> {});
        assertEquals(2 * 2 * 2, r.ratios().size(), "prompt × batch × ratio");
        assertTrue(r.copyBytesPerSecond() > 1e8 && r.copyBytesPerSecond() < 1e13, "a measured copy rate: " + r.copyBytesPerSecond());
        for (Bench.RatioRow row : r.ratios()) {
            assertTrue(row.boundMs() > 0 && row.decodeMsPerToken() > 0 && row.prefillMs() > 0, row.toString());
            // the bound is the bytes a step must read over the copy rate
            var shape = r.shape();
            long perToken = 2L * shape.layers() * shape.kvHeads() * shape.headDim() * 4;
            double want = (r.stepWeightBytes() + row.liveAfter() + perToken * row.batch() * 2) / r.copyBytesPerSecond() * 1e3;
            assertEquals(want, row.boundMs(), want * 1e-9, row.toString());
        }
        Bench.RatioRow one = r.ratios().get(2), two = r.ratios().get(4); // rows in prompt, batch, ratio order
        assertEquals(32, one.prompt());
        assertEquals(2, one.batch());
        assertEquals(48, two.prompt());
        assertEquals(1, two.batch());
        Bench.RatioRow p32b1 = r.ratios().get(0);
        assertEquals(2 * p32b1.liveBefore(), one.liveBefore(), "two rows hold twice the cache");
        assertTrue(r.markdown().contains("| 48 | 2 | 50% |"), r.markdown());
        assertTrue(r.markdown().contains("÷ copy rate"), r.markdown());
    }

    @Test
    void stepWeightBytesMatchThePeersCountOnTheQwen2_7bShape() {
        var cfg = io.github.kvpolicy.runtime.model.RandomWeights.preset("qwen2-7b");
        // shared/gpu/peer_torch_decode.py: per layer qkv (+bias), o, gate+up, down, two norms; one embedding row; the head
        long h = 3584, qh = 28, kh = 4, d = 128, ff = 18944, v = 152064, layers = 28;
        long perLayer = h * (qh + 2 * kh) * d + (qh + 2 * kh) * d + qh * d * h + h * 2 * ff + ff * h + 2 * h;
        double peer = (layers * perLayer + h + h * v) * 2.0;
        long ours = Bench.stepWeightBytes(cfg, io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision.FP16);
        assertEquals(peer, ours, peer * 1e-4, "fp16: " + ours + " vs the peer's " + peer);
        assertEquals(14.1e9, ours, 0.1e9, "the issue's 14.1 GB");
        long fp32 = Bench.stepWeightBytes(cfg, io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision.FP16_KV);
        assertTrue(fp32 > 1.99 * ours && fp32 < 2.0 * ours, "fp16-kv keeps fp32 matrices: " + fp32);
    }
}
