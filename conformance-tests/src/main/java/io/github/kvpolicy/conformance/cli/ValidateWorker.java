package io.github.kvpolicy.conformance.cli;

import io.github.kvpolicy.host.plugin.ProviderDiscovery;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import io.github.kvpolicy.api.provider.PolicyLoadException;
import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.conformance.ConformanceSettings;
import io.github.kvpolicy.host.cli.Flags;
import io.github.kvpolicy.host.plugin.PluginLoader;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.platform.launcher.EngineFilter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.core.LauncherConfig;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.reporting.legacy.xml.LegacyXmlReportGeneratingListener;

/**
 * The child-JVM side of {@link Validate}: validates one plugin JAR and exits. Started by the parent as
 * {@code java -Xmx… -cp <the distribution's class path> io.github.kvpolicy.conformance.cli.ValidateWorker
 * --jar J --results F --seed N [--random-seed] [--report-dir D] [--policy A,B] [--opt-out level=reason;…]}.
 *
 * <p>It loads the JAR in its own class loader that sees only the SPI and the JDK, checks every policy name against
 * the built-in policies (the providers on this JVM's class path), runs the suite for each provider through the
 * JUnit Platform, prints the human-readable report on stdout and records everything in the
 * {@link ResultStream} file {@code F}: {@code HELLO} first, {@code DONE} with the exit status last. Exit status 0
 * if every check passed, 1 otherwise, 2 on bad arguments (which only {@link Validate} should ever pass).
 */
public final class ValidateWorker {
    private ValidateWorker() {}

    /** The flags {@link Validate} passes (see the class comment). */
    static final Flags FLAGS = new Flags("ValidateWorker --jar J --results F --seed N [flags]   (started by validate, not by hand)")
            .value("--jar", "JAR", null, "required: the plugin JAR")
            .value("--results", "FILE", null, "required: the result stream file")
            .value("--seed", "N", null, "required: base seed of the generated scenarios")
            .flag("--random-seed", "the seed was drawn at random (shown in the report)")
            .value("--report-dir", "DIR", "conformance-reports", "where JUnit XML reports go")
            .repeatable("--policy", "NAME[,..]", "validate only these policies")
            .value("--opt-out", "LEVEL=WHY[;..]", "", "levels opted out, with reasons");

    public static void main(String... args) {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        int status;
        try {
            status = run(out, args);
        } catch (IllegalArgumentException e) {
            out.println("validate worker: " + e.getMessage());
            status = Validate.USAGE;
        }
        out.flush();
        System.exit(status);
    }

    static int run(PrintStream out, String... args) {
        Flags.Parsed p = FLAGS.parse(args);
        if (p.helpRequested()) {
            out.print(p.help());
            return Validate.OK;
        }
        Path jar = p.path("--jar"), results = p.path("--results"), reportDir = p.path("--report-dir");
        Long seed = p.as("--seed", ConformanceSettings::parseSeed);
        boolean randomSeed = p.isSet("--random-seed");
        Set<String> only = new LinkedHashSet<>();
        for (String v : p.all("--policy")) for (String n : v.split(",")) if (!n.isBlank()) only.add(n.trim());
        String optOut = p.string("--opt-out");
        if (jar == null || results == null || seed == null) throw new IllegalArgumentException("--jar, --results and --seed are required");
        ConformanceSettings.parseOptOuts(optOut); // fail early on a malformed value
        try (ResultStream.Writer stream = new ResultStream.Writer(results)) {
            stream.write(ResultStream.Kind.HELLO, ProcessHandle.current().pid());
            int status = validateJar(out, stream, jar, seed, randomSeed, reportDir, only, optOut);
            stream.write(ResultStream.Kind.DONE, status);
            return status;
        }
    }

