package io.github.kvpolicy.conformance.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.conformance.Check;
import io.github.kvpolicy.conformance.ConformanceSettings;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The validate command on real plugin JARs built from source: the example project, a broken plugin, a leaky one. */
class ValidateCommandTest {
    @TempDir
    static Path work;
    static Path exampleJar;
    static Path greedyJar;

    @BeforeAll
    static void buildJars() throws IOException {
        Path example = PluginJars.exampleProject();
        String services = Files.readString(example.resolve("src/main/resources/META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider")).trim();
        exampleJar = PluginJars.build(example.resolve("src/main/java"), work, "example-keynorm.jar", services);
        greedyJar = PluginJars.build(Path.of("src/test/plugins/overbudget"), work, "acme-greedy.jar", "org.acme.GreedyProvider");
    }

    record Run(int status, String output) {}

    static Run validate(String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int status = Validate.run(new PrintStream(bytes, true, StandardCharsets.UTF_8), args);
        return new Run(status, bytes.toString(StandardCharsets.UTF_8));
    }

    static int count(String text, String regex) {
        Matcher m = Pattern.compile(regex, Pattern.MULTILINE).matcher(text);
        int n = 0;
        while (m.find()) n++;
        return n;
    }

    @Test
    void theExamplePluginPassesAndGetsAReportAndJUnitXml() throws IOException {
        Path reports = work.resolve("reports-example");
        Run r = validate(exampleJar.toString(), "--report-dir", reports.toString());
        assertEquals(Validate.OK, r.status(), r.output());
        assertTrue(r.output().contains("plugin " + exampleJar.toAbsolutePath().normalize() + ": example-keynorm 1.0.0"), r.output());
        assertTrue(r.output().contains("RESULT: PASSED"), r.output());
        assertEquals(0, count(r.output(), "^  FAIL  "), r.output());
        // every check is reported exactly once, as passed or skipped (with a reason)
        assertEquals(Check.values().length, count(r.output(), "^  (PASS|SKIP)  "), r.output());
        assertTrue(r.output().contains("  SKIP  [capability DECODING_TIME] over many decode steps the cache stays within budget + slack — capability DECODING_TIME is not declared"), r.output());
        Path xml = reports.resolve("example-keynorm").resolve("TEST-junit-jupiter.xml");
        assertTrue(Files.isRegularFile(xml), "no JUnit XML at " + xml);
        String x = Files.readString(xml);
        assertEquals(Check.values().length, count(x, "<testcase "), x);
        assertTrue(x.contains("failures=\"0\""), x);
    }

    @Test
    void aBrokenPluginFailsWithTheReasonAndTheSeed() {
        Run r = validate(greedyJar.toString(), "--report-dir", work.resolve("reports-greedy").toString(), "--seed", "42", "--contract-only");
        assertEquals(Validate.FAILED, r.status(), r.output());
        assertTrue(r.output().contains("  FAIL  [contract] the budget is honoured exactly as the budget mode declares"), r.output());
        assertTrue(r.output().contains("-D" + ConformanceSettings.SEED + "=42"), r.output());
        assertTrue(r.output().contains("requires min(L·H·B"), r.output());
        assertTrue(r.output().contains("RESULT: FAILED"), r.output());
    }

    @Test
    void severalJarsArePolicyFilteredAndEachPluginIsIsolated() throws IOException {
        Path leaky = PluginJars.build(Path.of("src/test/plugins/leaky"), work, "acme-leaky.jar", "org.acme.LeakyProvider");
        Run r = validate(exampleJar.toString(), greedyJar.toString(), leaky.toString(), "--policy", "example-keynorm", "--contract-only",
                "--report-dir", work.resolve("reports-many").toString());
        // the leaky plugin cannot see the suite's classes: a load problem, so the run fails although example-keynorm passes
        assertEquals(Validate.FAILED, r.status(), r.output());
        assertTrue(r.output().matches("(?s).*LOAD PROBLEM: .*acme-leaky\\.jar: .*SyntheticCache.*"), r.output());
        assertTrue(r.output().contains("== example-keynorm"), r.output());
        assertTrue(!r.output().contains("== acme-greedy"), r.output());
        assertEquals(0, count(r.output(), "^  FAIL  "), r.output());
    }

    @Test
    void aJarWithoutServicesFileIsAFailure() throws IOException {
        Path noServices = PluginJars.build(Path.of("src/test/plugins/overbudget"), work, "no-services.jar", null);
        Run r = validate(noServices.toString(), "--report-dir", work.resolve("reports-none").toString());
        assertEquals(Validate.FAILED, r.status(), r.output());
        assertTrue(r.output().contains("META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider"), r.output());
    }

