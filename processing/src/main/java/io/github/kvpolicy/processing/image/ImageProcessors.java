package io.github.kvpolicy.processing.image;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.github.kvpolicy.processing.error.ProcessingException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Builds the {@link ImageProcessor} of a model folder from {@code preprocessor_config.json}
 * ({@code image_processor_type}, sizes, {@code resample}, rescale/normalise settings) and {@code config.json}
 * (vision {@code image_size}/{@code patch_size}, {@code mm_tokens_per_image}, {@code scale_factor},
 * {@code vision_feature_select_strategy}, {@code vision_aspect_ratio}) for the visual token count.
 *
 * <p>Supported {@code image_processor_type}s (a {@code Fast} suffix is ignored): CLIPImageProcessor,
 * LlavaImageProcessor (family {@code clip}); SiglipImageProcessor ({@code siglip}); Gemma3ImageProcessor
 * ({@code gemma3}); LlavaOnevisionImageProcessor ({@code llava_onevision}); LlavaNextImageProcessor ({@code llava_next}); Qwen2VLImageProcessor
 * ({@code qwen2_vl}, or {@code qwen2_5_vl} when config.json says so); Idefics3ImageProcessor and
 * SmolVLMImageProcessor ({@code smolvlm}). Anything else fails with one line naming the file and the type.
 * Keys absent from the file take these defaults: {@code resample} 3 (bicubic; 1 for SmolVLM), {@code do_rescale}
 * and {@code do_normalize} true, {@code rescale_factor} 1/255, {@code image_mean}/{@code image_std} 0.5 (published
 * checkpoints write all of them).
 */
public final class ImageProcessors {
    private ImageProcessors() {}

    /** The processor of {@code modelDir}. */
    public static ImageProcessor fromFolder(Path modelDir) {
        Path pp = modelDir.resolve("preprocessor_config.json");
        if (!Files.isRegularFile(pp)) {
            throw new ProcessingException(modelDir + ": no preprocessor_config.json (expected the image processor settings of a vision-language model)");
        }
        Path cp = modelDir.resolve("config.json");
        if (!Files.isRegularFile(cp)) throw new ProcessingException(modelDir + ": no config.json (needed for the visual token count)");
        return create(read(pp), read(cp), pp.toString());
    }

    /**
     * The processor for the texts of a {@code preprocessor_config.json} and a {@code config.json}; {@code where}
     * names them in errors.
     */
    public static ImageProcessor create(String preprocessorConfigJson, String modelConfigJson, String where) {
        return create(parse(preprocessorConfigJson, where + " (preprocessor config)"), parse(modelConfigJson, where + " (model config)"), where);
    }

    private static JsonObject parse(String json, String where) {
        try {
            JsonElement e = JsonParser.parseString(json);
            if (!e.isJsonObject()) throw new ProcessingException(where + ": expected a JSON object at the top level");
            return e.getAsJsonObject();
        } catch (JsonParseException e) {
            throw new ProcessingException(where + ": not readable as JSON (" + e.getMessage() + ")", e);
        }
    }

