package io.github.kvpolicy.runtime.model.config;

import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Rotary-embedding frequency scaling, as transformers' {@code ROPE_INIT_FUNCTIONS} define it. Immutable.
 *
 * <p>Supported types: {@code default} (plain RoPE), {@code linear} (every inverse frequency divided by
 * {@code factor}, i.e. positions interpolated) and {@code llama3} (Llama 3.1 band-wise scaling: wavelengths
 * longer than {@code original_max_position_embeddings / low_freq_factor} divided by {@code factor}, shorter than
 * {@code original_max_position_embeddings / high_freq_factor} kept, smooth interpolation in between). All three
 * leave the attention scaling at 1. Other types ({@code dynamic}, {@code yarn}, {@code longrope}, M-RoPE) are
 * rejected by {@link ModelConfig#parse} naming the type and this list.
 *
 * @param type                          {@code default}, {@code linear} or {@code llama3}
 * @param factor                        scaling factor, &gt; 0 (1 for {@code default})
 * @param lowFreqFactor                 llama3 only (else 0)
 * @param highFreqFactor                llama3 only, &gt; lowFreqFactor (else 0)
 * @param originalMaxPositionEmbeddings llama3 only, ≥ 1 (else 0)
 * @param mropeSection                  Qwen2-VL multimodal RoPE: how many of the D/2 frequencies follow the temporal,
 *                                      height and width position (three counts summing to D/2); empty for 1-D RoPE
 */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                          int originalMaxPositionEmbeddings, List<Integer> mropeSection) {
    /** The rope types this builder implements. */
    public static final List<String> SUPPORTED = List.of("default", "linear", "llama3");

    /** Plain RoPE. */
    public static final RopeScaling NONE = new RopeScaling("default", 1.0, 0, 0, 0, List.of());

    /** A scaling without M-RoPE sections. */
    public RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {
        this(type, factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings, List.of());
    }

    public RopeScaling {
        Objects.requireNonNull(type, "type");
        mropeSection = List.copyOf(mropeSection);
        if (!mropeSection.isEmpty() && (mropeSection.size() != 3 || mropeSection.stream().anyMatch(x -> x < 0))) {
            throw new IllegalArgumentException("mrope_section must hold three counts >= 0, got " + mropeSection);
        }
        type = type.toLowerCase(Locale.ROOT);
        if (!SUPPORTED.contains(type)) {
            throw new IllegalArgumentException("rope type \"" + type + "\" is not supported, expected one of " + SUPPORTED);
        }
        if (!(factor > 0) || !Double.isFinite(factor)) {
            throw new IllegalArgumentException("rope factor must be > 0, got " + factor);
        }
        if (type.equals("llama3") && (originalMaxPositionEmbeddings < 1 || !(highFreqFactor > lowFreqFactor) || !(lowFreqFactor > 0))) {
            throw new IllegalArgumentException("llama3 rope needs original_max_position_embeddings >= 1 and "
                    + "0 < low_freq_factor < high_freq_factor, got " + originalMaxPositionEmbeddings + ", "
                    + lowFreqFactor + ", " + highFreqFactor);
        }
    }

    /** Whether this is plain (1-D, unscaled) RoPE. */
    public boolean isDefault() {
        return type.equals("default") && mropeSection.isEmpty();
    }

    /** Whether positions are 3-D (Qwen2-VL M-RoPE). */
    public boolean isMrope() {
        return !mropeSection.isEmpty();
    }

    /**
     * For M-RoPE, which position component (0 = temporal, 1 = height, 2 = width) drives each of the D rotary
     * dimensions: frequency {@code i mod D/2} belongs to the section it falls in (transformers'
     * {@code apply_multimodal_rotary_pos_emb} with the sections repeated for both halves).
     */
    public long[] mropeComponents(int d) {
        int half = d / 2;
        if (mropeSection.stream().mapToInt(Integer::intValue).sum() != half) {
            throw new IllegalArgumentException("mrope_section " + mropeSection + " must sum to head_dim/2 = " + half);
        }
        long[] comp = new long[d];
        for (int j = 0; j < d; j++) {
            int i = j % half, c = 0, acc = mropeSection.get(0);
            while (i >= acc) acc += mropeSection.get(++c);
            comp[j] = c;
        }
        return comp;
    }

    /**
     * The inverse frequencies for head dimension {@code d} (even) and base {@code theta}, computed like
     * transformers in float32: {@code inv[i] = 1 / theta^(2i/d)} for {@code i < d/2}, then scaled.
     *
     * @return {@code d/2} inverse frequencies (radians per position)
     */
    public float[] inverseFrequencies(int d, double theta) {
        float[] inv = new float[d / 2];
        for (int i = 0; i < d / 2; i++) {
            float expo = (float) (2 * i) / (float) d;
            inv[i] = 1.0f / (float) Math.pow(theta, expo);
        }
        switch (type) {
            case "linear" -> {
                for (int i = 0; i < inv.length; i++) inv[i] = (float) (inv[i] / factor);
            }
            case "llama3" -> {
                double old = originalMaxPositionEmbeddings;
                double lowWavelen = old / lowFreqFactor;
                double highWavelen = old / highFreqFactor;
                for (int i = 0; i < inv.length; i++) {
                    float f = inv[i];
                    float wavelen = (float) (2 * Math.PI) / f;
                    float scaled = wavelen > lowWavelen ? (float) (f / factor) : f;
                    float smooth = (float) ((old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor));
                    float smoothed = (float) ((1 - smooth) * scaled / factor + smooth * scaled);
                    boolean medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
                    inv[i] = medium ? smoothed : scaled;
                }
            }
            default -> { }
        }
        return inv;
    }
}
