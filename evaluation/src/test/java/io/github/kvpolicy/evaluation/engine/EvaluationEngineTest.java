package io.github.kvpolicy.evaluation.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvaluationEngineTest {
    @TempDir Path dir;

    @Test
    void scoresEveryKeyOnceAndTabulatesPerGroup() throws Exception {
        FakeRun.CountingAnswerer a = new FakeRun.CountingAnswerer(0);
        List<ResultRecord> records;
        try (ResultLog log = ResultLog.open(dir.resolve("r.jsonl"), false)) {
            EvaluationEngine.Summary s = EvaluationEngine.run(FakeRun.examples(4), FakeRun.CONTENDERS, FakeRun.RETENTIONS, a, log, null);
            assertEquals(new EvaluationEngine.Summary(24, 0, 4), s);
            records = log.records();
        }
        ScoreTable t = new ScoreTable(records, "good");
        List<ScoreTable.Cell> cells = t.cells();
        assertEquals(2 * 3 * 3, cells.size(), "2 contenders × 3 retentions × (all, even, odd)");
        ScoreTable.Cell goodAll = cells.get(0), badAll = cells.stream().filter(c -> c.policy().equals("bad") && c.group().equals("all")).findFirst().orElseThrow();
        assertEquals(new ScoreTable.Cell("good", 1.0, "all", 4, 1.0, 1.0, 1.0, Double.NaN, Double.NaN, "exact"), goodAll);
        assertEquals(0.0, badAll.score());
        assertEquals(0.0, badAll.agreement(), "'wrong' never equals the reference answer");
        t.write(dir, "summary");
        List<String> csv = Files.readAllLines(dir.resolve("summary.csv"));
        assertEquals(ScoreTable.CSV_HEADER, csv.get(0));
        assertEquals("good,100,all,4,1.0000,1.0000,1.0000,,,\"exact\"", csv.get(1));
        assertEquals("good,100,even,2,1.0000,1.0000,1.0000,,,\"exact\"", csv.get(2));
        assertTrue(Files.readString(dir.resolve("summary.json")).contains("\"policy\" : \"bad\""));
        t.plot(dir.resolve("plot.png"), "fake");
        assertTrue(Files.size(dir.resolve("plot.png")) > 1000);

        List<ResultRecord> ungrouped = records.stream().map(r -> new ResultRecord(r.example(), EvalExample.NO_GROUP, r.policy(), r.retention(), r.metric(), r.score(),
                r.answer(), r.policyMs(), r.decodeMs(), r.keptVisual(), r.totalVisual(), r.extra())).toList();
        assertEquals(2 * 3, new ScoreTable(ungrouped, "good").cells().size(), "examples without a group: the all cells only");
    }

    @Test
    void aResumedRunAsksOnlyForWhatIsMissing() {
        Path f = dir.resolve("r.jsonl");
        try (ResultLog log = ResultLog.open(f, false)) {
            EvaluationEngine.run(FakeRun.examples(2), FakeRun.CONTENDERS, FakeRun.RETENTIONS, new FakeRun.CountingAnswerer(0), log, null);
        }
        FakeRun.CountingAnswerer a = new FakeRun.CountingAnswerer(0);
        try (ResultLog log = ResultLog.open(f, true)) {
            // one more example, one more retention
            EvaluationEngine.Summary s = EvaluationEngine.run(FakeRun.examples(3), FakeRun.CONTENDERS, List.of(1.0, 0.5, 0.1, 0.02), a, log, null);
            assertEquals(new EvaluationEngine.Summary(2 * 2 + 8, 12, 3), s);
            assertEquals(24, log.records().size());
        }
        assertTrue(a.asked.stream().allMatch(k -> k.retention() == 0.02 || k.example().equals("ex-002")), a.asked.toString());
    }

    @Test
    void badGridsAreRefused() {
        try (ResultLog log = ResultLog.open(dir.resolve("r.jsonl"), false)) {
            FakeRun.CountingAnswerer a = new FakeRun.CountingAnswerer(0);
            assertThrows(IllegalArgumentException.class, () -> EvaluationEngine.run(FakeRun.examples(1), List.of(Contender.of("x"), Contender.of("x")), List.of(1.0), a, log, null));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EvaluationEngine.run(FakeRun.examples(1), FakeRun.CONTENDERS, List.of(1.5), a, log, null));
            assertEquals("retention must be in (0, 1], got 1.5", e.getMessage());
        }
    }
}
