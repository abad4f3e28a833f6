package io.github.kvpolicy.runtime.model.onnx;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.json.Json;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Matches the built graphs against the independent numpy reference written by
 * {@code src/test/python/make_reference.py} (fixtures in {@code src/test/resources/fixtures/}): logits within
 * 1e-4 absolute, greedy tokens exactly, post-rotary queries/keys, a per-(layer, KV head) subset-of-keys decode
 * (masked and physically compacted), and the vision tower.
 */
class ReferenceMatchTest {
    static final double TOL = 1e-4;

    @TempDir
    Path tmp;

    private Path copyFixture(String name) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        for (String f : List.of("config.json", "model.safetensors", "reference.json")) {
            try (InputStream in = getClass().getResourceAsStream("/fixtures/" + name + "/" + f)) {
                if (in == null) throw new IllegalStateException("missing fixture " + name + "/" + f);
                Files.copy(in, dir.resolve(f));
            }
        }
        return dir;
    }

    @SuppressWarnings("unchecked")
    static double[] doubles(Object o) {
        List<Object> l = (List<Object>) o;
        double[] a = new double[l.size()];
        for (int i = 0; i < a.length; i++) a[i] = ((Number) l.get(i)).doubleValue();
        return a;
    }

    @SuppressWarnings("unchecked")
    static double[] flatten(Object o) {
        List<Double> out = new ArrayList<>();
        flattenInto(o, out);
        return out.stream().mapToDouble(Double::doubleValue).toArray();
    }

    @SuppressWarnings("unchecked")
    private static void flattenInto(Object o, List<Double> out) {
        if (o instanceof List<?> l) {
            for (Object x : l) flattenInto(x, out);
        } else {
            out.add(((Number) o).doubleValue());
        }
    }

    static double maxDiff(float[] got, double[] want, String what) {
        assertEquals(want.length, got.length, what + ": length");
        double m = 0;
        for (int i = 0; i < got.length; i++) {
            assertTrue(Float.isFinite(got[i]), what + ": non-finite value at " + i);
            m = Math.max(m, Math.abs(got[i] - want[i]));
        }
        return m;
    }

    static long[] range(int from, int to) {
        long[] a = new long[to - from];
        for (int i = 0; i < a.length; i++) a[i] = from + i;
        return a;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama-vlm", "qwen2"})
    @SuppressWarnings("unchecked")
    void graphMatchesNumpyReference(String fixture) throws Exception {
        Path dir = copyFixture(fixture);
        Map<String, Object> ref = Json.parseObject(Files.readString(dir.resolve("reference.json")), "reference.json");
        ModelPackage pkg = ModelPackage.open(dir);
        ModelConfig cfg = pkg.config();
        ModelPackage.BuiltModel built = pkg.ensureBuilt();
        long[] prompt = Arrays.stream(doubles(ref.get("prompt"))).mapToLong(d -> (long) d).toArray();
        int t = prompt.length;
        int h = cfg.hiddenSize();
        int d = cfg.headDim();
        int layers = cfg.numLayers();
        double worstLogit = 0;
        double worstLogitF32 = 0;
        double worstQk = 0;
        try (DecoderRunner r = new DecoderRunner(built.decoder(), built.embed(), layers, cfg.numKvHeads(), d)) {
            float[] emb = r.embed(prompt);
            long[] probePos = {0, 3, t - 1};
            DecoderRunner.Step pre = r.run(1, t, h, emb, range(0, t), new float[t], r.emptyPast(), probePos, new long[]{t - 1});
            worstLogit = Math.max(worstLogit, maxDiff(pre.logits()[0], doubles(ref.get("logits_last_f64")), "prefill logits"));
            worstLogitF32 = maxDiff(pre.logits()[0], doubles(ref.get("logits_last_f32")), "prefill logits vs f32 ref");

            // logits at other positions via logits_index
            List<Object> all = (List<Object>) ref.get("logits_all_f64");
            for (int pos : new int[]{0, t / 2}) {
                DecoderRunner.Step s = r.run(1, t, h, emb, range(0, t), new float[t], r.emptyPast(), new long[0], new long[]{pos});
                worstLogit = Math.max(worstLogit, maxDiff(s.logits()[0], doubles(all.get(pos)), "logits at position " + pos));
            }

            // post-rotary queries / keys
            for (Object po : (List<Object>) ref.get("probes")) {
                Map<String, Object> p = (Map<String, Object>) po;
                int l = ((Long) p.get("layer")).intValue();
                int pos = ((Long) p.get("position")).intValue();
                int w = Arrays.binarySearch(probePos, pos);
                float[] q = new float[cfg.numHeads() * d];
                for (int hq = 0; hq < cfg.numHeads(); hq++) {
                    System.arraycopy(pre.queries()[l], (hq * probePos.length + w) * d, q, hq * d, d);
                }
                float[] k = new float[cfg.numKvHeads() * d];
                for (int j = 0; j < cfg.numKvHeads(); j++) {
                    System.arraycopy(pre.presentK()[l], (j * t + pos) * d, k, j * d, d);
                }
                worstQk = Math.max(worstQk, maxDiff(q, flatten(p.get("query")), "query l" + l + " p" + pos));
                worstQk = Math.max(worstQk, maxDiff(k, flatten(p.get("key")), "key l" + l + " p" + pos));
            }

            // greedy continuation with the KV cache fed back
            List<DecoderRunner.Past> past = new ArrayList<>();
            for (int l = 0; l < layers; l++) {
                past.add(r.append(new DecoderRunner.Past(0, new float[0], new float[0], new float[0]),
                        pre.presentK()[l], pre.presentV()[l], t));
            }
            List<Object> wantTokens = (List<Object>) ref.get("greedy_tokens");
            List<Object> wantLogits = (List<Object>) ref.get("greedy_logits_f64");
            float[] logits = pre.logits()[0];
            List<Long> got = new ArrayList<>();
            for (int step = 0; step < wantTokens.size(); step++) {
                worstLogit = Math.max(worstLogit, maxDiff(logits, doubles(wantLogits.get(step)), "greedy step " + step));
                long next = DecoderRunner.argmax(logits);
                got.add(next);
                if (step + 1 == wantTokens.size()) break;
                float[] e = r.embed(new long[]{next});
                List<List<DecoderRunner.Past>> pp = past.stream().map(List::of).toList();
                DecoderRunner.Step s = r.run(1, 1, h, e, new long[]{t + step}, new float[1], pp, new long[0], new long[]{0});
                for (int l = 0; l < layers; l++) past.set(l, r.append(past.get(l), s.presentK()[l], s.presentV()[l], 1));
                logits = s.logits()[0];
            }
            assertEquals(wantTokens, got, "greedy tokens");

            // subset of keys per (layer, KV head): masked, then physically compacted
            Map<String, Object> sub = (Map<String, Object>) ref.get("subset");
            long newTok = (Long) sub.get("new_token");
            List<Object> keep = (List<Object>) sub.get("keep");
            double[] wantSub = doubles(sub.get("logits_f64"));
            double[] fullNext = doubles(sub.get("full_logits_f64"));
            float[] e = r.embed(new long[]{newTok});
            List<List<DecoderRunner.Past>> masked = new ArrayList<>();
            List<List<DecoderRunner.Past>> compact = new ArrayList<>();
            List<List<DecoderRunner.Past>> unmasked = new ArrayList<>();
            for (int l = 0; l < layers; l++) {
                DecoderRunner.Past full = r.append(new DecoderRunner.Past(0, new float[0], new float[0], new float[0]),
                        pre.presentK()[l], pre.presentV()[l], t);
                unmasked.add(List.of(full));
                float[] mask = new float[cfg.numKvHeads() * t];
                Arrays.fill(mask, -1e9f);
                List<Object> perHead = (List<Object>) keep.get(l);
                int cap = 0;
                for (Object kh : perHead) cap = Math.max(cap, ((List<Object>) kh).size());
                // compacted layout: each head's kept slots first (in order), then masked padding slots
                float[] ck = new float[cfg.numKvHeads() * cap * d];
                float[] cv = new float[ck.length];
                float[] cm = new float[cfg.numKvHeads() * cap];
                Arrays.fill(cm, -1e9f);
                for (int j = 0; j < cfg.numKvHeads(); j++) {
                    List<Object> idx = (List<Object>) perHead.get(j);
                    for (int n = 0; n < idx.size(); n++) {
                        int slot = ((Long) idx.get(n)).intValue();
                        mask[j * t + slot] = 0f;
                        System.arraycopy(full.k, (j * t + slot) * d, ck, (j * cap + n) * d, d);
                        System.arraycopy(full.v, (j * t + slot) * d, cv, (j * cap + n) * d, d);
                        cm[j * cap + n] = 0f;
                    }
                }
                masked.add(List.of(new DecoderRunner.Past(t, full.k, full.v, mask)));
                compact.add(List.of(new DecoderRunner.Past(cap, ck, cv, cm)));
            }
            long[] newPos = {t};
            float[] subMasked = r.run(1, 1, h, e, newPos, new float[1], masked, new long[0], new long[]{0}).logits()[0];
            float[] subCompact = r.run(1, 1, h, e, newPos, new float[1], compact, new long[0], new long[]{0}).logits()[0];
            float[] noEvict = r.run(1, 1, h, e, newPos, new float[1], unmasked, new long[0], new long[]{0}).logits()[0];
            double subErr = Math.max(maxDiff(subMasked, wantSub, "subset (masked)"), maxDiff(subCompact, wantSub, "subset (compacted)"));
            double fullErr = maxDiff(noEvict, fullNext, "no eviction");
            double subVsFull = 0;
            for (int i = 0; i < wantSub.length; i++) subVsFull = Math.max(subVsFull, Math.abs(wantSub[i] - fullNext[i]));
            assertTrue(subVsFull > 100 * TOL, "the subset case must differ from full attention to be meaningful");
            System.out.printf("%s: max|logit err| vs f64 %.3g (vs f32 ref %.3g), q/k %.3g, subset %.3g, full-next %.3g%n",
                    fixture, worstLogit, worstLogitF32, worstQk, subErr, fullErr);
            assertTrue(worstLogit < TOL, "logits error " + worstLogit);
            assertTrue(worstQk < TOL, "query/key error " + worstQk);
            assertTrue(subErr < TOL, "subset logits error " + subErr);
            assertTrue(fullErr < TOL, "next-token logits error " + fullErr);
        }

        if (ref.containsKey("vision")) {
            assertTrue(built.vision().isPresent());
            Map<String, Object> v = (Map<String, Object>) ref.get("vision");
            long[] cells = Arrays.stream(flatten(v.get("pixel_attributes"))).mapToLong(x -> (long) x).toArray();
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            try (OrtSession s = env.createSession(built.vision().get().toString(), new OrtSession.SessionOptions());
                 OnnxTensor in = OnnxTensor.createTensor(env, LongBuffer.wrap(cells), new long[]{1, cells.length / 3, 3});
                 OrtSession.Result res = s.run(Map.of("pixel_attributes", in))) {
                float[] out = DecoderRunner.copy((OnnxTensor) res.get("image_embeds").orElseThrow());
                double err = maxDiff(out, flatten(v.get("image_embeds_f64")), "image_embeds");
                System.out.printf("%s: vision max|err| %.3g%n", fixture, err);
                assertTrue(err < TOL, "vision error " + err);
            }
        } else {
            assertTrue(built.vision().isEmpty());
        }
    }
}