    static ImageProcessor create(JsonObject pre, JsonObject model, String where) {
        String type = str(pre, "image_processor_type", "");
        if (type.endsWith("Fast")) type = type.substring(0, type.length() - 4);
        Resample.Filter filter = Resample.Filter.fromPil(integer(pre, "resample", 3));
        Normalize norm = new Normalize(bool(pre, "do_rescale", true), dbl(pre, "rescale_factor", 1 / 255.0),
                bool(pre, "do_normalize", true), triple(pre, "image_mean", new double[] {0.5, 0.5, 0.5}, where),
                triple(pre, "image_std", new double[] {0.5, 0.5, 0.5}, where));
        JsonObject size = obj(pre, "size");
        JsonObject vision = obj(model, "vision_config");
        String modelType = str(model, "model_type", "");
        switch (type) {
            case "CLIPImageProcessor", "LlavaImageProcessor", "SiglipImageProcessor", "Gemma3ImageProcessor" -> {
                String family = type.startsWith("Siglip") ? "siglip" : type.startsWith("Gemma3") ? "gemma3" : "clip";
                int shortest = integer(size, "shortest_edge", 0);
                int h = integer(size, "height", 0), w = integer(size, "width", 0);
                if (shortest == 0 && (h == 0 || w == 0)) {
                    throw new ProcessingException(where + ": 'size' needs shortest_edge or height and width");
                }
                boolean crop = bool(pre, "do_center_crop", false);
                int cropH = 0, cropW = 0;
                if (crop) {
                    JsonElement cs = pre.get("crop_size");
                    if (cs == null) throw new ProcessingException(where + ": do_center_crop is true but crop_size is missing");
                    if (cs.isJsonPrimitive()) cropH = cropW = cs.getAsInt();
                    else {
                        cropH = integer(cs.getAsJsonObject(), "height", 0);
                        cropW = integer(cs.getAsJsonObject(), "width", 0);
                    }
                }
                int outH = crop ? cropH : (shortest > 0 ? shortest : h), outW = crop ? cropW : (shortest > 0 ? shortest : w);
                int tokens;
                if (family.equals("gemma3")) {
                    tokens = requireInt(model, "mm_tokens_per_image", where + " (config.json)");
                } else {
                    int patch = requireInt(vision, "patch_size", where + " (config.json vision_config)");
                    tokens = (outH / patch) * (outW / patch);
                    boolean cls = str(vision, "model_type", "clip_vision_model").startsWith("clip");
                    if (cls && "full".equals(str(model, "vision_feature_select_strategy", "default"))) tokens += 1;
                }
                int[] pad = null;
                if (type.equals("LlavaImageProcessor") && bool(pre, "do_pad", false)) {
                    double[] mean = triple(pre, "image_mean", new double[] {0.5, 0.5, 0.5}, where);
                    pad = new int[] {(int) (mean[0] * 255), (int) (mean[1] * 255), (int) (mean[2] * 255)};
                }
                return new ResizeCropProcessor(family, shortest, h, w, bool(pre, "do_resize", true), cropH, cropW, filter, norm, tokens, pad);
            }
            case "LlavaOnevisionImageProcessor" -> {
                int h = requireInt(size, "height", where + " size"), w = requireInt(size, "width", where + " size");
                int[][] pinpoints = pinpoints(pre, model, where);
                int imageSize = requireInt(vision, "image_size", where + " (config.json vision_config)");
                int patch = requireInt(vision, "patch_size", where + " (config.json vision_config)");
                String ar = str(model, "vision_aspect_ratio", "anyres_max_9");
                int maxPatches;
                try {
                    maxPatches = Integer.parseInt(ar.replace("anyres_max_", ""));
                } catch (NumberFormatException e) {
                    throw new ProcessingException(where + ": vision_aspect_ratio '" + ar + "' is not anyres_max_N");
                }
                return new AnyResProcessor(h, w, pinpoints, filter, norm, imageSize / patch, maxPatches);
            }
            case "LlavaNextImageProcessor" -> {
                int shortest = integer(size, "shortest_edge", 0);
                int baseH = shortest > 0 ? shortest : requireInt(size, "height", where + " size");
                int baseW = shortest > 0 ? shortest : requireInt(size, "width", where + " size");
                JsonElement cs = pre.get("crop_size");
                int cropH = baseH, cropW = baseW;
                if (cs != null && cs.isJsonPrimitive()) cropH = cropW = cs.getAsInt();
                else if (cs != null && cs.isJsonObject()) {
                    cropH = integer(cs.getAsJsonObject(), "height", baseH);
                    cropW = integer(cs.getAsJsonObject(), "width", baseW);
                }
                int imageSize = requireInt(vision, "image_size", where + " (config.json vision_config)");
                int patch = requireInt(vision, "patch_size", where + " (config.json vision_config)");
                // base features p² (+1 CLS, −1 again for the "default" strategy that drops it)
                return new AnyResProcessor("llava_next", baseH, baseW, cropH, cropW, shortest, pinpoints(pre, model, where),
                        filter, norm, imageSize / patch, 0);
            }
            case "Qwen2VLImageProcessor" -> {
                long min = integer(size, "shortest_edge", 56 * 56), max = integer(size, "longest_edge", 28 * 28 * 1280);
                if (pre.has("min_pixels")) min = pre.get("min_pixels").getAsLong();
                if (pre.has("max_pixels")) max = pre.get("max_pixels").getAsLong();
                String family = modelType.startsWith("qwen2_5") ? "qwen2_5_vl" : "qwen2_vl";
                return new QwenVlProcessor(family, integer(pre, "patch_size", 14), integer(pre, "merge_size", 2),
                        integer(pre, "temporal_patch_size", 2), min, max, filter, norm);
            }
            case "Idefics3ImageProcessor", "SmolVLMImageProcessor" -> {
                int longest = integer(size, "longest_edge", 4 * 364);
                int maxSize = integer(obj(pre, "max_image_size"), "longest_edge", 364);
                int imageSize = requireInt(vision, "image_size", where + " (config.json vision_config)");
                int patch = requireInt(vision, "patch_size", where + " (config.json vision_config)");
                int scale = integer(model, "scale_factor", 2);
                int perFrame = (imageSize / patch) * (imageSize / patch) / (scale * scale);
                return new SmolVlmProcessor(longest, maxSize, bool(pre, "do_image_splitting", true), bool(pre, "do_resize", true),
                        Resample.Filter.fromPil(integer(pre, "resample", 1)), norm, perFrame);
            }
            default -> throw new ProcessingException(where + ": image_processor_type '" + str(pre, "image_processor_type", "")
                    + "' is not supported (expected CLIP, Llava, Siglip, Gemma3, LlavaNext, LlavaOnevision, Qwen2VL, Idefics3 or SmolVLM image processors)");
        }
    }

