package io.github.kvpolicy.runtime.ort;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * {@link OrtGpuCheck}, through {@code runtime.bench.GpuCheck} as {@code scripts/gpu-check.sh run --device cpu} runs it
 * (with the GenerationSession check), in a separate JVM (it exits with its status): every check passes on the CPU;
 * bad flags exit 2 with one line.
 */
class OrtGpuCheckTest {
    record Outcome(int exit, String output) {}

    static Outcome run(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), "io.github.kvpolicy.runtime.bench.GpuCheck"));
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile("gpu-check-", ".log");
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            assertTrue(p.waitFor(240, TimeUnit.SECONDS), "OrtGpuCheck did not finish in 240 s");
            return new Outcome(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    @Test
    void passesOnTheCpu() throws Exception {
        Path bench = Path.of("target", "gpu-check-bench.md").toAbsolutePath();
        Outcome o = run("--device", "cpu", "--work", Path.of("target", "test-models").toAbsolutePath().toString(), "--testbed",
                Path.of("..", "testbed", "model").toAbsolutePath().toString(), "--bench-preset", "tiny", "--bench-lengths", "30", "--bench-steps", "6",
                "--bench-out", bench.toString());
        assertEquals(0, o.exit(), o.output());
        for (String check : new String[] {"binding", "cross-check tiny", "cross-check testbed", "fp16-kv tiny", "fp16-kv testbed", "fp16 tiny",
                "fp16 testbed", "generation session", "bench grid", "bench", "bench fp16"}) {
            assertTrue(o.output().contains("PASS " + check + " ("), check + ":\n" + o.output());
        }
        assertTrue(o.output().contains("gpu-check: ALL PASSED (device cpu)"), o.output());
        assertTrue(Files.readString(bench).contains("| 30 |"));
        Path bench16 = bench.resolveSibling("gpu-check-bench-fp16.md");
        assertTrue(Files.readString(bench16).contains("resident precision fp16"), Files.readString(bench16));
        Path grid = Path.of("target", "test-models", "bench-grid-cpu.md").toAbsolutePath();
        assertTrue(Files.readString(grid).contains("÷ copy rate"), Files.readString(grid));
        assertTrue(o.output().contains("| 32 | 2 | 50% |"), o.output());
    }

    @Test
    void badFlagsExitTwoWithOneLine() throws Exception {
        Outcome o = run("--device", "cpu");
        assertEquals(2, o.exit(), o.output());
        assertTrue(o.output().contains("gpu-check: --work DIR is required"), o.output());
        o = run("--device", "cpu", "--work", "target/x", "--testbed", "target/no-such-model");
        assertEquals(2, o.exit(), o.output());
        assertTrue(o.output().contains("gpu-check: --testbed target/no-such-model holds no config.json"), o.output());
    }

    @Test
    void helpListsTheFlagsAndBadValuesAreOneLine() throws Exception {
        Outcome o = run("--help");
        assertEquals(0, o.exit(), o.output());
        assertTrue(o.output().contains("--bench-lengths N,..") && o.output().contains("(default 512,2048)"), o.output());
        o = run("--work", "target/x", "--bench-steps", "x");
        assertEquals(2, o.exit(), o.output());
        assertEquals("gpu-check: --bench-steps: not an integer: 'x'", o.output().strip());
        o = run("--work", "target/x", "--frobnicate");
        assertEquals(2, o.exit(), o.output());
        assertTrue(o.output().strip().startsWith("gpu-check: unknown flag --frobnicate; known: --device --work"), o.output());
    }
}
