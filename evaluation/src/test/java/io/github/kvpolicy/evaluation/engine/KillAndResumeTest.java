package io.github.kvpolicy.evaluation.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.evaluation.json.JsonLines;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine runs in a child JVM that is killed (SIGKILL, no shutdown hooks) in the middle of the run; resuming on
 * the same results file computes exactly the keys that were not finished: none lost, none computed twice.
 */
class KillAndResumeTest {
    private static final int EXAMPLES = 40;

    @Test
    void aKilledRunResumesWhereItStopped(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("results.jsonl");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), FakeRun.class.getName(), file.toString(),
                Integer.toString(EXAMPLES), "10").redirectErrorStream(true).redirectOutput(dir.resolve("child.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        int total = EXAMPLES * FakeRun.CONTENDERS.size() * FakeRun.RETENTIONS.size();
        while (finishedLines(file) < 31 && child.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
        assertTrue(child.isAlive(), "the child ended before it could be killed: " + Files.readString(dir.resolve("child.log")));
        child.destroyForcibly();
        assertTrue(child.waitFor(30, TimeUnit.SECONDS));

        byte[] before = Files.readAllBytes(file);
        int end = before.length;
        while (end > 0 && before[end - 1] != '\n') end--;
        String finished = new String(before, 0, end, StandardCharsets.UTF_8);
        List<String> lines = finished.lines().toList();
        assertEquals(ResultLog.HEADER, lines.get(0));
        Set<ResultRecord.Key> done = new HashSet<>();
        for (String l : lines.subList(1, lines.size())) assertTrue(done.add(ResultRecord.fromJson(JsonLines.parse(l)).key()), "repeated: " + l);
        assertTrue(done.size() >= 30 && done.size() < total, "killed after " + done.size() + " of " + total + " records");

        FakeRun.CountingAnswerer answerer = new FakeRun.CountingAnswerer(0);
        EvaluationEngine.Summary s;
        try (ResultLog log = ResultLog.open(file, true)) {
            assertEquals(done.size(), log.resumed());
            s = EvaluationEngine.run(FakeRun.examples(EXAMPLES), FakeRun.CONTENDERS, FakeRun.RETENTIONS, answerer, log, null);
        }
        assertEquals(total - done.size(), s.computed(), "computed now = what was missing");
        assertEquals(done.size(), s.alreadyDone());
        for (ResultRecord.Key k : answerer.asked) assertTrue(!done.contains(k), "recomputed " + k);
        // examples whose six records were all finished were not prepared again
        long fullyDone = FakeRun.examples(EXAMPLES).stream().filter(e -> done.stream().filter(k -> k.example().equals(e.id())).count() == 6).count();
        assertEquals(EXAMPLES - fullyDone, answerer.prepared.size());

        String after = Files.readString(file);
        assertTrue(after.startsWith(finished), "the finished records are kept byte for byte");
        List<String> all = after.lines().toList();
        assertEquals(1 + total, all.size());
        Set<ResultRecord.Key> keys = new HashSet<>();
        for (String l : all.subList(1, all.size())) keys.add(ResultRecord.fromJson(JsonLines.parse(l)).key());
        assertEquals(total, keys.size(), "every key exactly once");
        double good = all.subList(1, all.size()).stream().map(l -> ResultRecord.fromJson(JsonLines.parse(l)))
                .filter(r -> r.policy().equals("good")).mapToDouble(ResultRecord::score).average().orElseThrow();
        assertEquals(1.0, good, 0.0);
    }

    private static int finishedLines(Path f) throws Exception {
        if (!Files.exists(f)) return 0;
        byte[] b = Files.readAllBytes(f);
        int n = 0;
        for (byte x : b) if (x == '\n') n++;
        return Math.max(0, n - 1);
    }
}
