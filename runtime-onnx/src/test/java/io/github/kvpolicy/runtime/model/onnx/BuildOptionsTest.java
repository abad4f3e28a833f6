package io.github.kvpolicy.runtime.model.onnx;

import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * External data and half-precision weight storage must not change results: the BF16/F16 qwen2 fixture is built
 * four ways and all graphs must produce the same prefill and decode logits and keys.
 */
class BuildOptionsTest {
    @TempDir
    Path tmp;

    private ModelPackage.BuiltModel build(String name, ModelBuilder.BuildOptions opt) throws Exception {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors")) {
            try (InputStream in = getClass().getResourceAsStream("/fixtures/qwen2/" + f)) {
                Files.copy(in, dir.resolve(f));
            }
        }
        return ModelPackage.open(dir, opt).ensureBuilt();
    }

    private static float[][] run(ModelPackage.BuiltModel b) throws Exception {
        ModelConfig c = b.config();
        long[] ids = {0, 5, 61, 33, 12, 47};
        try (DecoderRunner r = new DecoderRunner(b.decoder(), b.embed(), c.numLayers(), c.numKvHeads(), c.headDim())) {
            int t = ids.length;
            long[] pos = new long[t];
            for (int i = 0; i < t; i++) pos[i] = i;
            DecoderRunner.Step pre = r.run(1, t, c.hiddenSize(), r.embed(ids), pos, new float[t], r.emptyPast(),
                    new long[]{t - 1}, new long[]{t - 1});
            List<List<DecoderRunner.Past>> past = new java.util.ArrayList<>();
            for (int l = 0; l < c.numLayers(); l++) {
                past.add(List.of(r.append(new DecoderRunner.Past(0, new float[0], new float[0], new float[0]),
                        pre.presentK()[l], pre.presentV()[l], t)));
            }
            DecoderRunner.Step dec = r.run(1, 1, c.hiddenSize(), r.embed(new long[]{7}), new long[]{t}, new float[1], past,
                    new long[]{0}, new long[]{0});
            return new float[][]{pre.logits()[0], dec.logits()[0], pre.presentK()[c.numLayers() - 1], dec.queries()[0]};
        }
    }

    @Test
    void externalDataAndHalfWeightsGiveTheSameResults() throws Exception {
        ModelPackage.BuiltModel base = build("fp32", ModelBuilder.BuildOptions.DEFAULT);
        ModelPackage.BuiltModel ext = build("ext", new ModelBuilder.BuildOptions(false, 0));
        ModelPackage.BuiltModel half = build("half", new ModelBuilder.BuildOptions(true, 1L << 30));
        ModelPackage.BuiltModel halfExt = build("halfext", new ModelBuilder.BuildOptions(true, 0));

        assertFalse(Files.exists(base.decoder().resolveSibling("decoder.onnx.data")));
        Path data = ext.decoder().resolveSibling("decoder.onnx.data");
        assertTrue(Files.size(data) >= 4 * base.config().decoderParamCount(), "external data holds the fp32 weights");
        assertTrue(Files.size(ext.decoder()) < 100_000, "graph file without weights is small: " + Files.size(ext.decoder()));
        assertTrue(Files.exists(ext.embed().resolveSibling("embed.onnx.data")));
        long fp32Size = Files.size(base.decoder());
        long halfSize = Files.size(half.decoder());
        assertTrue(halfSize < 0.6 * fp32Size, "half weights: " + halfSize + " vs fp32 " + fp32Size);
        assertTrue(Files.size(halfExt.decoder().resolveSibling("decoder.onnx.data")) < 0.6 * Files.size(data));

        float[][] want = run(base);
        for (ModelPackage.BuiltModel other : List.of(ext, half, halfExt)) {
            float[][] got = run(other);
            for (int i = 0; i < want.length; i++) {
                // BF16 -> F32 widening is exact, so every variant computes the same math
                assertArrayEquals(want[i], got[i], 1e-5f, other.decoder() + " output " + i);
            }
        }
    }
}
