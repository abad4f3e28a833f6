package io.github.kvpolicy.conformance;

import io.github.kvpolicy.host.plugin.ProviderDiscovery;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.host.cli.Flags;
import io.github.kvpolicy.host.plugin.PluginLoader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The cross-JVM half of the determinism check: computes fingerprints of a provider's plans on chosen contract
 * scenarios in a second, fresh JVM (same {@code java} binary and class path), so that state a policy keeps across
 * instances of one JVM — a static random salt, an identity hash code, the start time — shows up as a different
 * plan. The second JVM loads the provider from its plugin JAR (in its own class loader, as {@code validate} does)
 * or, if the provider is on the class path, by class name (it needs a public no-argument constructor, as every
 * service provider does). Stateless.
 */
public final class SecondJvm {
    /** Wall-clock limit of the second JVM. */
    static final long TIMEOUT_SECONDS = 180;

    private SecondJvm() {}

    /** A 64-bit FNV-1a fingerprint of the plan's dimensions and kept positions (equal plans, equal fingerprints). */
    public static long fingerprint(RetentionPlan p) {
        long h = 0xcbf29ce484222325L;
        int[] dims = {p.batchSize(), p.layers(), p.kvHeads()};
        for (int d : dims) h = (h ^ d) * 0x100000001b3L;
        for (int r = 0; r < p.batchSize(); r++)
            for (int l = 0; l < p.layers(); l++)
                for (int k = 0; k < p.kvHeads(); k++) {
                    int[] kept = p.kept(r, l, k);
                    h = (h ^ (kept.length + 0x5bd1e995L)) * 0x100000001b3L;
                    for (int x : kept) h = (h ^ x) * 0x100000001b3L;
                }
        return h;
    }

    /** What the second JVM returned: fingerprints by scenario index, or why it could not run. */
    public record Result(Map<Integer, Long> fingerprints, String error) {}

