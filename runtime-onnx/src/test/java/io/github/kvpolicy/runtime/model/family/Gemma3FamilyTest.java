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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import io.github.kvpolicy.runtime.json.Json;
import io.github.kvpolicy.runtime.model.safetensors.DType;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsWriter;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsWriter.FloatTensor;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;

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

    /** transformers 5's rope_parameters per layer type and layer_types read the same as the older keys. */
    @Test
    void olderConfigStyleReadsTheSame() throws Exception {
        HfFixture fx = new HfFixture("gemma3");
        Map<String, Object> v5 = Json.parseObject(new String(fx.resource("config.json")), "gemma3");
        Map<String, Object> old = Json.parseObject(new String(fx.resource("config.json")), "gemma3");
        @SuppressWarnings("unchecked")
        Map<String, Object> text = (Map<String, Object>) old.get("text_config");
        text.remove("rope_parameters");
        text.remove("layer_types");
        text.put("rope_theta", 1000000.0);
        text.put("rope_local_base_freq", 10000.0);
        text.put("sliding_window_pattern", 2L); // layer 0 sliding, layer 1 global
        assertEquals(ModelConfig.parse(v5, "v5"), ModelConfig.parse(old, "old"));
    }

    /**
     * {@code final_logit_softcapping: c} (null in the fixture) gives {@code c·tanh(logits / c)}: with c = 0.25 (the raw logits reach 0.88) the
     * reference logits, capped the same way, are reproduced (tanh is 1-Lipschitz, so the bound carries over).
     */
    @Test
    void finalLogitSoftcappingCapsTheLogits() throws Exception {
        HfFixture fx = new HfFixture("gemma3");
        Path dir = fx.copyTo(tmp.resolve("capped"), "model.safetensors");
        String config = Files.readString(dir.resolve("config.json")).replace("\"final_logit_softcapping\": null", "\"final_logit_softcapping\": 0.25");
        assertTrue(config.contains("\"final_logit_softcapping\": 0.25"), "the fixture names final_logit_softcapping");
        Files.writeString(dir.resolve("config.json"), config);
        Path refPath = dir.resolve("reference.safetensors");
        Files.write(refPath, fx.resource("reference.safetensors"));
        ModelPackage pkg = ModelPackage.open(dir);
        ModelConfig cfg = pkg.config();
        assertEquals(0.25, cfg.gemma3().finalLogitSoftcap());
        long[] ids = fx.inputIds();
        try (Generator gen = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1))) {
            ReferenceFile ref = ReferenceFile.read(refPath);
            float[][] image = ModelVerifier.imageEmbeddings(gen.sessions(), cfg, ref, ids);
            float[] emb = ModelVerifier.embeddings(gen.sessions(), cfg, ids, image);
            float[] logits = ModelVerifier.allPositionLogits(gen.sessions(), emb, ids.length, null, ModelVerifier.imageGroups(cfg, ids, image));
            float[] want = fx.floats.get("logits").clone();
            double raw = 0;
            for (int i = 0; i < want.length; i++) {
                raw = Math.max(raw, Math.abs(want[i]));
                want[i] = (float) (0.25 * Math.tanh(want[i] / 0.25));
            }
            assertTrue(raw > 0.5, "the cap is active: max |logit| " + raw);
            double worst = ModelVerifier.maxAbsDiff(logits, want);
            for (float x : logits) assertTrue(Math.abs(x) <= 0.25f, "capped: " + x);
            assertTrue(worst < HfFamilyReferenceTest.LOGITS_TOL, "soft-capped logits max|Δ| " + worst);
        }
    }

    /** A hub-style config that leaves most text sizes to Gemma3TextConfig's defaults (shapes only, no weights). */
    @Test
    void hubStyleConfigTakesTransformersDefaults() {
        String json = """
                {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "boi_token_index": 255999,
                 "eoi_token_index": 256000, "image_token_index": 262144, "mm_tokens_per_image": 256,
                 "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                                 "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024},
                 "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304, "model_type": "siglip_vision_model",
                                   "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14, "vision_use_head": false}}""";
        ModelConfig cfg = ModelConfig.parse(Json.parseObject(json, "hub"), "hub");
        assertEquals(8, cfg.numHeads());
        assertEquals(4, cfg.numKvHeads());
        assertEquals(256, cfg.headDim());
        assertEquals(262208, cfg.vocabSize());
        assertTrue(cfg.tieWordEmbeddings());
        assertEquals("linear", cfg.rope().type());
        assertEquals(1e6, cfg.ropeTheta());
        assertEquals(1e4, cfg.gemma3().localRopeTheta());
        assertEquals(1.0 / 16, cfg.gemma3().attentionScale(), 1e-12);
        for (int i = 0; i < 34; i++) assertEquals((i + 1) % 6 == 0 ? 0 : 1024, cfg.gemma3().window(i), "layer " + i);
        assertEquals(256, cfg.vitConfig().orElseThrow().tokensPerImage());
    }

    /**
     * The fixture's layout ({@code language_model.model.*}, {@code vision_tower.*}), the published Gemma 3 layout
     * ({@code vision_tower.vision_model.*}) and transformers 5's ({@code model.language_model.*},
     * {@code model.vision_tower.*}, {@code model.multi_modal_projector.*}) verify alike.
     */
    @Test
    void everyWeightLayoutVerifies() throws Exception {
        HfFixture fx = new HfFixture("gemma3");
        Path src = fx.copyTo(tmp.resolve("src"), "model.safetensors").resolve("model.safetensors");
        Map<String, UnaryOperator<String>> layouts = new LinkedHashMap<>();
        layouts.put("fixture", n -> n);
        layouts.put("hub", n -> n.replaceFirst("^vision_tower\\.", "vision_tower.vision_model."));
        layouts.put("transformers-5", HfCheckpointFormatsTest::modernName);
        double first = Double.NaN;
        for (Map.Entry<String, UnaryOperator<String>> e : layouts.entrySet()) {
            Path dir = fx.copyTo(tmp.resolve(e.getKey()), "model.safetensors");
            Map<String, FloatTensor> renamed = new LinkedHashMap<>();
            try (WeightStore w = WeightStore.openFiles(List.of(src))) {
                for (String n : w.names()) renamed.put(e.getValue().apply(n), new FloatTensor(w.info(n).shape(), w.readFloats(n)));
            }
            SafetensorsWriter.write(dir.resolve("model.safetensors"), renamed, DType.F32, Map.of("format", "pt"));
            Files.write(dir.resolve("reference.safetensors"), fx.resource("reference.safetensors"));
            ModelPackage pkg = ModelPackage.open(dir);
            try (Generator g = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1))) {
                ModelVerifier.Report rep = ModelVerifier.verify(g, pkg.config(), ReferenceFile.read(dir.resolve("reference.safetensors")));
                assertTrue(rep.passes(HfFamilyReferenceTest.LOGITS_TOL), e.getKey() + ": " + rep);
                if (Double.isNaN(first)) first = rep.promptMaxDiff();
                assertEquals(first, rep.promptMaxDiff(), 1e-7, e.getKey());
                System.out.printf("gemma3 %s layout: %s%n", e.getKey(), rep);
            }
        }
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
