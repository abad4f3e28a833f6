package io.github.kvpolicy.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.QueryWindow;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** One prefill forked under several policies gives what a fresh request with each policy gives. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GenerationSessionForkTest {
    Generator gen;

    @BeforeAll
    void open() {
        gen = Generator.open(TestModels.built("tiny-vlm", 7), GeneratorConfig.defaults().withPrefillChunk(7).withIntraOpThreads(1));
    }

    @AfterAll
    void close() {
        gen.close();
    }

    private static Prompt prompt() {
        return Prompt.builder().text(GeneratorTest.tokens(3, 5)).image(GeneratorTest.cells(4, 16)).text(GeneratorTest.tokens(5, 6)).build();
    }

    @Test
    void forksOfOnePrefillEqualFreshRequests() {
        List<CompressionPolicy> policies = Arrays.asList(null, TestPolicies.randomSubset(Scope.VISUAL), TestPolicies.randomSubset(Scope.ALL),
                TestPolicies.recent(Schedule.whenOverBudget(1), Protection.sinksAndRecent(1, 0)), TestPolicies.keepAll(Schedule.everySteps(3)));
        GenerationRequest base = GenerationRequest.builder().row(prompt()).maxNewTokens(10).recordLogits(true).extraQueryWindow(QueryWindow.all()).build();
        try (GenerationSession prefilled = gen.newSession(base)) {
            prefilled.prefill();
            long bytesBefore = prefilled.kvCache().bytes();
            int[] positionsBefore = prefilled.cache().positions(0, 0, 0);
            for (CompressionPolicy p : policies) {
                for (double r : new double[] {0.25, 0.5}) {
                    Budget b = p == null ? null : Budget.ratio(p.name().equals("test-keep-all") ? 1.0 : r);
                    GenerationResult forked;
                    try (GenerationSession f = prefilled.fork(p, b)) {
                        forked = f.runToEnd();
                    }
                    GenerationResult fresh = gen.generate(base.withPolicy(p, b));
                    String what = (p == null ? "no policy" : p.name()) + " at " + r;
                    assertArrayEquals(fresh.tokens(0), forked.tokens(0), what);
                    assertEquals(fresh.actions().size(), forked.actions().size(), what);
                    for (int a = 0; a < fresh.actions().size(); a++) {
                        assertEquals(fresh.actions().get(a).plan(), forked.actions().get(a).plan(), what + " action " + a);
                    }
                    for (int t = 0; t < fresh.logits().get(0).size(); t++) {
                        GeneratorTest.assertLogits(fresh.logits().get(0).get(t), forked.logits().get(0).get(t), what + " token " + t);
                    }
                    if (p != null && r == 0.25 && !p.name().equals("test-keep-all")) {
                        assertTrue(forked.actions().get(0).memory().liveAfter() < forked.actions().get(0).memory().liveBefore(), what + " compressed");
                    }
                }
            }
            // the base is untouched by its forks
            assertEquals(bytesBefore, prefilled.kvCache().bytes());
            assertArrayEquals(positionsBefore, prefilled.cache().positions(0, 0, 0));
            assertEquals(0, prefilled.steps());
        }
    }
}
