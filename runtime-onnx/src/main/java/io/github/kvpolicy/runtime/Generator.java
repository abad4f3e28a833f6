package io.github.kvpolicy.runtime;

import io.github.kvpolicy.runtime.ort.Device;
import io.github.kvpolicy.runtime.policy.PolicyFailureException;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.ort.OrtDecoder;
import io.github.kvpolicy.runtime.policy.PolicyCallRunner;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Generates text with one model that follows the decoder contract, optionally compressing the KV cache with a
 * {@link io.github.kvpolicy.api.CompressionPolicy}. Holds the ONNX Runtime sessions; every request gets its own KV
 * cache, so one generator may serve requests from several threads at once (a policy instance is only called from the
 * thread of its request). A failing request (a policy that throws, an invalid plan) leaves the generator usable.
 * Every request decodes through an {@link OrtDecoder} (KV cache resident on the configured device) made from sessions
 * this generator opens once; {@link ModelSessions} serves the embedding and vision graphs.
 * Usable without any dependency-injection framework:
 *
 * <pre>{@code
 * try (Generator g = Generator.open(modelDir, GeneratorConfig.defaults())) {
 *     GenerationResult r = g.generate(GenerationRequest.builder()
 *             .row(Prompt.builder().text(1, 2, 3).image(cells).text(7, 8).build())
 *             .maxNewTokens(8).stopTokens(2)
 *             .policy(policy, Budget.ratio(0.1))
 *             .build());
 * }
 * }</pre>
 */
public final class Generator implements AutoCloseable {
    private final ModelSessions model;
    private final OrtDecoder.Sessions resident; // decoder.onnx + helper graphs on config.device(), shared by every session
    private final GeneratorConfig config;
    private final PolicyCallRunner runner;
    // lifecycle, guarded by `lifecycle`: sessions open counts the sessions in flight; close() waits for it to reach 0, so
    // the native sessions are never released under a running decoder call (that crashed the JVM)
    private final Object lifecycle = new Object();
    private int openSessions;
    private boolean closed;
    private volatile int maxPositions = Integer.MAX_VALUE;

    /** Takes over {@code model}: opens the resident decoder sessions next to it, and closes it if that fails. */
    private Generator(ModelSessions model, GeneratorConfig config) {
        this.model = model;
        this.config = config;
        try {
            if (model.precision() != config.precision()) {
                throw new IllegalStateException(model.directory() + " holds " + model.precision().label() + " graphs but dtype="
                        + config.precision().label() + " was configured (open the model package to build the " + config.precision().label() + " graphs)");
            }
            this.resident = OrtDecoder.openSessions(model, config.device(), config.cudaDeviceId(), config.intraOpThreads());
        } catch (RuntimeException | Error e) {
            model.close();
            throw e;
        }
        this.runner = new PolicyCallRunner(config.policyCallLimit());
    }

    /**
     * Opens the model in {@code modelDir} ({@code decoder.onnx}, {@code embed.onnx}, optional {@code vision.onnx}).
     *
     * @throws IllegalStateException if a file is missing, the graph does not follow the contract, or
     *                               {@code device=cuda} is asked but unavailable (naming the available providers)
     */
    public static Generator open(Path modelDir, GeneratorConfig config) {
        Objects.requireNonNull(config, "config");
        return new Generator(ModelSessions.open(modelDir, config.device() == Device.CUDA, config.cudaDeviceId(), config.intraOpThreads()), config);
    }

    /** Opens explicit files ({@code vision} may be null). */
    public static Generator open(Path decoder, Path embed, Path vision, GeneratorConfig config) {
        return new Generator(ModelSessions.open(decoder, embed, vision, config.device() == Device.CUDA, config.cudaDeviceId(), config.intraOpThreads()), config);
    }

    /** Opens a model built by {@link ModelPackage#ensureBuilt()}. */
    public static Generator open(ModelPackage.BuiltModel built, GeneratorConfig config) {
        return open(built.decoder(), built.embed(), built.vision().orElse(null), config);
    }

    /** Builds {@code pkg}'s graphs (with the configured {@link GeneratorConfig#precision()}) if needed ({@link ModelPackage#ensureBuilt()}) and opens them. */
    public static Generator open(ModelPackage pkg, GeneratorConfig config) {
        if (pkg.options().precision() != config.precision()) pkg = ModelPackage.open(pkg.directory(), pkg.options().withPrecision(config.precision()));
        Generator g = open(pkg.ensureBuilt(), config);
        g.maxPositions = pkg.config().maxPositionEmbeddings();
        return g;
    }

