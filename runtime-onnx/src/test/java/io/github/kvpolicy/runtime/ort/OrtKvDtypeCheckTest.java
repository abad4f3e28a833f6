package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.runtime.TestModels;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder.KvDtype;
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
 * fp16 KV ({@link KvDtype#FP16}): the decoder's K/V inputs and outputs are FLOAT16 and everything else is as in the
 * fp32 graph; the build gets its own folder; the resident decoder runs it on the CPU (only Cast touches half values)
 * with the same greedy tokens as fp32 and logits within the stated tolerance (measured on the CPU: max |logit diff|
 * 4.6e-5 on tiny-7, 0.028 on the trained testbed model; asserted below 1e-3 and 5e-2).
 */
class OrtKvDtypeCheckTest {
    private static final ModelBuilder.BuildOptions FP16 = ModelBuilder.BuildOptions.DEFAULT.withKvDtype(KvDtype.FP16);

    @Test
    void fp16GraphsHaveHalfKvAndFloatEverythingElse() throws IOException {
        ModelPackage.BuiltModel b32 = TestModels.built("tiny", 7);
        Path dir = TestModels.dir("tiny-7");
        ModelPackage.BuiltModel b16 = ModelPackage.open(dir, FP16).ensureBuilt();
        assertNotEquals(b32.decoder().getParent(), b16.decoder().getParent(), "fp32 and fp16 builds never share a folder");
        assertTrue(b16.decoder().getParent().getFileName().toString().endsWith("-fp16"), b16.decoder().toString());
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
            assertEquals(KvDtype.FP16, s.kvDtype());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.decode(1, 1, new float[s.hiddenSize()], new long[1], new float[1],
                    new long[0], new long[1], new ai.onnxruntime.OnnxTensor[layers][]));
            assertTrue(e.getMessage().endsWith("has a fp16 KV cache; the host reference decode path takes fp32 K/V only (use the resident OrtDecoder)"), e.getMessage());
        }
    }

    @Test
    void fp16KvDecodesLikeFp32OnTheCpuRandomPreset() {
        TestModels.built("tiny", 7);
        Path dir = TestModels.dir("tiny-7");
        long[] prompt = new Random(5).longs(29, 3, 250).toArray();
        OrtKvDtypeCheck.Result r = OrtKvDtypeCheck.compare(dir, Device.CPU, 0, 1, prompt, 24);
        System.out.printf("fp16 KV vs fp32, tiny-7 (CPU): max |logit diff| %.3g, tokens equal %s, KV bytes %d -> %d%n",
                r.maxLogitDiff(), r.tokensEqual(), r.kvBytes32(), r.kvBytes16());
        assertEquals(r.tokens32(), r.tokens16());
        assertTrue(r.maxLogitDiff() > 0, "the cache really is rounded to fp16");
        assertTrue(r.maxLogitDiff() < 1e-3, "max |logit diff| " + r.maxLogitDiff());
        assertEquals(r.kvBytes32(), 2 * r.kvBytes16(), "fp16 K/V take half the bytes");
    }

    @Test
    void fp16KvDecodesLikeFp32OnTheCpuTestbedModel() throws IOException {
        Path src = Path.of("..", "testbed", "model");
        Path dir = Path.of("target", "test-models", "testbed-fp16").toAbsolutePath();
        Files.createDirectories(dir);
        for (String f : new String[] {"config.json", "model.safetensors", "vocab.json"}) {
            Files.copy(src.resolve(f), dir.resolve(f), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
        }
        long[] prompt = new Random(3).longs(20, 4, 54).toArray();
        OrtKvDtypeCheck.Result r = OrtKvDtypeCheck.compare(dir, Device.CPU, 0, 1, prompt, 24);
        System.out.printf("fp16 KV vs fp32, testbed (CPU): max |logit diff| %.3g, tokens equal %s%n", r.maxLogitDiff(), r.tokensEqual());
        assertEquals(r.tokens32(), r.tokens16());
        assertTrue(r.maxLogitDiff() < 5e-2, "max |logit diff| " + r.maxLogitDiff());
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
