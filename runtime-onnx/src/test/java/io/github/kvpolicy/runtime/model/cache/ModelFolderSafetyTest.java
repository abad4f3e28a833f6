package io.github.kvpolicy.runtime.model.cache;

import io.github.kvpolicy.runtime.model.ModelPackage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kvpolicy never writes or deletes a file it did not create: a model folder's own {@code onnx/} folder, a foreign
 * directory where kvpolicy would put its cache, symbolic links planted on its paths, read-only folders.
 */
class ModelFolderSafetyTest {
    @TempDir Path tmp;
    private String savedCacheDir;

    @BeforeEach
    void privateUserCache() {
        savedCacheDir = System.getProperty("kvpolicy.cache.dir");
        System.setProperty("kvpolicy.cache.dir", tmp.resolve("user-cache").toString());
    }

    @AfterEach
    void restore() throws Exception {
        if (savedCacheDir == null) System.clearProperty("kvpolicy.cache.dir");
        else System.setProperty("kvpolicy.cache.dir", savedCacheDir);
        // let @TempDir clean up read-only folders
        try (Stream<Path> s = Files.walk(tmp)) {
            for (Path p : s.toList()) if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) p.toFile().setWritable(true);
        }
    }

    /** Every regular file under {@code dir} with its bytes. */
    private static Map<String, byte[]> snapshot(Path dir) throws Exception {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) m.put(dir.relativize(p).toString(), Files.readAllBytes(p));
        }
        return m;
    }

    private static void assertSame(Map<String, byte[]> before, Map<String, byte[]> after) {
        assertEquals(before.keySet(), after.keySet());
        for (String k : before.keySet()) assertArrayEquals(before.get(k), after.get(k), k);
    }

    /** Regression (CI, 16 cores): a thread saw another's fresh directory before its marker and refused it as foreign. */
    @Test
    void concurrentClaimsOfANewDirectoryAllSucceedAndLeaveNoStagingBehind() throws Exception {
        var pool = java.util.concurrent.Executors.newFixedThreadPool(8);
        try {
            for (int round = 0; round < 40; round++) {
                Path target = tmp.resolve("race").resolve("r" + round).resolve(".kvpolicy");
                var start = new java.util.concurrent.CountDownLatch(1);
                boolean privateToUser = round % 2 == 0;
                var futures = new java.util.ArrayList<java.util.concurrent.Future<Path>>();
                for (int i = 0; i < 8; i++) futures.add(pool.submit(() -> { start.await(); return OwnedDirectory.claim(target, privateToUser); }));
                start.countDown();
                for (var f : futures) assertEquals(target.toAbsolutePath().normalize(), f.get());
                assertTrue(OwnedDirectory.isOwned(target));
                try (Stream<Path> s = Files.list(target.getParent())) {
                    assertEquals(java.util.List.of(".kvpolicy"), s.map(p -> p.getFileName().toString()).toList(), "round " + round);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aModelFoldersOwnOnnxFilesSurviveTheBuild() throws Exception {
        Path m = tmp.resolve("hf-model");
        ModelPackage.random("tiny", 1, m);
        Path onnx = Files.createDirectories(m.resolve("onnx"));
        Files.writeString(onnx.resolve("model.onnx"), "the checkpoint's own export");
        Files.writeString(onnx.resolve("model_quantized.onnx"), "quantized");
        Files.writeString(onnx.resolve("model.onnx.data"), "data");
        Files.writeString(onnx.resolve("notes.tmp"), "a user's temp file");
        Map<String, byte[]> before = snapshot(onnx);
        ModelPackage.BuiltModel b = ModelPackage.open(m).ensureBuilt();
        assertTrue(b.rebuilt());
        assertSame(before, snapshot(onnx));
        assertTrue(b.decoder().startsWith(m.resolve(".kvpolicy")), "graphs go to kvpolicy's own folder: " + b.decoder());
        assertTrue(OwnedDirectory.isOwned(m.resolve(".kvpolicy/graphs")));
        // a rebuild (changed weights) removes only kvpolicy's older build
        Files.setLastModifiedTime(m.resolve("model.safetensors"), java.nio.file.attribute.FileTime.fromMillis(1_000_000));
        ModelPackage.BuiltModel b2 = ModelPackage.open(m).ensureBuilt();
        assertTrue(b2.rebuilt());
        assertFalse(Files.exists(b.decoder()), "the stale build is gone");
        assertSame(before, snapshot(onnx));
    }

    @Test
    void aForeignKvpolicyFolderIsRefusedAndUntouched() throws Exception {
        Path m = tmp.resolve("m");
        ModelPackage.random("tiny", 1, m);
        Path foreign = Files.createDirectories(m.resolve(".kvpolicy"));
        Files.writeString(foreign.resolve("mine.txt"), "not kvpolicy's");
        Map<String, byte[]> before = snapshot(foreign);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ModelPackage.open(m).ensureBuilt());
        assertTrue(e.getMessage().contains(foreign.toString()) && e.getMessage().contains("not created by kvpolicy"), e.getMessage());
        assertSame(before, snapshot(foreign));
    }

    @Test
    void aSymbolicLinkPlantedAsTheCacheFolderIsRefused() throws Exception {
        Path m = tmp.resolve("m");
        ModelPackage.random("tiny", 1, m);
        Path victim = Files.createDirectories(tmp.resolve("victim"));
        Files.writeString(victim.resolve("precious.txt"), "keep me");
        Files.createSymbolicLink(m.resolve(".kvpolicy"), victim);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ModelPackage.open(m).ensureBuilt());
        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
        assertEquals(Map.of("precious.txt", "keep me"), Map.of("precious.txt", Files.readString(victim.resolve("precious.txt"))));
        try (Stream<Path> s = Files.list(victim)) {
            assertEquals(1, s.count(), "nothing was written into the link's target");
        }
    }

    @Test
    void randomRefusesToWriteThroughALink() throws Exception {
        Path victim = Files.createDirectories(tmp.resolve("victim"));
        Path link = Files.createSymbolicLink(tmp.resolve("random-model"), victim);
        assertThrows(IllegalArgumentException.class, () -> ModelPackage.random("tiny", 1, link));
        try (Stream<Path> s = Files.list(victim)) {
            assertEquals(0, s.count());
        }
    }

    @Test
    void aReadOnlyFolderUsesItsFreshBuildOrTheUserCache() throws Exception {
        Path a = tmp.resolve("built-then-read-only");
        ModelPackage.random("tiny", 1, a);
        ModelPackage.open(a).ensureBuilt();
        Path b = tmp.resolve("read-only-never-built");
        ModelPackage.random("tiny", 2, b);
        for (Path dir : new Path[] {a, b}) Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("r-xr-xr-x"));
        Map<String, byte[]> beforeA = snapshot(a), beforeB = snapshot(b);

        ModelPackage.BuiltModel ba = ModelPackage.open(a).ensureBuilt();
        assertFalse(ba.rebuilt(), "the valid in-folder build serves the read-only folder");
        assertTrue(ba.decoder().startsWith(a));

        ModelPackage.BuiltModel bb = ModelPackage.open(b).ensureBuilt();
        assertTrue(bb.rebuilt());
        assertTrue(bb.decoder().startsWith(tmp.resolve("user-cache")), "built into the per-user cache: " + bb.decoder());
        assertFalse(ModelPackage.open(b).ensureBuilt().rebuilt(), "and reused from there");
        assertSame(beforeA, snapshot(a));
        assertSame(beforeB, snapshot(b));
        assertEquals(Set0.of("rwx------"), Set0.of(PosixFilePermissions.toString(Files.getPosixFilePermissions(tmp.resolve("user-cache")))));
    }

    @Test
    void aMissingWeightFileIsNamedAndLeavesNothingBehind() throws Exception {
        Path m = tmp.resolve("m");
        ModelPackage.random("tiny", 1, m);
        Files.delete(m.resolve("model.safetensors"));
        Map<String, byte[]> before = snapshot(m);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ModelPackage.open(m).ensureBuilt());
        assertTrue(e.getMessage().contains("missing weight file") && e.getMessage().contains("model.safetensors"), e.getMessage());
        assertSame(before, snapshot(m));
        assertFalse(Files.exists(m.resolve(".kvpolicy")), "no lock file or cache folder left behind");
    }

    /** A tiny helper so assertion messages show the permission string. */
    private record Set0(String v) {
        static Set0 of(String v) { return new Set0(v); }
    }
}