    private static int[][] pinpoints(JsonObject pre, JsonObject model, String where) {
        JsonElement pins = pre.has("image_grid_pinpoints") ? pre.get("image_grid_pinpoints") : model.get("image_grid_pinpoints");
        if (pins == null || !pins.isJsonArray() || pins.getAsJsonArray().isEmpty()) {
            throw new ProcessingException(where + ": image_grid_pinpoints missing (expected [[h, w], ...])");
        }
        JsonArray a = pins.getAsJsonArray();
        int[][] out = new int[a.size()][];
        for (int i = 0; i < a.size(); i++) {
            JsonArray p = a.get(i).getAsJsonArray();
            out[i] = new int[] {p.get(0).getAsInt(), p.get(1).getAsInt()};
        }
        return out;
    }

    private static JsonObject read(Path f) {
        try {
            JsonElement e = JsonParser.parseString(Files.readString(f));
            if (!e.isJsonObject()) throw new ProcessingException(f + ": expected a JSON object at the top level");
            return e.getAsJsonObject();
        } catch (IOException | JsonParseException e) {
            throw new ProcessingException(f + ": not readable as JSON (" + e.getMessage() + ")", e);
        }
    }

    private static JsonObject obj(JsonObject o, String k) {
        JsonElement e = o.get(k);
        return e != null && e.isJsonObject() ? e.getAsJsonObject() : new JsonObject();
    }

    private static String str(JsonObject o, String k, String d) {
        JsonElement e = o.get(k);
        return e == null || !e.isJsonPrimitive() ? d : e.getAsString();
    }

    private static int integer(JsonObject o, String k, int d) {
        JsonElement e = o.get(k);
        return e == null || !e.isJsonPrimitive() ? d : e.getAsInt();
    }

    private static int requireInt(JsonObject o, String k, String where) {
        JsonElement e = o.get(k);
        if (e == null || !e.isJsonPrimitive()) throw new ProcessingException(where + ": missing integer '" + k + "'");
        return e.getAsInt();
    }

    private static double dbl(JsonObject o, String k, double d) {
        JsonElement e = o.get(k);
        return e == null || !e.isJsonPrimitive() ? d : e.getAsDouble();
    }

    private static boolean bool(JsonObject o, String k, boolean d) {
        JsonElement e = o.get(k);
        return e == null || !e.isJsonPrimitive() ? d : e.getAsBoolean();
    }

    private static double[] triple(JsonObject o, String k, double[] d, String where) {
        JsonElement e = o.get(k);
        if (e == null || e.isJsonNull()) return d;
        if (e.isJsonPrimitive()) {
            double v = e.getAsDouble();
            return new double[] {v, v, v};
        }
        JsonArray a = e.getAsJsonArray();
        if (a.size() != 3) throw new ProcessingException(where + ": '" + k + "' must hold 3 values (R, G, B), got " + a.size());
        return new double[] {a.get(0).getAsDouble(), a.get(1).getAsDouble(), a.get(2).getAsDouble()};
    }
}
