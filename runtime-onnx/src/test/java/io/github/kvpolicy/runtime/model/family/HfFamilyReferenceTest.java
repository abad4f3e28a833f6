package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.api.AttentionMap;
import io.github.kvpolicy.api.AttentionQuery;
import io.github.kvpolicy.api.HeadMapping;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.Reduction;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.verify.ModelVerifier;
import io.github.kvpolicy.runtime.model.verify.ReferenceFile;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every supported family against Hugging Face transformers on the fixture's own inputs ({@code src/test/resources/hf/},
 * tiny random-weight models written by {@code save_pretrained}, references computed by transformers 5.17 in float32):
 * logits at every prompt position within 1e-4; decoding through the {@link Generator} (prefill, then 6 greedy steps)
 * reproduces the greedy tokens and {@code generation.scores} within 1e-4; the attention probe returns every row of
 * {@code attention.{layer}} within 1e-5. For VLMs the image goes through {@code vision.onnx} from the fixture's
 * {@code pixel_values} and is exposed to policies as the prompt's image segment.
 */
class HfFamilyReferenceTest {
    static final double LOGITS_TOL = 1e-4;
    static final double ATTENTION_TOL = 1e-5;

    @TempDir
    Path tmp;

    /**
     * The reduced-precision builds of every family against the same float32 transformers reference, through
     * {@link ModelVerifier} (prompt logits at every position, then 6 greedy steps on the resident decoder). fp16-kv
     * leaves the prompt logits exact (an empty cache has nothing to round) and moves the step logits by the K/V rounding;
     * fp16 moves every logit. Measured here (CPU, ONNX Runtime 1.29): fp16-kv step max|Δ| 2.7e-5..3.9e-4, fp16
     * max|Δ| 2.2e-3..5.2e-3 (|logits| of these fixtures are below 1); greedy tokens agree in all 18 runs.
     */
    @ParameterizedTest
    @ValueSource(strings = {"llama3:fp16-kv", "qwen3:fp16-kv", "gemma3:fp16-kv", "llama3:fp16", "qwen2:fp16", "qwen3:fp16", "llava15:fp16",
            "smolvlm:fp16", "llava_onevision:fp16", "qwen2_vl:fp16", "qwen2_5_vl:fp16", "gemma3:fp16"})
    void reducedPrecisionStaysCloseToTransformers(String familyAndDtype) throws Exception {
        String family = familyAndDtype.split(":")[0];
        io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision precision =
                io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision.parse(familyAndDtype.split(":")[1]);
        HfFixture fx = new HfFixture(family);
        Path dir = fx.copyTo(tmp.resolve(family), "model.safetensors");
        ModelPackage pkg = ModelPackage.open(dir);
        try (Generator gen = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1).withPrecision(precision))) {
            assertEquals(precision, gen.sessions().precision(), "the generator runs the " + precision.label() + " build");
            ModelVerifier.Report r = ModelVerifier.verify(gen, pkg.config(), ReferenceFile.read(writeReference(fx, dir)));
            System.out.printf("%s %s vs transformers fp32: prompt max|Δ| %.3g, steps max|Δ| %s, tokens agree %s%n", family, precision.label(),
                    r.promptMaxDiff(), Arrays.toString(r.stepMaxDiff()), r.tokensAgree());
            assertTrue(r.tokensAgree(), "greedy tokens: " + r);
            if (precision.computeHalf()) {
                assertTrue(r.maxDiff() < 1e-2, "fp16 max|Δ| " + r.maxDiff());
                assertTrue(r.promptMaxDiff() > 1e-4, "fp16 arithmetic really ran (an fp32 build differs by ~1e-7): " + r.promptMaxDiff());
            } else {
                assertTrue(r.promptMaxDiff() < LOGITS_TOL, "fp16-kv prompt logits (empty cache, nothing rounded): " + r.promptMaxDiff());
                assertTrue(r.maxDiff() < 1e-3, "fp16-kv max|Δ| " + r.maxDiff());
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "qwen2", "qwen3", "llava15", "smolvlm", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "gemma3"})
    void matchesTransformers(String family) throws Exception {
        HfFixture fx = new HfFixture(family);
        Path dir = fx.copyTo(tmp.resolve(family), "model.safetensors");
        ModelPackage pkg = ModelPackage.open(dir);
        ModelConfig cfg = pkg.config();
        long[] ids = fx.inputIds();
        int l = ids.length, v = fx.vocab(), h = cfg.hiddenSize();
        assertArrayEquals(fx.longs.get("input_ids"), ids);
        try (Generator gen = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1).withPrefillChunk(16))) {
            ReferenceFile ref = ReferenceFile.read(writeReference(fx, dir));
            float[][] image = ModelVerifier.imageEmbeddings(gen.sessions(), cfg, ref, ids);
            int imageTokens = (int) Arrays.stream(ids).filter(t -> t == fx.imageTokenId()).count();
            assertEquals(imageTokens, image == null ? 0 : image.length, "image rows");

            // 1. logits at every prompt position
            long[][] offsets = ModelVerifier.ropeOffsets(cfg, ref, ids);
            if (fx.notes().containsKey("mrope_position_ids")) {
                // the 3-D positions transformers used, shifted uniformly so the runtime continues at L
                @SuppressWarnings("unchecked") List<List<Object>> want3 = (List<List<Object>>) fx.notes().get("mrope_position_ids");
                long shift = l - 1 - want3.stream().flatMap(List::stream).mapToLong(o -> (Long) o).max().orElseThrow();
                for (int c = 0; c < 3; c++) {
                    for (int p = 0; p < l; p++) assertEquals((Long) want3.get(c).get(p) + shift - p, offsets[c][p], "rope offset " + c + "," + p);
                }
            }
            float[] emb = ModelVerifier.embeddings(gen.sessions(), cfg, ids, image);
            float[] logits = ModelVerifier.allPositionLogits(gen.sessions(), emb, l, offsets, ModelVerifier.imageGroups(cfg, ids, image));
            float[] want = fx.floats.get("logits");
            assertEquals((long) l * v, want.length);
            double worst = 0;
            for (int p = 0; p < l; p++) {
                worst = Math.max(worst, ModelVerifier.maxAbsDiff(Arrays.copyOfRange(logits, p * v, (p + 1) * v),
                        Arrays.copyOfRange(want, p * v, (p + 1) * v)));
            }
            assertTrue(worst < LOGITS_TOL, family + ": all-position logits max|Δ| " + worst);

            // 2. prefill + 6 greedy steps through the Generator; the image is the prompt's image segment
            Prompt prompt = ModelVerifier.prompt(cfg, ids, image, offsets);
            RowLayout layout = prompt.layout();
            assertEquals(imageTokens, layout.visualPositions().length, "visual span exposed to policies");
            for (int p = 0; p < l; p++) assertEquals(ids[p] == fx.imageTokenId(), layout.isVisual(p), "position " + p + " visual");
            long[] greedy = fx.greedyTokens();
            GenerationResult r = gen.generate(GenerationRequest.builder().row(prompt).maxNewTokens(greedy.length).recordLogits(true).build());
            assertArrayEquals(greedy, r.tokens(0), family + ": greedy tokens");
            float[] scores = fx.floats.get("generation.scores");
            double worstStep = 0;
            for (int s = 0; s < greedy.length; s++) {
                worstStep = Math.max(worstStep, ModelVerifier.maxAbsDiff(r.logits().get(0).get(s), Arrays.copyOfRange(scores, s * v, (s + 1) * v)));
            }
            assertTrue(worstStep < LOGITS_TOL, family + ": generation scores max|Δ| " + worstStep);

            // 3. the attention probe against attention.{layer} [1, heads, L, L]
            double worstAtt = 0;
            int[] all = IntStream.range(0, l).toArray();
            try (GenerationSession s = gen.newSession(GenerationRequest.builder().row(prompt).maxNewTokens(1)
                    .extraQueryWindow(QueryWindow.all()).build())) {
                s.prefill();
                for (int layer = 0; layer < cfg.numLayers(); layer++) {
                    float[] att = fx.floats.get("attention." + layer);
                    int heads = cfg.numHeads();
                    assertEquals((long) heads * l * l, att.length);
                    for (int q = 0; q < l; q++) {
                        AttentionMap m = s.probe().attention(new AttentionQuery(0, new int[]{layer}, new int[]{q}, all,
                                Reduction.MEAN, HeadMapping.QUERY_HEADS));
                        for (int hh = 0; hh < heads; hh++) {
                            for (int k = 0; k < l; k++) {
                                worstAtt = Math.max(worstAtt, Math.abs(m.score(layer, hh, k) - att[(hh * l + q) * l + k]));
                            }
                        }
                    }
                }
            }
            assertTrue(worstAtt < ATTENTION_TOL, family + ": attention max|Δ| " + worstAtt);
            System.out.printf("%s: L=%d image tokens=%d  logits max|Δ| %.3g  scores max|Δ| %.3g  attention max|Δ| %.3g%n",
                    family, l, imageTokens, worst, worstStep, worstAtt);
        }
    }

    /** The fixture's reference file, written next to the model so the verifier reads it from disk. */
    private static Path writeReference(HfFixture fx, Path dir) throws Exception {
        Path p = dir.resolve("reference.safetensors");
        java.nio.file.Files.write(p, fx.resource("reference.safetensors"));
        return p;
    }
}