    /**
     * The longest sequence (prompt + generated tokens) a request may reach: the model's {@code max_position_embeddings}
     * when opened from a model package, else unbounded. Positions beyond it are outside what the rotary embedding was
     * trained for; requests that would pass it are refused.
     */
    public int maxPositions() {
        return maxPositions;
    }

    /**
     * Opens {@code dir} whichever form it has: a model package ({@code config.json} + safetensors; its graphs are built
     * into {@code dir/onnx} if missing or stale) or a folder of built graphs ({@code decoder.onnx}, {@code embed.onnx},
     * optional {@code vision.onnx}).
     *
     * @throws IllegalArgumentException if {@code dir} is neither, naming what it looked for
     */
    public static Generator openModel(Path dir, GeneratorConfig config) {
        if (java.nio.file.Files.isRegularFile(dir.resolve("config.json"))) return open(ModelPackage.open(dir), config);
        if (java.nio.file.Files.isRegularFile(dir.resolve("decoder.onnx"))) return open(dir, config);
        throw new IllegalArgumentException(dir + " is not a model: expected config.json (a model package) or decoder.onnx + embed.onnx (built graphs)");
    }

    public ModelShape shape() { return model.shape(); }

    public int hiddenSize() { return model.hiddenSize(); }

    public int vocabSize() { return model.vocabSize(); }

    public boolean hasVision() { return model.hasVision(); }

    public GeneratorConfig config() { return config; }

    /** Device memory held by ONNX Runtime for this model's resident graphs now (weights, activations, every open session's KV cache); empty without allocator statistics. */
    public java.util.Optional<io.github.kvpolicy.runtime.ort.OrtDecoder.DeviceMemory> deviceMemory() {
        return resident.memory();
    }

    /** The sessions (for direct graph calls, e.g. references in tests). */
    public ModelSessions sessions() { return model; }

    /**
     * Runs {@code request} to the end.
     *
     * @throws PolicyFailureException if the policy throws (the message names it)
     * @throws io.github.kvpolicy.api.InvalidPlanException if the policy's plan is invalid (the validator's message)
     * @throws IllegalArgumentException if the request does not fit the model (naming what)
     */
    public GenerationResult generate(GenerationRequest request) {
        try (GenerationSession s = newSession(request)) {
            return s.run();
        }
    }

    /**
     * A session for stepwise control; the caller closes it. While a session is open, {@link #close()} waits for it.
     *
     * @throws IllegalStateException if this generator is closed or closing
     */
    public GenerationSession newSession(GenerationRequest request) {
        acquire();
        try {
            for (int r = 0; r < request.batchSize(); r++) {
                long need = (long) request.rows().get(r).length() + request.maxNewTokens();
                if (need > maxPositions) {
                    throw new IllegalArgumentException("row " + r + ": a prompt of " + request.rows().get(r).length() + " tokens plus " + request.maxNewTokens()
                            + " new tokens exceeds the model's max_position_embeddings of " + maxPositions + "; shorten the prompt or lower max new tokens");
                }
            }
            return new GenerationSession(model, resident, config, request, runner, this);
        } catch (RuntimeException | Error e) {
            release();
            throw e;
        }
    }

    /** The runner of policy calls (time limits, quarantine) shared by this generator's sessions. */
    public PolicyCallRunner policyRunner() {
        return runner;
    }

    void acquire() {
        synchronized (lifecycle) {
            if (closed) throw new IllegalStateException("the generator is closed");
            openSessions++;
        }
    }

    void release() {
        synchronized (lifecycle) {
            openSessions--;
            lifecycle.notifyAll();
        }
    }

    /**
     * Refuses new sessions, waits until every open session is closed (a {@link #generate} call in flight finishes),
     * then releases the ONNX Runtime sessions. Idempotent; safe to call from any thread. A session left open forever
     * blocks this call: close sessions you open with {@link #newSession}.
     */
    @Override
    public void close() {
        synchronized (lifecycle) {
            if (closed) return;
            closed = true;
            boolean interrupted = false;
            while (openSessions > 0) {
                try {
                    lifecycle.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }
        runner.close();
        try {
            resident.close();
        } finally {
            model.close();
        }
    }
}
