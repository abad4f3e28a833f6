package io.github.kvpolicy.runtime.ort;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** {@link OrtBench} end to end on the tiny preset, and its flag errors. */
class OrtBenchSmokeTest {
    @Test
    void runsOnTheTinyPreset() {
        OrtBench.Options o = OrtBench.Options.parse(new String[] {"--preset", "tiny", "--seed", "7", "--dir", "target/test-models", "--lengths", "20,45",
                "--steps", "6", "--warmup", "2", "--chunk", "16", "--threads", "1", "--scatter-capacities", "64,4096"});
        List<String> log = new ArrayList<>();
        OrtBench.Report r = OrtBench.run(o, log::add);
        assertEquals(2, r.rows().size());
        for (OrtBench.Row row : r.rows()) {
            assertTrue(row.tokensEqual(), "greedy tokens at length " + row.length());
            assertTrue(row.javaStepMs() > 0 && row.ortStepMs() > 0);
        }
        assertEquals(2, r.scatter().size());
        String md = r.markdown();
        assertTrue(md.contains("| 45 |"), md);
        assertTrue(md.contains("| 4096 |"), md);
        assertEquals(2, log.size());
    }

    @Test
    void runsTheResidentPathWithAnFp16KvCache() {
        OrtBench.Options o = OrtBench.Options.parse(new String[] {"--preset", "tiny", "--seed", "7", "--dir", "target/test-models", "--lengths", "20",
                "--steps", "6", "--warmup", "2", "--chunk", "16", "--threads", "1", "--scatter-capacities", "64", "--dtype", "fp16-kv"});
        OrtBench.Report r = OrtBench.run(o, s -> {});
        assertTrue(r.rows().getFirst().tokensEqual(), "fp16 KV resident vs fp32 Java API: same greedy tokens");
        OrtBench.ScatterRow half = r.scatter().getFirst();
        var c = io.github.kvpolicy.runtime.TestModels.preset("tiny");
        long slots = (long) c.numKvHeads() * 64;
        assertEquals(2 * slots * c.headDim() * 2 + 4 * slots, half.cacheBytes(), "fp16 K and V, fp32 mask");
        assertTrue(r.markdown().contains("resident precision fp16-kv"), r.markdown());
    }

    @Test
    void badFlagsSayWhatIsWrong() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OrtBench.Options.parse(new String[] {"--lenghts", "5"}));
        assertTrue(e.getMessage().startsWith("unknown flag --lenghts; known: --preset"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OrtBench.Options.parse(new String[] {"--steps", "x"}));
        assertEquals("--steps: not an integer: 'x'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OrtBench.Options.parse(new String[] {"--lengths", "512,x"}));
        assertEquals("--lengths: not a comma-separated list of integers: '512,x'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OrtBench.Options.parse(new String[] {"--steps", "3", "--warmup", "3"}));
        assertEquals("--steps (3) must exceed --warmup (3)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OrtBench.Options.parse(new String[] {"--device", "tpu"}));
        assertEquals("--device: Invalid device 'tpu': expected one of cpu, cuda", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OrtBench.Options.parse(new String[] {"--out"}));
        assertEquals("--out: needs a value (--out FILE)", e.getMessage());
    }

    @Test
    void flagDefaultsAreTheOptionDefaults() {
        OrtBench.Options d = OrtBench.Options.defaults(), p = OrtBench.Options.parse(new String[0]);
        assertEquals(d.preset(), p.preset());
        assertEquals(d.seed(), p.seed());
        assertEquals(d.dir(), p.dir());
        assertArrayEquals(d.lengths(), p.lengths());
        assertEquals(List.of(d.steps(), d.warmup(), d.chunk(), d.threads()), List.of(p.steps(), p.warmup(), p.chunk(), p.threads()));
        assertEquals(d.device(), p.device());
        assertArrayEquals(d.scatterCapacities(), p.scatterCapacities());
        assertNull(p.out());
        assertArrayEquals(new int[0], OrtBench.Options.parse(new String[] {"--scatter-capacities="}).scatterCapacities());
    }
}
