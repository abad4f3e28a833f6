package io.github.kvpolicy.runtime.model.onnx;

import ai.onnxruntime.OnnxModelMetadata;
import ai.onnxruntime.OrtSession;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Self-consistency of the decoder graph on a random tiny model: chunked prefill + cached decode must equal one
 * full prefill; padding rows in a batch must not change real rows; W = 0 query export works. (Numerical
 * agreement with an independent implementation is {@link ReferenceMatchTest}.)
 */
class DecoderGraphConsistencyTest {
    @TempDir
    static Path tmp;
    static ModelPackage.BuiltModel built;
    static ModelConfig cfg;

    @BeforeAll
    static void build() {
        ModelPackage pkg = ModelPackage.random("tiny", 7, tmp.resolve("tiny"));
        cfg = pkg.config();
        built = pkg.ensureBuilt();
    }

    private static DecoderRunner runner() throws Exception {
        return new DecoderRunner(built.decoder(), built.embed(), cfg.numLayers(), cfg.numKvHeads(), cfg.headDim());
    }

    private static long[] range(int from, int to) {
        long[] a = new long[to - from];
        for (int i = 0; i < a.length; i++) a[i] = from + i;
        return a;
    }

    @Test
    void metadataDeclaresTheContract() throws Exception {
        try (DecoderRunner r = runner()) {
            OnnxModelMetadata md = r.decoder.getMetadata();
            Map<String, String> m = md.getCustomMetadata();
            assertEquals("1", m.get("kvpolicy.contract"));
            assertEquals(Integer.toString(cfg.numLayers()), m.get("kvpolicy.layers"));
            assertEquals(Integer.toString(cfg.numKvHeads()), m.get("kvpolicy.kv_heads"));
            assertEquals(Integer.toString(cfg.headDim()), m.get("kvpolicy.head_dim"));
            assertEquals(Integer.toString(cfg.numHeads()), m.get("kvpolicy.query_heads"));
            assertTrue(r.decoder.getInputNames().contains("past_mask." + (cfg.numLayers() - 1)));
            assertTrue(r.decoder.getOutputNames().contains("queries.0"));
        }
    }

    @Test
    void chunkedPrefillAndDecodeEqualFullPrefill() throws Exception {
        long[] ids = {1, 17, 42, 99, 5, 230, 64, 7, 8};
        int n = ids.length;
        int h = cfg.hiddenSize();
        try (DecoderRunner r = runner()) {
            float[] all = r.embed(ids);
            // full prefill
            DecoderRunner.Step full = r.run(1, n, h, all, range(0, n), new float[n], r.emptyPast(), range(0, n), new long[]{n - 1});
            // prefill 5, then a chunk of 3, then one token
            int[] cuts = {0, 5, 8, 9};
            List<DecoderRunner.Past> past = new ArrayList<>(r.emptyPast().stream().map(x -> x.get(0)).toList());
            DecoderRunner.Step last = null;
            float[][] keys = new float[cfg.numLayers()][];
            for (int c = 0; c + 1 < cuts.length; c++) {
                int s = cuts[c + 1] - cuts[c];
                float[] e = Arrays.copyOfRange(all, cuts[c] * h, cuts[c + 1] * h);
                List<List<DecoderRunner.Past>> pp = past.stream().map(List::of).toList();
                last = r.run(1, s, h, e, range(cuts[c], cuts[c + 1]), new float[s], pp, new long[]{s - 1}, new long[]{s - 1});
                for (int l = 0; l < cfg.numLayers(); l++) {
                    past.set(l, r.append(past.get(l), last.presentK()[l], last.presentV()[l], s));
                }
            }
            for (int l = 0; l < cfg.numLayers(); l++) keys[l] = past.get(l).k;
            assertArrayEquals(full.logits()[0], last.logits()[0], 2e-5f);
            for (int l = 0; l < cfg.numLayers(); l++) {
                assertArrayEquals(full.presentK()[l], keys[l], 2e-5f, "keys of layer " + l);
                // the last query row of the full run equals the query exported by the 1-token step
                int d = cfg.headDim();
                for (int hq = 0; hq < cfg.numHeads(); hq++) {
                    float[] a = Arrays.copyOfRange(full.queries()[l], (hq * n + n - 1) * d, (hq * n + n) * d);
                    float[] b = Arrays.copyOfRange(last.queries()[l], hq * d, (hq + 1) * d);
                    assertArrayEquals(a, b, 2e-5f, "query head " + hq + " layer " + l);
                }
            }
        }
    }

    @Test
    void paddedBatchRowEqualsUnpaddedRun() throws Exception {
        long[] a = {1, 10, 20, 30, 40, 50};
        long[] b = {1, 11, 21};
        int h = cfg.hiddenSize();
        int s = a.length;
        try (DecoderRunner r = runner()) {
            float[] ea = r.embed(a);
            float[] eb = r.embed(b);
            DecoderRunner.Step alone = r.run(1, b.length, h, eb, range(0, b.length), new float[b.length], r.emptyPast(),
                    new long[0], new long[]{b.length - 1});
            float[] emb = new float[2 * s * h];
            System.arraycopy(ea, 0, emb, 0, ea.length);
            System.arraycopy(eb, 0, emb, s * h, eb.length);
            // padding slots hold garbage embeddings on purpose
            for (int i = s * h + eb.length; i < emb.length; i++) emb[i] = 3.0f;
            long[] pos = new long[2 * s];
            float[] mask = new float[2 * s];
            for (int i = 0; i < s; i++) {
                pos[i] = i;
                pos[s + i] = i;
                if (i >= b.length) mask[s + i] = -1e9f;
            }
            List<List<DecoderRunner.Past>> past = new ArrayList<>();
            for (int l = 0; l < cfg.numLayers(); l++) {
                DecoderRunner.Past e = new DecoderRunner.Past(0, new float[0], new float[0], new float[0]);
                past.add(List.of(e, e));
            }
            DecoderRunner.Step both = r.run(2, s, h, emb, pos, mask, past, new long[0], new long[]{s - 1, b.length - 1});
            assertArrayEquals(alone.logits()[0], both.logits()[1], 2e-5f);
            assertEquals(0, both.queries()[0].length, "W = 0 exports no queries");
            DecoderRunner.Step aAlone = r.run(1, s, h, ea, range(0, s), new float[s], r.emptyPast(), new long[0], new long[]{s - 1});
            assertArrayEquals(aAlone.logits()[0], both.logits()[0], 2e-5f);
        }
    }

    @Test
    void sessionOptionsDoNotMatter() throws Exception {
        // the graph must also load with all graph optimisations enabled (constant folding etc.)
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        try (OrtSession s = ai.onnxruntime.OrtEnvironment.getEnvironment().createSession(built.decoder().toString(), o)) {
            assertEquals(5 + 3 * cfg.numLayers(), s.getNumInputs());
            assertEquals(1 + 3 * cfg.numLayers(), s.getNumOutputs());
        }
    }
}
