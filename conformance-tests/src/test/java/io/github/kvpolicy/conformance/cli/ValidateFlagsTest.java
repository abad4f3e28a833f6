package io.github.kvpolicy.conformance.cli;

import io.github.kvpolicy.conformance.ConformanceSettings;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The flags of {@link Validate} and {@link ValidateWorker} (parsed by {@code host.cli.Flags}): help, defaults, errors. */
class ValidateFlagsTest {
    static String run(boolean worker, int expectedStatus, String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        assertEquals(expectedStatus, worker ? ValidateWorker.run(out, args) : Validate.run(out, args));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void helpListsEveryFlagWithItsDefault() {
        for (String h : new String[] {"--help", "-h"}) {
            String help = run(false, Validate.OK, h);
            assertTrue(help.startsWith("usage: validate plugin.jar [more.jar ...] [options]\n"), help);
            for (String f : List.of("--seed N|random", "--report-dir DIR", "--policy NAME[,..]", "--contract-only", "--skip-level LEVEL=WHY", "--memory MB",
                    "--check-timeout SECONDS", "--jar-timeout SECONDS", "--shutdown-grace SECONDS", "--help, -h")) {
                assertTrue(help.contains("\n  " + f + " "), f + " in\n" + help);
            }
            assertTrue(help.contains("(default " + ConformanceSettings.DEFAULT_SEED + ")") && help.contains("(default 2048)") && help.contains("(default 300)")
                    && help.contains("(default 1800)") && help.contains("(default 15)") && help.contains("(default conformance-reports)"), help);
            assertTrue(help.endsWith("exit status: 0 all checks passed, 1 a check failed or a plugin could not be loaded, 2 usage error\n"), help);
        }
        assertTrue(run(true, Validate.OK, "--help").contains("--opt-out LEVEL=WHY[;..]"));
    }

    @Test
    void badTimeoutsAreOneLineUsageErrors() {
        String out = run(false, Validate.USAGE, "x.jar", "--check-timeout=0");
        assertTrue(out.startsWith("validate: --check-timeout: must be at least 1: '0'\nusage: "), out);
        out = run(false, Validate.USAGE, "x.jar", "--shutdown-grace", "soon");
        assertTrue(out.startsWith("validate: --shutdown-grace: not an integer: 'soon'\n"), out);
        out = run(false, Validate.USAGE, "x.jar", "--contract-only=yes");
        assertTrue(out.startsWith("validate: --contract-only: takes no value: 'yes'\n"), out);
    }

    @Test
    void workerFlagErrorsAreOneLine() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> run(true, 0, "--bogus"));
        assertTrue(e.getMessage().startsWith("unknown flag --bogus; known: --jar --results --seed --random-seed --report-dir --policy --opt-out --help"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(true, 0, "--jar", "x.jar", "--results", "r.tsv"));
        assertEquals("--jar, --results and --seed are required", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(true, 0, "--jar", "x.jar", "--results", "r.tsv", "--seed", "abc"));
        assertTrue(e.getMessage().startsWith("--seed: Invalid conformance seed 'abc'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> run(true, 0, "--jar", "x.jar", "--results", "r.tsv", "--seed", "1", "--opt-out"));
        assertEquals("--opt-out: needs a value (--opt-out LEVEL=WHY[;..])", e.getMessage());
    }

    @Test
    void theWorkerAcceptsTheCommandTheParentBuilds() {
        Validate.JarRun r = new Validate.JarRun(Path.of("p.jar").toAbsolutePath(), Path.of("r.tsv"));
        List<String> cmd = r.command(7, true, Path.of("reports"), new java.util.LinkedHashSet<>(List.of("a", "b")), "",
                new Validate.Limits(256, java.time.Duration.ofSeconds(1), java.time.Duration.ofSeconds(1), java.time.Duration.ofSeconds(1)));
        List<String> args = cmd.subList(cmd.indexOf(ValidateWorker.class.getName()) + 1, cmd.size());
        var p = ValidateWorker.FLAGS.parse(args.toArray(String[]::new));
        assertEquals(Path.of("p.jar").toAbsolutePath(), p.path("--jar"));
        assertEquals(7L, p.longValue("--seed"));
        assertTrue(p.isSet("--random-seed"));
        assertEquals("", p.string("--opt-out"));
        assertEquals(List.of("a,b"), p.all("--policy"));
    }
}
