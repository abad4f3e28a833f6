package io.github.kvpolicy.processing;

import io.github.kvpolicy.processing.error.ProcessingException;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.processing.image.ImageLoader;
import io.github.kvpolicy.processing.image.ImageProcessor;
import io.github.kvpolicy.processing.image.ImageProcessors;
import io.github.kvpolicy.processing.image.ProcessedImage;
import io.github.kvpolicy.processing.image.RgbImage;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Everything between a Hugging Face model folder and the model's inputs: tokenizer, chat template, image
 * processor and prompt builder, chosen from the folder's files.
 *
 * <pre>{@code
 * try (Processor p = Processor.forModel(Path.of("models/llava-onevision"))) {
 *     Prompt prompt = p.prompt(List.of(ChatMessage.userWithImages(1, "what is shown?")), List.of(Path.of("cat.png")));
 *     prompt.inputIds();           // ids with the image placeholder expanded
 *     prompt.images().get(0);      // pixel values, shape, image size
 *     prompt.layout();             // the RowLayout policies see
 * }
 * }</pre>
 *
 * <p>What is required: {@code tokenizer.json} always; a chat template only for {@link #chatTemplate()} and
 * {@link #prompt}; {@code preprocessor_config.json} and a vision {@code config.json} only for images. A missing
 * part fails when it is first needed, with one line naming the folder. The family's image expansion comes
 * from {@code config.json}'s {@code model_type} (llava, llava_next, llava_onevision, qwen2_vl, qwen2_5_vl,
 * gemma3, smolvlm, idefics3) and its image/boi/eoi token ids. Immutable and thread-safe; {@link #close()}
 * frees the tokenizer.
 */
public final class Processor implements AutoCloseable {
    private final Path dir;
    private final HfTokenizer tokenizer;
    private final ChatTemplate template;        // null: none found
    private final ProcessingException noTemplate;
    private final ImageProcessor images;        // null: text-only folder
    private final PromptBuilder builder;        // null: text-only folder

    private Processor(Path dir, HfTokenizer tokenizer, ChatTemplate template, ProcessingException noTemplate,
                      ImageProcessor images, PromptBuilder builder) {
        this.dir = dir;
        this.tokenizer = tokenizer;
        this.template = template;
        this.noTemplate = noTemplate;
        this.images = images;
        this.builder = builder;
    }

    /**
     * Reads a model folder.
     *
     * @throws ProcessingException naming the folder when it is not a directory or has no tokenizer.json, or
     *                             naming the file when a config present is malformed
     */
    public static Processor forModel(Path modelDir) {
        return forModel(modelDir, null);
    }

    /** As {@link #forModel(Path)}, with an explicit chat template file that replaces the folder's. */
    public static Processor forModel(Path modelDir, Path templateFile) {
        if (!Files.isDirectory(modelDir)) throw new ProcessingException(modelDir + ": not a directory (expected a Hugging Face model folder)");
        HfTokenizer tok = HfTokenizer.fromFolder(modelDir);
        try {
            ChatTemplate tpl = null;
            ProcessingException noTpl = null;
            if (templateFile != null) {
                tpl = ChatTemplate.fromFile(templateFile, modelDir);
            } else {
                try {
                    tpl = ChatTemplate.fromFolder(modelDir);
                } catch (ProcessingException e) {
                    noTpl = e;
                }
            }
            ImageProcessor ip = null;
            PromptBuilder pb = null;
            if (Files.isRegularFile(modelDir.resolve("preprocessor_config.json"))) {
                ip = ImageProcessors.fromFolder(modelDir);
                pb = builderFor(modelDir, tok);
            }
            return new Processor(modelDir, tok, tpl, noTpl, ip, pb);
        } catch (RuntimeException e) {
            tok.close();
            throw e;
        }
    }

    /** The prompt builder the {@code config.json} of {@code modelDir} calls for. */
    static PromptBuilder builderFor(Path modelDir, HfTokenizer tok) {
        Path cp = modelDir.resolve("config.json");
        JsonObject cfg = Json.readObject(cp);
        String type = Json.stringOr(cfg, "model_type", "");
        int imageId = imageTokenId(cfg, cp);
        String image = tok.token(imageId).orElseThrow(() -> new ProcessingException(
                cp + ": image token id " + imageId + " is not in " + tok.file()));
        return switch (type) {
            case "llava", "llava_next", "llava_onevision" -> new PromptBuilder(tok, PromptBuilder.Expansion.REPEAT, image, image, null, null);
            case "qwen2_vl", "qwen2_5_vl" -> new PromptBuilder(tok, PromptBuilder.Expansion.QWEN, image, image, null, null);
            case "smolvlm", "idefics3" -> new PromptBuilder(tok, PromptBuilder.Expansion.SMOLVLM, image, image, null, null);
            case "gemma3" -> {
                String boi = tokenOf(tok, cfg, cp, "boi_token_index", "boi_token_id");
                String eoi = tokenOf(tok, cfg, cp, "eoi_token_index", "eoi_token_id");
                yield new PromptBuilder(tok, PromptBuilder.Expansion.GEMMA3, boi, image, boi, eoi);
            }
            default -> throw new ProcessingException(cp + ": model_type '" + type + "' has no image prompt expansion here "
                    + "(expected llava, llava_next, llava_onevision, qwen2_vl, qwen2_5_vl, gemma3, smolvlm or idefics3)");
        };
    }

    private static int imageTokenId(JsonObject cfg, Path cp) {
        for (String k : List.of("image_token_id", "image_token_index")) {
            JsonElement e = cfg.get(k);
            if (e != null && e.isJsonPrimitive()) return e.getAsInt();
        }
        throw new ProcessingException(cp + ": no image_token_id or image_token_index (expected the id of the image token)");
    }

    private static String tokenOf(HfTokenizer tok, JsonObject cfg, Path cp, String... keys) {
        for (String k : keys) {
            JsonElement e = cfg.get(k);
            if (e != null && e.isJsonPrimitive()) {
                int id = e.getAsInt();
                return tok.token(id).orElseThrow(() -> new ProcessingException(cp + ": " + k + " " + id + " is not in " + tok.file()));
            }
        }
        throw new ProcessingException(cp + ": missing " + String.join(" or ", keys));
    }

    /**
     * The ids that end generation: {@code eos_token_id} of {@code generation_config.json} (a number or a list) and the
     * id of {@code eos_token} in {@code tokenizer_config.json}, in that order, without duplicates; empty when
     * neither names one. Recomputed on each call from the folder's files.
     */
    public int[] stopTokenIds() {
        java.util.LinkedHashSet<Integer> ids = new java.util.LinkedHashSet<>();
        Json.readOptional(dir.resolve("generation_config.json")).ifPresent(g -> {
            JsonElement e = g.get("eos_token_id");
            if (e != null && e.isJsonPrimitive()) ids.add(e.getAsInt());
            else if (e != null && e.isJsonArray()) e.getAsJsonArray().forEach(x -> ids.add(x.getAsInt()));
        });
        Json.readOptional(dir.resolve("tokenizer_config.json")).ifPresent(t -> {
            JsonElement e = t.get("eos_token");
            String tok = e == null || e.isJsonNull() ? null
                    : e.isJsonPrimitive() ? e.getAsString() : Json.stringOr(e.getAsJsonObject(), "content", null);
            if (tok != null) tokenizer.tokenId(tok).ifPresent(ids::add);
        });
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The model folder. */
    public Path folder() {
        return dir;
    }

    public HfTokenizer tokenizer() {
        return tokenizer;
    }

    /** The chat template; fails with the folder's one-line error when it has none. */
    public ChatTemplate chatTemplate() {
        if (template == null) throw noTemplate;
        return template;
    }

    /** True if the folder has image preprocessing. */
    public boolean hasImages() {
        return images != null;
    }

    /** The image processor; fails naming the folder for a text-only model. */
    public ImageProcessor imageProcessor() {
        if (images == null) throw new ProcessingException(dir + ": no preprocessor_config.json (a text-only model cannot take images)");
        return images;
    }

    /** The prompt builder; fails naming the folder for a text-only model. */
    public PromptBuilder promptBuilder() {
        if (builder == null) throw new ProcessingException(dir + ": no preprocessor_config.json (a text-only model has no image prompt expansion)");
        return builder;
    }

    /**
     * Renders {@code messages} with the chat template (generation prompt added), loads and preprocesses
     * {@code imageFiles} (one per image part, in order) and builds the prompt.
     */
    public Prompt prompt(List<ChatMessage> messages, List<Path> imageFiles) {
        List<RgbImage> loaded = new ArrayList<>();
        for (Path f : imageFiles) loaded.add(ImageLoader.load(f));
        return promptFromImages(messages, loaded);
    }

    /** As {@link #prompt}, with images already decoded. */
    public Prompt promptFromImages(List<ChatMessage> messages, List<RgbImage> rgbImages) {
        Objects.requireNonNull(messages, "messages");
        int parts = messages.stream().mapToInt(ChatMessage::imageCount).sum();
        if (parts != rgbImages.size()) {
            throw new ProcessingException("the messages have " + parts + " image part(s) but " + rgbImages.size() + " image(s) were given");
        }
        String text = chatTemplate().render(messages, true);
        return fromText(text, rgbImages);
    }

    /** Builds a prompt from already-rendered text (placeholders as the template writes them) and images. */
    public Prompt fromText(String text, List<RgbImage> rgbImages) {
        if (rgbImages.isEmpty() && builder == null) {
            int[] ids = tokenizer.encode(text, false);
            if (ids.length == 0) throw new ProcessingException("prompt is empty (expected at least one token)");
            return new Prompt(ids, RowLayout.builder().text(ids.length).build(), List.of(), new int[0], List.of());
        }
        List<ProcessedImage> processed = new ArrayList<>();
        for (RgbImage img : rgbImages) processed.add(imageProcessor().process(img));
        return promptBuilder().build(text, processed);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
