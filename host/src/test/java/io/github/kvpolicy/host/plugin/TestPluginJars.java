package io.github.kvpolicy.host.plugin;

import io.github.kvpolicy.api.provider.PolicyProvider;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

/** Compiles Java sources against the SPI with the JDK compiler and packs them into a plugin JAR, as a third party would. */
final class TestPluginJars {
    private TestPluginJars() {}

    static Path spiClasspath() {
        try {
            return Path.of(PolicyProvider.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * @param sources  fully qualified class name → source text
     * @param services lines of META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider, or null for none
     */
    static Path build(Path dir, String jarName, Map<String, String> sources, String services) throws IOException {
        Path src = Files.createTempDirectory(dir, "src");
        Path classes = Files.createTempDirectory(dir, "classes");
        List<String> args = new ArrayList<>(List.of("-d", classes.toString(), "-cp", spiClasspath().toString(), "--release", "25", "-proc:none"));
        for (Map.Entry<String, String> e : sources.entrySet()) {
            Path f = src.resolve(e.getKey().replace('.', '/') + ".java");
            Files.createDirectories(f.getParent());
            Files.writeString(f, e.getValue());
            args.add(f.toString());
        }
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        int rc = javac.run(null, null, null, args.toArray(String[]::new));
        if (rc != 0) throw new IllegalStateException("test plugin did not compile");
        Path jar = dir.resolve(jarName);
        try (OutputStream os = Files.newOutputStream(jar); JarOutputStream jos = new JarOutputStream(os)) {
            try (Stream<Path> walk = Files.walk(classes)) {
                for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
                    jos.putNextEntry(new JarEntry(classes.relativize(p).toString().replace('\\', '/')));
                    jos.write(Files.readAllBytes(p));
                    jos.closeEntry();
                }
            }
            if (services != null) {
                jos.putNextEntry(new JarEntry("META-INF/services/io.github.kvpolicy.api.provider.PolicyProvider"));
                jos.write(services.getBytes(StandardCharsets.UTF_8));
                jos.closeEntry();
            }
        }
        return jar;
    }

    /** Source of a small valid provider: keeps the visual tokens with the largest key norm. */
    static String provider(String pkg, String cls, String policyName, int spiVersion, String extraBody) {
        return """
            package %1$s;

            import io.github.kvpolicy.api.*;
            import io.github.kvpolicy.api.provider.*;

            public final class %2$s extends AbstractPolicyProvider {
                public %2$s() { super("%3$s", "1.0.0", "Test policy %3$s: keeps the visual tokens with the largest key norm."); }
                @Override public int spiVersion() { return %4$d; }
                @Override public OptionSchema options() {
                    return OptionSchema.of(OptionSpec.integer("boost", 1, 1, 8, "A test option in [1, 8]."));
                }
                @Override public CompressionPolicy create(PolicyOptions options, CreationContext context) {
                    %5$s
                    return new CompressionPolicy() {
                        public String name() { return "%3$s"; }
                        public TokenScorer scorer() {
                            return ctx -> {
                                TokenScores s = TokenScores.forContext(ctx);
                                for (int r = 0; r < ctx.layout().batchSize(); r++)
                                    for (int l = 0; l < ctx.shape().layers(); l++)
                                        for (int h = 0; h < ctx.shape().kvHeads(); h++) {
                                            int[] cand = ctx.candidates(r, l, h);
                                            int[] cached = ctx.cache().positions(r, l, h);
                                            MatrixView k = ctx.cache().keys(r, l, h);
                                            float[] v = new float[cand.length];
                                            for (int i = 0; i < cand.length; i++) {
                                                int row = java.util.Arrays.binarySearch(cached, cand[i]);
                                                double n = 0;
                                                for (int d = 0; d < k.cols(); d++) n += k.get(row, d) * k.get(row, d);
                                                v[i] = (float) n;
                                            }
                                            s.set(r, l, h, v);
                                        }
                                return s;
                            };
                        }
                    };
                }
            }
            """.formatted(pkg, cls, policyName, spiVersion, extraBody == null ? "" : extraBody);
    }
}
