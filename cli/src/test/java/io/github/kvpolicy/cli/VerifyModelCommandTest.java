package io.github.kvpolicy.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kvpolicy verify-model} on the transformers fixtures kept in runtime-onnx's test resources. */
class VerifyModelCommandTest {
    static final Path FIXTURES = Path.of("..", "runtime-onnx", "src", "test", "resources", "hf");

    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private Path copy(String family) throws IOException {
        Path dir = tmp.resolve(family);
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors", "reference.safetensors")) {
            Files.copy(FIXTURES.resolve(family).resolve(f), dir.resolve(f));
        }
        return dir;
    }

    private static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.map(p -> dir.relativize(p).toString()).sorted().toList();
        }
    }

    @Test
    void passesOnAVlmFixtureAndPrintsEveryStep() throws Exception {
        Path dir = copy("llava15");
        Run r = run("verify-model", "--model", dir.toString(), "--reference", dir.resolve("reference.safetensors").toString(), "--threads", "1");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("prompt logits (all 31 positions): max|Δ|"), r.out());
        assertTrue(r.out().contains("16 image tokens"), r.out());
        for (int s = 1; s <= 6; s++) assertTrue(r.out().contains("step " + s + ": max|Δ|"), r.out());
        assertTrue(r.out().contains("greedy tokens: agree"), r.out());
        assertTrue(r.out().contains("PASS"), r.out());
    }

    @Test
    void passesOnEveryFamilyFixture() throws Exception {
        for (String family : List.of("llama3", "qwen2", "qwen3", "llava15", "llava_onevision", "smolvlm", "qwen2_vl", "qwen2_5_vl")) {
            Path dir = copy(family);
            Run r = run("verify-model", "--model", dir.toString(), "--reference", dir.resolve("reference.safetensors").toString(), "--threads", "1");
            assertEquals(0, r.code(), family + ": " + r.out() + r.err());
            assertTrue(r.out().contains("greedy tokens: agree") && r.out().contains("PASS"), family + ": " + r.out());
        }
    }

    @Test
    void worksOnAReadOnlyFolderAndLeavesItUntouched() throws Exception {
        Path dir = copy("qwen3");
        List<String> before = listing(dir);
        try {
            for (Path p : before.stream().filter(s -> !s.isEmpty()).map(dir::resolve).toList()) {
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("r--r--r--"));
            }
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("r-xr-xr-x"));
            Run r = run("verify-model", "--model", dir.toString(), "--reference", dir.resolve("reference.safetensors").toString(), "--threads", "1");
            assertEquals(0, r.code(), r.out() + r.err());
            assertTrue(r.out().contains("PASS"), r.out());
        } finally {
            Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        assertEquals(before, listing(dir), "the model folder is only read");
    }

    @Test
    void failsAboveTheToleranceAndOnAnotherModelsReference() throws Exception {
        Path dir = copy("qwen2");
        Run tight = run("verify-model", "--model", dir.toString(), "--reference", dir.resolve("reference.safetensors").toString(), "--tolerance", "1e-12");
        assertEquals(1, tight.code(), tight.out());
        assertTrue(tight.out().contains("FAIL"), tight.out());
        Path other = copy("qwen3");
        Run wrong = run("verify-model", "--model", dir.toString(), "--reference", other.resolve("reference.safetensors").toString());
        assertEquals(1, wrong.code(), wrong.out());
        assertTrue(wrong.out().contains("ABOVE TOLERANCE"), wrong.out());
    }

    @Test
    void badInputIsOneLine() throws Exception {
        Path dir = copy("qwen2");
        Run missing = run("verify-model", "--model", dir.toString(), "--reference", dir.resolve("nope.safetensors").toString());
        assertEquals(2, missing.code());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        assertTrue(missing.err().contains("nope.safetensors") && missing.err().contains("does not exist"), missing.err());
        Run badTol = run("verify-model", "--model", dir.toString(), "--reference", dir.resolve("reference.safetensors").toString(), "--tolerance", "-1");
        assertEquals(2, badTol.code());
        assertTrue(badTol.err().contains("--tolerance"), badTol.err());
        Run notModel = run("verify-model", "--model", tmp.resolve("absent").toString(), "--reference", dir.resolve("reference.safetensors").toString());
        assertEquals(2, notModel.code());
        assertTrue(notModel.err().contains("absent"), notModel.err());
    }
}
