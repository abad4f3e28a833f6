package io.github.kvpolicy.cli;

import io.github.kvpolicy.runtime.bench.Bench;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

/** The runtime benchmark (prefill, decode ms/token against kept cache, policy and compaction overhead). */
@Command(name = "bench", description = "Runtime benchmark on a random-weights model; options as io.github.kvpolicy.runtime.bench.Bench "
        + "(--preset small-100m --prompt 2048 --decode 32 --ratios 0.1,0.25,0.5,1.0 --reps 3 --warmup 1 --device cpu|cuda --dtype fp32|fp16-kv|fp16 --out FILE).")
public final class BenchCommand implements Callable<Integer> {
    @Unmatched
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        // not Bench.main: a usage error must reach the command line's handler (one line, exit 2), not System.exit here
        Bench.runFromFlags(args.toArray(String[]::new), System.out);
        return 0;
    }
}
