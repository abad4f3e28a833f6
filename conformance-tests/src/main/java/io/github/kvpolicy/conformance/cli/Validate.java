package io.github.kvpolicy.conformance.cli;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import io.github.kvpolicy.api.SpiVersion;
import io.github.kvpolicy.api.provider.PolicyLoadException;
import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.conformance.ConformanceSettings;
import io.github.kvpolicy.host.plugin.PluginLoader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.EngineFilter;
import org.junit.platform.launcher.core.LauncherConfig;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.reporting.legacy.xml.LegacyXmlReportGeneratingListener;

/**
 * {@code validate plugin.jar [more.jar …] [--seed N|random] [--report-dir DIR] [--policy NAME[,NAME…]] [--contract-only]}:
 * loads each JAR in its own class loader that sees only the SPI ({@code io.github.kvpolicy.api..}) and the JDK
 * (host's {@link PluginLoader}), discovers its policy providers, runs the conformance suite for each through the
 * JUnit Platform launcher, prints a report (every check passed / failed with the reason / skipped with the
 * reason), writes JUnit XML to {@code DIR/<policy>/} and returns 0 if every check passed, 1 if a check failed or a
 * plugin could not be loaded, 2 on a usage error.
 */
public final class Validate {
    /** Exit codes. */
    public static final int OK = 0, FAILED = 1, USAGE = 2;

    static final String USAGE_TEXT = """
            usage: validate plugin.jar [more.jar ...] [options]
              --seed N|random     base seed of the generated scenarios (default %d); printed for reproduction
              --report-dir DIR    where JUnit XML reports go, one folder per policy (default conformance-reports)
              --policy NAME[,..]  validate only these policies
              --contract-only     skip the end-to-end and quality levels
              --help              this text
            exit status: 0 all checks passed, 1 a check failed or a plugin could not be loaded, 2 usage error
            """.formatted(ConformanceSettings.DEFAULT_SEED);

    private Validate() {}

    public static void main(String... args) {
        System.exit(run(System.out, args));
    }

