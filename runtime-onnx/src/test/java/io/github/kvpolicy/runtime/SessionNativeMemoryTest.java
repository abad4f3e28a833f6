package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Native memory of the one decode path ({@link GenerationSession} over {@code OrtDecoder}, in the style of
 * {@code ort.NativeMemoryTest}): the process's resident set minus the committed Java heap (so heap growth is not
 * counted) stays bounded over 12,000 decoding steps with a compaction whenever the cache passes its budget (≈ 1 in
 * 2 steps: every compaction re-allocates every layer through ORT's allocator), and over 240 sessions opened, prefilled,
 * decoded, compacted, forked and closed. A leak of one 8 KiB cache layer per compaction would add ≥ 40 MiB in the first
 * test; of one session's cache and bindings per cycle, tens of MiB in the second. The bound is 48 MiB.
 */
class SessionNativeMemoryTest {
    static final long BOUND = 48L << 20;

    /** RSS ({@code VmRSS}) minus the committed heap, after a GC. */
    static long nativeBytes() {
        System.gc();
        long rss = -1;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) rss = Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (rss < 0) throw new IllegalStateException("no VmRSS in /proc/self/status");
        return rss - ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
    }

    @Test
    void twelveThousandStepsWithPeriodicCompactionStayBounded() {
        int steps = 12_000, warm = 2_000;
        try (Generator g = Generator.open(TestModels.built("tiny", 7), GeneratorConfig.defaults().withIntraOpThreads(1))) {
            GenerationRequest req = GenerationRequest.builder().row(Prompt.ofTokens(5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)).maxNewTokens(steps)
                    .policy(TestPolicies.recent(Schedule.whenOverBudget(1), Protection.none()), Budget.count(32)).build();
            long atWarm = 0;
            long t0 = System.nanoTime();
            try (GenerationSession s = g.newSession(req)) {
                s.prefill();
                s.applyPolicy(Phase.PREFILL);
                while (s.step()) {
                    if (s.hasActiveRows() && s.decodeTrigger()) s.applyPolicy(Phase.DECODE);
                    if (s.steps() == warm) atWarm = nativeBytes();
                }
                long atEnd = nativeBytes();
                GenerationResult r = s.result();
                System.out.printf(Locale.ROOT, "SessionNativeMemoryTest: %d steps in %.1f s, %d compactions, native (RSS - heap) %.1f MiB at step %d, %.1f MiB at the end%n",
                        r.tokens(0).length, (System.nanoTime() - t0) / 1e9, r.actionCount(), atWarm / 1048576.0, warm, atEnd / 1048576.0);
                assertEquals(steps, r.tokens(0).length);
                assertTrue(r.actionCount() > 4_000, "the policy compacted throughout: " + r.actionCount());
                assertTrue(atEnd - atWarm < BOUND, "native memory grew by " + ((atEnd - atWarm) >> 20) + " MiB over " + (steps - warm) + " steps");
            }
        }
    }

    @Test
    void closingManySessionsReturnsTheirMemory() {
        try (Generator g = Generator.open(TestModels.built("tiny-vlm", 7), GeneratorConfig.defaults().withIntraOpThreads(1).withPrefillChunk(8))) {
            Prompt p = Prompt.builder().text(GeneratorTest.tokens(3, 5)).image(GeneratorTest.cells(4, 16)).text(GeneratorTest.tokens(5, 6)).build();
            GenerationRequest req = GenerationRequest.builder().row(p).row(p).maxNewTokens(12).extraQueryWindow(io.github.kvpolicy.api.QueryWindow.last(4))
                    .policy(TestPolicies.randomSubset(Scope.VISUAL), Budget.ratio(0.5)).build();
            Runnable cycle = () -> {
                try (GenerationSession s = g.newSession(req)) {
                    s.prefill();
                    try (GenerationSession f = s.fork(TestPolicies.randomSubset(Scope.ALL), Budget.ratio(0.3))) {
                        f.runToEnd();
                    }
                    s.runToEnd();
                }
            };
            for (int i = 0; i < 40; i++) cycle.run();
            long before = nativeBytes();
            for (int i = 0; i < 200; i++) cycle.run();
            long grown = nativeBytes() - before;
            System.out.printf(Locale.ROOT, "SessionNativeMemoryTest: native memory %+.1f MiB over 200 session cycles%n", grown / 1048576.0);
            assertTrue(grown < BOUND, "native memory grew by " + (grown >> 20) + " MiB over 200 session open/decode/fork/close cycles");
        }
    }
}
