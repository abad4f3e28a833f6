package io.github.kvpolicy.evaluation.gridvqa;

import io.github.kvpolicy.host.plugin.ProviderDiscovery;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The in-memory quality measurement a conformance check can compare with declared floors. */
class GridVqaQualityTest {
    private final PolicyRegistry registry = ProviderDiscovery.fromClassLoader(getClass().getClassLoader());

    @Test
    void theFullCacheIsNearlyPerfectAndVlCacheBeatsRandomAtOnePercent() {
        assertTrue(GridVqaQuality.available());
        Map<Double, Double> full = GridVqaQuality.exactMatch(registry, PolicyConfig.of("full"), List.of(1.0, 0.01), 6);
        assertEquals(full.get(1.0), full.get(0.01), "full ignores the budget");
        assertTrue(full.get(1.0) >= 0.9, full.toString());
        double vl = GridVqaQuality.exactMatch(registry, PolicyConfig.of("vl-cache"), List.of(0.1), 6).get(0.1);
        double random = GridVqaQuality.exactMatch(registry, PolicyConfig.of("random"), List.of(0.1), 6).get(0.1);
        assertTrue(vl > random + 0.2, "vl-cache " + vl + " vs random " + random + " at 10% (results.md: 0.979 vs 0.289 on all 1050)");
    }

    @Test
    void aHarnessCanSupplyThePolicyItself() {
        java.util.concurrent.atomic.AtomicInteger made = new java.util.concurrent.atomic.AtomicInteger();
        Map<Double, Double> m = GridVqaQuality.exactMatch(c -> {
            made.incrementAndGet();
            return registry.create(c);
        }, PolicyConfig.of("full"), List.of(1.0, 0.5), 2);
        assertEquals(1, made.get(), "one policy for all runs");
        assertEquals(m.get(1.0), m.get(0.5));
    }

    @Test
    void badInputIsNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GridVqaQuality.exactMatch(registry, PolicyConfig.of("full"), List.of(0.0), 1));
        assertEquals("retention must be in (0, 1], got 0.0", e.getMessage());
    }
}
