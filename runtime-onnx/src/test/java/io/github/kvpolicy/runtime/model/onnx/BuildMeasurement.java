package io.github.kvpolicy.runtime.model.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.RandomWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Manual measurements (not part of CI): build times of random models, and a > 2 GB external-data build of the
 * Qwen2-7B shape cut to one layer, with the heap limited by the caller (e.g. -Dsurefire.argLine=-Xmx512m).
 * <pre>
 * ./mvnw -B -o test -pl runtime-onnx -Dtest=BuildMeasurement -Dkvpolicy.measure=true -Dkvpolicy.measure.dir=/tmp/kvm \
 *   [-Dkvpolicy.measure.threshold=0] [-Dkvpolicy.measure.big=true]
 * </pre>
 */
@EnabledIfSystemProperty(named = "kvpolicy.measure", matches = "true")
class BuildMeasurement {
    private static Path dir() {
        return Path.of(System.getProperty("kvpolicy.measure.dir", System.getProperty("java.io.tmpdir") + "/kvpolicy-measure"));
    }

    @Test
    void randomModelBuildTimes() throws Exception {
        for (String preset : new String[]{"tiny", "small-100m"}) {
            Path d = dir().resolve(preset);
            long t0 = System.nanoTime();
            ModelPackage.random(preset, 42, d);
            long threshold = Long.getLong("kvpolicy.measure.threshold", ModelBuilder.BuildOptions.DEFAULT.externalDataThreshold());
            ModelPackage pkg = ModelPackage.open(d, new ModelBuilder.BuildOptions(false, threshold));
            long t1 = System.nanoTime();
            ModelPackage.BuiltModel b = pkg.ensureBuilt();
            long t2 = System.nanoTime();
            ModelConfig c = pkg.config();
            OrtSession.SessionOptions o = new OrtSession.SessionOptions();
            long t3 = System.nanoTime();
            try (OrtSession s = OrtEnvironment.getEnvironment().createSession(b.decoder().toString(), o)) {
                long t4 = System.nanoTime();
                System.out.printf("%s: %,d params; random weights %.2f s, build graphs %.2f s (rebuilt=%s, decoder %,d bytes), "
                                + "ORT session %.2f s%n", preset, c.decoderParamCount(), (t1 - t0) / 1e9, (t2 - t1) / 1e9,
                        b.rebuilt(), Files.size(b.decoder()), (t4 - t3) / 1e9);
                assertEquals(5 + 3 * c.numLayers(), s.getNumInputs());
            }
        }
    }

    @Test
    @EnabledIfSystemProperty(named = "kvpolicy.measure.big", matches = "true")
    void qwen2ShapeOneLayerWithExternalData() throws Exception {
        ModelConfig q = RandomWeights.preset("qwen2-7b");
        ModelConfig one = new ModelConfig(q.modelType(), q.hiddenSize(), q.intermediateSize(), 1, q.numHeads(), q.numKvHeads(),
                q.headDim(), q.rmsNormEps(), q.ropeTheta(), q.vocabSize(), q.maxPositionEmbeddings(), false, true,
                q.bosTokenId(), q.eosTokenIds(), -1, null);
        Path d = dir().resolve("qwen2-7b-1layer");
        long t0 = System.nanoTime();
        ModelPackage pkg = ModelPackage.random(one, 42, d);
        long t1 = System.nanoTime();
        ModelPackage.BuiltModel b = pkg.ensureBuilt();
        long t2 = System.nanoTime();
        long ext = Files.size(b.decoder().resolveSibling("decoder.onnx.data"));
        System.out.printf("qwen2-7b shape, 1 layer: %,d params; random weights %.1f s, build %.1f s; decoder.onnx %,d B + data %,d B;"
                        + " max heap %,d MB%n", one.decoderParamCount(), (t1 - t0) / 1e9, (t2 - t1) / 1e9, Files.size(b.decoder()), ext,
                Runtime.getRuntime().maxMemory() >> 20);
        assertTrue(ext > (2L << 30), "external data beyond 2 GB");
        // ORT reads the 2.2 GB embedding table from external data
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long t3 = System.nanoTime();
        try (OrtSession s = env.createSession(b.embed().toString(), new OrtSession.SessionOptions());
             OnnxTensor ids = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[]{0, 151000}), new long[]{1, 2});
             OrtSession.Result r = s.run(Map.of("input_ids", ids))) {
            float[] e = DecoderRunner.copy((OnnxTensor) r.get(0));
            assertEquals(2 * q.hiddenSize(), e.length);
            try (var w = io.github.kvpolicy.runtime.model.safetensors.WeightStore.openDirectory(d)) {
                float[] row = new float[q.hiddenSize()];
                w.readFloats("model.embed_tokens.weight", 151000L * q.hiddenSize(), row, 0, row.length);
                for (int i = 0; i < row.length; i++) assertEquals(row[i], e[q.hiddenSize() + i], 0f);
            }
            System.out.printf("embed.onnx session + lookup of row 151000: %.1f s%n", (System.nanoTime() - t3) / 1e9);
        }
    }
}