    /**
     * Runs the provider of {@code h} in a second JVM over {@code specs} (contract scenarios of the run's seed, by
     * index) and returns its fingerprints.
     *
     * @throws IllegalArgumentException if the options cannot be passed on a command line (nested maps or lists)
     */
    public static Result run(ConformanceHarness h, List<ScenarioSpec> specs) {
        PolicyProvider p = h.provider();
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(List.of("-Xmx1g", "-XX:+UseSerialGC", "--enable-native-access=ALL-UNNAMED",
                "-Dstdout.encoding=UTF-8", "-cp", System.getProperty("java.class.path"), SecondJvm.class.getName()));
        cmd.addAll(List.of("--provider", p.getClass().getName(), "--jar", jarOf(p), "--seed", Long.toString(h.settings().seed())));
        StringBuilder idx = new StringBuilder();
        for (ScenarioSpec s : specs) idx.append(idx.isEmpty() ? "" : ",").append(s.index());
        cmd.addAll(List.of("--scenarios", idx.toString()));
        for (Map.Entry<String, Object> e : h.options().entrySet()) {
            Object v = e.getValue();
            if (!(v instanceof String || v instanceof Number || v instanceof Boolean || v instanceof Enum<?>)) {
                throw new IllegalArgumentException("option '" + e.getKey() + "' has a structured value (" + v + ")");
            }
            cmd.addAll(List.of("--option", e.getKey() + "=" + v));
        }
        Process proc;
        try {
            proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            return new Result(Map.of(), "the second JVM could not be started: " + e.getMessage());
        }
        try {
            proc.getOutputStream().close();
            StringBuffer out = new StringBuffer();
            java.util.concurrent.atomic.AtomicBoolean end = new java.util.concurrent.atomic.AtomicBoolean();
            Thread reader = Thread.ofPlatform().daemon().start(() -> {
                try (java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) {
                        out.append(line).append('\n');
                        if (line.equals("END")) end.set(true);
                    }
                } catch (IOException e) {
                    // the process is gone
                }
            });
            long t0 = System.nanoTime(), endSeen = 0;
            boolean hungInShutdown = false;
            while (!proc.waitFor(100, TimeUnit.MILLISECONDS)) {
                long now = System.nanoTime();
                if (end.get() && endSeen == 0) endSeen = now;
                if (endSeen > 0 && now - endSeen > TimeUnit.SECONDS.toNanos(5)) {
                    // the results are in; a plugin's shutdown hook that hangs is validate's to report, not this check's
                    hungInShutdown = true;
                    break;
                }
                if (now - t0 > TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS)) {
                    proc.descendants().forEach(ProcessHandle::destroyForcibly);
                    proc.destroyForcibly();
                    return new Result(Map.of(), "the second JVM did not finish within " + TIMEOUT_SECONDS + " s");
                }
            }
            if (hungInShutdown) {
                proc.descendants().forEach(ProcessHandle::destroyForcibly);
                proc.destroyForcibly();
                proc.waitFor();
            }
            reader.join(5_000);
            Map<Integer, Long> fps = new LinkedHashMap<>();
            for (String line : out.toString().split("\\R")) {
                String[] f = line.split(" ");
                if (f.length == 3 && f[0].equals("FP")) fps.put(Integer.parseInt(f[1]), Long.parseLong(f[2]));
            }
            if (!end.get() || (!hungInShutdown && proc.exitValue() != 0)) {
                String all = out.toString();
                String tail = all.length() > 2000 ? all.substring(all.length() - 2000) : all;
                return new Result(fps, "the second JVM exited with status " + proc.exitValue() + (end.get() ? "" : " without finishing") + ": " + tail.strip());
            }
            return new Result(fps, null);
        } catch (IOException | InterruptedException e) {
            proc.destroyForcibly();
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            return new Result(Map.of(), "reading the second JVM failed: " + e);
        }
    }

    /** The provider's plugin JAR, or "-" if it comes from this JVM's class path (application class loader). */
    static String jarOf(PolicyProvider p) {
        if (p.getClass().getClassLoader() == ClassLoader.getSystemClassLoader()) return "-";
        try {
            return Path.of(p.getClass().getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (Exception e) {
            return "-";
        }
    }

    /**
     * {@code SecondJvm --provider CLASS --jar JAR|- --seed N --scenarios i,j,… [--option k=v]…}: prints
     * {@code FP index fingerprint} per scenario, then {@code END}; exit status 0, or 1 with the reason.
     */
    /** The flags {@link #run} passes (see {@link #main}). */
    static final Flags FLAGS = new Flags("SecondJvm --provider CLASS [flags]   (started by the conformance suite, not by hand)")
            .value("--provider", "CLASS", null, "required: the provider class under test")
            .value("--jar", "JAR|-", "-", "its plugin JAR, or - for this JVM's class path")
            .value("--seed", "N", Long.toString(ConformanceSettings.DEFAULT_SEED), "base seed of the generated scenarios")
            .value("--scenarios", "I,..", "", "indices of the contract scenarios to fingerprint")
            .repeatable("--option", "KEY=VALUE", "an option of the policy");

    public static void main(String... args) {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        try {
            Flags.Parsed p = FLAGS.parse(args);
            if (p.helpRequested()) {
                out.print(p.help());
                out.flush();
                System.exit(0);
            }
            String cls = p.string("--provider"), jar = p.string("--jar");
            if (cls == null) throw new IllegalArgumentException("--provider CLASS is required");
            long seed = p.longValue("--seed");
            List<Integer> indices = p.intList("--scenarios");
            Map<String, Object> options = new LinkedHashMap<>();
            for (String v : p.all("--option")) {
                int eq = v.indexOf('=');
                if (eq < 0) throw new IllegalArgumentException("--option: expected key=value: '" + v + "'");
                options.put(v.substring(0, eq), v.substring(eq + 1));
            }
            ClassLoader host = PolicyProvider.class.getClassLoader();
            PolicyRegistry.Builder nested = PolicyRegistry.builder();
            PolicyProvider provider = null;
            if (!jar.equals("-")) {
                for (PolicyRegistry.Registration r : new PluginLoader(host).loadJars(List.of(Path.of(jar))).registrations()) {
                    if (r.provider().getClass().getName().equals(cls)) provider = r.provider();
                }
                if (provider == null) throw new IllegalStateException("no provider " + cls + " in " + jar);
            } else {
                var ctor = Class.forName(cls).getDeclaredConstructor();
                ctor.setAccessible(true);
                provider = (PolicyProvider) ctor.newInstance();
            }
            nested.add(provider, "under test");
            try {
                for (PolicyRegistry.Registration r : ProviderDiscovery.fromClassLoader(host).registrations()) {
                    if (!r.provider().name().equals(provider.name())) nested.add(r.provider(), r.source());
                }
            } catch (RuntimeException e) {
                // duplicate built-in names: nested policies resolve to the provider under test only
            }
            ConformanceHarness h = new ConformanceHarness(provider, options, nested.build(), new ConformanceSettings(seed, false, java.util.Optional.empty(), Map.of()));
            List<ScenarioSpec> all = ScenarioGenerator.contract(seed);
            for (int i : indices) {
                ScenarioSpec spec = all.get(i);
                CompressionPolicy policy = h.create();
                RetentionPlan plan = policy.compress(spec.build().context(policy, spec.budget(), Phase.PREFILL, 0));
                out.println("FP " + i + " " + fingerprint(plan));
            }
            out.println("END");
            out.flush();
            System.exit(0);
        } catch (Throwable t) {
            out.println("second JVM failed: " + ConformanceHarness.describe(t));
            out.flush();
            System.exit(1);
        }
    }
}
