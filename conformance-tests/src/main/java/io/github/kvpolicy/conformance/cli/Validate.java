package io.github.kvpolicy.conformance.cli;

import io.github.kvpolicy.api.SpiVersion;
import io.github.kvpolicy.conformance.ConformanceSettings;
import io.github.kvpolicy.host.cli.Flags;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * {@code validate plugin.jar [more.jar …] [options]}: runs the conformance suite against plugin JARs, each in its
 * own child JVM, and judges each JAR from the child's structured {@link ResultStream} and from how the child ended.
 *
 * <p>Each child is the same {@code java} binary with this JVM's class path (the distribution's), a heap cap
 * ({@code --memory}) and {@code -XX:+ExitOnOutOfMemoryError}; it runs {@link ValidateWorker}, which loads the JAR
 * in its own class loader that sees only the SPI and the JDK. The parent enforces a wall-clock limit per check
 * ({@code --check-timeout}, from the check's START record) and per JAR ({@code --jar-timeout}), and a grace period
 * for the child to exit after its completion record ({@code --shutdown-grace}).
 *
 * <p>Invariants of the verdict: a JAR passes only if its child wrote a completion record ({@code DONE}), exited by
 * itself with the status that record announced, every check it recorded passed or was skipped with a reason, it
 * had no load problem, and no policy name collides with a built-in or with another given JAR's. Everything else —
 * an early exit (even with status 0), a kill for time, death by out-of-memory, a hang in shutdown — is a FAIL
 * naming what happened and the check that was running; the remaining JARs are still validated. The exit status is
 * 0 if every JAR passed, 1 otherwise, 2 on a usage error. Temporary result files are created in a fresh temporary
 * directory and deleted; JUnit XML goes to {@code DIR/<policy>/}.
 */
public final class Validate {
    /** Exit codes. */
    public static final int OK = 0, FAILED = 1, USAGE = 2;
    /** Defaults of the child JVM limits. */
    public static final int DEFAULT_MEMORY_MB = 2048, DEFAULT_CHECK_TIMEOUT_S = 300, DEFAULT_JAR_TIMEOUT_S = 1800, DEFAULT_SHUTDOWN_GRACE_S = 15;

    /** The flags; {@code --policy} and {@code --skip-level} may be repeated, the other value flags: the last one counts. */
    static final Flags FLAGS = new Flags("validate plugin.jar [more.jar ...] [options]")
            .positionals("plugin.jar ...", "the plugin JARs to validate, each in its own child JVM")
            .value("--seed", "N|random", Long.toString(ConformanceSettings.DEFAULT_SEED), "base seed of the generated scenarios; printed for reproduction")
            .value("--report-dir", "DIR", "conformance-reports", "where JUnit XML reports go, one folder per policy")
            .repeatable("--policy", "NAME[,..]", "validate only these policies")
            .flag("--contract-only", "opt out of the end-to-end and quality levels (shown in the report)")
            .repeatable("--skip-level", "LEVEL=WHY", "opt out of one level (end-to-end or quality) with a reason (shown in the report)")
            .value("--memory", "MB", Integer.toString(DEFAULT_MEMORY_MB), "heap cap of each JAR's child JVM (>= 64)")
            .value("--check-timeout", "SECONDS", Integer.toString(DEFAULT_CHECK_TIMEOUT_S), "wall-clock limit of one check")
            .value("--jar-timeout", "SECONDS", Integer.toString(DEFAULT_JAR_TIMEOUT_S), "wall-clock limit of one JAR's whole run")
            .value("--shutdown-grace", "SECONDS", Integer.toString(DEFAULT_SHUTDOWN_GRACE_S), "how long a child may take to exit after its last check");

    static final String USAGE_TEXT = FLAGS.help() + """
            Each JAR runs in its own child JVM; a child that exits early, is killed for time or memory, or hangs in
            shutdown fails that JAR, naming what happened, and the other JARs still run.
            exit status: 0 all checks passed, 1 a check failed or a plugin could not be loaded, 2 usage error
            """;

    private Validate() {}

    public static void main(String... args) {
        System.exit(run(System.out, args));
    }

    /** The child JVM limits. */
    record Limits(int memoryMb, Duration perCheck, Duration perJar, Duration shutdownGrace) {}

    /** Runs the command, printing to {@code out}; returns the exit status (never calls System.exit). */
    public static int run(PrintStream out, String... args) {
        List<Path> jars = new ArrayList<>();
        String seedText;
        Path reportDir;
        Set<String> only = new LinkedHashSet<>();
        Map<String, String> optOuts = new LinkedHashMap<>();
        int memory, checkTimeout, jarTimeout, grace;
        try {
            Flags.Parsed p = FLAGS.parse(args);
            if (p.helpRequested()) {
                out.print(USAGE_TEXT);
                return OK;
            }
            seedText = p.has("--seed") ? p.string("--seed") : null;
            reportDir = p.path("--report-dir");
            for (String v : p.all("--policy")) for (String n : v.split(",")) if (!n.isBlank()) only.add(n.trim());
            for (String v : p.all("--skip-level")) optOuts.putAll(ConformanceSettings.parseOptOuts(v.replace(";", ",")));
            if (p.isSet("--contract-only")) {
                optOuts.putIfAbsent(ConformanceSettings.LEVEL_END_TO_END, "--contract-only given");
                optOuts.putIfAbsent(ConformanceSettings.LEVEL_QUALITY, "--contract-only given");
            }
            memory = p.intAtLeast("--memory", 64);
            checkTimeout = p.intAtLeast("--check-timeout", 1);
            jarTimeout = p.intAtLeast("--jar-timeout", 1);
            grace = p.intAtLeast("--shutdown-grace", 1);
            for (String j : p.positionals()) jars.add(Path.of(j));
        } catch (IllegalArgumentException e) {
            return usage(out, e.getMessage());
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
        Limits limits = new Limits(memory, Duration.ofSeconds(checkTimeout), Duration.ofSeconds(jarTimeout), Duration.ofSeconds(grace));

        out.println("kvpolicy validate: conformance suite for SPI version " + SpiVersion.CURRENT + ", seed " + seed
                + (randomSeed ? " (random)" : "") + " (rerun with --seed " + seed + ")");
        out.println("each JAR in its own JVM: -Xmx" + memory + "m, " + checkTimeout + " s per check, " + jarTimeout + " s per JAR");
        StringBuilder optOut = new StringBuilder();
        optOuts.forEach((level, reason) -> {
            out.println("level " + level + " opted out: " + reason);
            optOut.append(optOut.isEmpty() ? "" : ";").append(level).append('=').append(reason.replace(";", ","));
        });

        Path tmp;
        try {
            tmp = Files.createTempDirectory("kvpolicy-validate-");
        } catch (IOException e) {
            out.println("validate: cannot create a temporary directory for the result streams: " + e.getMessage());
            return FAILED;
        }
        List<JarRun> runs = new ArrayList<>();
        try {
            for (int i = 0; i < jars.size(); i++) {
                JarRun run = new JarRun(jars.get(i).toAbsolutePath().normalize(), tmp.resolve("results-" + i + ".tsv"));
                runs.add(run);
                run.execute(out, seed, randomSeed, reportDir, only, optOut.toString(), limits);
            }
        } finally {
            for (JarRun r : runs) deleteQuietly(r.results);
            deleteQuietly(tmp);
        }

        // a policy name may be provided once: across the given JARs (each child checked the built-ins)
        Map<String, List<JarRun>> byName = new LinkedHashMap<>();
        for (JarRun r : runs) for (String n : r.names) byName.computeIfAbsent(n, k -> new ArrayList<>()).add(r);
        byName.forEach((name, rs) -> {
            if (rs.size() < 2) return;
            String where = String.join(" and ", rs.stream().map(r -> r.jar.toString()).toList());
            for (JarRun r : rs) r.verdicts.add("FAIL: policy name '" + name + "' is provided by " + where + "; a name may be used once");
        });
        Set<String> found = new TreeSet<>(byName.keySet());
        for (String n : only) {
            if (!found.contains(n)) return usage(out, "--policy " + n + ": no such policy in the given JARs (found: " + found + ")");
        }

        out.println();
        int failedJars = 0;
        long failedChecks = 0, policies = 0;
        for (JarRun r : runs) {
            failedChecks += r.failedChecks;
            policies += r.policies;
            if (!r.passed()) failedJars++;
            out.println("JAR " + r.jar + ": " + (r.passed() ? "PASSED" : "FAILED") + " (" + r.policies + " policies, " + r.failedChecks + " failed checks"
                    + (r.problems > 0 ? ", " + r.problems + " load problems" : "") + (r.verdicts.isEmpty() ? "" : ", " + r.verdicts.size() + " run failures") + ")");
            for (String v : r.verdicts) out.println("   " + v);
        }
        boolean ok = failedJars == 0;
        out.println("RESULT: " + (ok ? "PASSED" : "FAILED") + " — " + jars.size() + " JARs, " + policies + " policies validated, " + failedJars
                + " JARs failed (" + failedChecks + " failed checks); seed " + seed);
        return ok ? OK : FAILED;
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            // a leftover temporary file is harmless
        }
    }

    private static int usage(PrintStream out, String problem) {
        out.println("validate: " + problem);
        out.print(USAGE_TEXT);
        return USAGE;
    }

    /** One JAR's child JVM: started, watched, and judged. Not thread-safe (the output pump only appends to {@link #tail}). */
    static final class JarRun {
        final Path jar;
        final Path results;
        final List<String> names = new ArrayList<>();
        final List<String> verdicts = new ArrayList<>();
        final Deque<String> tail = new ArrayDeque<>();
        long failedChecks, policies, problems;
        Integer doneStatus;
        String currentCheck, lastFinished, currentPolicy;

        JarRun(Path jar, Path results) {
            this.jar = jar;
            this.results = results;
        }

        boolean passed() {
            return verdicts.isEmpty() && failedChecks == 0 && problems == 0 && doneStatus != null && doneStatus == OK;
        }

        List<String> command(long seed, boolean randomSeed, Path reportDir, Set<String> only, String optOut, Limits limits) {
            List<String> cmd = new ArrayList<>();
            cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            cmd.add("-Xmx" + limits.memoryMb() + "m");
            cmd.add("-XX:+ExitOnOutOfMemoryError");
            cmd.add("-XX:+UseSerialGC");
            cmd.add("-Dstdout.encoding=UTF-8");
            cmd.add("--enable-native-access=ALL-UNNAMED");
            cmd.add("--sun-misc-unsafe-memory-access=allow");
            cmd.add("-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"));
            for (String p : List.of("kvpolicy.conformance.model", "kvpolicy.home")) {
                String v = System.getProperty(p);
                if (v != null) cmd.add("-D" + p + "=" + v);
            }
            cmd.add("-cp");
            cmd.add(System.getProperty("java.class.path"));
            cmd.add(ValidateWorker.class.getName());
            cmd.addAll(List.of("--jar", jar.toString(), "--results", results.toString(), "--seed", Long.toString(seed),
                    "--report-dir", reportDir.toAbsolutePath().toString(), "--opt-out", optOut));
            if (randomSeed) cmd.add("--random-seed");
            if (!only.isEmpty()) cmd.addAll(List.of("--policy", String.join(",", only)));
            return cmd;
        }

        void execute(PrintStream out, long seed, boolean randomSeed, Path reportDir, Set<String> only, String optOut, Limits limits) {
            out.println();
            out.println("-- " + jar + " (child JVM)");
            Process p;
            try {
                p = new ProcessBuilder(command(seed, randomSeed, reportDir, only, optOut, limits)).redirectErrorStream(true).start();
            } catch (IOException e) {
                verdicts.add("FAIL: the child JVM could not be started: " + e.getMessage());
                return;
            }
            try {
                p.getOutputStream().close();
            } catch (IOException e) {
                // the child needs no input
            }
            Thread pump = Thread.ofPlatform().daemon().name("validate-output").start(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) {
                        synchronized (out) { out.println(line); }
                        synchronized (tail) {
                            tail.addLast(line);
                            if (tail.size() > 40) tail.removeFirst();
                        }
                    }
                } catch (IOException e) {
                    // the child is gone
                }
            });
            ResultStream.Reader reader = new ResultStream.Reader(results);
            long start = System.nanoTime(), checkStart = start, doneAt = 0;
            String killed = null;
            try {
                while (true) {
                    boolean exited = p.waitFor(100, java.util.concurrent.TimeUnit.MILLISECONDS);
                    for (ResultStream.Record r : reader.poll()) {
                        if (r.kind() == ResultStream.Kind.START) checkStart = System.nanoTime();
                        if (r.kind() == ResultStream.Kind.DONE) doneAt = System.nanoTime();
                        accept(r);
                    }
                    if (exited) break;
                    long now = System.nanoTime();
                    if (doneStatus != null) {
                        if (now - doneAt > limits.shutdownGrace().toNanos()) {
                            killed = "the child JVM hung in shutdown: it recorded completion but had not exited " + limits.shutdownGrace().toSeconds()
                                    + " s later (a shutdown hook or a non-daemon thread of the plugin?); killed";
                            break;
                        }
                    } else if (currentCheck != null && now - checkStart > limits.perCheck().toNanos()) {
                        killed = "check '" + currentCheck + "'" + policySuffix() + " ran over the per-check limit of " + limits.perCheck().toSeconds()
                                + " s (an endless loop or a deadlock?); the child JVM was killed";
                        break;
                    } else if (now - start > limits.perJar().toNanos()) {
                        killed = "the JAR ran over the per-JAR limit of " + limits.perJar().toSeconds() + " s" + during() + "; the child JVM was killed";
                        break;
                    }
                }
                if (killed != null) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    p.waitFor();
                }
                pump.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
                verdicts.add("FAIL: validation was interrupted");
                return;
            }
            for (ResultStream.Record r : reader.poll()) accept(r);
            judge(p.exitValue(), killed, limits);
        }

        private String policySuffix() {
            return currentPolicy == null ? "" : " of policy '" + currentPolicy + "'";
        }

        private String during() {
            if (currentCheck != null) return ", during check '" + currentCheck + "'" + policySuffix();
            if (lastFinished != null) return ", after check '" + lastFinished + "'" + policySuffix();
            return ", before any check ran";
        }

        private void accept(ResultStream.Record r) {
            switch (r.kind()) {
                case PLUGIN -> names.addAll(r.fields().subList(1, r.fields().size()));
                case PROBLEM -> problems++;
                case POLICY -> { policies++; currentPolicy = r.field(0); }
                case START -> currentCheck = r.field(0);
                case RESULT -> {
                    if (r.field(0).equals(ConsoleReport.Status.FAILED.name())) failedChecks++;
                    lastFinished = r.field(1);
                    currentCheck = null;
                }
                case POLICY_END, HELLO -> { }
                case DONE -> doneStatus = parseStatus(r.field(0));
            }
        }

        private static Integer parseStatus(String s) {
            try {
                return Integer.parseInt(s.trim());
            } catch (NumberFormatException e) {
                return FAILED;
            }
        }

        private void judge(int exit, String killed, Limits limits) {
            String lastLines;
            synchronized (tail) { lastLines = String.join("\n", tail); }
            if (killed != null) {
                verdicts.add("FAIL: " + killed);
            } else if (doneStatus == null) {
                String why;
                if (lastLines.contains("Terminating due to java.lang.OutOfMemoryError")) {
                    why = "the child JVM ran out of memory (heap cap -Xmx" + limits.memoryMb() + "m) and was terminated";
                } else if (exit == 0) {
                    why = "the child JVM exited with status 0 before the suite completed (no completion record; did the plugin call System.exit or Runtime.halt?)";
                } else if (exit > 128) {
                    why = "the child JVM was killed by signal " + (exit - 128) + (exit == 137 ? " (SIGKILL: the system's out-of-memory killer?)" : "")
                            + " before the suite completed";
                } else {
                    why = "the child JVM exited with status " + exit + " before the suite completed (System.exit or Runtime.halt in the plugin, or a crash)";
                }
                verdicts.add("FAIL: " + why + during());
            } else if (doneStatus != exit) {
                verdicts.add("FAIL: the child JVM recorded completion with status " + doneStatus + " but exited with status " + exit
                        + " (a shutdown hook of the plugin called Runtime.halt or System.exit?)");
            }
        }
    }
}
