package io.github.kvpolicy.processing.image;

import java.util.Arrays;

/**
 * What an image processor produces for one image: the model input tensor and what prompt assembly needs.
 *
 * <p>Invariants: {@code pixelValues.length} equals the product of {@code shape}; {@code visualTokens ≥ 1} is the
 * number of image-token positions the model fills for this image (anyres newlines included; Qwen's
 * vision start/end and Gemma's begin/end-of-image, which are ordinary text tokens, excluded).
 *
 * <p>{@code pixelValues} is not copied (it can be tens of megabytes): treat it as read-only.
 *
 * @param pixelValues  float32 values in row-major order of {@code shape}
 * @param shape        the tensor shape transformers produces for one image, e.g. {@code [1, 3, H, W]},
 *                     {@code [1, patches, 3, H, W]} (anyres), {@code [N, C·T·P·P]} (Qwen2-VL)
 * @param visualTokens image-token positions for this image in the prompt
 * @param originalHeight height of the loaded image (after EXIF orientation), as {@code image_sizes} reports it
 * @param originalWidth  width of the loaded image
 * @param gridThw      Qwen2-VL {@code image_grid_thw} {@code [t, h, w]} in patches; empty for other families
 * @param tileRows     SmolVLM/Idefics3 split rows (0 when the image is not split)
 * @param tileCols     SmolVLM/Idefics3 split columns (0 when the image is not split)
 */
public record ProcessedImage(float[] pixelValues, long[] shape, int visualTokens, int originalHeight, int originalWidth,
                             int[] gridThw, int tileRows, int tileCols) {
    public ProcessedImage {
        long n = 1;
        for (long s : shape) n *= s;
        if (n != pixelValues.length) {
            throw new IllegalArgumentException("pixel values hold " + pixelValues.length + " floats, shape " + Arrays.toString(shape) + " needs " + n);
        }
        if (visualTokens < 1) throw new IllegalArgumentException("an image needs at least one visual token, got " + visualTokens);
        shape = shape.clone();
        gridThw = gridThw.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public int[] gridThw() {
        return gridThw.clone();
    }
}
