package io.github.kvpolicy.conformance.cli;

import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.conformance.synthetic.SyntheticCache;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/** Builds real plugin JARs for tests: compiles sources with javac against the SPI and packs a JAR with a services file. */
final class PluginJars {
    private PluginJars() {}

    static Path location(Class<?> c) {
        try {
            return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Compiles every {@code .java} under {@code sourceRoot} and writes {@code jar} with the classes and, if
     * {@code services} is non-null, a services file listing it.
     */
    static Path build(Path sourceRoot, Path work, String jarName, String services) throws IOException {
        return build(List.of(sourceRoot), work, jarName, services);
    }

    /** As {@link #build(Path, Path, String, String)} with the sources of several roots compiled together. */
    static Path build(List<Path> sourceRoots, Path work, String jarName, String services) throws IOException {
        Path classes = Files.createDirectories(work.resolve(jarName + "-classes"));
        List<String> args = new ArrayList<>(List.of("-d", classes.toString(), "--release", "25", "-cp",
                location(PolicyProvider.class) + java.io.File.pathSeparator + location(SyntheticCache.class)));
        for (Path root : sourceRoots) {
            try (Stream<Path> s = Files.walk(root)) {
                s.filter(p -> p.toString().endsWith(".java")).forEach(p -> args.add(p.toString()));
            }
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        int rc = javac.run(null, null, null, args.toArray(String[]::new));
        if (rc != 0) throw new IllegalStateException("javac failed for " + sourceRoots);
        Path jar = work.resolve(jarName);
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar)); Stream<Path> s = Files.walk(classes)) {
            for (Path p : s.filter(Files::isRegularFile).sorted().toList()) {
                out.putNextEntry(new JarEntry(classes.relativize(p).toString().replace('\\', '/')));
                Files.copy(p, out);
                out.closeEntry();
            }
            if (services != null) {
                out.putNextEntry(new JarEntry("META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider"));
                OutputStream o = out;
                o.write((services + "\n").getBytes(StandardCharsets.UTF_8));
                out.closeEntry();
            }
        }
        return jar;
    }

    /** The example third-party project, relative to this module. */
    static Path exampleProject() {
        Path p = Path.of("..", "examples", "third-party-policy").toAbsolutePath().normalize();
        if (!Files.isDirectory(p)) throw new IllegalStateException("example project not found at " + p);
        return p;
    }
}
