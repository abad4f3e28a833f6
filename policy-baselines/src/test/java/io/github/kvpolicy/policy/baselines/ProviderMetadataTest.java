package io.github.kvpolicy.policy.baselines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.provider.InvalidOptionException;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.OptionType;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.api.provider.UnknownPolicyException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Discovery through ServiceLoader, metadata, defaults, and option errors that name the option. */
class ProviderMetadataTest {
    static final List<String> NAMES = List.of("adakv", "decoding", "full", "h2o", "knorm", "layer-budgets", "prefixkv", "pyramidkv", "random",
            "snapkv", "streamingllm", "tova", "vl-cache");

    @Test
    void everyPolicyIsFoundByName() {
        PolicyRegistry reg = TestSupport.REGISTRY;
        assertEquals(List.of(), reg.problems());
        assertTrue(reg.names().containsAll(NAMES), reg.names().toString());
        for (String n : NAMES) {
            PolicyProvider p = reg.provider(n);
            assertEquals("0.1.0", p.version());
            assertFalse(p.description().isBlank());
            assertTrue(p.description().endsWith("."), p.description());
            assertTrue(p.capabilities().contains(Capability.DETERMINISTIC));
            CompressionPolicy policy = reg.create(PolicyConfig.of(n));
            assertEquals(n, policy.name());
            for (OptionSpec s : p.options().specs()) assertFalse(s.description().isBlank(), n + "." + s.name());
        }
    }

    @Test
    void publishedDefaults() {
        Map<String, Map<String, Object>> expected = Map.of(
                "snapkv", Map.of("window", 32, "kernel", 7, "pooling", "avg", "scope", "visual"),
                "pyramidkv", Map.of("beta", 20.0, "window", 32),
                "adakv", Map.of("alpha", 0.2, "scorer", PolicyConfig.of("snapkv")),
                "streamingllm", Map.of("sinks", 4),
                "h2o", Map.of("heavy-ratio", 0.5),
                "vl-cache", Map.of("sparsity-threshold", 0.01));
        expected.forEach((name, defaults) -> defaults.forEach((opt, v) ->
                assertEquals(v, TestSupport.REGISTRY.provider(name).options().spec(opt).orElseThrow().defaultValue(), name + "." + opt)));
    }

    @Test
    void capabilitiesMatchTheSchemas() {
        for (String n : NAMES) {
            PolicyProvider p = TestSupport.REGISTRY.provider(n);
            boolean all = p.capabilities().contains(Capability.ALL_TOKEN_SCOPE);
            assertEquals(all, p.options().spec("scope").isPresent(), n + ": ALL_TOKEN_SCOPE iff a scope option");
            if (all) assertEquals(io.github.kvpolicy.api.Scope.ALL, TestSupport.policy(n, "scope", "all").scope(), n);
            boolean decoding = p.capabilities().contains(Capability.DECODING_TIME);
            assertEquals(decoding, TestSupport.REGISTRY.create(PolicyConfig.of(n)).schedule().actsDuringDecoding(), n + ": DECODING_TIME iff the default acts while decoding");
        }
        assertEquals(Set.of("adakv"), Set.copyOf(NAMES.stream().filter(n -> TestSupport.REGISTRY.provider(n).capabilities().contains(Capability.HEAD_WISE_BUDGETS)).toList()));
    }

    @Test
    void badOptionValuesNameTheOption() {
        for (String n : NAMES) {
            for (OptionSpec s : TestSupport.REGISTRY.provider(n).options().specs()) {
                Object bad = switch (s.type()) {
                    case INTEGER -> s.min() == null ? "x" : (Object) (s.min().intValue() - 1);
                    case DOUBLE -> s.max() == null ? "x" : (Object) (s.max() + 1);
                    case ENUM -> "no-such-value";
                    case BOOLEAN -> "maybe";
                    case STRING, POLICY -> null;
                };
                if (bad == null) continue;
                InvalidOptionException e = assertThrows(InvalidOptionException.class, () -> TestSupport.policy(n, s.name(), bad), n + "." + s.name());
                assertTrue(e.getMessage().contains("'" + s.name() + "'") && e.getMessage().contains(n), e.getMessage());
            }
            InvalidOptionException unknown = assertThrows(InvalidOptionException.class, () -> TestSupport.policy(n, "budget", "10%"));
            assertTrue(unknown.getMessage().contains("'budget'"), unknown.getMessage());
        }
        InvalidOptionException even = assertThrows(InvalidOptionException.class, () -> TestSupport.policy("snapkv", "kernel", 4));
        assertTrue(even.getMessage().contains("'kernel'") && even.getMessage().contains("odd"), even.getMessage());
        InvalidOptionException nestedBad = assertThrows(InvalidOptionException.class, () -> TestSupport.policy("adakv", "scorer", Map.of("policy", "snapkv", "window", 0)));
        assertTrue(nestedBad.getMessage().contains("'window'") && nestedBad.getMessage().contains("snapkv"), nestedBad.getMessage());
        UnknownPolicyException unknownNested = assertThrows(UnknownPolicyException.class, () -> TestSupport.policy("decoding", "scorer", "snap"));
        assertTrue(unknownNested.getMessage().contains("'snap'"), unknownNested.getMessage());
        assertTrue(List.of(OptionType.values()).contains(OptionType.POLICY));
    }
}
