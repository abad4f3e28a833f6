package io.github.kvpolicy.cli;

import io.github.kvpolicy.host.plugin.ProviderDiscovery;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.evaluation.gridvqa.Evaluation;
import io.github.kvpolicy.evaluation.gridvqa.GridVqa;
import io.github.kvpolicy.evaluation.gridvqa.Results;
import io.github.kvpolicy.evaluation.gridvqa.TestbedPaths;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The elite-window diagnostic on the committed testbed: what AirCache itself reported, mapped back to the prompt's words. */
class EliteWindowsTest {
    @Test
    void reportsEveryLayersWindowAsInstructionWords(@TempDir Path dir) throws Exception {
        Path model = TestbedPaths.requireModel(TestbedPaths.model());
        GridVqa task = GridVqa.load(model);
        List<GridVqa.Example> examples = Results.limitPerFamily(GridVqa.readExamples(TestbedPaths.evalSet()), 2);
        PolicyRegistry registry = ProviderDiscovery.fromClassLoader(getClass().getClassLoader());
        List<EliteWindows.Entry> entries;
        int layers;
        try (Generator g = Generator.open(ModelPackage.open(model), GeneratorConfig.defaults().withIntraOpThreads(1))) {
            layers = g.shape().layers();
            entries = EliteWindows.collect(new Evaluation(g, task, registry), PolicyDeclaration.of(registry.provider("aircache")), examples, 0.10);
        }
        assertEquals(examples.size() * layers, entries.size(), "one window per example and layer");
        for (EliteWindows.Entry e : entries) {
            GridVqa.Example ex = examples.stream().filter(x -> x.id().equals(e.example())).findFirst().orElseThrow();
            int start = task.prefixIds().length + GridVqa.CELLS, end = start + task.suffixIds(ex).length;
            assertTrue(e.positions().length > 0, e + ": the elite set holds at least the arg-max token");
            assertTrue(Arrays.stream(e.positions()).allMatch(p -> p >= start && p < end), e.example() + " layer " + e.layer() + ": instruction positions only");
            assertEquals(e.positions().length, e.tokens().size());
            for (int i = 0; i < e.positions().length; i++) {
                int p = e.positions()[i];
                String word = p - start < ex.question().size() ? ex.question().get(p - start) : task.token((int) task.suffixIds(ex)[p - start]);
                assertEquals(word, e.tokens().get(i), e.example() + " position " + p);
            }
            assertEquals(Arrays.stream(e.positions()).anyMatch(p -> p == end - 1), e.lastToken());
            assertEquals(Arrays.stream(e.positions()).filter(p -> p < start + ex.question().size()).count(), e.questionWords());
        }
        String table = EliteWindows.table(entries);
        assertEquals(1 + layers, table.strip().split("\n").length, table);
        Path csv = dir.resolve("elite_windows.csv");
        EliteWindows.writeCsv(csv, entries);
        List<String> lines = Files.readAllLines(csv);
        assertEquals(1 + entries.size(), lines.size());
        assertFalse(lines.get(1).contains("@"), lines.get(1));
    }
}
