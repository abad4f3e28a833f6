package io.github.kvpolicy.evaluation.gridvqa;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.evaluation.engine.Contender;
import io.github.kvpolicy.evaluation.report.Charts;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/** The kept-token heatmap: per policy and layer, which visual tokens (grid cells) survive compression. */
public final class Heatmaps {
    private Heatmaps() {}

    /** Runs {@code example} under each contender at {@code retention} and draws where each layer's kept visual tokens are. */
    public static void write(Evaluation eval, PolicyRegistry registry, GridVqa.Example example, List<Contender> contenders,
                             double retention, Path png) throws IOException {
        LinkedHashMap<String, double[][]> kept = new LinkedHashMap<>();
        try (GenerationSession base = eval.generatorSession(example)) {
            base.prefill();
            for (Contender c : contenders) {
                CompressionPolicy p = registry.create(c.config());
                try (GenerationSession s = base.fork(p, Budget.ratio(retention), eval.declaration(c.config()))) {
                    GenerationResult r = s.runToEnd();
                    if (r.actions().isEmpty()) continue;
                    kept.put(c.label(), Evaluation.keptGrid(r.actions().get(0).plan(), eval.task().layout(example)));
                }
            }
        }
        List<int[]> cells = new ArrayList<>();
        for (int[] o : example.objects()) cells.add(new int[] {o[0], o[1]});
        Charts.keptHeatmap(png, "Kept visual tokens at " + Results.pct(retention) + "% — " + example.id() + ": " + String.join(" ", example.question())
                + " → " + String.join(" ", example.answer()) + "  (red: objects)", GridVqa.GRID, cells, kept);
    }
}
