package io.github.kvpolicy.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.evaluation.engine.Contender;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code eval}: policy options reach the listed policy, options for an unlisted one are an error, and runs resume. */
class EvalCommandTest {
    @TempDir Path dir;
    final StringWriter out = new StringWriter(), err = new StringWriter();

    private int eval(String... args) {
        CommandLine cl = new CommandLine(new EvalCommand());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("kvpolicy: " + ex.getMessage());
            return 2;
        });
        return cl.execute(args);
    }

    @Test
    void theConfiguredPolicysOptionsApplyToThatContenderOnly() {
        PolicyConfig snap = new PolicyConfig("snapkv", Map.of("window", 8, "kernel", 3));
        List<Contender> c = EvalCommand.contenders(List.of("full", "snapkv"), snap, List::of);
        assertEquals(List.of(Contender.of("full"), new Contender("snapkv kernel=3 window=8", snap)), c);
        assertEquals(List.of(Contender.of("full"), Contender.of("h2o")), EvalCommand.contenders(List.of("full", "h2o"), null, List::of));
        List<Contender> defaults = List.of(Contender.of("full"), Contender.of("snapkv"), Contender.of("h2o"));
        assertEquals(List.of(Contender.of("full"), new Contender("snapkv kernel=3 window=8", snap), Contender.of("h2o")),
                EvalCommand.contenders(List.of(), snap, () -> defaults));
    }

    @Test
    void optionsForAPolicyThatIsNotListedAreAnError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EvalCommand.contenders(List.of("full", "h2o"), new PolicyConfig("snapkv", Map.of("window", 8)), List::of));
        assertEquals("policy options {window=8} are for 'snapkv', which is not among --policies full,h2o; add it to --policies or drop the options", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> EvalCommand.contenders(List.of("full"), PolicyConfig.of("snapkv"), List::of));
        assertEquals("--policy snapkv is not among --policies full; eval runs the --policies list (add it there)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> EvalCommand.contenders(List.of("full", "full"), null, List::of));
        assertEquals("--policies: 'full' is listed twice", e.getMessage());
    }

    @Test
    void theConfiguredPrecisionReachesTheTestbedEvaluation() {
        // eval used to open the testbed with the default configuration whatever 'dtype' said
        Path o = dir.resolve("fp16kv");
        assertEquals(0, eval("--limit", "1", "--policies", "full", "--retentions", "100", "--set", "dtype=fp16-kv", "--out", o.toString()), err.toString());
        assertTrue(out.toString().contains("(precision fp16-kv)"), out.toString());
    }

    @Test
    void onTheCommandLine() throws Exception {
        Path o = dir.resolve("unlisted");
        assertEquals(2, eval("--limit", "1", "--policies", "full,h2o", "-p", "snapkv", "--set", "policy.window=8", "--retentions", "10", "--out", o.toString()));
        assertTrue(err.toString().contains("policy options {window=8} are for 'snapkv', which is not among --policies full,h2o"), err.toString());
        assertFalse(Files.exists(o), "nothing written");

        // the option reaches the policy: an invalid value is refused by the policy's own option validation
        assertEquals(2, eval("--limit", "1", "--policies", "full,snapkv", "-p", "snapkv", "--set", "policy.window=0", "--retentions", "10", "--out", o.toString()));
        assertTrue(err.toString().contains("Invalid value '0' for option 'window' of policy 'snapkv'"), err.toString());
        assertFalse(Files.exists(o), "nothing written");

        Path run = dir.resolve("run");
        assertEquals(0, eval("--limit", "1", "--policies", "full,snapkv", "-p", "snapkv", "--set", "policy.window=8", "--retentions", "100,10", "--out", run.toString()),
                err.toString());
        List<String> csv = Files.readAllLines(run.resolve("results.csv"));
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("snapkv window=8,10,all,3,")), csv.toString());
        assertEquals(1 + 3 * 2 * 2, Files.readAllLines(run.resolve("results.jsonl")).size(), "header + 3 examples × 2 policies × 2 retentions");
        String first = Files.readString(run.resolve("results.jsonl"));

        // a second fresh run into the same directory replaces nothing
        assertNotEquals(0, eval("--limit", "1", "--policies", "full", "--retentions", "10", "--out", run.toString()));
        assertTrue(err.toString().contains(run.resolve("results.jsonl") + " already exists; pass --resume"), err.toString());

        // resuming with one more retention computes only the new records
        out.getBuffer().setLength(0);
        assertEquals(0, eval("--limit", "1", "--policies", "full,snapkv", "-p", "snapkv", "--set", "policy.window=8", "--retentions", "100,10,5", "--out", run.toString(),
                "--resume"), err.toString());
        assertTrue(out.toString().contains("12 finished records kept"), out.toString());
        assertTrue(out.toString().contains("6 runs computed"), out.toString());
        String second = Files.readString(run.resolve("results.jsonl"));
        assertTrue(second.startsWith(first), "the earlier records are kept as they were");
        assertEquals(1 + 3 * 2 * 3, second.lines().count());
        assertTrue(Files.readAllLines(run.resolve("results.csv")).stream().anyMatch(l -> l.startsWith("snapkv window=8,5,all,3,")));
    }

    @Test
    void aDatasetIsCheckedAndThenRefusedWithoutAModelFolder() throws Exception {
        Path images = Files.createDirectories(dir.resolve("img"));
        Files.write(images.resolve("a.png"), new byte[] {1});
        Path set = dir.resolve("set.jsonl");
        Files.writeString(set, """
                {"id": "q1", "image": "a.png", "question": "What?", "answers": ["x"]}
                {"id": "q2", "image": "gone.png", "question": "What?", "answers": ["x"]}
                """);
        Path o = dir.resolve("ds");
        assertEquals(2, eval("--dataset", set.toString(), "--images", images.toString(), "--policies", "full", "--out", o.toString()));
        assertTrue(err.toString().contains(set + ":2: skipped: id 'q2': image " + images.resolve("gone.png") + " does not exist"), err.toString());
        assertTrue(out.toString().contains("1 examples, 1 lines skipped"), out.toString());
        assertTrue(err.toString().contains("eval --dataset needs --model DIR, a Hugging Face vision-language model folder"), err.toString());
        assertFalse(Files.exists(o), "nothing written");
        assertEquals(2, eval("--dataset", set.toString(), "--out", o.toString()));
        assertTrue(err.toString().contains("--dataset needs --images DIR"), err.toString());
        assertEquals(2, eval("--dataset", set.toString(), "--images", images.toString(), "--ablations", "--out", o.toString()));
        assertTrue(err.toString().contains("--dataset cannot be combined with --data, --ablations or --heatmap-example"), err.toString());
        assertEquals(2, eval("--images", images.toString(), "--out", o.toString()));
        assertTrue(err.toString().contains("--images, --metric, --chat-template and --max-new-tokens apply to --dataset only"), err.toString());
        assertFalse(Files.exists(o), "nothing written");
    }
}
