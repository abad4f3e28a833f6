package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.json.Json;
import io.github.kvpolicy.runtime.model.safetensors.DType;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsWriter;
import io.github.kvpolicy.runtime.model.safetensors.SafetensorsWriter.FloatTensor;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;
import io.github.kvpolicy.runtime.model.verify.ModelVerifier;
import io.github.kvpolicy.runtime.model.verify.ReferenceFile;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The forms a Hugging Face checkpoint comes in: both config styles, both VLM weight layouts, sharded checkpoints,
 * F16/BF16 storage, Mistral's sliding_window, and the one-line refusal of what is not supported.
 */
class HfCheckpointFormatsTest {
    @TempDir
    Path tmp;

    /** Verifies {@code dir} against the fixture's reference; returns the report. */
    private static ModelVerifier.Report verify(Path dir, HfFixture fx) throws Exception {
        Path ref = dir.resolve("reference.safetensors");
        if (!Files.exists(ref)) Files.write(ref, fx.resource("reference.safetensors"));
        ModelPackage pkg = ModelPackage.open(dir);
        try (Generator g = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1))) {
            return ModelVerifier.verify(g, pkg.config(), ReferenceFile.read(ref));
        }
    }

    private static Map<String, FloatTensor> readAll(Path weights, UnaryOperator<String> rename) {
        Map<String, FloatTensor> out = new LinkedHashMap<>();
        try (WeightStore w = WeightStore.openFiles(List.of(weights))) {
            for (String n : w.names()) out.put(rename.apply(n), new FloatTensor(w.info(n).shape(), w.readFloats(n)));
        }
        return out;
    }

    @Test
    void olderConfigStyleReadsTheSame() throws Exception {
        for (String fam : List.of("llama3", "qwen2", "qwen3", "llava15")) {
            HfFixture fx = new HfFixture(fam);
            Map<String, Object> v5 = Json.parseObject(new String(fx.resource("config.json")), fam);
            Map<String, Object> old = Json.parseObject(new String(fx.resource("config.json")), fam);
            @SuppressWarnings("unchecked")
            Map<String, Object> text = old.containsKey("text_config") ? (Map<String, Object>) old.get("text_config") : old;
            @SuppressWarnings("unchecked")
            Map<String, Object> rp = new LinkedHashMap<>((Map<String, Object>) text.remove("rope_parameters"));
            text.put("rope_theta", rp.remove("rope_theta"));
            String type = (String) rp.remove("rope_type");
            if (!type.equals("default")) {
                rp.put("type", type); // the oldest spelling
                text.put("rope_scaling", rp);
            }
            ModelConfig a = ModelConfig.parse(v5, fam), b = ModelConfig.parse(old, fam);
            assertEquals(a, b, fam);
        }
        // Qwen2-VL checkpoints on the hub: a flat config (text keys at the top) with rope_scaling {type: mrope}
        HfFixture vl = new HfFixture("qwen2_vl");
        Map<String, Object> v5 = Json.parseObject(new String(vl.resource("config.json")), "qwen2_vl");
        Map<String, Object> flat = Json.parseObject(new String(vl.resource("config.json")), "qwen2_vl");
        @SuppressWarnings("unchecked") Map<String, Object> tc = (Map<String, Object>) flat.remove("text_config");
        @SuppressWarnings("unchecked") Map<String, Object> rp = (Map<String, Object>) tc.remove("rope_parameters");
        tc.remove("model_type");
        flat.putAll(tc);
        flat.put("rope_theta", rp.get("rope_theta"));
        flat.put("rope_scaling", Map.of("type", "mrope", "mrope_section", rp.get("mrope_section")));
        assertEquals(ModelConfig.parse(v5, "qwen2_vl"), ModelConfig.parse(flat, "qwen2_vl flat"));
        assertEquals(List.of(2, 3, 3), ModelConfig.parse(flat, "flat").rope().mropeSection());

        ModelConfig l3 = ModelConfig.parse(Json.parseObject(new String(new HfFixture("llama3").resource("config.json")), "llama3"), "llama3");
        assertEquals("llama3", l3.rope().type());
        assertEquals(500000.0, l3.ropeTheta());
    }

    /** The transformers >= 4.52 names of a pre-4.52 VLM tensor name. */
    static String modernName(String n) {
        return n.replaceFirst("^language_model\\.model\\.", "model.language_model.")
                .replaceFirst("^language_model\\.lm_head\\.", "lm_head.")
                .replaceFirst("^vision_tower\\.", "model.vision_tower.")
                .replaceFirst("^multi_modal_projector\\.", "model.multi_modal_projector.")
                .replaceFirst("^image_newline$", "model.image_newline")
                .replaceFirst("^visual\\.", "model.visual.")
                .replaceFirst("^model\\.(embed_tokens|layers|norm)", "model.language_model.$1");
    }

    @ParameterizedTest
    @ValueSource(strings = {"llava15", "llava_onevision", "qwen2_vl"})
    void bothVlmWeightLayoutsBuildTheSameModel(String family) throws Exception {
        HfFixture fx = new HfFixture(family);
        Path legacy = fx.copyTo(tmp.resolve("legacy"), "legacy-layout.safetensors");
        ModelVerifier.Report a = verify(legacy, fx);
        assertTrue(a.passes(1e-4), "legacy layout: " + a);
        Path modern = fx.copyTo(tmp.resolve("modern"), "legacy-layout.safetensors");
        Map<String, FloatTensor> renamed = readAll(legacy.resolve("model.safetensors"), HfCheckpointFormatsTest::modernName);
        assertTrue(renamed.containsKey("model.language_model.embed_tokens.weight"), renamed.keySet().toString());
        assertTrue(renamed.keySet().stream().noneMatch(n -> n.startsWith("language_model.") || n.startsWith("visual.")
                || n.startsWith("vision_tower.") || n.equals("image_newline")), renamed.keySet().toString());
        SafetensorsWriter.write(modern.resolve("model.safetensors"), renamed, DType.F32, Map.of("format", "pt"));
        ModelVerifier.Report b = verify(modern, fx);
        assertTrue(b.passes(1e-4), "modern layout: " + b);
        assertEquals(a.promptMaxDiff(), b.promptMaxDiff(), 1e-7);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llava15", "qwen2_vl"})
    void halfMatricesInTheGraphsGiveTheSameModel(String family) throws Exception {
        HfFixture fx = new HfFixture(family);
        Map<String, FloatTensor> f32 = readAll(fx.copyTo(tmp.resolve("src"), "model.safetensors").resolve("model.safetensors"), n -> n);
        Map<String, FloatTensor> rounded = new LinkedHashMap<>();
        for (Map.Entry<String, FloatTensor> e : f32.entrySet()) {
            float[] d = e.getValue().data().clone();
            for (int i = 0; i < d.length; i++) d[i] = DType.bf16ToFloat(DType.floatToBf16(d[i]));
            rounded.put(e.getKey(), new FloatTensor(e.getValue().shape(), d));
        }
        Path half = fx.copyTo(tmp.resolve("bf16"), "model.safetensors");
        SafetensorsWriter.write(half.resolve("model.safetensors"), f32, DType.BF16, Map.of("format", "pt"));
        Path wide = fx.copyTo(tmp.resolve("wide"), "model.safetensors");
        SafetensorsWriter.write(wide.resolve("model.safetensors"), rounded, DType.F32, Map.of("format", "pt"));
        Files.write(half.resolve("reference.safetensors"), fx.resource("reference.safetensors"));
        ReferenceFile ref = ReferenceFile.read(half.resolve("reference.safetensors"));
        float[][] logits = new float[2][];
        Path[] built = new Path[2];
        int i = 0;
        for (ModelPackage pkg : List.of(ModelPackage.open(half, new ModelBuilder.BuildOptions(true, 0)), ModelPackage.open(wide))) {
            built[i] = pkg.ensureBuilt().decoder().getParent();
            try (Generator g = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1))) {
                long[] ids = fx.inputIds();
                float[][] image = ModelVerifier.imageEmbeddings(g.sessions(), pkg.config(), ref, ids);
                float[] emb = ModelVerifier.embeddings(g.sessions(), pkg.config(), ids, image);
                logits[i++] = ModelVerifier.allPositionLogits(g.sessions(), emb, ids.length, ModelVerifier.ropeOffsets(pkg.config(), ref, ids));
            }
        }
        assertTrue(Files.size(built[0].resolve("decoder.onnx.data")) < Files.size(built[1].resolve("decoder.onnx")),
                "half matrices take less room");
        assertEquals(0.0, ModelVerifier.maxAbsDiff(logits[0], logits[1]), 1e-5, family + ": BF16 matrices kept half vs widened in the checkpoint");
    }

    @Test
    void shardedCheckpointMatches() throws Exception {
        HfFixture fx = new HfFixture("llama3");
        Path dir = fx.copyTo(tmp.resolve("sharded"), "model.safetensors");
        Path single = dir.resolve("model.safetensors");
        Map<String, FloatTensor> all = readAll(single, n -> n);
        Files.delete(single);
        Map<String, FloatTensor> s1 = new LinkedHashMap<>(), s2 = new LinkedHashMap<>();
        Map<String, Object> weightMap = new LinkedHashMap<>();
        for (Map.Entry<String, FloatTensor> e : all.entrySet()) {
            boolean first = e.getKey().startsWith("model.layers.0.") || e.getKey().startsWith("model.embed");
            (first ? s1 : s2).put(e.getKey(), e.getValue());
            weightMap.put(e.getKey(), first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
        }
        SafetensorsWriter.write(dir.resolve("model-00001-of-00002.safetensors"), s1, DType.F32, Map.of("format", "pt"));
        SafetensorsWriter.write(dir.resolve("model-00002-of-00002.safetensors"), s2, DType.F32, Map.of("format", "pt"));
        Files.writeString(dir.resolve("model.safetensors.index.json"), Json.writePretty(Map.of("metadata", Map.of("total_size", 0L), "weight_map", weightMap)));
        ModelVerifier.Report r = verify(dir, fx);
        assertTrue(r.passes(1e-4), "sharded: " + r);
    }

    @Test
    void halfPrecisionStorageIsWidenedExactly() throws Exception {
        HfFixture fx = new HfFixture("qwen2");
        Map<String, FloatTensor> f32 = readAll(fx.copyTo(tmp.resolve("src"), "model.safetensors").resolve("model.safetensors"), n -> n);
        List<float[]> lastLogits = new ArrayList<>();
        for (DType dt : List.of(DType.BF16, DType.F16)) {
            // the half checkpoint, and an F32 checkpoint holding exactly the rounded values
            Map<String, FloatTensor> rounded = new LinkedHashMap<>();
            for (Map.Entry<String, FloatTensor> e : f32.entrySet()) {
                float[] d = e.getValue().data().clone();
                for (int i = 0; i < d.length; i++) {
                    d[i] = dt == DType.BF16 ? DType.bf16ToFloat(DType.floatToBf16(d[i])) : DType.f16ToFloat(DType.floatToF16(d[i]));
                }
                rounded.put(e.getKey(), new FloatTensor(e.getValue().shape(), d));
            }
            Path half = fx.copyTo(tmp.resolve("half-" + dt), "model.safetensors");
            SafetensorsWriter.write(half.resolve("model.safetensors"), f32, dt, Map.of("format", "pt"));
            Path wide = fx.copyTo(tmp.resolve("wide-" + dt), "model.safetensors");
            SafetensorsWriter.write(wide.resolve("model.safetensors"), rounded, DType.F32, Map.of("format", "pt"));
            float[] a = logits(half, fx), b = logits(wide, fx);
            assertEquals(0.0, ModelVerifier.maxAbsDiff(a, b), 1e-6, dt + " storage vs its exact F32 widening");
            // and the rounding is visible (the test could fail): half weights move the logits away from the F32 model
            assertTrue(ModelVerifier.maxAbsDiff(a, fx.floats.get("logits")) > 1e-6, dt + " rounding should change the logits");
            lastLogits.add(a);
        }
        assertFalse(ModelVerifier.maxAbsDiff(lastLogits.get(0), lastLogits.get(1)) == 0.0, "BF16 and F16 differ");
    }

    private static float[] logits(Path dir, HfFixture fx) {
        ModelPackage pkg = ModelPackage.open(dir);
        try (Generator g = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1))) {
            long[] ids = fx.inputIds();
            float[] emb = ModelVerifier.embeddings(g.sessions(), pkg.config(), ids, null);
            return ModelVerifier.allPositionLogits(g.sessions(), emb, ids.length);
        }
    }

    @Test
    void mistralIsTheLlamaBlockAndItsWindowBoundsTheSequence() throws Exception {
        HfFixture fx = new HfFixture("llama3");
        Path dir = fx.copyTo(tmp.resolve("mistral"), "model.safetensors");
        Map<String, Object> cfg = Json.parseObject(Files.readString(dir.resolve("config.json")), "config.json");
        cfg.put("model_type", "mistral");
        cfg.put("architectures", List.of("MistralForCausalLM"));
        cfg.put("sliding_window", 4096L);
        cfg.put("max_position_embeddings", 4096L);
        Files.writeString(dir.resolve("config.json"), Json.writePretty(cfg));
        assertEquals("mistral", ModelPackage.open(dir).config().modelType());
        assertEquals("mistral", Families.of(ModelPackage.open(dir).config()).name());
        ModelVerifier.Report r = verify(dir, fx);
        assertTrue(r.passes(1e-4), "mistral: " + r);

        // a window shorter than the fixture's sequence: the model loads; sequences that fit run exactly, longer ones are refused
        cfg.put("sliding_window", 64L);
        Files.writeString(dir.resolve("config.json"), Json.writePretty(cfg));
        ModelPackage pkg = ModelPackage.open(dir);
        assertEquals(64, pkg.config().slidingWindow());
        long[] ids = fx.inputIds();
        int v = fx.vocab();
        try (Generator g = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1))) {
            assertEquals(64, g.sessions().slidingWindow());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> g.generate(GenerationRequest.builder()
                    .row(Prompt.ofTokens(ids)).maxNewTokens(6).build()));
            assertTrue(e.getMessage().contains("sliding_window of 64") && e.getMessage().contains("not supported"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line");
            long[] head = java.util.Arrays.copyOf(ids, 40);
            GenerationResult head6 = g.generate(GenerationRequest.builder().row(Prompt.ofTokens(head)).maxNewTokens(6).recordLogits(true).build());
            float[] want = java.util.Arrays.copyOfRange(fx.floats.get("logits"), 39 * v, 40 * v);
            assertTrue(ModelVerifier.maxAbsDiff(head6.logits().get(0).get(0), want) < 1e-4, "logits at position 39 within the window");
        }
    }

    @Test
    void weightsThatDoNotFitTheConfigAreNamed() throws Exception {
        HfFixture fx = new HfFixture("llava15");
        Path dir = fx.copyTo(tmp.resolve("kv"), "model.safetensors");
        Map<String, Object> cfg = Json.parseObject(Files.readString(dir.resolve("config.json")), "config.json");
        @SuppressWarnings("unchecked") Map<String, Object> text = (Map<String, Object>) cfg.get("text_config");
        text.put("num_key_value_heads", 4L);
        Files.writeString(dir.resolve("config.json"), Json.writePretty(cfg));
        RuntimeException e = assertThrows(RuntimeException.class, () -> ModelPackage.open(dir).ensureBuilt());
        String msg = e.getMessage() + (e.getCause() == null ? "" : " / " + e.getCause().getMessage());
        assertTrue(msg.contains("language_model.model.layers.0.self_attn.k_proj.weight") && msg.contains("[32, 64]")
                && msg.contains("[64, 64]") && msg.contains("model.safetensors"), msg);

        Path noTower = fx.copyTo(tmp.resolve("tower"), "model.safetensors");
        Map<String, FloatTensor> textOnly = readAll(noTower.resolve("model.safetensors"), n -> n);
        textOnly.keySet().removeIf(n -> n.startsWith("vision_tower."));
        SafetensorsWriter.write(noTower.resolve("model.safetensors"), textOnly, DType.F32, Map.of("format", "pt"));
        e = assertThrows(RuntimeException.class, () -> ModelPackage.open(noTower).ensureBuilt());
        msg = e.getMessage() + (e.getCause() == null ? "" : " / " + e.getCause().getMessage());
        assertTrue(msg.contains("no vision tower found") && msg.contains("embeddings.patch_embedding.weight"), msg);
    }

    @Test
    void unsupportedArchitecturesFailBeforeAnyWork() throws Exception {
        String text = "\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":420,\"rms_norm_eps\":1e-6";
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("{\"model_type\":\"gpt2\"," + text + "}", "\"gpt2\"");
        cases.put("{\"model_type\":\"paligemma\",\"text_config\":{\"model_type\":\"gemma\"," + text + "},\"vision_config\":{}}", "\"paligemma\"");
        cases.put("{\"model_type\":\"llama\",\"rope_scaling\":{\"type\":\"mrope\",\"mrope_section\":[2,3,3]}," + text + "}", "qwen2_vl and qwen2_5_vl only");
        cases.put("{\"model_type\":\"gemma3\",\"text_config\":{\"model_type\":\"gemma3_text\",\"attn_logit_softcapping\":50.0," + text
                + "},\"vision_config\":{\"model_type\":\"siglip_vision_model\"}}", "\"attn_logit_softcapping\"");
        cases.put("{\"model_type\":\"gemma3\",\"text_config\":{\"model_type\":\"gemma3_text\"," + text + "},\"vision_config\":{\"model_type\":\"clip_vision_model\"}}",
                "expected siglip_vision_model");
        cases.put("{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4.0}," + text + "}", "\"yarn\"");
        cases.put("{\"model_type\":\"llama\",\"rope_scaling\":{\"rope_type\":\"dynamic\",\"factor\":2.0}," + text + "}", "\"dynamic\"");
        cases.put("{\"model_type\":\"llava\",\"vision_feature_layer\":[-2,-5],\"text_config\":{\"model_type\":\"llama\"," + text
                + "},\"vision_config\":{\"model_type\":\"clip_vision_model\"}}", "is a list");
        int i = 0;
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Path dir = tmp.resolve("bad" + i++);
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), c.getKey());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelPackage.open(dir).ensureBuilt());
            assertTrue(e.getMessage().contains(c.getValue()), e.getMessage());
            assertTrue(e.getMessage().contains("supported"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            assertFalse(Files.exists(dir.resolve(".kvpolicy")), "no work was done for " + c.getValue());
        }
    }
}
