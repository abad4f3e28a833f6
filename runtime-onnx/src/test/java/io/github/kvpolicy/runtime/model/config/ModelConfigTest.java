package io.github.kvpolicy.runtime.model.config;

import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.runtime.model.RandomWeights;
import io.github.kvpolicy.runtime.model.json.Json;
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
        bad("{\"text_config\":{" + base + "}}", "text_config", "hidden_size");
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
