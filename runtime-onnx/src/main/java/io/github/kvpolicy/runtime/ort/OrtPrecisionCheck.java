package io.github.kvpolicy.runtime.ort;

import io.github.kvpolicy.runtime.decode.ModelSessions;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.onnx.ModelBuilder;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A reduced-precision decoder ({@link ModelBuilder.Precision#FP16_KV} or {@link ModelBuilder.Precision#FP16}) against
 * the fp32 one: both builds of one model folder run the resident {@link OrtDecoder} on one device over the same prompt;
 * the fp32 run decodes greedily and the other is fed the same tokens (teacher forcing), so every step's logits are
 * comparable. Greedy tokens are equal when every argmax of the reduced run equals the fp32 token. Used by
 * {@code OrtPrecisionCheckTest} (CPU) and by {@link OrtGpuCheck} (CUDA).
 */
public final class OrtPrecisionCheck {
    private OrtPrecisionCheck() {}

    /**
     * @param tokens32     the fp32 greedy tokens
     * @param tokens16     the reduced-precision decoder's argmax at the same steps
     * @param maxLogitDiff max |reduced − fp32| over every logit of every step (prefill included)
     * @param maxLogit     max |fp32 logit| over the same logits (the scale {@code maxLogitDiff} is relative to)
     * @param kvBytes32    allocated K/V bytes of the fp32 cache at the end (masks excluded)
     * @param kvBytes16    the same for the reduced-precision cache
     */
    public record Result(List<Long> tokens32, List<Long> tokens16, double maxLogitDiff, double maxLogit, long kvBytes32, long kvBytes16) {
        public boolean tokensEqual() { return tokens32.equals(tokens16); }

        /** Steps (in order) whose reduced-precision argmax differs from the fp32 token. */
        public int mismatches() {
            int n = 0;
            for (int i = 0; i < tokens32.size(); i++) if (!tokens32.get(i).equals(tokens16.get(i))) n++;
            return n;
        }
    }

    /**
     * Builds (or reuses) the fp32 and the {@code precision} graphs of {@code modelDir} and compares them over
     * {@code prompt} and {@code steps} greedy steps.
     */
    public static Result compare(Path modelDir, ModelBuilder.Precision precision, Device device, int cudaDevice, int threads, long[] prompt, int steps) {
        if (precision == ModelBuilder.Precision.FP32) throw new IllegalArgumentException("compare a reduced precision against fp32, not fp32 itself");
        ModelPackage.BuiltModel b32 = ModelPackage.open(modelDir, ModelBuilder.BuildOptions.DEFAULT).ensureBuilt();
        ModelPackage.BuiltModel b16 = ModelPackage.open(modelDir, ModelBuilder.BuildOptions.DEFAULT.withPrecision(precision)).ensureBuilt();
        if (b32.decoder().getParent().equals(b16.decoder().getParent())) throw new IllegalStateException("fp32 and " + precision.label() + " builds share " + b32.decoder().getParent());
        List<float[]> l32 = new ArrayList<>(), l16 = new ArrayList<>();
        List<Long> t32 = new ArrayList<>(), t16 = new ArrayList<>();
        long[] bytes = new long[2];
        run(b32, device, cudaDevice, threads, prompt, steps, null, l32, t32, bytes, 0);
        run(b16, device, cudaDevice, threads, prompt, steps, t32, l16, t16, bytes, 1);
        double max = 0, scale = 0;
        for (int i = 0; i < l32.size(); i++) {
            float[] a = l32.get(i), c = l16.get(i);
            for (int j = 0; j < a.length; j++) {
                max = Math.max(max, Math.abs((double) a[j] - c[j]));
                scale = Math.max(scale, Math.abs(a[j]));
            }
        }
        return new Result(List.copyOf(t32), List.copyOf(t16), max, scale, bytes[0], bytes[1]);
    }

    /** Prefill then {@code steps} steps; feeds {@code forced} when given (else its own argmax); records logits and argmaxes. */
    private static void run(ModelPackage.BuiltModel built, Device device, int cudaDevice, int threads, long[] prompt, int steps, List<Long> forced,
                            List<float[]> logits, List<Long> tokens, long[] bytes, int slot) {
        try (ModelSessions model = ModelSessions.open(built.decoder().getParent(), device == Device.CUDA, cudaDevice, threads);
             OrtDecoder ort = OrtDecoder.open(model, device, cudaDevice, threads, 1, prompt.length + steps + 1)) {
            float[] l = step(model, ort, prompt, 0);
            int pos = prompt.length;
            for (int i = 0; i < steps; i++) {
                logits.add(l);
                long tok = argmax(l);
                tokens.add(tok);
                long next = forced == null ? tok : forced.get(i);
                l = step(model, ort, new long[] {next}, pos++);
            }
            logits.add(l);
            long n = 0;
            for (var lb : ort.layerBytes()) n += lb.allocatedBytes();
            bytes[slot] = n;
        }
    }

    private static float[] step(ModelSessions model, OrtDecoder ort, long[] ids, int start) {
        int s = ids.length;
        long[] pos = new long[s];
        int[] p = new int[s];
        for (int i = 0; i < s; i++) {
            pos[i] = start + i;
            p[i] = start + i;
        }
        return ort.step(s, model.embed(ids, 1, s), pos, new float[s], new long[0], new long[] {s - 1}, new int[] {s}, new int[][] {p}).logits();
    }

    private static long argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
        return best;
    }
}