    /** Runs the command, printing to {@code out}; returns the exit status (never calls System.exit). */
    public static int run(PrintStream out, String... args) {
        List<Path> jars = new ArrayList<>();
        String seedText = null;
        Path reportDir = Path.of("conformance-reports");
        Set<String> only = new LinkedHashSet<>();
        boolean contractOnly = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--help", "-h" -> { out.print(USAGE_TEXT); return OK; }
                case "--seed", "--report-dir", "--policy" -> {
                    if (i + 1 >= args.length) return usage(out, "option " + a + " needs a value");
                    String v = args[++i];
                    if (a.equals("--seed")) seedText = v;
                    else if (a.equals("--report-dir")) reportDir = Path.of(v);
                    else for (String n : v.split(",")) if (!n.isBlank()) only.add(n.trim());
                }
                case "--contract-only" -> contractOnly = true;
                default -> {
                    if (a.startsWith("-")) return usage(out, "unknown option '" + a + "'");
                    jars.add(Path.of(a));
                }
            }
        }
        if (jars.isEmpty()) return usage(out, "no plugin JAR given");
        for (Path j : jars) {
            if (!Files.isRegularFile(j)) return usage(out, "plugin JAR " + j.toAbsolutePath() + " does not exist or is not a file");
        }
        long seed;
        boolean randomSeed = false;
        try {
            if (seedText == null) seed = ConformanceSettings.DEFAULT_SEED;
            else if (seedText.equalsIgnoreCase("random")) {
                seed = new java.security.SecureRandom().nextLong() & Long.MAX_VALUE;
                randomSeed = true;
            } else seed = ConformanceSettings.parseSeed(seedText);
        } catch (IllegalArgumentException e) {
            return usage(out, e.getMessage());
        }

        out.println("kvpolicy validate: conformance suite for SPI version " + SpiVersion.CURRENT + ", seed " + seed
                + (randomSeed ? " (random)" : "") + " (rerun with --seed " + seed + ")");
        PluginLoader loader = new PluginLoader(PolicyProvider.class.getClassLoader());
        PolicyRegistry registry;
        try {
            registry = loader.loadJars(jars);
        } catch (PolicyLoadException e) {
            out.println("LOAD FAILED: " + e.getMessage());
            out.println("RESULT: FAILED");
            return FAILED;
        }
        int problems = 0;
        for (PolicyRegistry.LoadProblem p : registry.problems()) {
            out.println("LOAD PROBLEM: " + p.source() + ": " + p.message());
            problems++;
        }
        for (Path j : jars) {
            String src = j.toAbsolutePath().normalize().toString();
            List<String> names = registry.registrations().stream().filter(r -> r.source().equals(src))
                    .map(r -> r.provider().name() + " " + r.provider().version()).toList();
            out.println("plugin " + src + ": " + (names.isEmpty() ? "no loadable policy" : String.join(", ", names)));
            if (names.isEmpty() && registry.problems().stream().noneMatch(p -> p.source().equals(src))) {
                out.println("LOAD PROBLEM: " + src + ": no policy provider found (list your provider class in "
                        + "META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider)");
                problems++;
            }
        }
        List<PolicyRegistry.Registration> targets = new ArrayList<>();
        for (PolicyRegistry.Registration r : registry.registrations()) if (only.isEmpty() || only.contains(r.provider().name())) targets.add(r);
        for (String n : only) {
            if (!registry.names().contains(n)) return usage(out, "--policy " + n + ": no such policy in the given JARs (found: " + registry.names() + ")");
        }

        int failedPolicies = 0;
        long failedChecks = 0;
        for (PolicyRegistry.Registration r : targets) {
            long f = runSuite(out, r, registry, seed, reportDir, contractOnly);
            failedChecks += f;
            if (f > 0) failedPolicies++;
        }
        out.println();
        boolean ok = failedChecks == 0 && problems == 0 && !targets.isEmpty();
        out.println("RESULT: " + (ok ? "PASSED" : "FAILED") + " — " + targets.size() + " policies validated, " + failedPolicies + " with failed checks ("
                + failedChecks + " failed checks)" + (problems > 0 ? ", " + problems + " load problems" : "") + "; seed " + seed);
        return ok ? OK : FAILED;
    }

    private static long runSuite(PrintStream out, PolicyRegistry.Registration r, PolicyRegistry registry, long seed, Path reportDir, boolean contractOnly) {
        PolicyProvider p = r.provider();
        out.println();
        out.println("== " + p.name() + " " + p.version() + " (" + p.getClass().getName() + ") from " + r.source());
        out.println("   capabilities: " + p.capabilities() + (p.maxCallTime().isPresent() ? ", maxCallTime " + p.maxCallTime().get().toMillis() + " ms" : ""));
        String key = ValidationTargets.register(new ValidationTargets.Target(p, registry));
        ConsoleReport report = new ConsoleReport(out);
        Path dir = reportDir.resolve(p.name());
        long t0 = System.nanoTime();
        try {
            LauncherDiscoveryRequestBuilder b = LauncherDiscoveryRequestBuilder.request()
                    .selectors(selectClass(ExternalPolicyConformance.class))
                    .filters(EngineFilter.includeEngines("junit-jupiter"))
                    .configurationParameter(ConformanceSettings.TARGET, key)
                    .configurationParameter(ConformanceSettings.SEED, Long.toString(seed));
            if (contractOnly) b.filters(TagFilter.excludeTags("end-to-end", "quality"));
            LauncherDiscoveryRequest request = b.build();
            Launcher launcher = LauncherFactory.create(LauncherConfig.builder().enableTestExecutionListenerAutoRegistration(false).build());
            Files.createDirectories(dir);
            PrintWriter xmlErrors = new PrintWriter(new java.io.OutputStreamWriter(out, StandardCharsets.UTF_8), true);
            launcher.execute(request, report, new LegacyXmlReportGeneratingListener(dir, xmlErrors));
        } catch (java.io.IOException e) {
            out.println("  cannot create report directory " + dir.toAbsolutePath() + ": " + e.getMessage());
            return 1;
        } finally {
            ValidationTargets.remove(key);
        }
        long failed = report.count(ConsoleReport.Status.FAILED);
        out.printf("   -- %d passed, %d failed, %d skipped (%.1f s); JUnit XML in %s%n", report.count(ConsoleReport.Status.PASSED), failed,
                report.count(ConsoleReport.Status.SKIPPED), (System.nanoTime() - t0) / 1e9, dir.toAbsolutePath());
        if (report.results().isEmpty()) {
            out.println("   no check ran (is the JUnit Jupiter engine on the class path?)");
            return 1;
        }
        return failed;
    }

    private static int usage(PrintStream out, String problem) {
        out.println("validate: " + problem);
        out.print(USAGE_TEXT);
        return USAGE;
    }
}
