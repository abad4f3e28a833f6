package io.github.kvpolicy.processing;

import io.github.kvpolicy.processing.error.ProcessingException;
import io.github.kvpolicy.api.ImageSpan;
import io.github.kvpolicy.processing.image.ProcessedImage;

/**
 * Qwen2-VL / Qwen2.5-VL 3-D rotary positions (M-RoPE, transformers' {@code get_rope_index} for images): text
 * tokens advance all three components (temporal, height, width) together; the visual tokens of an image with
 * merged grid {@code t × h × w} get {@code (start + ti, start + hi, start + wi)} in (t, h, w) row-major order,
 * where {@code start} is one past the largest position so far; text after it resumes at one past the largest
 * position the image used. For still images Qwen2.5-VL's temporal scaling is irrelevant ({@code t = 1}).
 *
 * <p>Invariant: the result is {@code [3][prompt.length()]}; on a text-only prompt every row is {@code 0, 1, 2, ...}.
 * Stateless.
 */
public final class MRopePositions {
    private MRopePositions() {}

    /**
     * Positions for {@code prompt}, whose images carry {@link ProcessedImage#gridThw()} in patches.
     *
     * @param mergeSize the vision {@code spatial_merge_size} (2 for released Qwen2-VL models)
     * @throws ProcessingException when an image has no grid or its merged grid does not match its visual span
     */
    public static int[][] of(Prompt prompt, int mergeSize) {
        int n = prompt.length();
        int[][] pos = new int[3][n];
        int next = 0; // one past the largest position used so far
        int i = 0;
        for (int s = 0; s < prompt.visualSpans().size(); s++) {
            ImageSpan span = prompt.visualSpans().get(s);
            for (; i < span.start(); i++, next++) pos[0][i] = pos[1][i] = pos[2][i] = next;
            ProcessedImage img = prompt.images().get(prompt.spanImage()[s]);
            int[] g = img.gridThw();
            if (g.length != 3) throw new ProcessingException("image " + prompt.spanImage()[s] + " has no image_grid_thw (M-RoPE needs a Qwen2-VL image)");
            int t = g[0], h = g[1] / mergeSize, w = g[2] / mergeSize;
            if (t * h * w != span.length()) {
                throw new ProcessingException("image " + prompt.spanImage()[s] + ": merged grid " + t + "x" + h + "x" + w
                        + " does not match its " + span.length() + " visual tokens");
            }
            int max = next;
            for (int ti = 0; ti < t; ti++) {
                for (int hi = 0; hi < h; hi++) {
                    for (int wi = 0; wi < w; wi++, i++) {
                        pos[0][i] = next + ti;
                        pos[1][i] = next + hi;
                        pos[2][i] = next + wi;
                        max = Math.max(max, Math.max(next + ti, Math.max(next + hi, next + wi)));
                    }
                }
            }
            next = max + 1;
        }
        for (; i < n; i++, next++) pos[0][i] = pos[1][i] = pos[2][i] = next;
        return pos;
    }
}
