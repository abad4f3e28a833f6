package io.github.kvpolicy.runtime;

import io.github.kvpolicy.runtime.model.onnx.ModelBuilder.Precision;
import io.github.kvpolicy.runtime.ort.Device;
import java.time.Duration;

/**
 * How a {@link Generator} runs its sessions. Immutable.
 *
 * @param device          execution provider
 * @param cudaDeviceId    CUDA device ordinal when {@code device == CUDA}, ≥ 0
 * @param intraOpThreads  ONNX Runtime intra-op threads; 0 = ONNX Runtime's default (one per core)
 * @param prefillChunk    maximum new tokens per decoder call during prefill (chunked prefill), ≥ 1
 * @param decodeReserve   slots reserved per layer for tokens still to be generated when the cache is allocated or
 *                        compacted (capped by the tokens actually still to come), ≥ 0; avoids a re-allocation on the
 *                        first decoding step after a compaction, and is reported as padding
 * @param policyCallLimit wall-clock limit of one {@code compress} call of a policy that declares no
 *                        {@code maxCallTime} of its own; positive. A call that overruns fails its request and the
 *                        policy is quarantined for the generator ({@link io.github.kvpolicy.runtime.policy.PolicyCallRunner})
 * @param precision         element type of the KV cache ({@link Precision}; default fp32): {@link Generator#open(
 *                        io.github.kvpolicy.runtime.model.ModelPackage, GeneratorConfig)} builds the matching graphs, and
 *                        a generator refuses, in one line, graphs built with another KV type. fp16 runs on the CPU too
 *                        (ONNX Runtime's CPU provider runs the graph's Casts; arithmetic is fp32 either way)
 */
public record GeneratorConfig(Device device, int cudaDeviceId, int intraOpThreads, int prefillChunk, int decodeReserve, Duration policyCallLimit,
                              Precision precision) {
    /** The default {@link #policyCallLimit}: generous for CPU scoring of long prompts, finite so nothing hangs. */
    public static final Duration DEFAULT_POLICY_CALL_LIMIT = Duration.ofSeconds(120);

    public GeneratorConfig {
        if (device == null) throw new IllegalArgumentException("device must be set (cpu or cuda)");
        if (cudaDeviceId < 0) throw new IllegalArgumentException("cudaDeviceId must be >= 0, got " + cudaDeviceId);
        if (intraOpThreads < 0) throw new IllegalArgumentException("intraOpThreads must be >= 0, got " + intraOpThreads);
        if (prefillChunk < 1) throw new IllegalArgumentException("prefillChunk must be >= 1, got " + prefillChunk);
        if (decodeReserve < 0) throw new IllegalArgumentException("decodeReserve must be >= 0, got " + decodeReserve);
        if (policyCallLimit == null || policyCallLimit.isNegative() || policyCallLimit.isZero()) {
            throw new IllegalArgumentException("policyCallLimit must be positive, got " + policyCallLimit);
        }
        if (precision == null) throw new IllegalArgumentException("precision must be set (fp32, fp16-kv or fp16)");
    }

    /** fp32 KV. */
    public GeneratorConfig(Device device, int cudaDeviceId, int intraOpThreads, int prefillChunk, int decodeReserve, Duration policyCallLimit) {
        this(device, cudaDeviceId, intraOpThreads, prefillChunk, decodeReserve, policyCallLimit, Precision.FP32);
    }

    /** The five sizing parameters with the {@link #DEFAULT_POLICY_CALL_LIMIT}. */
    public GeneratorConfig(Device device, int cudaDeviceId, int intraOpThreads, int prefillChunk, int decodeReserve) {
        this(device, cudaDeviceId, intraOpThreads, prefillChunk, decodeReserve, DEFAULT_POLICY_CALL_LIMIT, Precision.FP32);
    }

    /** CPU, default threads, prefill chunks of 512 tokens, a decoding reserve of 64 slots, 120 s per policy call, fp32 KV. */
    public static GeneratorConfig defaults() {
        return new GeneratorConfig(Device.CPU, 0, 0, 512, 64, DEFAULT_POLICY_CALL_LIMIT, Precision.FP32);
    }

    public GeneratorConfig withDevice(Device d) { return new GeneratorConfig(d, cudaDeviceId, intraOpThreads, prefillChunk, decodeReserve, policyCallLimit, precision); }

    public GeneratorConfig withCudaDeviceId(int id) { return new GeneratorConfig(device, id, intraOpThreads, prefillChunk, decodeReserve, policyCallLimit, precision); }

    public GeneratorConfig withIntraOpThreads(int n) { return new GeneratorConfig(device, cudaDeviceId, n, prefillChunk, decodeReserve, policyCallLimit, precision); }

    public GeneratorConfig withPrefillChunk(int n) { return new GeneratorConfig(device, cudaDeviceId, intraOpThreads, n, decodeReserve, policyCallLimit, precision); }

    public GeneratorConfig withDecodeReserve(int n) { return new GeneratorConfig(device, cudaDeviceId, intraOpThreads, prefillChunk, n, policyCallLimit, precision); }

    public GeneratorConfig withPolicyCallLimit(Duration d) { return new GeneratorConfig(device, cudaDeviceId, intraOpThreads, prefillChunk, decodeReserve, d, precision); }

    public GeneratorConfig withPrecision(Precision t) { return new GeneratorConfig(device, cudaDeviceId, intraOpThreads, prefillChunk, decodeReserve, policyCallLimit, t); }

    /**
     * A one-line caution for a combination that works but is slow, or empty: fp16 arithmetic on the CPU, where ONNX
     * Runtime 1.29's CPU provider runs fp16 {@code Gemm} with a reference kernel (measured here: a 128×768 by 768×2048
     * product 2.0 s in fp16 against 5 ms in fp32, a single-token one 18.7 ms against 0.24 ms). Callers that talk to
     * users (the command line, the benchmark) print it; the library itself never prints.
     */
    public java.util.Optional<String> caution() {
        if (device == Device.CPU && precision.computeHalf()) {
            return java.util.Optional.of("dtype fp16 runs fp16 matrix products, which ONNX Runtime's CPU provider computes with a slow reference kernel "
                    + "(~100-400x slower than fp32 here): it is meant for device cuda; on the CPU use fp16-kv (half the KV cache, fp32 arithmetic)");
        }
        return java.util.Optional.empty();
    }
}