    private static int validateJar(PrintStream out, ResultStream.Writer stream, Path jar, long seed, boolean randomSeed, Path reportDir,
                                   Set<String> only, String optOut) {
        String src = jar.toAbsolutePath().normalize().toString();
        ClassLoader host = PolicyProvider.class.getClassLoader();
        PolicyRegistry loaded;
        try {
            loaded = new PluginLoader(host).loadJars(List.of(jar));
        } catch (PolicyLoadException e) {
            problem(out, stream, src, e.getMessage());
            return Validate.FAILED;
        }
        int problems = 0;
        for (PolicyRegistry.LoadProblem p : loaded.problems()) {
            problem(out, stream, p.source(), p.message());
            problems++;
        }
        List<String> names = loaded.registrations().stream().map(r -> r.provider().name()).toList();
        List<Object> plugin = new ArrayList<>();
        plugin.add(src);
        plugin.addAll(names);
        stream.write(ResultStream.Kind.PLUGIN, plugin.toArray());
        out.println("plugin " + src + ": " + (names.isEmpty() ? "no loadable policy"
                : String.join(", ", loaded.registrations().stream().map(r -> r.provider().name() + " " + r.provider().version()).toList())));
        if (names.isEmpty() && loaded.problems().isEmpty()) {
            problem(out, stream, src, "no policy provider found (list your provider class in META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider)");
            problems++;
        }

        // the built-in policies (this JVM's class path): a plugin may nest them, and must not reuse their names
        Map<String, PolicyRegistry.Registration> builtIns = new LinkedHashMap<>();
        try {
            PolicyRegistry b = ProviderDiscovery.fromClassLoader(host);
            for (PolicyRegistry.Registration r : b.registrations()) builtIns.put(r.provider().name(), r);
        } catch (RuntimeException e) {
            // two built-ins with one name: not the plugin's fault; nested policies then come from the plugin only
        }
        PolicyRegistry.Builder nested = PolicyRegistry.builder();
        List<PolicyRegistry.Registration> targets = new ArrayList<>();
        for (PolicyRegistry.Registration r : loaded.registrations()) {
            PolicyRegistry.Registration clash = builtIns.get(r.provider().name());
            if (clash != null) {
                problem(out, stream, src, "policy name '" + r.provider().name() + "' (" + r.provider().getClass().getName()
                        + ") collides with the built-in policy of that name (" + clash.provider().getClass().getName() + " from " + clash.source()
                        + "); rename the plugin's policy");
                problems++;
                continue;
            }
            nested.add(r.provider(), r.source());
            if (only.isEmpty() || only.contains(r.provider().name())) targets.add(r);
        }
        for (PolicyRegistry.Registration r : builtIns.values()) {
            if (!names.contains(r.provider().name())) nested.add(r.provider(), r.source());
        }
        PolicyRegistry registry = nested.build();

        long failedChecks = 0;
        for (PolicyRegistry.Registration r : targets) failedChecks += runSuite(out, stream, r, registry, seed, randomSeed, reportDir, optOut);
        return failedChecks == 0 && problems == 0 && (!targets.isEmpty() || !only.isEmpty()) ? Validate.OK : Validate.FAILED;
    }

    private static void problem(PrintStream out, ResultStream.Writer stream, String source, String message) {
        out.println("LOAD PROBLEM: " + source + ": " + message);
        stream.write(ResultStream.Kind.PROBLEM, source, message);
    }

    private static long runSuite(PrintStream out, ResultStream.Writer stream, PolicyRegistry.Registration r, PolicyRegistry registry, long seed,
                                 boolean randomSeed, Path reportDir, String optOut) {
        PolicyProvider p = r.provider();
        out.println();
        out.println("== " + p.name() + " " + p.version() + " (" + p.getClass().getName() + ") from " + r.source());
        out.println("   capabilities: " + p.capabilities() + (p.maxCallTime().isPresent() ? ", maxCallTime " + p.maxCallTime().get().toMillis() + " ms" : ""));
        ConformanceSettings.parseOptOuts(optOut).forEach((level, reason) -> out.println("   level " + level + " opted out: " + reason));
        stream.write(ResultStream.Kind.POLICY, p.name(), p.version(), p.getClass().getName());
        String key = ValidationTargets.register(new ValidationTargets.Target(p, registry));
        ConsoleReport report = new ConsoleReport(out, stream);
        Path dir = reportDir.resolve(p.name());
        long t0 = System.nanoTime();
        try {
            LauncherDiscoveryRequestBuilder b = LauncherDiscoveryRequestBuilder.request()
                    .selectors(selectClass(ExternalPolicyConformance.class))
                    .filters(EngineFilter.includeEngines("junit-jupiter"))
                    .configurationParameter(ConformanceSettings.TARGET, key)
                    .configurationParameter(ConformanceSettings.SEED, Long.toString(seed))
                    .configurationParameter(ConformanceSettings.OPT_OUT, optOut);
            if (randomSeed) b.configurationParameter(ConformanceSettings.RANDOM_SEED, "true");
            Launcher launcher = LauncherFactory.create(LauncherConfig.builder().enableTestExecutionListenerAutoRegistration(false).build());
            Files.createDirectories(dir);
            PrintWriter xmlErrors = new PrintWriter(new java.io.OutputStreamWriter(out, StandardCharsets.UTF_8), true);
            launcher.execute(b.build(), report, new LegacyXmlReportGeneratingListener(dir, xmlErrors));
        } catch (IOException e) {
            out.println("  cannot create report directory " + dir.toAbsolutePath() + ": " + e.getMessage());
            stream.write(ResultStream.Kind.RESULT, ConsoleReport.Status.FAILED.name(), "(report)", "JUnit XML report",
                    "cannot create report directory " + dir.toAbsolutePath() + ": " + e.getMessage());
            return 1;
        } finally {
            ValidationTargets.remove(key);
        }
        long failed = report.count(ConsoleReport.Status.FAILED);
        out.printf("   -- %d passed, %d failed, %d skipped (%.1f s); JUnit XML in %s%n", report.count(ConsoleReport.Status.PASSED), failed,
                report.count(ConsoleReport.Status.SKIPPED), (System.nanoTime() - t0) / 1e9, dir.toAbsolutePath());
        stream.write(ResultStream.Kind.POLICY_END, p.name(), report.count(ConsoleReport.Status.PASSED), failed, report.count(ConsoleReport.Status.SKIPPED));
        if (report.results().isEmpty()) {
            out.println("   no check ran (is the JUnit Jupiter engine on the class path?)");
            stream.write(ResultStream.Kind.RESULT, ConsoleReport.Status.FAILED.name(), "(suite)", "the suite",
                    "no check ran (is the JUnit Jupiter engine on the class path?)");
            return 1;
        }
        return failed;
    }
}
