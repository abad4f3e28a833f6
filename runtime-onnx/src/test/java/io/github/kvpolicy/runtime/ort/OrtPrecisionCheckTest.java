package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.runtime.TestModels;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision;
import ai.onnx.proto.OnnxMl;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

/**
 * fp16 KV ({@link Precision#FP16_KV}): the decoder's K/V inputs and outputs are FLOAT16 and everything else is as in the
 * fp32 graph; the build gets its own folder; the resident decoder runs it on the CPU (only Cast touches half values)
 * with the same greedy tokens as fp32 and logits within the stated tolerance (measured on the CPU: max |logit diff|
 * 4.6e-5 on tiny-7, 0.028 on the trained testbed model; asserted below 1e-3 and 5e-2).
 */
class OrtPrecisionCheckTest {
    private static final ModelBuilder.BuildOptions FP16_KV = ModelBuilder.BuildOptions.DEFAULT.withPrecision(Precision.FP16_KV);

    @Test
    void fp16GraphsHaveHalfKvAndFloatEverythingElse() throws IOException {
        ModelPackage.BuiltModel b32 = TestModels.built("tiny", 7);
        Path dir = TestModels.dir("tiny-7");
        ModelPackage.BuiltModel b16 = ModelPackage.open(dir, FP16_KV).ensureBuilt();
        assertNotEquals(b32.decoder().getParent(), b16.decoder().getParent(), "fp32 and fp16 builds never share a folder");
        assertTrue(b16.decoder().getParent().getFileName().toString().endsWith("-fp16-kv"), b16.decoder().toString());
        assertTrue(Files.isRegularFile(b32.decoder()), "building fp16 leaves the fp32 build in place");
        assertEquals(b32.decoder().getParent(), ModelPackage.open(dir).ensureBuilt().decoder().getParent(), "fp32 key unchanged");

        OnnxMl.ModelProto m16 = load(b16.decoder()), m32 = load(b32.decoder());
        int f = OnnxMl.TensorProto.DataType.FLOAT_VALUE, h = OnnxMl.TensorProto.DataType.FLOAT16_VALUE;
        Map<String, Integer> types = new HashMap<>();
        m16.getGraph().getInputList().forEach(v -> types.put(v.getName(), v.getType().getTensorType().getElemType()));
        m16.getGraph().getOutputList().forEach(v -> types.put(v.getName(), v.getType().getTensorType().getElemType()));
        int layers = TestModels.preset("tiny").numLayers();
        for (int i = 0; i < layers; i++) {
            for (String n : new String[] {"past_key.", "past_value.", "present_key.", "present_value."}) assertEquals(h, types.get(n + i), n + i);
            assertEquals(f, types.get("past_mask." + i));
            assertEquals(f, types.get("queries." + i));
        }
        assertEquals(f, types.get("logits"), "logits stay fp32");
        assertEquals(f, types.get("inputs_embeds"));
        for (OnnxMl.TensorProto t : m16.getGraph().getInitializerList()) assertNotEquals(h, t.getDataType(), t.getName() + ": weights are not converted");
        assertEquals(m32.getGraph().getInitializerCount(), m16.getGraph().getInitializerCount());
        assertEquals(m32.getGraph().getNodeCount() + 4L * layers, m16.getGraph().getNodeCount(), "one Cast per KV input and output");
        assertEquals("fp16", meta(m16).get("kvpolicy.kv_dtype"));
        assertEquals("fp32", meta(m32).get("kvpolicy.kv_dtype"));
        try (ModelSessions s = ModelSessions.open(b16.decoder().getParent(), false, 0, 1)) {
            assertEquals(Precision.FP16_KV, s.precision());
            // the host reference path's fp32 K/V (what KvCache holds) are refused before ONNX Runtime sees them
            ai.onnxruntime.OnnxTensor[][] past = new ai.onnxruntime.OnnxTensor[layers][3];
            ai.onnxruntime.OrtEnvironment env = s.env();
            var shape = s.shape();
            try {
                for (int i = 0; i < layers; i++) {
                    long[] kv = {1, shape.kvHeads(), 0, shape.headDim()};
                    past[i][0] = ai.onnxruntime.OnnxTensor.createTensor(env, java.nio.FloatBuffer.allocate(0), kv);
                    past[i][1] = ai.onnxruntime.OnnxTensor.createTensor(env, java.nio.FloatBuffer.allocate(0), kv);
                    past[i][2] = ai.onnxruntime.OnnxTensor.createTensor(env, java.nio.FloatBuffer.allocate(0), new long[] {1, shape.kvHeads(), 0});
                }
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.decode(1, 1, new float[s.hiddenSize()], new long[1], new float[1],
                        new long[0], new long[1], past));
                assertTrue(e.getMessage().endsWith("is a fp16-kv build: past K/V must be FLOAT16 tensors (the host reference KvCache holds fp32 only; "
                        + "decode reduced-precision builds with the resident OrtDecoder)"), e.getMessage());
            } catch (ai.onnxruntime.OrtException e) {
                throw new IllegalStateException(e);
            } finally {
                for (ai.onnxruntime.OnnxTensor[] row : past) for (ai.onnxruntime.OnnxTensor t : row) if (t != null) t.close();
            }
        }
    }

    @Test
    void fp16KvDecodesLikeFp32OnTheCpuRandomPreset() {
        TestModels.built("tiny", 7);
        Path dir = TestModels.dir("tiny-7");
        long[] prompt = new Random(5).longs(29, 3, 250).toArray();
        OrtPrecisionCheck.Result r = OrtPrecisionCheck.compare(dir, Precision.FP16_KV, Device.CPU, 0, 1, prompt, 24);
        System.out.printf("fp16 KV vs fp32, tiny-7 (CPU): max |logit diff| %.3g, tokens equal %s, KV bytes %d -> %d%n",
                r.maxLogitDiff(), r.tokensEqual(), r.kvBytes32(), r.kvBytes16());
        assertEquals(r.tokens32(), r.tokens16());
        assertTrue(r.maxLogitDiff() > 0, "the cache really is rounded to fp16");
        assertTrue(r.maxLogitDiff() < 1e-3, "max |logit diff| " + r.maxLogitDiff());
        assertEquals(r.kvBytes32(), 2 * r.kvBytes16(), "fp16 K/V take half the bytes");
    }

    @Test
    void fp16KvDecodesLikeFp32OnTheCpuTestbedModel() throws IOException {
        Path dir = testbedCopy("testbed-fp16");
        long[] prompt = new Random(3).longs(20, 4, 54).toArray();
        OrtPrecisionCheck.Result r = OrtPrecisionCheck.compare(dir, Precision.FP16_KV, Device.CPU, 0, 1, prompt, 24);
        System.out.printf("fp16 KV vs fp32, testbed (CPU): max |logit diff| %.3g, tokens equal %s%n", r.maxLogitDiff(), r.tokensEqual());
        assertEquals(r.tokens32(), r.tokens16());
        assertTrue(r.maxLogitDiff() < 5e-2, "max |logit diff| " + r.maxLogitDiff());
    }

    @Test
    void theGeneratorBuildsTheConfiguredKvTypeAndRefusesAMismatch() {
        TestModels.built("tiny", 7);
        Path dir = TestModels.dir("tiny-7");
        long[] prompt = new Random(9).longs(17, 3, 250).toArray();
        io.github.kvpolicy.runtime.GenerationRequest req = io.github.kvpolicy.runtime.GenerationRequest.builder()
                .row(io.github.kvpolicy.runtime.Prompt.ofTokens(prompt)).maxNewTokens(12).build();
        io.github.kvpolicy.runtime.GeneratorConfig c32 = io.github.kvpolicy.runtime.GeneratorConfig.defaults().withIntraOpThreads(1);
        long[] t32, t16;
        try (io.github.kvpolicy.runtime.Generator g = io.github.kvpolicy.runtime.Generator.open(ModelPackage.open(dir), c32)) {
            t32 = g.generate(req).tokens(0);
        }
        try (io.github.kvpolicy.runtime.Generator g = io.github.kvpolicy.runtime.Generator.open(ModelPackage.open(dir), c32.withPrecision(Precision.FP16_KV))) {
            t16 = g.generate(req).tokens(0);
        }
        assertArrayEquals(t32, t16, "fp16 KV generates the fp32 tokens on tiny-7");
        ModelPackage.BuiltModel b16 = ModelPackage.open(dir, FP16_KV).ensureBuilt();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> io.github.kvpolicy.runtime.Generator.open(b16, c32));
        assertTrue(e.getMessage().endsWith(" holds fp16-kv graphs but dtype=fp32 was configured (open the model package to build the fp32 graphs)"),
                e.getMessage());
    }

    @Test
    void theResidentProbeReadsTheFp16CacheLikeTheCpuProbe() {
        TestModels.built("tiny", 7);
        long[] prompt = new Random(11).longs(40, 3, 250).toArray();
        io.github.kvpolicy.runtime.GeneratorConfig cfg = io.github.kvpolicy.runtime.GeneratorConfig.defaults().withIntraOpThreads(1).withPrecision(Precision.FP16_KV);
        try (io.github.kvpolicy.runtime.Generator g = io.github.kvpolicy.runtime.Generator.open(ModelPackage.open(TestModels.dir("tiny-7")), cfg);
             io.github.kvpolicy.runtime.GenerationSession s = g.newSession(io.github.kvpolicy.runtime.GenerationRequest.builder()
                     .row(io.github.kvpolicy.runtime.Prompt.ofTokens(prompt)).maxNewTokens(1)
                     .policy(io.github.kvpolicy.runtime.bench.BenchPolicies.probeTopK(8), io.github.kvpolicy.api.Budget.ratio(0.5)).build())) {
            s.prefill();
            io.github.kvpolicy.api.AttentionQuery q = new io.github.kvpolicy.api.AttentionQuery(0, new int[0], s.probe().queryPositions(0),
                    s.cache().positions(0, 0, 0), io.github.kvpolicy.api.Reduction.MEAN, io.github.kvpolicy.api.HeadMapping.KV_MEAN);
            io.github.kvpolicy.api.AttentionMap dev = s.probe().attention(q);
            io.github.kvpolicy.api.AttentionMap cpu = new io.github.kvpolicy.runtime.probe.CpuAttentionProbe(s.cache(), s.queries(),
                    io.github.kvpolicy.runtime.probe.CpuAttentionProbe.Kernel.DOT).attention(q);
            double max = 0;
            for (int l = 0; l < dev.layers().length; l++) {
                for (int h = 0; h < dev.heads(); h++) {
                    float[] a = dev.scores(l, h), b = cpu.scores(l, h);
                    for (int k = 0; k < a.length; k++) max = Math.max(max, Math.abs(a[k] - b[k]));
                }
            }
            assertTrue(max < 1e-6, "resident probe over fp16 keys vs CPU probe over the same (widened) keys: " + max);
            s.applyPolicy(io.github.kvpolicy.api.Phase.PREFILL); // compaction through the fp16 gather graph
            assertTrue(s.cache().positions(0, 0, 0).length < prompt.length, "compacted");
        }
    }

    @Test
    void fp16GraphsStoreHalfMatricesAndKeepTheContractBoundaryFloat() throws IOException {
        TestModels.built("tiny", 7);
        Path dir = TestModels.dir("tiny-7");
        ModelPackage.BuiltModel b = ModelPackage.open(dir, ModelBuilder.BuildOptions.DEFAULT.withPrecision(Precision.FP16)).ensureBuilt();
        assertTrue(b.decoder().getParent().getFileName().toString().endsWith("-fp16"), b.decoder().toString());
        OnnxMl.ModelProto m = load(b.decoder());
        int f = OnnxMl.TensorProto.DataType.FLOAT_VALUE, h = OnnxMl.TensorProto.DataType.FLOAT16_VALUE;
        Map<String, Integer> types = new HashMap<>();
        m.getGraph().getInputList().forEach(v -> types.put(v.getName(), v.getType().getTensorType().getElemType()));
        m.getGraph().getOutputList().forEach(v -> types.put(v.getName(), v.getType().getTensorType().getElemType()));
        int layers = TestModels.preset("tiny").numLayers();
        for (int i = 0; i < layers; i++) {
            for (String n : new String[] {"past_key.", "past_value.", "present_key.", "present_value."}) assertEquals(h, types.get(n + i), n + i);
            assertEquals(f, types.get("past_mask." + i));
            assertEquals(f, types.get("queries." + i), "queries stay fp32 at the boundary");
        }
        assertEquals(f, types.get("logits"), "logits stay fp32 at the boundary");
        assertEquals(f, types.get("inputs_embeds"));
        int matrices = 0;
        for (OnnxMl.TensorProto t : m.getGraph().getInitializerList()) {
            if (t.getDimsCount() == 2) {
                assertEquals(h, t.getDataType(), t.getName() + " is stored fp16");
                matrices++;
            }
            if (t.getName().endsWith("norm.weight")) assertEquals(f, t.getDataType(), t.getName() + ": norm weights stay fp32");
        }
        assertEquals(7 * layers + 1, matrices, "q, k, v, o, gate, up, down per layer and the lm_head");
        long softmaxOnHalf = m.getGraph().getNodeList().stream().filter(n -> n.getOpType().equals("Softmax")).count();
        assertEquals(layers, softmaxOnHalf);
        assertEquals("fp16", meta(m).get("kvpolicy.precision"));
        assertEquals("fp16", meta(m).get("kvpolicy.kv_dtype"));
        OnnxMl.ModelProto e = load(b.embed());
        assertEquals(h, e.getGraph().getInitializer(0).getDataType(), "the embedding table is stored fp16");
        assertEquals(f, e.getGraph().getOutput(0).getType().getTensorType().getElemType(), "inputs_embeds stay fp32");
    }

    @Test
    void fp16DecodesLikeFp32OnTheCpuRandomPreset() {
        TestModels.built("tiny", 7);
        Path dir = TestModels.dir("tiny-7");
        long[] prompt = new Random(5).longs(29, 3, 250).toArray();
        OrtPrecisionCheck.Result r = OrtPrecisionCheck.compare(dir, Precision.FP16, Device.CPU, 0, 1, prompt, 24);
        System.out.printf("fp16 vs fp32, tiny-7 (CPU): max |logit diff| %.3g of max |logit| %.3g, mismatches %d, tokens %s vs %s, KV bytes %d -> %d%n",
                r.maxLogitDiff(), r.maxLogit(), r.mismatches(), r.tokens32(), r.tokens16(), r.kvBytes32(), r.kvBytes16());
        assertEquals(r.kvBytes32(), 2 * r.kvBytes16(), "fp16 K/V take half the bytes");
        assertEquals(r.tokens32(), r.tokens16());
        double rel = r.maxLogitDiff() / r.maxLogit();
        assertTrue(rel > 1e-4, "fp16 arithmetic really ran (fp16-kv alone gives 7e-5 relative): " + rel);
        assertTrue(rel < 1e-2, "max |logit diff| / max |logit| " + rel);
    }

    /** Measured on the CPU: max |logit diff| 0.67 of max |logit| 34.6 (1.9%), no greedy token changed. */
    @Test
    void fp16DecodesLikeFp32OnTheCpuTestbedModel() throws IOException {
        Path dir = testbedCopy("testbed-fp16-full");
        long[] prompt = new Random(3).longs(20, 4, 54).toArray();
        OrtPrecisionCheck.Result r = OrtPrecisionCheck.compare(dir, Precision.FP16, Device.CPU, 0, 1, prompt, 24);
        System.out.printf("fp16 vs fp32, testbed (CPU): max |logit diff| %.3g of max |logit| %.3g, mismatches %d%n", r.maxLogitDiff(), r.maxLogit(), r.mismatches());
        assertEquals(r.tokens32(), r.tokens16());
        assertTrue(r.maxLogitDiff() / r.maxLogit() < 5e-2, "relative max |logit diff| " + r.maxLogitDiff() / r.maxLogit());
    }

    @Test
    void aWeightBeyondFp16RangeFailsTheFp16BuildNamingItAndLeavesFp32Working(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        TestModels.built("tiny", 7);
        Path src = TestModels.dir("tiny-7");
        Path dir = tmp.resolve("big-weight");
        Files.createDirectories(dir);
        Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
        Map<String, io.github.kvpolicy.runtime.model.safetensors.SafetensorsWriter.FloatTensor> all = new java.util.LinkedHashMap<>();
        String victim = null;
        try (io.github.kvpolicy.runtime.model.safetensors.WeightStore w = io.github.kvpolicy.runtime.model.safetensors.WeightStore.openFiles(
                java.util.List.of(src.resolve("model.safetensors")))) {
            for (String n : w.names()) {
                float[] data = w.readFloats(n);
                if (victim == null && n.endsWith("mlp.up_proj.weight")) {
                    victim = n;
                    data[3] = 1e6f;
                }
                all.put(n, new io.github.kvpolicy.runtime.model.safetensors.SafetensorsWriter.FloatTensor(w.info(n).shape(), data));
            }
        }
        assertNotNull(victim);
        io.github.kvpolicy.runtime.model.safetensors.SafetensorsWriter.write(dir.resolve("model.safetensors"), all,
                io.github.kvpolicy.runtime.model.safetensors.DType.F32, Map.of("format", "pt"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelPackage.open(dir, ModelBuilder.BuildOptions.DEFAULT.withPrecision(Precision.FP16)).ensureBuilt());
        assertEquals("weight " + victim + " holds 1000000.0 at element 3, beyond fp16's range (±65504); build it with dtype fp32 or fp16-kv",
                e.getMessage());
        assertTrue(Files.isRegularFile(ModelPackage.open(dir, ModelBuilder.BuildOptions.DEFAULT.withPrecision(Precision.FP16_KV)).ensureBuilt().decoder()),
                "fp16-kv keeps fp32 weights and builds");
    }

    @Test
    void fp16OnTheCpuCarriesACautionAndNothingElseDoes() {
        io.github.kvpolicy.runtime.GeneratorConfig c = io.github.kvpolicy.runtime.GeneratorConfig.defaults();
        assertTrue(c.withPrecision(Precision.FP16).caution().orElseThrow().endsWith("on the CPU use fp16-kv (half the KV cache, fp32 arithmetic)"));
        assertTrue(c.withPrecision(Precision.FP16_KV).caution().isEmpty());
        assertTrue(c.caution().isEmpty());
        assertTrue(c.withDevice(Device.CUDA).withPrecision(Precision.FP16).caution().isEmpty());
    }

    private static Path testbedCopy(String name) throws IOException {
        return TestModels.testbedCopy(TestModels.dir(name));
    }

    private static OnnxMl.ModelProto load(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            return OnnxMl.ModelProto.parseFrom(in);
        }
    }

    private static Map<String, String> meta(OnnxMl.ModelProto m) {
        Map<String, String> out = new HashMap<>();
        m.getMetadataPropsList().forEach(e -> out.put(e.getKey(), e.getValue()));
        return out;
    }
}
