package io.github.kvpolicy.cli;

import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;
import io.github.kvpolicy.runtime.model.safetensors.WeightStore;
import io.github.kvpolicy.runtime.model.verify.ModelVerifier;
import io.github.kvpolicy.runtime.model.verify.ReferenceFile;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Checks a Hugging Face model folder against a transformers reference file: builds the contract graphs into a
 * temporary directory this command creates and removes (the model folder is only read, so read-only folders work and
 * no cached graphs are reused), runs the reference's inputs, and prints max|Δ| of the logits at every prompt
 * position, of each greedy step, and whether the greedy tokens agree. Exit code 0 when everything is within the
 * tolerance and the tokens agree, 1 otherwise, 2 for bad input.
 */
@Command(name = "verify-model", mixinStandardHelpOptions = true,
        description = "Compare a Hugging Face model folder with a transformers reference (reference.safetensors: input_ids, "
                + "optional pixel_values, logits [1,L,V], generation.scores [steps,V]); exit 1 above the tolerance.")
public final class VerifyModelCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--model", required = true, description = "A Hugging Face model folder (config.json + safetensors).")
    Path model;

    @Option(names = "--reference", required = true, description = "The reference safetensors file written by transformers.")
    Path reference;

    @Option(names = "--tolerance", defaultValue = "1e-4", description = "Largest accepted max|Δ| of logits (default 1e-4).")
    double tolerance;

    @Option(names = "--threads", defaultValue = "0", description = "ONNX Runtime intra-op threads (0 = default).")
    int threads;

    @Option(names = "--dtype", defaultValue = "fp32", description = "Precision of the built graphs: fp32, fp16-kv (fp16 KV cache) "
            + "or fp16 (fp16 weights, projections and cache; compare with a larger --tolerance). Default fp32.")
    String dtype;

    @Override
    public Integer call() throws IOException {
        if (!(tolerance > 0) || !Double.isFinite(tolerance)) {
            throw new IllegalArgumentException("--tolerance must be a positive number, got " + tolerance);
        }
        if (!Files.isRegularFile(reference)) {
            throw new IllegalArgumentException("--reference " + reference + ": file does not exist");
        }
        PrintWriter out = spec.commandLine().getOut();
        ModelBuilder.BuildOptions options = ModelBuilder.BuildOptions.DEFAULT.withPrecision(ModelBuilder.Precision.parse(dtype));
        ModelPackage pkg = ModelPackage.open(model);
        ModelConfig cfg = pkg.config();
        ReferenceFile ref = ReferenceFile.read(reference);
        Path build = Files.createTempDirectory("kvpolicy-verify-");
        List<Path> created = new ArrayList<>();
        try {
            Path decoder = build.resolve("decoder.onnx"), embed = build.resolve("embed.onnx");
            Path vision = cfg.vision() == null ? null : build.resolve("vision.onnx");
            for (String g : vision == null ? List.of("decoder", "embed") : List.of("decoder", "embed", "vision")) {
                for (String suffix : List.of(".onnx", ".onnx.data", ".onnx.tmp")) created.add(build.resolve(g + suffix));
            }
            long t0 = System.nanoTime();
            try (WeightStore w = WeightStore.openDirectory(model)) {
                ModelBuilder.buildDecoder(cfg, w, decoder, options);
                ModelBuilder.buildEmbed(cfg, w, embed, options);
                if (vision != null) ModelBuilder.buildVision(cfg, w, vision, options);
            }
            out.printf(Locale.ROOT, "model: %s (family %s, architecture %s, language model %s%s), %s graphs built in %.1f s%n", model,
                    ModelBuilder.family(cfg).name(), cfg.architecture(), cfg.modelType(),
                    cfg.vitConfig().map(v -> ", vision " + v.modelType()).orElse(""), options.precision().label(), (System.nanoTime() - t0) / 1e9);
            ModelVerifier.Report r;
            try (Generator gen = Generator.open(decoder, embed, vision, GeneratorConfig.defaults().withIntraOpThreads(threads).withPrecision(options.precision()))) {
                r = ModelVerifier.verify(gen, cfg, ref);
            }
            out.printf(Locale.ROOT, "reference: %s (%d prompt positions, %d image tokens, %d greedy steps)%n", reference,
                    r.promptLength(), r.imageTokens(), r.stepMaxDiff().length);
            out.printf(Locale.ROOT, "prompt logits (all %d positions): max|Δ| %.3e%s%n", r.promptLength(), r.promptMaxDiff(),
                    r.promptMaxDiff() <= tolerance ? "" : "  ABOVE TOLERANCE");
            for (int s = 0; s < r.stepMaxDiff().length; s++) {
                long got = s < r.tokens().length ? r.tokens()[s] : -1;
                out.printf(Locale.ROOT, "step %d: max|Δ| %.3e, token %d (reference %d)%s%n", s + 1, r.stepMaxDiff()[s], got,
                        r.expectedTokens()[s], r.stepMaxDiff()[s] <= tolerance && got == r.expectedTokens()[s] ? "" : "  MISMATCH");
            }
            out.println("greedy tokens: " + (r.tokensAgree() ? "agree " + Arrays.toString(r.tokens())
                    : "DIFFER, got " + Arrays.toString(r.tokens()) + ", reference " + Arrays.toString(r.expectedTokens())));
            boolean pass = r.passes(tolerance);
            out.printf(Locale.ROOT, "%s: max|Δ| %.3e, tolerance %.1e%n", pass ? "PASS" : "FAIL", r.maxDiff(), tolerance);
            out.flush();
            return pass ? 0 : 1;
        } finally {
            for (Path p : created) Files.deleteIfExists(p);
            try {
                Files.deleteIfExists(build);
            } catch (IOException e) {
                throw new UncheckedIOException(build + ": cannot remove the temporary build directory", e);
            }
        }
    }
}
