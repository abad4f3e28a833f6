package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Native memory of the one decode path ({@link GenerationSession} over {@code OrtDecoder}), in the spirit of
 * {@code ort.NativeMemoryTest} but measured as the C heap's bytes in use (glibc {@code mallinfo2}: {@code uordblks +
 * hblkhd}, over all malloc arenas), which is where ONNX Runtime's CPU allocator and {@code java.lang.foreign} arenas
 * take their memory; unlike the resident set it does not move when the JVM touches or returns heap pages.
 * Bounded: over 12,000 decoding steps with a compaction whenever a 512-token budget is passed (≈ 5,700 compactions,
 * each re-allocating both layers' ~135 KiB of tensors through ORT's allocator; a leak of a single 64 KiB key tensor
 * per compaction would be ≈ 360 MiB), and over 200 sessions opened, prefilled, forked, compacted, decoded and closed.
 * The bound is 32 MiB. Falls back to the resident set minus the committed heap where {@code mallinfo2} is missing.
 */
class SessionNativeMemoryTest {
    static final long BOUND = 32L << 20;
    /** glibc's {@code struct mallinfo2 mallinfo2(void)}: ten {@code size_t} fields, {@code hblkhd} 4th and {@code uordblks} 7th (0-based). */
    private static final MethodHandle MALLINFO2 = Linker.nativeLinker().defaultLookup().find("mallinfo2")
            .map(f -> Linker.nativeLinker().downcallHandle(f, FunctionDescriptor.of(MemoryLayout.structLayout(
                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG))))
            .orElse(null);

    /** Bytes of the C heap in use ({@code mallinfo2}), or the resident set minus the committed heap without it; after a GC. */
    static long nativeBytes() {
        System.gc();
        if (MALLINFO2 != null) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment m = (MemorySegment) MALLINFO2.invokeExact((SegmentAllocator) a);
                return m.getAtIndex(ValueLayout.JAVA_LONG, 7) + m.getAtIndex(ValueLayout.JAVA_LONG, 4); // uordblks + hblkhd
            } catch (Throwable t) {
                throw new IllegalStateException("mallinfo2 failed", t);
            }
        }
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
                    .policy(TestPolicies.recent(Schedule.whenOverBudget(1), Protection.none()), Budget.count(512)).build();
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
                System.out.printf(Locale.ROOT, "SessionNativeMemoryTest: %d steps in %.1f s, %d compactions, C heap in use %.1f MiB at step %d, %.1f MiB at the end%n",
                        r.tokens(0).length, (System.nanoTime() - t0) / 1e9, r.actionCount(), atWarm / 1048576.0, warm, atEnd / 1048576.0);
                assertEquals(steps, r.tokens(0).length);
                assertTrue(r.actionCount() > 5_000, "the policy compacted throughout: " + r.actionCount());
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
