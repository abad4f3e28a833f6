package io.github.kvpolicy.runtime.model;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.safetensors.DType;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsException;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsWriter;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelPackageTest {
    @TempDir
    Path tmp;

    @Test
    void randomWeightsAreDeterministicAndIndependentOfSharding() throws Exception {
        ModelConfig cfg = RandomWeights.preset("tiny");
        RandomWeights.write(cfg, 5, tmp.resolve("a"), DType.F32, Long.MAX_VALUE);
        RandomWeights.write(cfg, 5, tmp.resolve("b"), DType.F32, Long.MAX_VALUE);
        RandomWeights.write(cfg, 6, tmp.resolve("c"), DType.F32, Long.MAX_VALUE);
        List<Path> shards = RandomWeights.write(cfg, 5, tmp.resolve("d"), DType.F32, 64 << 10);
        assertArrayEquals(Files.readAllBytes(tmp.resolve("a/model.safetensors")), Files.readAllBytes(tmp.resolve("b/model.safetensors")));
        assertFalse(java.util.Arrays.equals(Files.readAllBytes(tmp.resolve("a/model.safetensors")),
                Files.readAllBytes(tmp.resolve("c/model.safetensors"))));
        assertTrue(shards.size() > 1, "64 KiB shards split the tiny model");
        assertTrue(Files.isRegularFile(tmp.resolve("d/model.safetensors.index.json")));
        try (WeightStore a = WeightStore.openDirectory(tmp.resolve("a")); WeightStore d = WeightStore.openDirectory(tmp.resolve("d"))) {
            assertEquals(a.names(), d.names());
            for (String n : a.names()) assertArrayEquals(a.readFloats(n), d.readFloats(n), 0f, n);
            float[] q = a.readFloats("model.layers.0.self_attn.q_proj.weight");
            double s = 0, s2 = 0;
            for (float x : q) { s += x; s2 += x * x; }
            double std = Math.sqrt(s2 / q.length - (s / q.length) * (s / q.length));
            assertEquals(RandomWeights.STD, std, 0.002, "matrices are N(0, 0.02^2)");
            for (float x : a.readFloats("model.norm.weight")) assertEquals(1f, x, 0f);
        }
    }

    @Test
    void ensureBuiltCachesAndRebuildsOnChange() throws Exception {
        ModelPackage pkg = ModelPackage.random("tiny-vlm", 1, tmp.resolve("m"));
        assertEquals(List.of(), pkg.vocabulary());
        ModelPackage.BuiltModel b1 = pkg.ensureBuilt();
        assertTrue(b1.rebuilt());
        assertTrue(Files.size(b1.decoder()) > 0 && Files.size(b1.embed()) > 0 && Files.size(b1.vision().orElseThrow()) > 0);
        ModelPackage.BuiltModel b2 = ModelPackage.open(tmp.resolve("m")).ensureBuilt();
        assertFalse(b2.rebuilt(), "unchanged package is not rebuilt");
        // same bytes, new mtime -> rebuild (fingerprint includes mtime)
        Path w = tmp.resolve("m/model.safetensors");
        Files.setLastModifiedTime(w, FileTime.fromMillis(Files.getLastModifiedTime(w).toMillis() - 10_000));
        assertTrue(ModelPackage.open(tmp.resolve("m")).ensureBuilt().rebuilt());
        assertFalse(ModelPackage.open(tmp.resolve("m")).ensureBuilt().rebuilt());
        // random() with the same seed reuses the directory; another seed rewrites it and forces a rebuild
        assertFalse(ModelPackage.random("tiny-vlm", 1, tmp.resolve("m")).ensureBuilt().rebuilt());
        assertTrue(ModelPackage.random("tiny-vlm", 2, tmp.resolve("m")).ensureBuilt().rebuilt());
        // the text-only preset has no vision graph
        assertTrue(ModelPackage.random("tiny", 1, tmp.resolve("t")).ensureBuilt().vision().isEmpty());
    }

    @Test
    void concurrentEnsureBuiltBuildsOnce() throws Exception {
        ModelPackage pkg = ModelPackage.random("tiny", 3, tmp.resolve("c"));
        var pool = java.util.concurrent.Executors.newFixedThreadPool(3);
        try {
            var futures = new java.util.ArrayList<java.util.concurrent.Future<ModelPackage.BuiltModel>>();
            for (int i = 0; i < 3; i++) futures.add(pool.submit(pkg::ensureBuilt));
            int rebuilt = 0;
            for (var f : futures) if (f.get().rebuilt()) rebuilt++;
            assertEquals(1, rebuilt);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void vocabularyFiles() throws Exception {
        Path d = tmp.resolve("v");
        ModelPackage.random("tiny", 1, d);
        Files.writeString(d.resolve("vocab.json"), "[\"<pad>\", \"<bos>\", \"hello\"]");
        assertEquals(List.of("<pad>", "<bos>", "hello"), ModelPackage.open(d).vocabulary());
        Files.delete(d.resolve("vocab.json"));
        Files.writeString(d.resolve("tokenizer.json"), "{\"model\": {\"vocab\": {\"b\": 1, \"a\": 0}}}");
        assertEquals(List.of("a", "b"), ModelPackage.open(d).vocabulary());
        Files.writeString(d.resolve("tokenizer.json"), "{\"model\": {\"vocab\": {\"b\": 1, \"a\": 1}}}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelPackage.open(d));
        assertTrue(e.getMessage().contains("tokenizer.json"));
        Files.delete(d.resolve("tokenizer.json"));
        Files.writeString(d.resolve("vocab.json"), "[\"a\", 3]");
        e = assertThrows(IllegalArgumentException.class, () -> ModelPackage.open(d));
        assertTrue(e.getMessage().contains("vocab.json") && e.getMessage().contains("entry 1"));
    }

    @Test
    void testbedVocabularyLoadsWhenPresent() throws Exception {
        Path testbed = Path.of("..", "testbed", "model");
        if (Files.isRegularFile(testbed.resolve("config.json")) && Files.isRegularFile(testbed.resolve("vocab.json"))) {
            ModelPackage p = ModelPackage.open(testbed);
            assertEquals("<bos>", p.vocabulary().get(p.config().bosTokenId()));
        }
    }

    @Test
    void weightShapeMismatchAndMissingTensorAreNamed() throws Exception {
        Path d = tmp.resolve("bad");
        ModelPackage.random("tiny", 1, d);
        // replace one tensor by a wrongly shaped one
        try (WeightStore w = WeightStore.openDirectory(d)) {
            Map<String, SafetensorsWriter.FloatTensor> t = new java.util.TreeMap<>();
            for (String n : w.names()) {
                long[] shape = w.info(n).shape();
                if (n.equals("model.layers.1.mlp.up_proj.weight")) shape = new long[]{shape[0] - 1, shape[1]};
                float[] v = new float[(int) io.github.kvpolicy.runtime.model.safetensors.TensorInfo.numel(shape)];
                t.put(n, new SafetensorsWriter.FloatTensor(shape, v));
            }
            t.remove("model.norm.weight");
            SafetensorsWriter.write(d.resolve("new.safetensors"), t, DType.F32, null);
        }
        Files.move(d.resolve("new.safetensors"), d.resolve("model.safetensors"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        ModelPackage pkg = ModelPackage.open(d);
        SafetensorsException e = assertThrows(SafetensorsException.class, pkg::ensureBuilt);
        assertTrue(e.getMessage().contains("model.layers.1.mlp.up_proj.weight") && e.getMessage().contains("[128, 64]")
                && e.getMessage().contains("[127, 64]"), e.getMessage());
    }

    @Test
    void randomRefusesToOverwriteARealModel() throws Exception {
        Path d = tmp.resolve("real");
        Files.createDirectories(d);
        Files.writeString(d.resolve("config.json"), "{}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelPackage.random("tiny", 1, d));
        assertTrue(e.getMessage().contains("refusing"));
        assertEquals("{}", Files.readString(d.resolve("config.json")));
    }

    @Test
    void missingFilesAreNamed() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelPackage.open(tmp.resolve("none")));
        assertTrue(e.getMessage().contains("none"));
        Files.createDirectories(tmp.resolve("empty"));
        e = assertThrows(IllegalArgumentException.class, () -> ModelPackage.open(tmp.resolve("empty")));
        assertTrue(e.getMessage().contains("config.json"));
    }
}
