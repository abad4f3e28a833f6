package io.github.kvpolicy.evaluation.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Known values of each metric, including the published edge cases. */
class MetricsTest {
    private static final double EPS = 1e-12;
    private final Metric vqa = Metrics.byName("vqa"), anls = Metrics.byName("anls"), relaxed = Metrics.byName("relaxed"), exact = Metrics.byName("exact");

    /** Ten annotator answers: {@code k} times {@code yes}, the rest {@code no}. */
    private static List<String> votes(int k) {
        List<String> a = new ArrayList<>(Collections.nCopies(k, "yes"));
        a.addAll(Collections.nCopies(10 - k, "no"));
        return a;
    }

    @Test
    void vqaAccuracyAveragesTheTenLeaveOneOutSubsetsAndCapsAtThreeAnnotators() {
        assertEquals(0.0, vqa.score("yes", votes(0)), EPS);
        assertEquals(0.3, vqa.score("yes", votes(1)), EPS);       // 9 subsets with 1 match: 9 × 1/3 / 10
        assertEquals(0.6, vqa.score("yes", votes(2)), EPS);       // 2 × 1/3 + 8 × 2/3, / 10
        assertEquals(0.9, vqa.score("yes", votes(3)), EPS);       // 3 × 2/3 + 7 × 1, / 10: three annotators are not quite full credit
        assertEquals(1.0, vqa.score("yes", votes(4)), EPS);       // capped: min(#matches / 3, 1)
        assertEquals(1.0, vqa.score("yes", votes(10)), EPS);
        assertEquals(0.3, vqa.score("no", votes(9)), EPS);
    }

    @Test
    void vqaNormalisationFollowsTheOfficialScript() {
        assertEquals("2 dogs", VqaNormalizer.normalise("Two dogs"));
        assertEquals("dog", VqaNormalizer.normalise("The dog."));
        assertEquals("1000", VqaNormalizer.normalise("1,000"));          // a digit-comma-digit group deletes every comma
        assertEquals("left hand", VqaNormalizer.normalise("left-hand")); // no space beside the mark: it becomes a space
        assertEquals("yes", VqaNormalizer.normalise("yes!"));
        assertEquals("2.5", VqaNormalizer.normalise("2.5"));             // a period before a digit stays
        assertEquals("don't", VqaNormalizer.normalise("dont"));
        assertEquals("don't", VqaNormalizer.normalise("don't"));         // the apostrophe is not punctuation
        assertEquals("0", VqaNormalizer.normalise("none"));
        assertEquals("red white", VqaNormalizer.normalise("red, white"));
        assertEquals("5%", VqaNormalizer.normalise("5%"));
        assertEquals("im", VqaNormalizer.normalise("Im"));               // the script's capitalised keys never match
        assertEquals("", VqaNormalizer.normalise("  the "));
        assertEquals("", VqaNormalizer.normalise(null));
        assertEquals(1.0, vqa.score("Two.", Collections.nCopies(10, "2")), EPS);
        assertEquals(1.0, vqa.score("Yes", Collections.nCopies(10, "yes")), EPS);
    }

    @Test
    void vqaEdgeCases() {
        assertEquals(0.0, vqa.score("", votes(10)), EPS);
        assertEquals(0.0, vqa.score(null, votes(10)), EPS);
        assertEquals(1.0, vqa.score("A Cat", List.of("cat")), EPS);   // one answer: exact match after normalisation
        assertEquals(0.0, vqa.score("dog", List.of("cat")), EPS);
        assertEquals(1.0 / 3, vqa.score("cat", List.of("cat", "cat")), EPS); // two answers: each subset of one holds one vote
    }

    @Test
    void anlsIsOneMinusTheNormalisedDistanceBelowOneHalf() {
        assertEquals(1.0, anls.score(" Hello  World ", List.of("hello world")), EPS);
        assertEquals(0.8, anls.score("hallo", List.of("hello")), EPS);                 // distance 1 over 5
        assertEquals(0.0, anls.score("ab", List.of("ax")), EPS);                       // NL = 0.5 is not below the threshold
        assertEquals(0.0, anls.score("abc", List.of("xyz")), EPS);
        assertEquals(0.8, anls.score("hallo", List.of("xyz", "hello", "jello world")), EPS); // the maximum over the answers
        assertEquals(0.0, anls.score("", List.of("abc")), EPS);                         // empty prediction
        assertEquals(1.0, anls.score("", List.of("  ")), EPS);                          // both empty: distance 0
        assertEquals(1 - 3.0 / 7, anls.score("kitten", List.of("sitting")), EPS);     // the textbook distance 3, over 7 characters
        assertEquals(3, Anls.levenshtein("kitten", "sitting"));
    }

    @Test
    void relaxedAccuracyAllowsFivePercentOnNumbers() {
        assertEquals(1.0, relaxed.score("100", List.of("105")), EPS);    // 5/105 < 5%
        assertEquals(1.0, relaxed.score("95", List.of("100")), EPS);     // exactly 5%
        assertEquals(0.0, relaxed.score("94", List.of("100")), EPS);
        assertEquals(1.0, relaxed.score("5%", List.of("5.2%")), EPS);    // 0.05 vs 0.052
        assertEquals(1.0, relaxed.score("5%", List.of("0.05")), EPS);    // a percent sign divides by 100
        assertEquals(0.0, relaxed.score("5%", List.of("5")), EPS);
        assertEquals(1.0, relaxed.score("1,000", List.of("1040")), EPS); // thousands separators read as a number
        assertEquals(0.0, relaxed.score("1,000", List.of("1060")), EPS);
        assertEquals(1.0, relaxed.score("-2.5e1", List.of("-25")), EPS);
        assertEquals(1.0, relaxed.score("0", List.of("0")), EPS);        // an answer of 0: string equality
        assertEquals(0.0, relaxed.score("0.0", List.of("0")), EPS);
        assertEquals(1.0, relaxed.score(" Yes ", List.of("yes")), EPS);
        assertEquals(0.0, relaxed.score("", List.of("5")), EPS);         // empty prediction
        assertEquals(0.0, relaxed.score("NaN", List.of("5")), EPS);
        assertEquals(1.0, relaxed.score("12", List.of("France", "12.4")), EPS);
        assertTrue(RelaxedAccuracy.number("1,00").isEmpty(), "1,00 is not a thousands group");
    }

    @Test
    void exactMatchIgnoresCaseAndSpacingOnly() {
        assertEquals(1.0, exact.score("  Red   Star ", List.of("red star")), EPS);
        assertEquals(0.0, exact.score("red star.", List.of("red star")), EPS);
        assertEquals(1.0, exact.score("b", List.of("a", "B")), EPS);
        assertEquals(0.0, exact.score("", List.of("a")), EPS);
    }

    @Test
    void everyMetricNeedsAnAnswerAndUnknownNamesAreNamed() {
        for (String n : Metrics.names()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Metrics.byName(n).score("x", List.of()));
            assertTrue(e.getMessage().startsWith(n + ": expected at least one reference answer"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Metrics.byName("bleu"));
        assertEquals("unknown metric 'bleu'; expected one of exact, vqa, anls, relaxed", e.getMessage());
    }
}
