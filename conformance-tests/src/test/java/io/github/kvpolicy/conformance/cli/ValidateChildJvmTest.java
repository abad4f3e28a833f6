package io.github.kvpolicy.conformance.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Out-of-process judging: plugins that kill, hang or exhaust their JVM, each a real JAR validated in one
 * {@code validate} run in the order exit, halt, loop, oom, hook, example. Each must be reported FAIL with what
 * happened (never a pass), the run must exit non-zero, and the JAR after each must still be validated — the last
 * one, the example plugin, passes.
 */
class ValidateChildJvmTest {
    @TempDir
    static Path work;
    static List<Path> jars;
    static ValidateCommandTest.Run run;
    static long seconds;

    @BeforeAll
    static void validateAll() throws IOException {
        Path example = PluginJars.exampleProject();
        String services = Files.readString(example.resolve("src/main/resources/META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider")).trim();
        jars = List.of(
                broken("exit", "org.acme.ExitingProvider"),
                broken("halt", "org.acme.HaltingProvider"),
                broken("loop", "org.acme.LoopingProvider"),
                broken("oom", "org.acme.HoardingProvider"),
                broken("hook", "org.acme.HookingProvider"),
                PluginJars.build(example.resolve("src/main/java"), work, "example-keynorm.jar", services));
        String[] args = new String[jars.size() + 11];
        for (int i = 0; i < jars.size(); i++) args[i] = jars.get(i).toString();
        System.arraycopy(new String[] {"--contract-only", "--check-timeout", "12", "--shutdown-grace", "3", "--memory", "256",
                "--report-dir", work.resolve("reports").toString(), "--seed", "7"}, 0, args, jars.size(), 11);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        long t0 = System.nanoTime();
        int status = Validate.run(new PrintStream(bytes, true, StandardCharsets.UTF_8), args);
        seconds = (System.nanoTime() - t0) / 1_000_000_000L;
        run = new ValidateCommandTest.Run(status, bytes.toString(StandardCharsets.UTF_8));
        System.out.println(run.output()); // the whole report, in the surefire output file
    }

    /** The JAR of a plugin broken on purpose: its provider compiled with the shared {@code LongPromptDefect} skeleton. */
    private static Path broken(String dir, String provider) throws IOException {
        return PluginJars.build(List.of(Path.of("src/test/plugins", dir), Path.of("src/test/plugins/common")), work, "acme-" + dir + ".jar", provider);
    }

    /** The verdict block of {@code jar} in the summary: its "JAR …: PASSED|FAILED" line and the indented lines after it. */
    static String verdict(String jarName) {
        Path jar = jars.stream().filter(j -> j.getFileName().toString().equals(jarName)).findFirst().orElseThrow().toAbsolutePath().normalize();
        Matcher m = Pattern.compile("^JAR " + Pattern.quote(jar.toString()) + ": .*(\\R   .*)*", Pattern.MULTILINE).matcher(run.output());
        assertTrue(m.find(), () -> "no verdict for " + jarName + " in:\n" + run.output());
        return m.group();
    }

    @Test
    void theRunFailsAndEveryJarGetsAVerdict() {
        assertEquals(Validate.FAILED, run.status(), run.output());
        assertTrue(run.output().contains("RESULT: FAILED — 6 JARs"), run.output());
        for (Path j : jars) verdict(j.getFileName().toString());
    }

    @Test
    void systemExitZeroIsAFailNotAPass() {
        String v = verdict("acme-exit.jar");
        assertTrue(v.contains("FAILED") && v.contains("exited with status 0 before the suite completed") && v.contains("during check '"), v);
    }

    @Test
    void runtimeHaltIsAFail() {
        String v = verdict("acme-halt.jar");
        assertTrue(v.contains("FAILED") && v.contains("before the suite completed") && v.contains("during check '"), v);
    }

    @Test
    void anEndlessLoopIsKilledAtThePerCheckLimit() {
        String v = verdict("acme-loop.jar");
        assertTrue(v.contains("FAILED") && v.contains("ran over the per-check limit of 12 s") && v.contains("of policy 'acme-loop'"), v);
    }

    @Test
    void outOfMemoryIsAFailNamingTheHeapCap() {
        String v = verdict("acme-oom.jar");
        assertTrue(v.contains("FAILED") && v.contains("ran out of memory (heap cap -Xmx256m)"), v);
    }

    @Test
    void aHangingShutdownHookIsKilledAndFails() {
        String v = verdict("acme-hook.jar");
        assertTrue(v.contains("FAILED") && v.contains("hung in shutdown"), v);
    }

    @Test
    void theJarAfterTheBrokenOnesIsStillValidatedAndPasses() {
        String v = verdict("example-keynorm.jar");
        assertTrue(v.startsWith("JAR ") && v.contains(": PASSED (1 policies, 0 failed checks)"), v);
        assertTrue(run.output().contains("== example-keynorm 1.0.0"), run.output());
    }
}
