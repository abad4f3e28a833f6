package io.github.kvpolicy.processing;

import io.github.kvpolicy.processing.error.ProcessingException;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.processing.image.ProcessedImage;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Expands image placeholders in a rendered prompt into the family's visual token sequence, tokenizes, and
 * derives the {@link Prompt} layout — what transformers' multimodal processors do in {@code __call__}:
 * <ul>
 *   <li>{@link Expansion#REPEAT} (LLaVA-1.5, LLaVA-OneVision, SigLIP-based LLaVA): {@code <image>} becomes the
 *       image token repeated {@link ProcessedImage#visualTokens()} times (OneVision's count includes the
 *       anyres newline slots the model fills with {@code image_newline});</li>
 *   <li>{@link Expansion#QWEN}: {@code <|image_pad|>} (written by the template between
 *       {@code <|vision_start|>} and {@code <|vision_end|>}) is repeated {@code grid_h·grid_w / merge²} times;</li>
 *   <li>{@link Expansion#GEMMA3}: the begin-of-image token becomes
 *       {@code "\n\n" + boi + image × mm_tokens_per_image + eoi + "\n\n"} (Gemma3Processor's
 *       {@code full_image_sequence});</li>
 *   <li>{@link Expansion#SMOLVLM}: {@code <image>} becomes, per tile,
 *       {@code <fake_token_around_image><row_r_col_c>} + image × n, a newline after each tile row, then
 *       {@code \n<fake_token_around_image><global-img>} + image × n + {@code <fake_token_around_image>}; an
 *       unsplit image is {@code <fake_token_around_image><global-img>} + image × n + {@code <fake_token_around_image>}.</li>
 * </ul>
 * The whole expanded text is then encoded once with {@code add_special_tokens=false} (a chat template already
 * wrote BOS where the model wants one). The number of placeholders must equal the number of images and the
 * image-token positions found must equal the sum of the images' counts; otherwise one line says which.
 * Immutable and thread-safe.
 */
public final class PromptBuilder {
    /** How a family writes an image into the prompt. */
    public enum Expansion { REPEAT, QWEN, GEMMA3, SMOLVLM }

    private final HfTokenizer tokenizer;
    private final Expansion expansion;
    private final String placeholder;
    private final String imageToken;
    private final int imageTokenId;
    private final String boi;
    private final String eoi;

    /**
     * @param placeholder  the text the template writes per image ({@code <image>}, {@code <|image_pad|>}, Gemma's boi token)
     * @param imageToken   the token the model fills with visual features; must be one token of {@code tokenizer}
     * @param boi          Gemma 3 begin-of-image token text (null otherwise)
     * @param eoi          Gemma 3 end-of-image token text (null otherwise)
     */
    public PromptBuilder(HfTokenizer tokenizer, Expansion expansion, String placeholder, String imageToken, String boi, String eoi) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.expansion = Objects.requireNonNull(expansion, "expansion");
        this.placeholder = Objects.requireNonNull(placeholder, "placeholder");
        this.imageToken = Objects.requireNonNull(imageToken, "imageToken");
        this.imageTokenId = tokenizer.requireTokenId(imageToken);
        if (expansion == Expansion.GEMMA3 && (boi == null || eoi == null)) {
            throw new IllegalArgumentException("Gemma 3 expansion needs the begin- and end-of-image tokens");
        }
        this.boi = boi;
        this.eoi = eoi;
    }

    /** The text each image placeholder is written as. */
    public String placeholder() {
        return placeholder;
    }

    /** The id of the token the model fills with visual features. */
    public int imageTokenId() {
        return imageTokenId;
    }

    /** The expansion of one image: what replaces its placeholder. */
    public String expand(ProcessedImage img) {
        return switch (expansion) {
            case REPEAT, QWEN -> imageToken.repeat(img.visualTokens());
            case GEMMA3 -> "\n\n" + boi + imageToken.repeat(img.visualTokens()) + eoi + "\n\n";
            case SMOLVLM -> smolvlm(img);
        };
    }

    private String smolvlm(ProcessedImage img) {
        String fake = "<fake_token_around_image>";
        int frames = img.tileRows() * img.tileCols() + 1;
        int perFrame = img.visualTokens() / frames;
        String frame = imageToken.repeat(perFrame);
        if (img.tileRows() == 0) return fake + "<global-img>" + frame + fake;
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < img.tileRows(); r++) {
            for (int c = 0; c < img.tileCols(); c++) sb.append(fake).append("<row_").append(r + 1).append("_col_").append(c + 1).append('>').append(frame);
            sb.append('\n');
        }
        return sb.append('\n').append(fake).append("<global-img>").append(frame).append(fake).toString();
    }

    /**
     * Expands, tokenizes and lays out {@code text}.
     *
     * @param text   the rendered prompt, one placeholder per image
     * @param images the processed images in prompt order
     * @throws ProcessingException when the placeholder count or the resulting image-token count does not match the images
     */
    public Prompt build(String text, List<ProcessedImage> images) {
        List<Integer> at = new ArrayList<>();
        for (int i = text.indexOf(placeholder); i >= 0; i = text.indexOf(placeholder, i + placeholder.length())) at.add(i);
        if (at.size() != images.size()) {
            throw new ProcessingException("prompt has " + at.size() + " image placeholder(s) '" + placeholder + "' but "
                    + images.size() + " image(s) were given (expected one placeholder per image)");
        }
        StringBuilder sb = new StringBuilder();
        int prev = 0;
        for (int k = 0; k < at.size(); k++) {
            sb.append(text, prev, at.get(k)).append(expand(images.get(k)));
            prev = at.get(k) + placeholder.length();
        }
        sb.append(text, prev, text.length());
        int[] ids = tokenizer.encode(sb.toString(), false);
        return layout(ids, images);
    }

    /** The layout of already-expanded {@code ids}. */
    public Prompt layout(int[] ids, List<ProcessedImage> images) {
        if (ids.length == 0) throw new ProcessingException("prompt is empty (expected at least one token)");
        int expected = 0;
        for (ProcessedImage p : images) expected += p.visualTokens();
        int found = 0;
        for (int id : ids) if (id == imageTokenId) found++;
        if (found != expected) {
            throw new ProcessingException("prompt holds " + found + " image token(s) '" + imageToken + "' but the images need "
                    + expected + " (does the text itself contain '" + imageToken + "'?)");
        }
        List<Integer> owner = new ArrayList<>();
        RowLayout.Builder b = RowLayout.builder();
        int image = 0, leftInImage = images.isEmpty() ? 0 : images.getFirst().visualTokens();
        int i = 0;
        while (i < ids.length) {
            int j = i;
            if (ids[i] != imageTokenId) {
                while (j < ids.length && ids[j] != imageTokenId) j++;
                b.text(j - i);
            } else {
                while (j < ids.length && ids[j] == imageTokenId && j - i < leftInImage) j++;
                b.image(j - i);
                owner.add(image);
                leftInImage -= j - i;
                if (leftInImage == 0 && ++image < images.size()) leftInImage = images.get(image).visualTokens();
            }
            i = j;
        }
        RowLayout layout = b.build();
        return new Prompt(ids, layout, layout.images(), owner.stream().mapToInt(Integer::intValue).toArray(), images);
    }
}