    @Test
    void usageErrorsExitWith2AndSayWhatIsWrong() {
        Run none = validate();
        assertEquals(Validate.USAGE, none.status());
        assertTrue(none.output().contains("no plugin JAR given"), none.output());
        Run missing = validate(work.resolve("nope.jar").toString());
        assertEquals(Validate.USAGE, missing.status());
        assertTrue(missing.output().contains("nope.jar does not exist"), missing.output());
        Run seed = validate(exampleJar.toString(), "--seed", "abc");
        assertEquals(Validate.USAGE, seed.status());
        assertTrue(seed.output().contains("Invalid conformance seed 'abc'"), seed.output());
        Run policy = validate(exampleJar.toString(), "--policy", "nope");
        assertEquals(Validate.USAGE, policy.status());
        assertTrue(policy.output().contains("--policy nope: no such policy"), policy.output());
        Run memory = validate(exampleJar.toString(), "--memory", "lots");
        assertEquals(Validate.USAGE, memory.status());
        assertTrue(memory.output().contains("validate: --memory: not an integer: 'lots'"), memory.output());
        Run small = validate(exampleJar.toString(), "--memory", "32");
        assertEquals(Validate.USAGE, small.status());
        assertTrue(small.output().contains("validate: --memory: must be at least 64: '32'"), small.output());
        Run level = validate(exampleJar.toString(), "--skip-level", "speed=too slow");
        assertEquals(Validate.USAGE, level.status());
        assertTrue(level.output().contains("unknown level 'speed'"), level.output());
        Run reason = validate(exampleJar.toString(), "--skip-level", "end-to-end");
        assertEquals(Validate.USAGE, reason.status());
        assertTrue(reason.output().contains("give a reason"), reason.output());
        Run option = validate(exampleJar.toString(), "--frobnicate");
        assertEquals(Validate.USAGE, option.status());
        assertTrue(option.output().contains("validate: unknown flag --frobnicate; known: --seed --report-dir --policy"), option.output());
        Run value = validate(exampleJar.toString(), "--report-dir");
        assertEquals(Validate.USAGE, value.status());
        assertTrue(value.output().contains("validate: --report-dir: needs a value (--report-dir DIR)"), value.output());
    }

    @Test
    void aNameCollidingWithABuiltInPolicyIsAClearFailure() throws IOException {
        // on this test class path the "built-ins" are the suite's fixture policies, e.g. reference-knorm
        Path src = Files.createDirectories(work.resolve("clash-src/org/acme"));
        Files.writeString(src.resolve("ClashProvider.java"), Files.readString(Path.of("src/test/plugins/overbudget/org/acme/GreedyProvider.java"))
                .replace("GreedyProvider", "ClashProvider").replace("\"acme-greedy\"", "\"reference-knorm\""));
        Path clash = PluginJars.build(work.resolve("clash-src"), work, "clash.jar", "org.acme.ClashProvider");
        Run r = validate(clash.toString(), exampleJar.toString(), "--contract-only", "--report-dir", work.resolve("reports-clash").toString());
        assertEquals(Validate.FAILED, r.status(), r.output());
        assertTrue(r.output().contains("policy name 'reference-knorm' (org.acme.ClashProvider) collides with the built-in policy of that name ("
                + "io.github.kvpolicy.conformance.fixtures.ReferencePolicies$KeyNorm"), r.output());
        assertTrue(r.output().contains("== example-keynorm 1.0.0"), r.output());
        assertTrue(r.output().matches("(?s).*JAR \\S*clash\\.jar: FAILED.*JAR \\S*example-keynorm\\.jar: PASSED.*"), r.output());
    }

    @Test
    void twoJarsProvidingOneNameFailBothNamingBoth() throws IOException {
        Path copy = Files.copy(exampleJar, work.resolve("example-keynorm-copy.jar"));
        Run r = validate(exampleJar.toString(), copy.toString(), "--contract-only", "--report-dir", work.resolve("reports-dup").toString());
        assertEquals(Validate.FAILED, r.status(), r.output());
        assertTrue(r.output().contains("policy name 'example-keynorm' is provided by " + exampleJar.toAbsolutePath().normalize() + " and by "
                .replace(" and by ", " and ") + copy.toAbsolutePath().normalize()), r.output());
        assertEquals(2, count(r.output(), "^JAR .*: FAILED"), r.output());
    }
}
