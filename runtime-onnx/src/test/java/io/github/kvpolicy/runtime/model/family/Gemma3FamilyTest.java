package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.verify.ModelVerifier;
import io.github.kvpolicy.runtime.model.verify.ReferenceFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Gemma 3 against transformers ({@code src/test/resources/hf/gemma3}): the config is read as the architecture says
 * (one sliding layer with window 8, one global layer, local/global rope bases, query_pre_attn_scalar, 4 tokens per
 * image) and the graphs reproduce the logits at every prompt position (SigLIP + average-pool projector, the image's
 * tokens attending to each other in both directions, the window, (1 + w) norms, √H-scaled embeddings).
 */
class Gemma3FamilyTest {
    @TempDir
    Path tmp;

    @Test
    void readsTheConfig() throws Exception {
        HfFixture fx = new HfFixture("gemma3");
        ModelConfig cfg = ModelPackage.open(fx.copyTo(tmp.resolve("m"), "model.safetensors")).config();
        assertEquals("gemma3", cfg.architecture());
        assertEquals(List.of(8, 0), cfg.gemma3().layerWindows());
        assertEquals(1e6, cfg.ropeTheta());
        assertEquals(1e4, cfg.gemma3().localRopeTheta());
        assertEquals(0.25, cfg.gemma3().attentionScale(), 1e-12);
        assertEquals(4, cfg.vitConfig().orElseThrow().tokensPerImage());
        assertTrue(cfg.tieWordEmbeddings());
        assertEquals(Gemma3Family.INSTANCE, Families.of(cfg));
    }

    @Test
    void allPositionLogitsMatchTransformers() throws Exception {
        HfFixture fx = new HfFixture("gemma3");
        Path dir = fx.copyTo(tmp.resolve("m"), "model.safetensors");
        ModelPackage pkg = ModelPackage.open(dir);
        ModelConfig cfg = pkg.config();
        long[] ids = fx.inputIds();
        int l = ids.length, v = fx.vocab();
        Path refPath = dir.resolve("reference.safetensors");
        Files.write(refPath, fx.resource("reference.safetensors"));
        try (Generator gen = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1))) {
            ReferenceFile ref = ReferenceFile.read(refPath);
            float[][] image = ModelVerifier.imageEmbeddings(gen.sessions(), cfg, ref, ids);
            assertEquals(4, image.length);
            long[] groups = ModelVerifier.imageGroups(cfg, ids, image);
            long[] tokenTypes = fx.longs.get("token_type_ids");
            for (int p = 0; p < l; p++) assertEquals(tokenTypes[p] == 1 ? 0 : -1, groups[p], "image group at " + p);
            float[] emb = ModelVerifier.embeddings(gen.sessions(), cfg, ids, image);
            float[] logits = ModelVerifier.allPositionLogits(gen.sessions(), emb, l, null, groups);
            float[] want = fx.floats.get("logits");
            double worst = ModelVerifier.maxAbsDiff(logits, want);
            System.out.printf("gemma3: all-position logits max|Δ| %.3g%n", worst);
            assertTrue(worst < HfFamilyReferenceTest.LOGITS_TOL, "all-position logits max|Δ| " + worst);
            // without the bidirectional image block the image rows would differ: the input matters
            float[] causalOnly = ModelVerifier.allPositionLogits(gen.sessions(), emb, l, null, null);
            assertTrue(ModelVerifier.maxAbsDiff(causalOnly, want) > 1e-3, "the image block changes the logits");
        }
    }
}
