package io.github.kvpolicy.runtime.model.config;

import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.runtime.model.RandomWeights;
import io.github.kvpolicy.runtime.json.Json;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelConfigTest {
    @TempDir
    Path tmp;

    static final String QWEN2_7B = """
            {"architectures":["Qwen2ForCausalLM"],"attention_dropout":0.0,"bos_token_id":151643,"eos_token_id":151643,
             "hidden_act":"silu","hidden_size":3584,"initializer_range":0.02,"intermediate_size":18944,
             "max_position_embeddings":131072,"max_window_layers":28,"model_type":"qwen2","num_attention_heads":28,
             "num_hidden_layers":28,"num_key_value_heads":4,"rms_norm_eps":1e-06,"rope_theta":1000000.0,
             "sliding_window":131072,"tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.37.0",
             "use_cache":true,"use_sliding_window":false,"vocab_size":152064}
            """;

    private ModelConfig parse(String json) {
        return ModelConfig.parse(Json.parseObject(json, "cfg.json"), "cfg.json");
    }

    @Test
    void readsRealQwen2Config() throws Exception {
        Path p = tmp.resolve("config.json");
        Files.writeString(p, QWEN2_7B);
        ModelConfig c = ModelConfig.read(p);
        assertEquals(new ModelShape(28, 28, 4, 128), c.shape());
        assertTrue(c.qkvBias(), "qwen2 implies q/k/v bias");
        assertFalse(c.tieWordEmbeddings());
        assertEquals(1e6, c.ropeTheta());
        assertEquals(List.of(151643), c.eosTokenIds());
        assertNull(c.vision());
        // Qwen2-7B has ~7.6B parameters
        assertTrue(c.decoderParamCount() > 7.5e9 && c.decoderParamCount() < 7.7e9, "params " + c.decoderParamCount());
        assertEquals(c.decoderParamCount(), RandomWeights.preset("qwen2-7b").decoderParamCount());
    }

    @Test
    void readsLlavaNestingAndTestbedConfig() throws Exception {
        Path fixture = Path.of(getClass().getResource("/fixtures/llama-vlm/config.json").toURI());
        ModelConfig c = ModelConfig.read(fixture);
        assertEquals(12, c.headDim(), "explicit head_dim wins over hidden/heads");
        assertEquals(3, c.imageTokenId());
        assertEquals(4, c.visionConfig().orElseThrow().gridSize());
        assertEquals(16, c.visionConfig().orElseThrow().numCells());
        assertEquals(List.of(2), c.eosTokenIds());
        Path testbed = Path.of("..", "testbed", "model", "config.json");
        if (Files.isRegularFile(testbed)) { // present once the testbed model is trained
            ModelConfig t = ModelConfig.read(testbed);
            assertTrue(t.visionConfig().isPresent() && t.visionConfig().get().gridSize() == 16, "testbed grid is 16x16");
        }
    }

    @Test
    void eosAsListAndDefaults() {
        ModelConfig c = parse("""
                {"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,
                 "vocab_size":100,"rms_norm_eps":1e-5,"eos_token_id":[1,2]}""");
        assertEquals("llama", c.modelType());
        assertEquals(4, c.numKvHeads(), "kv heads default to query heads");
        assertEquals(16, c.headDim());
        assertEquals(10000.0, c.ropeTheta());
        assertEquals(List.of(1, 2), c.eosTokenIds());
        assertFalse(c.qkvBias());
        assertEquals(-1, c.bosTokenId());
    }

    @Test
    void toJsonRoundTrips() {
        for (String p : RandomWeights.presets()) {
            ModelConfig c = RandomWeights.preset(p);
            assertEquals(c, ModelConfig.parse(Json.parseObject(Json.write(c.toJson()), p), p), p);
        }
    }

    private void bad(String json, String... fragments) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(json));
        assertTrue(e.getMessage().contains("cfg.json"), e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "expected \"" + f + "\" in: " + e.getMessage());
    }

    @Test
    void errorsNameKeyAndFile() {
        String base = "\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100,\"rms_norm_eps\":1e-5";
        bad("{" + base + "}", "missing required key \"hidden_size\"");
        bad("{\"hidden_size\":\"64\"," + base + "}", "\"hidden_size\" must be an integer");
        bad("{\"hidden_size\":64," + base + ",\"num_key_value_heads\":3}", "multiple of num_key_value_heads");
        bad("{\"hidden_size\":64," + base + ",\"rope_scaling\":{\"type\":\"linear\"}}", "rope_scaling", "factor");
        bad("{\"hidden_size\":64," + base + ",\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4.0}}", "rope_scaling", "yarn", "llama3");
        bad("{\"hidden_size\":64," + base + ",\"hidden_act\":\"gelu\"}", "hidden_act");
        bad("{\"hidden_size\":64," + base + ",\"model_type\":\"gpt2\"}", "model_type");
        bad("{\"hidden_size\":64," + base + ",\"use_sliding_window\":true}", "use_sliding_window");
        bad("{\"hidden_size\":64," + base + ",\"head_dim\":7}", "head_dim");
        bad("{\"text_config\":{\"hidden_size\":64," + base + "},\"vision_config\":{\"model_type\":\"pixtral\"}}",
                "pixtral", "clip_vision_model", "grid_size");
        bad("{\"text_config\":{\"hidden_size\":64," + base + "},\"vision_config\":{\"grid_size\":4,\"hidden_size\":8}}",
                "vision_config", "num_shapes");
        bad("{\"text_config\":{" + base + "}}", "llava", "vision_config");
        bad("{" + base + "}", "missing required key \"hidden_size\"");
    }

    /** llava-hf/llava-1.5-7b-hf's config.json as published (its text_config relies on LlamaConfig defaults). */
    static final String LLAVA_15_7B = """
            {"architectures":["LlavaForConditionalGeneration"],"ignore_index":-100,"image_token_index":32000,"model_type":"llava",
             "pad_token_id":32001,"projector_hidden_act":"gelu",
             "text_config":{"_name_or_path":"lmsys/vicuna-7b-v1.5","architectures":["LlamaForCausalLM"],"max_position_embeddings":4096,
               "model_type":"llama","rms_norm_eps":1e-05,"torch_dtype":"float16","vocab_size":32064},
             "tie_word_embeddings":false,"torch_dtype":"float16","transformers_version":"4.36.0.dev0",
             "vision_config":{"hidden_size":1024,"image_size":336,"intermediate_size":4096,"model_type":"clip_vision_model",
               "num_attention_heads":16,"num_hidden_layers":24,"patch_size":14,"projection_dim":768,"vocab_size":32000},
             "vision_feature_layer":-2,"vision_feature_select_strategy":"default","vocab_size":32064}
            """;

    /** meta-llama/Llama-3.1-8B's config.json (older style: rope_theta + rope_scaling with rope_type llama3). */
    static final String LLAMA_31_8B = """
            {"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
             "eos_token_id":128001,"hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,"intermediate_size":14336,
             "max_position_embeddings":131072,"mlp_bias":false,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":32,
             "num_key_value_heads":8,"pretraining_tp":1,"rms_norm_eps":1e-05,
             "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
             "rope_theta":500000.0,"tie_word_embeddings":false,"torch_dtype":"bfloat16","transformers_version":"4.43.0.dev0",
             "use_cache":true,"vocab_size":128256}
            """;

    @Test
    void readsPublishedHubConfigs() {
        ModelConfig llava = parse(LLAVA_15_7B);
        assertEquals(new ModelShape(32, 32, 32, 128), llava.shape(), "Vicuna-7B sizes from LlamaConfig defaults");
        assertEquals(11008, llava.intermediateSize());
        assertEquals(32064, llava.vocabSize());
        assertEquals(32000, llava.imageTokenId());
        var v = llava.vitConfig().orElseThrow();
        assertEquals(576, v.tokensPerImage(), "24x24 patches, class token dropped");
        assertEquals(23, v.layersRun(), "vision_feature_layer -2 of 24 layers");
        assertEquals("quick_gelu", v.hiddenAct());
        assertEquals(1e-5, v.layerNormEps());
        assertEquals("llava", io.github.kvpolicy.runtime.model.family.Families.of(llava).name());

        ModelConfig l31 = parse(LLAMA_31_8B);
        assertEquals(new ModelShape(32, 32, 8, 128), l31.shape());
        assertEquals("llama3", l31.rope().type());
        assertEquals(8192, l31.rope().originalMaxPositionEmbeddings());
        // llama3 scaling: high frequencies kept, low frequencies divided by the factor
        float[] plain = RopeScaling.NONE.inverseFrequencies(128, 500000.0);
        float[] scaled = l31.rope().inverseFrequencies(128, 500000.0);
        assertEquals(plain[0], scaled[0]);
        assertEquals(plain[63] / 8.0, scaled[63], 1e-12);
    }

    @Test
    void linearRopeDividesEveryFrequency() {
        ModelConfig c = parse("""
                {"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,
                 "rms_norm_eps":1e-5,"rope_theta":10000.0,"rope_scaling":{"type":"linear","factor":4.0}}""");
        assertEquals("linear", c.rope().type());
        float[] plain = RopeScaling.NONE.inverseFrequencies(16, 10000.0), scaled = c.rope().inverseFrequencies(16, 10000.0);
        for (int i = 0; i < plain.length; i++) assertEquals(plain[i] / 4.0, scaled[i], 1e-12, "frequency " + i);
        assertEquals(c, parse(Json.write(c.toJson())), "toJson keeps the scaling");
    }

    @Test
    void presetsHaveTheAdvertisedSizes() {
        long small = RandomWeights.preset("small-100m").decoderParamCount();
        assertTrue(small > 90e6 && small < 115e6, "small-100m params " + small);
        ModelConfig tiny = RandomWeights.preset("tiny");
        assertEquals(new ModelShape(2, 4, 2, 16), tiny.shape());
        assertEquals(256, tiny.vocabSize());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RandomWeights.preset("huge"));
        assertTrue(e.getMessage().contains("tiny"));
        Map<String, long[]> shapes = RandomWeights.weightShapes(RandomWeights.preset("tiny-vlm"));
        assertTrue(shapes.containsKey("vision_tower.conv.weight"));
        assertEquals(new LinkedHashMap<>(shapes).size(), shapes.size());
    }
}
