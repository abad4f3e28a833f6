package io.github.kvpolicy.cli.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.github.kvpolicy.api.provider.PolicyProvider;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged distribution as a user runs it: {@code bin/kvpolicy validate} (which runs
 * {@code cli/target/kvpolicy-cli.jar} with {@code cli/target/lib}) on plugin JARs compiled here from source —
 * the example third-party plugin (must pass) and a plugin that ignores its budget (must fail with exit 1).
 * Runs after {@code package} (the {@code packaged-distribution} surefire execution); a missing distribution is a
 * failure, not a skip. Regression test for "Cannot create Launcher without at least one TestEngine": the Jupiter
 * engine must be in {@code target/lib}.
 */
class PackagedValidateIT {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path LAUNCHER = ROOT.resolve("bin/kvpolicy");
    static final Path LIB = ROOT.resolve("cli/target/lib");

    @TempDir
    static Path work;
    static Path exampleJar;
    static Path greedyJar;

    @BeforeAll
    static void buildPluginJars() throws IOException {
        // -Dtest=... also selects this class in the default (pre-package) surefire run: it belongs to the later one
        assumeTrue(Boolean.getBoolean("kvpolicy.packaged"), "runs in the packaged-distribution execution, after package");
        assertTrue(Files.isRegularFile(ROOT.resolve("cli/target/kvpolicy-cli.jar")) && Files.isDirectory(LIB),
                "the packaged distribution (cli/target/kvpolicy-cli.jar + cli/target/lib) is missing: run ./mvnw verify -pl cli -am");
        Path example = ROOT.resolve("examples/third-party-policy");
        String services = Files.readString(example.resolve("src/main/resources/META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider")).trim();
        exampleJar = jar(example.resolve("src/main/java"), "example-keynorm-policy.jar", services);
        Path greedySrc = Files.createDirectories(work.resolve("greedy-src/org/acme"));
        Files.writeString(greedySrc.resolve("GreedyProvider.java"), """
                package org.acme;
                import io.github.kvpolicy.api.*;
                import io.github.kvpolicy.api.provider.*;
                public final class GreedyProvider extends AbstractPolicyProvider {
                    public GreedyProvider() { super("acme-greedy", "0.1", "Keeps everything whatever the budget (broken on purpose)."); }
                    @Override public CompressionPolicy create(PolicyOptions o, CreationContext c) {
                        return new CompressionPolicy() {
                            @Override public String name() { return "acme-greedy"; }
                            @Override public TokenScorer scorer() { return TokenScores::forContext; }
                            @Override public RetentionPlan compress(PolicyContext ctx) { return RetentionPlan.keepAll(ctx.cache()); }
                        };
                    }
                }
                """);
        greedyJar = jar(work.resolve("greedy-src"), "acme-greedy.jar", "org.acme.GreedyProvider");
    }

    /** Compiles {@code sources} against the SPI only and packs a plugin JAR listing {@code provider} as its service. */
    static Path jar(Path sources, String name, String provider) throws IOException {
        Path classes = Files.createDirectories(work.resolve(name + "-classes"));
        List<String> args = new ArrayList<>(List.of("-d", classes.toString(), "--release", "25", "-cp", location(PolicyProvider.class).toString()));
        try (Stream<Path> s = Files.walk(sources)) {
            s.filter(p -> p.toString().endsWith(".java")).forEach(p -> args.add(p.toString()));
        }
        assertEquals(0, ToolProvider.getSystemJavaCompiler().run(null, null, null, args.toArray(String[]::new)), "javac failed for " + sources);
        Path jar = work.resolve(name);
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar)); Stream<Path> s = Files.walk(classes)) {
            for (Path p : s.filter(Files::isRegularFile).sorted().toList()) {
                out.putNextEntry(new JarEntry(classes.relativize(p).toString().replace(File.separatorChar, '/')));
                Files.copy(p, out);
                out.closeEntry();
            }
            out.putNextEntry(new JarEntry("META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider"));
            OutputStream o = out;
            o.write((provider + "\n").getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
        }
        return jar;
    }

    static Path location(Class<?> c) {
        try {
            return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    record Run(int status, String output) {}

    /** Runs {@code bin/kvpolicy args…} with this JVM's JDK as JAVA_HOME; stdout and stderr together. */
    static Run kvpolicy(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("sh", LAUNCHER.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(work.toFile()).redirectErrorStream(true);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("KVPOLICY_JAVA_OPTS");
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "bin/kvpolicy did not finish");
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    static int count(String text, String regex) {
        Matcher m = Pattern.compile(regex, Pattern.MULTILINE).matcher(text);
        int n = 0;
        while (m.find()) n++;
        return n;
    }

    @Test
    void theLibraryFolderShipsTheJupiterEngine() throws IOException {
        try (Stream<Path> s = Files.list(LIB)) {
            List<String> names = s.map(p -> p.getFileName().toString()).toList();
            assertTrue(names.stream().anyMatch(n -> n.startsWith("junit-jupiter-engine-")), "no junit-jupiter-engine in " + LIB + ": " + names);
            assertTrue(names.stream().anyMatch(n -> n.startsWith("junit-platform-launcher-")), "no junit-platform-launcher in " + LIB + ": " + names);
        }
    }

    @Test
    void shippedValidatePassesTheExamplePlugin() throws Exception {
        Path reports = work.resolve("reports-example");
        Run r = kvpolicy("validate", exampleJar.toString(), "--report-dir", reports.toString());
        assertTrue(!r.output().contains("Cannot create Launcher"), r.output());
        assertEquals(0, r.status(), r.output());
        assertTrue(r.output().contains("example-keynorm 1.0.0"), r.output());
        assertTrue(r.output().contains("RESULT: PASSED"), r.output());
        assertEquals(0, count(r.output(), "^  FAIL  "), r.output());
        assertTrue(count(r.output(), "^  PASS  ") >= 20, r.output());
        assertTrue(Files.isRegularFile(reports.resolve("example-keynorm/TEST-junit-jupiter.xml")), "no JUnit XML report under " + reports);
    }

    @Test
    void shippedValidateFailsABrokenPluginAndStillValidatesTheNextJar() throws Exception {
        Run r = kvpolicy("validate", greedyJar.toString(), exampleJar.toString(), "--contract-only", "--report-dir", work.resolve("reports-two").toString());
        assertEquals(1, r.status(), r.output());
        assertTrue(r.output().contains("  FAIL  [contract] the budget is honoured exactly as the budget mode declares"), r.output());
        assertTrue(r.output().contains("== example-keynorm 1.0.0"), r.output());
        assertTrue(r.output().contains("RESULT: FAILED"), r.output());
    }
}
