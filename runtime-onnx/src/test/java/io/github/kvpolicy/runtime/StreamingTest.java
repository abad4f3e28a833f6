package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.Schedule;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** {@code runToEnd(listener)} streams exactly the result's tokens, in order, per row, while a decoding-time policy acts. */
class StreamingTest {
    @Test
    void theListenerSeesEveryTokenOfEveryRowInOrder() {
        try (Generator g = Generator.open(TestModels.built("tiny", 7), GeneratorConfig.defaults().withIntraOpThreads(1))) {
            GenerationRequest req = GenerationRequest.builder().row(Prompt.ofTokens(5, 6, 7, 8, 9, 10, 11)).row(Prompt.ofTokens(12, 13, 14))
                    .maxNewTokens(24).policy(TestPolicies.recent(Schedule.whenOverBudget(2), Protection.none()), Budget.count(4)).build();
            List<List<Long>> seen = List.of(new ArrayList<>(), new ArrayList<>());
            GenerationResult streamed;
            try (GenerationSession s = g.newSession(req)) {
                s.prefill();
                streamed = s.runToEnd((row, token) -> seen.get(row).add(token));
            }
            GenerationResult plain = g.generate(req);
            assertEquals(24, streamed.tokens(0).length);
            for (int r = 0; r < 2; r++) {
                assertArrayEquals(streamed.tokens(r), seen.get(r).stream().mapToLong(Long::longValue).toArray(), "row " + r);
                assertArrayEquals(plain.tokens(r), streamed.tokens(r), "row " + r + " equals a run without a listener");
            }
        }
    }
}
