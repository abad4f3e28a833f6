package io.github.kvpolicy.host.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.provider.PolicyConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KvPolicyConfigTest {
    @TempDir Path tmp;

    @Test
    void fileThenEnvironmentThenFlagsLaterWins() throws Exception {
        Path f = tmp.resolve("kvpolicy.yaml");
        Files.writeString(f, """
            # select AirCache at 10%
            policy:
              policy: aircache
              alpha: 0.9
            budget: 10%
            plugins: [p1, p2]
            """);
        KvPolicyConfig c = KvPolicyConfig.load(f, Map.of("KVPOLICY_POLICY__ALPHA", "0.7", "KVPOLICY_BUDGET", "5%", "HOME", "/x"), List.of("budget=64"));
        assertEquals(new PolicyConfig("aircache", Map.of("alpha", 0.7)), c.policy());
        assertEquals(Budget.count(64), c.budget());
        assertEquals(List.of(Path.of("p1"), Path.of("p2")), c.pluginDirs());
    }

    @Test
    void swappingThePolicyByFlagDropsTheOldOptions() {
        KvPolicyConfig c = KvPolicyConfig.load(null, Map.of(), List.of("policy=aircache", "policy.alpha=0.5", "policy=snapkv", "policy.window=16"));
        assertEquals(new PolicyConfig("snapkv", Map.of("window", 16)), c.policy());
    }

    @Test
    void nestedCompositionIsExpressible() {
        KvPolicyConfig c = KvPolicyConfig.parse("""
            policy:
              policy: adakv
              alpha: 0.2
              scorer:
                policy: snapkv
                window: 32
                kernel: 7
            """, "nested.yaml");
        PolicyConfig top = c.policy();
        assertEquals("adakv", top.policy());
        PolicyConfig nested = PolicyConfig.from(top.options().get("scorer"));
        assertEquals(new PolicyConfig("snapkv", Map.of("window", 32, "kernel", 7)), nested);
        // and a nested option can be overridden by a flag
        KvPolicyConfig o = KvPolicyConfig.load(null, Map.of(), List.of("policy=adakv", "policy.scorer=snapkv", "policy.scorer.window=64"));
        assertEquals(new PolicyConfig("snapkv", Map.of("window", 64)), PolicyConfig.from(o.policy().options().get("scorer")));
    }

    @Test
    void defaultsAreAirCacheAtTenPercentOnTheTestbed() {
        KvPolicyConfig c = KvPolicyConfig.empty();
        assertEquals(PolicyConfig.of("aircache"), c.policy());
        assertEquals(Budget.ratio(0.1), c.budget());
        assertEquals("testbed", c.model());
        assertEquals("cpu", c.device());
        assertEquals("fp32", c.dtype());
    }

    @Test
    void dtypeIsFp32OrFp16() {
        assertEquals("fp16", KvPolicyConfig.load(null, Map.of(), List.of("dtype=FP16")).dtype());
        assertEquals("fp16", KvPolicyConfig.load(null, Map.of("KVPOLICY_DTYPE", "fp16"), List.of()).dtype());
        ConfigException bad = assertThrows(ConfigException.class, () -> KvPolicyConfig.load(null, Map.of(), List.of("dtype=bf16")).dtype());
        assertEquals("Invalid 'dtype' configuration 'bf16': expected fp32, fp16-kv or fp16", bad.getMessage());
    }

    @Test
    void errorsNameTheSourceAndTheKey() throws Exception {
        ConfigException unknown = assertThrows(ConfigException.class, () -> KvPolicyConfig.parse("polcy: snapkv", "my.yaml"));
        assertEquals("Unknown configuration key 'polcy' in my.yaml. Known keys: budget, device, dtype, generation, model, plugins, policy, seed", unknown.getMessage());

        ConfigException env = assertThrows(ConfigException.class, () -> KvPolicyConfig.load(null, Map.of("KVPOLICY_BUDGT", "5%"), List.of()));
        assertEquals("Unknown configuration key 'budgt' in environment variable KVPOLICY_BUDGT. Known keys: budget, device, dtype, generation, model, plugins, policy, seed", env.getMessage());

        ConfigException flag = assertThrows(ConfigException.class, () -> KvPolicyConfig.load(null, Map.of(), List.of("budget")));
        assertEquals("Invalid override 'budget': expected key=value, e.g. policy.alpha=0.8", flag.getMessage());

        Path bad = tmp.resolve("bad.yaml");
        Files.writeString(bad, "policy: [unclosed\n");
        ConfigException yaml = assertThrows(ConfigException.class, () -> KvPolicyConfig.load(bad, Map.of(), List.of()));
        assertTrue(yaml.getMessage().startsWith("Malformed YAML in configuration file " + bad), yaml.getMessage());

        ConfigException budget = assertThrows(ConfigException.class, () -> KvPolicyConfig.parse("budget: lots", "b.yaml").budget());
        assertEquals("Invalid 'budget' configuration: Invalid budget 'lots': expected a percentage such as '10%', a ratio in [0, 1] such as '0.1', or a token count such as '64'", budget.getMessage());

        Path dup = tmp.resolve("dup.yaml");
        Files.writeString(dup, "budget: 5%\nbudget: 10%\n");
        assertThrows(ConfigException.class, () -> KvPolicyConfig.load(dup, Map.of(), List.of()));
    }
}
