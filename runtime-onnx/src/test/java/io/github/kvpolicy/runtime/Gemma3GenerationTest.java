package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.verify.ModelVerifier;
import io.github.kvpolicy.runtime.model.verify.ReferenceFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gemma 3 ({@code src/test/resources/hf/gemma3}) through the {@link Generator}: any prefill chunk size reproduces
 * transformers' greedy decoding (a chunk boundary never splits the image, whose tokens attend to each other in both
 * directions), and a compressed cache decodes exactly like the uncompressed cache with the evicted slots masked —
 * so the sliding window (layer 0, W = 8) stays defined on original positions after compaction.
 */
class Gemma3GenerationTest {
    static final double TOL = 1e-4;
    static Path dir;
    static Generator gen;
    static ModelConfig cfg;
    static long[] ids;
    static Prompt prompt;
    static float[] scores;
    static long[] greedy;

    @BeforeAll
    static void open() throws IOException {
        dir = Files.createTempDirectory("gemma3");
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors", "reference.safetensors")) {
            try (InputStream in = Gemma3GenerationTest.class.getResourceAsStream("/hf/gemma3/" + f)) {
                Files.write(dir.resolve(f), in.readAllBytes());
            }
        }
        ModelPackage pkg = ModelPackage.open(dir);
        cfg = pkg.config();
        gen = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1));
        ReferenceFile ref = ReferenceFile.read(dir.resolve("reference.safetensors"));
        ids = ref.longs("input_ids");
        float[][] image = ModelVerifier.imageEmbeddings(gen.sessions(), cfg, ref, ids);
        prompt = ModelVerifier.prompt(cfg, ids, image);
        scores = ref.floats("generation.scores");
        int v = cfg.vocabSize();
        greedy = new long[scores.length / v];
        for (int s = 0; s < greedy.length; s++) {
            int best = 0;
            for (int i = 1; i < v; i++) if (scores[s * v + i] > scores[s * v + best]) best = i;
            greedy[s] = best;
        }
    }

    @AfterAll
    static void close() throws IOException {
        if (gen != null) gen.close();
        try (var files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    /** The image is at positions 4..7: chunks of 1, 6 (boundary at 6 moves back to 4) and 13 must all agree. */
    @ParameterizedTest
    @ValueSource(ints = {1, 6, 13, 64})
    void everyPrefillChunkReproducesTransformers(int chunk) {
        int v = cfg.vocabSize();
        try (Generator g = Generator.open(ModelPackage.open(dir), GeneratorConfig.defaults().withIntraOpThreads(1).withPrefillChunk(chunk))) {
            GenerationResult r = g.generate(GenerationRequest.builder().row(prompt).maxNewTokens(greedy.length).recordLogits(true).build());
            assertArrayEquals(greedy, r.tokens(0), "chunk " + chunk);
            double worst = 0;
            for (int s = 0; s < greedy.length; s++) {
                worst = Math.max(worst, ModelVerifier.maxAbsDiff(r.logits().get(0).get(s), Arrays.copyOfRange(scores, s * v, (s + 1) * v)));
            }
            assertTrue(worst < TOL, "chunk " + chunk + ": scores max|Δ| " + worst);
        }
    }

    /** Two rows in one batch (chunk 6, so the image boundary moves in both rows) each reproduce transformers. */
    @Test
    void aBatchOfTwoRowsReproducesTransformers() {
        int v = cfg.vocabSize();
        try (Generator g = Generator.open(ModelPackage.open(dir), GeneratorConfig.defaults().withIntraOpThreads(1).withPrefillChunk(6))) {
            GenerationResult r = g.generate(GenerationRequest.builder().row(prompt).row(prompt).maxNewTokens(greedy.length).recordLogits(true).build());
            for (int row = 0; row < 2; row++) {
                assertArrayEquals(greedy, r.tokens(row), "row " + row);
                double worst = 0;
                for (int s = 0; s < greedy.length; s++) {
                    worst = Math.max(worst, ModelVerifier.maxAbsDiff(r.logits().get(row).get(s), Arrays.copyOfRange(scores, s * v, (s + 1) * v)));
                }
                assertTrue(worst < TOL, "row " + row + ": scores max|Δ| " + worst);
            }
        }
    }

    /**
     * A per-head random 10% plan (plus the sink and the last token) compacts the cache; the following decoding steps
     * must equal decoding from the uncompacted cache with exactly the evicted slots masked. The kept keys of the sliding
     * layer include positions more than W behind every later query (the sink at 0), which only the window on original
     * positions hides.
     */
    @Test
    void compactionKeepsTheWindowOnOriginalPositions() {
        int maxNew = 6, l = ids.length;
        GenerationResult r = gen.generate(GenerationRequest.builder().row(prompt).maxNewTokens(maxNew)
                .policy(TestPolicies.randomSubset(Scope.ALL), Budget.ratio(0.1)).policySeed(11).recordLogits(true).build());
        RetentionPlan plan = r.actions().getFirst().plan();
        int hkv = cfg.numKvHeads(), window = cfg.gemma3().window(0);
        assertEquals(8, window);
        boolean farKept = false;
        for (int h = 0; h < hkv; h++) for (int p : plan.kept(0, 0, h)) farKept |= l - p >= window;
        assertTrue(farKept, "some kept key of the sliding layer lies outside the window");
        assertTrue(plan.totalKept() < (long) cfg.numLayers() * hkv * l / 4, "a real compression: " + plan.totalKept());

        try (GenerationSession s = gen.newSession(GenerationRequest.builder().row(prompt).maxNewTokens(maxNew).recordLogits(true).build())) {
            s.prefill();
            s.kvCache().maskEvicted(plan); // the full cache with exactly the evicted tokens masked
            GenerationResult masked = s.runToEnd();
            assertArrayEquals(masked.tokens(0), r.tokens(0));
            double worst = 0;
            for (int t = 0; t < maxNew; t++) {
                worst = Math.max(worst, ModelVerifier.maxAbsDiff(masked.logits().get(0).get(t), r.logits().get(0).get(t)));
            }
            assertTrue(worst < 1e-5, "compacted vs masked logits max|Δ| " + worst);
            System.out.printf("gemma3 random 10%%: kept %d of %d keys, compacted vs masked max|Δ| %.3g%n",
                    plan.totalKept(), (long) cfg.numLayers() * hkv * l, worst);
        }
    }
}
