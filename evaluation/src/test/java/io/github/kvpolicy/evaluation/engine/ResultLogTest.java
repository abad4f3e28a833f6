package io.github.kvpolicy.evaluation.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResultLogTest {
    @TempDir Path dir;

    private static ResultRecord rec(String example, String policy, double retention, double score) {
        return new ResultRecord(example, "g", policy, retention, "exact", score, "ans " + example, 1.5, Double.NaN, 3, 10, Map.of("x", 2.0));
    }

    @Test
    void recordsRoundTripAndSurviveReopening() {
        Path f = dir.resolve("r.jsonl");
        try (ResultLog log = ResultLog.open(f, false)) {
            log.append(rec("e1", "p", 1.0, 1));
            log.append(rec("e1", "p", 0.1, 0));
        }
        try (ResultLog log = ResultLog.open(f, true)) {
            assertEquals(2, log.resumed());
            assertEquals(List.of(rec("e1", "p", 1.0, 1), rec("e1", "p", 0.1, 0)), log.records());
            assertTrue(log.contains(new ResultRecord.Key("e1", "p", 0.1)));
            assertFalse(log.droppedUnfinishedLine());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> log.append(rec("e1", "p", 0.1, 1)));
            assertTrue(e.getMessage().contains("already in"), e.getMessage());
        }
    }

    @Test
    void anExistingFileNeedsResume() throws Exception {
        Path f = dir.resolve("r.jsonl");
        ResultLog.open(f, false).close();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ResultLog.open(f, false));
        assertEquals("results file " + f + " already exists; pass --resume to continue it, or choose another output directory", e.getMessage());
    }

    @Test
    void aFileKvpolicyDidNotWriteIsNeverTouched() throws Exception {
        Path f = dir.resolve("r.jsonl");
        Files.writeString(f, "{\"mine\": true}\npartial");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ResultLog.open(f, true));
        assertTrue(e.getMessage().contains("so kvpolicy did not write it; refusing to append"), e.getMessage());
        assertEquals("{\"mine\": true}\npartial", Files.readString(f), "unchanged, also its unfinished last line");
    }

    @Test
    void anUnfinishedLastLineIsDroppedAndComputedAgain() throws Exception {
        Path f = dir.resolve("r.jsonl");
        try (ResultLog log = ResultLog.open(f, false)) {
            log.append(rec("e1", "p", 1.0, 1));
        }
        String good = Files.readString(f);
        String cut = rec("e2", "p", 1.0, 1).toJson();
        Files.writeString(f, cut.substring(0, cut.length() / 2), StandardOpenOption.APPEND);
        try (ResultLog log = ResultLog.open(f, true)) {
            assertTrue(log.droppedUnfinishedLine());
            assertEquals(1, log.resumed());
            assertFalse(log.contains(new ResultRecord.Key("e2", "p", 1.0)));
            log.append(rec("e2", "p", 1.0, 1));
        }
        assertEquals(good + rec("e2", "p", 1.0, 1).toJson() + "\n", Files.readString(f));
    }

    @Test
    void aBrokenLineInsideIsAnErrorWithItsLineNumber() throws Exception {
        Path f = dir.resolve("r.jsonl");
        try (ResultLog log = ResultLog.open(f, false)) {
            log.append(rec("e1", "p", 1.0, 1));
        }
        Files.writeString(f, "{\"example\": \"e2\"}\n", StandardOpenOption.APPEND);
        try (ResultLog log = ResultLog.open(f, true)) {
            log.append(rec("e3", "p", 1.0, 1));
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage().startsWith(f + ":3: unreadable results record (field \"group\" must be a string)"), e.getMessage());
            return;
        }
        throw new AssertionError("a broken line was accepted");
    }

    @Test
    void twoRunsCannotAppendAtOnce() {
        Path f = dir.resolve("r.jsonl");
        try (ResultLog log = ResultLog.open(f, false)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ResultLog.open(f, true));
            assertEquals("results file " + f + " is in use by another kvpolicy run", e.getMessage());
        }
    }
}
