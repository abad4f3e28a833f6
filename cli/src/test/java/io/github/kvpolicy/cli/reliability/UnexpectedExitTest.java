package io.github.kvpolicy.cli.reliability;

import io.github.kvpolicy.api.provider.PolicyProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.ToolProvider;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A plugin that calls {@code System.exit(0)} used to end {@code generate} silently with status 0 (a "success" for a
 * script). In a real JVM running the tool's main class, it now ends with status 70 and one line saying what happened.
 */
class UnexpectedExitTest {
    @TempDir Path tmp;

    private Path exitingPlugin() throws Exception {
        String src = """
                package com.example.exiter;
                import io.github.kvpolicy.api.*;
                import io.github.kvpolicy.api.provider.*;
                public final class ExitingProvider extends AbstractPolicyProvider {
                    public ExitingProvider() { super("exiter", "1.0", "calls System.exit when created"); }
                    @Override public CompressionPolicy create(PolicyOptions options, CreationContext context) {
                        System.exit(0);
                        return null;
                    }
                }
                """;
        Path srcFile = tmp.resolve("src/com/example/exiter/ExitingProvider.java");
        Files.createDirectories(srcFile.getParent());
        Files.writeString(srcFile, src);
        Path classes = Files.createDirectories(tmp.resolve("classes"));
        String spi = Path.of(PolicyProvider.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        int rc = ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", classes.toString(), "-cp", spi, "--release", "25", "-proc:none", srcFile.toString());
        assertEquals(0, rc, "the test plugin compiles");
        Path dir = Files.createDirectories(tmp.resolve("plugins"));
        try (OutputStream os = Files.newOutputStream(dir.resolve("exiter.jar")); JarOutputStream jar = new JarOutputStream(os)) {
            try (Stream<Path> walk = Files.walk(classes)) {
                for (Path f : walk.filter(Files::isRegularFile).toList()) {
                    jar.putNextEntry(new JarEntry(classes.relativize(f).toString().replace('\\', '/')));
                    jar.write(Files.readAllBytes(f));
                    jar.closeEntry();
                }
            }
            jar.putNextEntry(new JarEntry("META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider"));
            jar.write("com.example.exiter.ExitingProvider\n".getBytes(StandardCharsets.UTF_8));
            jar.closeEntry();
        }
        return dir;
    }

    @Test
    void aPluginCallingSystemExitEndsTheRunWithStatus70AndAMessage() throws Exception {
        Path plugins = exitingPlugin();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(List.of(java, "-Dkvpolicy.cache.dir=" + tmp.resolve("cache"), "-cp", System.getProperty("java.class.path"),
                "io.github.kvpolicy.cli.Main", "generate", "--plugins", plugins.toString(), "-p", "exiter", "--model", "random:tiny", "--tokens", "1,2"))
                .redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(70, p.exitValue(), out);
        assertTrue(out.contains("kvpolicy: the process was ended from inside") && out.contains("System.exit"), out);
    }
}
