package io.github.kvpolicy.evaluation.gridvqa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.Sampling;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The graphs the Java model builder makes from the trained testbed weights reproduce the PyTorch model
 * ({@code testbed/make_fixtures.py} → {@code testbed/fixtures/reference.json}): last-position logits within 1e-4 of
 * the float64 PyTorch run, the projector output within 1e-4, and the same greedy answer.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TestbedReferenceTest {
    private static final Path MODEL = TestbedPaths.model();
    private static final Path FIXTURE = TestbedPaths.fixtures();

    Generator generator;
    GridVqa task;
    List<Map<String, Object>> examples;

    @BeforeAll
    @SuppressWarnings("unchecked")
    void open() throws Exception {
        TestbedPaths.requireModel(MODEL);
        assertTrue(Files.isRegularFile(FIXTURE), "missing " + FIXTURE + " (made by testbed/make_fixtures.py)");
        examples = (List<Map<String, Object>>) Json.parseObject(Files.readString(FIXTURE), FIXTURE.toString()).get("examples");
        generator = Generator.open(ModelPackage.open(MODEL), GeneratorConfig.defaults().withIntraOpThreads(1));
        task = GridVqa.load(MODEL);
    }

    @AfterAll
    void close() {
        if (generator != null) generator.close();
    }

    @SuppressWarnings("unchecked")
    private static GridVqa.Example example(Map<String, Object> m) {
        List<List<Number>> objs = (List<List<Number>>) m.get("objects");
        int[][] o = new int[objs.size()][];
        for (int i = 0; i < o.length; i++) o[i] = objs.get(i).stream().mapToInt(Number::intValue).toArray();
        return new GridVqa.Example((String) m.get("id"), (String) m.get("family"), o, (List<String>) m.get("question"), (List<String>) m.get("reference_answer"));
    }

    @SuppressWarnings("unchecked")
    private static double[] doubles(Object list) {
        return ((List<Number>) list).stream().mapToDouble(Number::doubleValue).toArray();
    }

    @Test
    @SuppressWarnings("unchecked")
    void logitsAndGreedyAnswersMatchPyTorch() {
        assertEquals(3, examples.size());
        Evaluation eval = new Evaluation(generator, task, null);
        for (Map<String, Object> m : examples) {
            GridVqa.Example e = example(m);
            GenerationRequest req = GenerationRequest.builder().row(eval.prompt(e)).maxNewTokens(16).stopTokens(task.eosId())
                    .sampling(Sampling.greedyDecoding()).recordLogits(true).build();
            GenerationResult r = generator.generate(req);
            double[] want = doubles(m.get("last_position_logits_f64"));
            float[] got = r.logits().get(0).get(0);
            assertEquals(want.length, got.length, e.id());
            double maxDiff = 0;
            for (int i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
            System.out.printf("%s: max |Java − PyTorch float64| over %d logits = %.3g%n", e.id(), want.length, maxDiff);
            assertTrue(maxDiff < 1e-4, e.id() + ": max |logit difference| " + maxDiff);
            List<Long> greedy = new ArrayList<>();
            for (long t : r.tokens(0)) greedy.add(t);
            if (r.finishReasons().get(0) == io.github.kvpolicy.runtime.FinishReason.STOP) greedy.add((long) task.eosId());
            List<Long> ref = ((List<Number>) m.get("greedy_ids")).stream().map(Number::longValue).toList();
            assertEquals(ref, greedy, e.id() + ": greedy continuation");
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void visionTowerAndProjectorMatchPyTorch() {
        Map<String, Object> m = examples.get(0);
        GridVqa.Example e = example(m);
        long[] attrs = GridVqa.pixelAttributes(e);
        long[][] cells = new long[GridVqa.CELLS][];
        for (int i = 0; i < cells.length; i++) cells[i] = new long[] {attrs[3 * i], attrs[3 * i + 1], attrs[3 * i + 2]};
        float[] got = generator.sessions().vision(cells);
        List<List<Number>> want = (List<List<Number>>) m.get("projector_out_full");
        int h = generator.hiddenSize();
        assertEquals(GridVqa.CELLS, want.size());
        double maxDiff = 0, maxAbs = 0;
        for (int t = 0; t < want.size(); t++) {
            for (int j = 0; j < h; j++) {
                double w = want.get(t).get(j).doubleValue();
                maxDiff = Math.max(maxDiff, Math.abs(w - got[t * h + j]));
                maxAbs = Math.max(maxAbs, Math.abs(w));
            }
        }
        System.out.printf("projector output [256, %d]: max |Java − PyTorch float32| = %.3g (max |value| %.3g)%n", h, maxDiff, maxAbs);
        // float32 rounding scales with the values (the v2 projector reaches |x| ≈ 240, where one ulp is 1.5e-5):
        // allow about 8 ulps of the largest value.
        assertTrue(maxDiff <= 1e-6 * maxAbs, "max |projector output difference| " + maxDiff + " > 1e-6 × max |value| " + maxAbs);
    }
}
