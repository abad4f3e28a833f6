package io.github.kvpolicy.host.plugin;

import io.github.kvpolicy.api.provider.PolicyRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.stream.Stream;

/**
 * Finds policy providers on the host class path and in plugin JARs. Each plugin JAR gets its own
 * {@link URLClassLoader} whose parent is a {@link SpiOnlyClassLoader}, so a plugin sees only the JDK, the SPI and
 * its own JAR. A JAR that cannot be read, has a broken services file, a missing class or targets another SPI
 * version is reported in {@link PolicyRegistry#problems()} and does not stop the others; two providers with one
 * name fail with a {@link io.github.kvpolicy.api.provider.PolicyLoadException} naming both sources.
 *
 * <p>Class loaders of loaded plugins stay open for the life of the registry (the policies' classes live there).
 */
public final class PluginLoader {
    private final ClassLoader host;
    private final List<URLClassLoader> loaders = new ArrayList<>();

    /** @param host the host's class loader (has the SPI and the built-in policies) */
    public PluginLoader(ClassLoader host) {
        this.host = host;
    }

    public PluginLoader() {
        this(PluginLoader.class.getClassLoader());
    }

    /**
     * Loads the class-path providers (if {@code includeClassPath}) and every {@code *.jar} directly inside each of
     * {@code pluginDirs} (missing directories are an error; JARs in sorted order).
     */
    public PolicyRegistry load(boolean includeClassPath, List<Path> pluginDirs) {
        PolicyRegistry.Builder b = PolicyRegistry.builder();
        if (includeClassPath) ProviderDiscovery.discover(b, host, null);
        for (Path dir : pluginDirs) {
            if (!Files.isDirectory(dir)) {
                throw new IllegalArgumentException("Plugin directory " + dir.toAbsolutePath() + " does not exist or is not a directory");
            }
            List<Path> jars;
            try (Stream<Path> s = Files.list(dir)) {
                jars = s.filter(p -> p.getFileName().toString().endsWith(".jar")).sorted().toList();
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot list plugin directory " + dir.toAbsolutePath(), e);
            }
            for (Path jar : jars) addJar(b, jar);
        }
        return b.build();
    }

    /** Loads exactly the given JARs (and nothing from the class path). */
    public PolicyRegistry loadJars(List<Path> jars) {
        PolicyRegistry.Builder b = PolicyRegistry.builder();
        for (Path jar : jars) addJar(b, jar);
        return b.build();
    }

    private void addJar(PolicyRegistry.Builder b, Path jar) {
        String source = jar.toAbsolutePath().normalize().toString();
        try (JarFile jf = new JarFile(jar.toFile())) {
            if (jf.getEntry("META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider") == null) {
                b.problem(source, "Broken plugin JAR: it has no META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider");
                return;
            }
        } catch (IOException e) {
            b.problem(source, "Broken plugin JAR: not a readable JAR file (" + e.getMessage() + ")");
            return;
        }
        URLClassLoader loader;
        try {
            loader = new URLClassLoader("kvpolicy-plugin:" + jar.getFileName(), new URL[] {jar.toUri().toURL()}, new SpiOnlyClassLoader(host));
        } catch (MalformedURLException e) {
            b.problem(source, "Broken plugin JAR: " + e.getMessage());
            return;
        }
        loaders.add(loader);
        ProviderDiscovery.discover(b, loader, source); // failures become problems; other providers and JARs still load
    }

    /** The class loaders created for plugin JARs, in load order. */
    public List<URLClassLoader> classLoaders() {
        return List.copyOf(loaders);
    }
}
