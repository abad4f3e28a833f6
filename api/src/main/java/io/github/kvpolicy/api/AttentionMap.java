package io.github.kvpolicy.api;

import java.util.Arrays;

/**
 * The answer to an {@link AttentionQuery}: for every requested layer and head (query heads or KV heads, as
 * asked), one score per requested key, in the order of {@link AttentionQuery#keys()}. Immutable.
 */
@Stable
public final class AttentionMap {
    private final int[] layers;
    private final int[] keys;
    private final int heads;
    private final float[][][] scores; // [layerIndex][head][key]

    /**
     * @param layers the layers, ascending; {@code scores[i]} belongs to {@code layers[i]}
     * @param keys   the key positions
     * @param scores {@code [layers.length][heads][keys.length]}; taken over, not copied
     */
    public AttentionMap(int[] layers, int[] keys, float[][][] scores) {
        this.layers = layers.clone();
        this.keys = keys.clone();
        if (scores.length != layers.length) throw new IllegalArgumentException("scores for " + scores.length + " layers, expected " + layers.length);
        this.heads = scores.length == 0 ? 0 : scores[0].length;
        for (float[][] l : scores) {
            if (l.length != heads) throw new IllegalArgumentException("ragged head count");
            for (float[] h : l) if (h.length != keys.length) throw new IllegalArgumentException("scores for " + h.length + " keys, expected " + keys.length);
        }
        this.scores = scores;
    }

    public int[] layers() { return layers.clone(); }

    public int[] keys() { return keys.clone(); }

    /** Number of heads per layer in this map (query heads or KV heads, as requested). */
    public int heads() { return heads; }

    /** The scores of {@code layer} (a model layer number) and {@code head}; a new array. */
    public float[] scores(int layer, int head) {
        return scores[layerIndex(layer)][head].clone();
    }

    public float score(int layer, int head, int keyIndex) {
        return scores[layerIndex(layer)][head][keyIndex];
    }

    private int layerIndex(int layer) {
        int i = Arrays.binarySearch(layers, layer);
        if (i < 0) throw new IllegalArgumentException("layer " + layer + " was not requested; layers: " + Arrays.toString(layers));
        return i;
    }
}
