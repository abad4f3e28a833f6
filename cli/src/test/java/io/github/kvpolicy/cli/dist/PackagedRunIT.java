package io.github.kvpolicy.cli.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/kvpolicy run} as a user runs it (the packaged jar and {@code cli/target/lib}): the tokenizer's native
 * library loads from the packaged DJL jar, the answer matches transformers' greedy tokens on the llava_onevision fixture,
 * and a refusal after the tokenizer was loaded is still exactly one line on stderr (no SLF4J notice before it).
 */
class PackagedRunIT {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {}

    static Result launch(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(ROOT.resolve("bin/kvpolicy").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes(), err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "bin/kvpolicy finished");
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    private Path folder(boolean template) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(template ? "ov" : "ov-no-template"));
        Path w = ROOT.resolve("runtime-onnx/src/test/resources/hf/llava_onevision"), t = ROOT.resolve("processing/src/test/resources/hf/llava_onevision");
        for (String f : List.of("config.json", "model.safetensors", "generation_config.json", "preprocessor_config.json", "image.png")) Files.copy(w.resolve(f), dir.resolve(f));
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) Files.copy(t.resolve(f), dir.resolve(f));
        if (template) Files.copy(t.resolve("chat_template.jinja"), dir.resolve("chat_template.jinja"));
        return dir;
    }

    @Test
    void runsAndRefusesInOneLine() throws Exception {
        assumeTrue(Boolean.getBoolean("kvpolicy.packaged"), "runs in the packaged-distribution execution, after package");
        Path ov = folder(true);
        Result r = launch("run", "--model", ov.toString(), "--image", ov.resolve("image.png").toString(), "--prompt", "what is shown?",
                "--max-new-tokens", "6", "--threads", "1");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("tokens (6, length): [300, 242, 300, 242, 300, 242]"), r.out());
        Path bare = folder(false);
        Result n = launch("run", "--model", bare.toString(), "--prompt", "hi");
        assertEquals(2, n.code(), n.out() + n.err());
        List<String> lines = n.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), n.err());
        assertTrue(lines.get(0).startsWith("kvpolicy: " + bare + ": no chat template"), lines.get(0));
        assertTrue(Files.notExists(bare.resolve(".kvpolicy")), "refused before any graph was built");
    }
}
