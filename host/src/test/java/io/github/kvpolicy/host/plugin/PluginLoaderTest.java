package io.github.kvpolicy.host.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.provider.InvalidOptionException;
import io.github.kvpolicy.api.provider.PolicyLoadException;
import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.api.provider.UnknownPolicyException;
import io.github.kvpolicy.host.config.KvPolicyConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PluginLoaderTest {
    private static final String SERVICES = "io.github.kvpolicy.api.provider.PolicyProvider";

    @TempDir Path tmp;

    private Path pluginDir() throws Exception {
        return Files.createDirectories(tmp.resolve("plugins"));
    }

    private Path goodJar(Path dir, String jarName, String pkg, String policy) throws Exception {
        return TestPluginJars.build(tmp, dir.getFileName() + "-" + jarName, Map.of(pkg + ".Provider", TestPluginJars.provider(pkg, "Provider", policy, 1, null)), pkg + ".Provider\n");
    }

    @Test
    void jarBuiltDuringTheTestIsLoadedInItsOwnLoaderAndSelectedByConfiguration() throws Exception {
        Path dir = pluginDir();
        Path jar = TestPluginJars.build(tmp, "norm.jar", Map.of("com.example.norm.NormProvider", TestPluginJars.provider("com.example.norm", "NormProvider", "key-norm", 1, null)), "com.example.norm.NormProvider\n");
        Files.move(jar, dir.resolve("norm.jar"));

        PluginLoader loader = new PluginLoader();
        PolicyRegistry registry = loader.load(false, List.of(dir));
        assertEquals(List.of("key-norm"), registry.names());
        assertEquals(List.of(), registry.problems());

        KvPolicyConfig config = KvPolicyConfig.parse("policy:\n  policy: key-norm\n  boost: 3\nbudget: 25%\n", "test.yaml");
        CompressionPolicy policy = registry.create(config.policy());
        assertEquals("key-norm", policy.name());
        assertEquals(Budget.ratio(0.25), config.budget());
        ClassLoader cl = policy.getClass().getClassLoader();
        assertSame(loader.classLoaders().get(0), cl, "the policy must live in the plugin's own class loader");
        assertTrue(registry.registration("key-norm").source().endsWith("norm.jar"));
    }

    @Test
    void pluginSeesOnlyTheSpiAndTheJdk() throws Exception {
        Path dir = pluginDir();
        goodJar(dir, "a.jar", "com.example.iso", "isolated");
        Files.move(tmp.resolve("plugins-a.jar"), dir.resolve("a.jar"));
        PluginLoader loader = new PluginLoader();
        PolicyRegistry registry = loader.load(false, List.of(dir));
        ClassLoader pluginLoader = registry.provider("isolated").getClass().getClassLoader();

        assertSame(PolicyProvider.class, pluginLoader.loadClass(PolicyProvider.class.getName()), "SPI classes are shared with the host");
        assertSame(String.class, pluginLoader.loadClass("java.lang.String"));
        for (String hidden : List.of(PluginLoader.class.getName(), KvPolicyConfig.class.getName(), "org.snakeyaml.engine.v2.api.Load",
                "org.junit.jupiter.api.Test")) {
            assertThrows(ClassNotFoundException.class, () -> pluginLoader.loadClass(hidden), hidden + " must not be visible to a plugin");
        }
        assertEquals(null, pluginLoader.getResource("META-INF/services/" + SERVICES + "-does-not-exist"));
    }

    @Test
    void pluginThatLinksAgainstHostClassesFailsToLoadWithAClearProblem() throws Exception {
        Path dir = pluginDir();
        // compiled against the host on purpose; at run time the class is not visible to the plugin
        String body = "try { Class.forName(\"io.github.kvpolicy.host.plugin.PluginLoader\"); } catch (ClassNotFoundException e) { throw new IllegalStateException(\"host hidden: \" + e.getMessage()); }";
        Path jar = TestPluginJars.build(tmp, "peek.jar", Map.of("com.example.peek.Provider", TestPluginJars.provider("com.example.peek", "Provider", "peeker", 1, body)), "com.example.peek.Provider\n");
        Files.move(jar, dir.resolve("peek.jar"));
        PolicyRegistry registry = new PluginLoader().load(false, List.of(dir));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> registry.create(io.github.kvpolicy.api.provider.PolicyConfig.of("peeker")));
        assertEquals("host hidden: io.github.kvpolicy.host.plugin.PluginLoader", e.getMessage());
    }

    @Test
    void duplicateNameAcrossTwoJarsNamesBothJars() throws Exception {
        Path dir = pluginDir();
        Path a = TestPluginJars.build(tmp, "a.jar", Map.of("com.a.P", TestPluginJars.provider("com.a", "P", "same-name", 1, null)), "com.a.P\n");
        Path b = TestPluginJars.build(tmp, "b.jar", Map.of("com.b.P", TestPluginJars.provider("com.b", "P", "same-name", 1, null)), "com.b.P\n");
        Files.move(a, dir.resolve("a.jar"));
        Files.move(b, dir.resolve("b.jar"));
        PolicyLoadException e = assertThrows(PolicyLoadException.class, () -> new PluginLoader().load(false, List.of(dir)));
        assertEquals("Duplicate policy name 'same-name': provided by " + dir.resolve("a.jar").toAbsolutePath() + " and by "
                + dir.resolve("b.jar").toAbsolutePath(), e.getMessage());
    }

    @Test
    void brokenJarsAreReportedAndDoNotStopTheOthers() throws Exception {
        Path dir = pluginDir();
        Files.writeString(dir.resolve("a-not-a-zip.jar"), "this is not a zip file");
        Path missing = TestPluginJars.build(tmp, "b-missing.jar", Map.of("com.m.Real", TestPluginJars.provider("com.m", "Real", "real-one", 1, null)), "com.m.DoesNotExist\n");
        Files.move(missing, dir.resolve("b-missing.jar"));
        Path wrongSpi = TestPluginJars.build(tmp, "c-spi.jar", Map.of("com.s.P", TestPluginJars.provider("com.s", "P", "future-policy", 99, null)), "com.s.P\n");
        Files.move(wrongSpi, dir.resolve("c-spi.jar"));
        Path noServices = TestPluginJars.build(tmp, "d-noservices.jar", Map.of("com.n.P", TestPluginJars.provider("com.n", "P", "unlisted", 1, null)), null);
        Files.move(noServices, dir.resolve("d-noservices.jar"));
        Path good = TestPluginJars.build(tmp, "e-good.jar", Map.of("com.g.P", TestPluginJars.provider("com.g", "P", "good-one", 1, null)), "com.g.P\n");
        Files.move(good, dir.resolve("e-good.jar"));

        PolicyRegistry registry = new PluginLoader().load(false, List.of(dir));
        assertEquals(List.of("good-one"), registry.names());
        List<PolicyRegistry.LoadProblem> problems = registry.problems();
        assertEquals(4, problems.size(), problems.toString());
        assertEquals(dir.resolve("a-not-a-zip.jar").toAbsolutePath().toString(), problems.get(0).source());
        assertTrue(problems.get(0).message().startsWith("Broken plugin JAR: not a readable JAR file"), problems.get(0).message());
        assertEquals("io.github.kvpolicy.api.provider.PolicyProvider: Provider com.m.DoesNotExist not found", problems.get(1).message());
        assertEquals("policy 'future-policy' targets SPI version 99, but this kvpolicy implements SPI version 1", problems.get(2).message());
        assertEquals("Broken plugin JAR: it has no META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider", problems.get(3).message());
    }

    @Test
    void unknownPolicyAndBadOptionsHaveExactMessages() throws Exception {
        Path dir = pluginDir();
        Path a = TestPluginJars.build(tmp, "a.jar", Map.of("com.a.P", TestPluginJars.provider("com.a", "P", "alpha-policy", 1, null)), "com.a.P\n");
        Path b = TestPluginJars.build(tmp, "b.jar", Map.of("com.b.P", TestPluginJars.provider("com.b", "P", "beta-policy", 1, null)), "com.b.P\n");
        Files.move(a, dir.resolve("a.jar"));
        Files.move(b, dir.resolve("b.jar"));
        PolicyRegistry registry = new PluginLoader().load(false, List.of(dir));

        UnknownPolicyException unknown = assertThrows(UnknownPolicyException.class,
                () -> registry.create(KvPolicyConfig.parse("policy: gamma-policy", "t").policy()));
        assertEquals("Unknown policy 'gamma-policy'. Available policies: alpha-policy, beta-policy", unknown.getMessage());

        InvalidOptionException unknownOption = assertThrows(InvalidOptionException.class,
                () -> registry.create(KvPolicyConfig.parse("policy: {policy: alpha-policy, bost: 2}", "t").policy()));
        assertEquals("Unknown option 'bost' for policy 'alpha-policy'. Known options: boost", unknownOption.getMessage());

        InvalidOptionException range = assertThrows(InvalidOptionException.class,
                () -> registry.create(KvPolicyConfig.parse("policy: {policy: alpha-policy, boost: 9}", "t").policy()));
        assertEquals("Invalid value '9' for option 'boost' of policy 'alpha-policy': expected an integer in [1, 8]", range.getMessage());
    }

    @Test
    void missingPluginDirectoryIsAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new PluginLoader().load(false, List.of(tmp.resolve("nope"))));
        assertEquals("Plugin directory " + tmp.resolve("nope").toAbsolutePath() + " does not exist or is not a directory", e.getMessage());
    }
}
