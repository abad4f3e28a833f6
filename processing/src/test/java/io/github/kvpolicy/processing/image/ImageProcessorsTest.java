package io.github.kvpolicy.processing.image;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.github.kvpolicy.processing.error.ProcessingException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The family processors against transformers' pixel_values (fixtures llava_onevision and qwen2_vl, each with the
 * image.png and preprocessor_config.json the fixture was made from).
 */
class ImageProcessorsTest {
    /** One 8-bit level after normalisation with the smallest std (0.26130258): 1 / 255 / 0.2613 ≈ 0.01501. */
    static final double ONE_LEVEL = 1 / 255.0 / 0.26130258 + 1e-5;

    record Tensor(long[] shape, double[] values) {}

    static Map<String, Tensor> safetensors(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int n = Math.toIntExact(bb.getLong(0));
        JsonObject hdr = JsonParser.parseString(new String(b, 8, n, StandardCharsets.UTF_8)).getAsJsonObject();
        Map<String, Tensor> out = new HashMap<>();
        for (var e : hdr.entrySet()) {
            if (e.getKey().equals("__metadata__")) continue;
            JsonObject t = e.getValue().getAsJsonObject();
            var sh = t.getAsJsonArray("shape");
            long[] shape = new long[sh.size()];
            long count = 1;
            for (int i = 0; i < shape.length; i++) count *= shape[i] = sh.get(i).getAsLong();
            int start = 8 + n + t.getAsJsonArray("data_offsets").get(0).getAsInt();
            double[] v = new double[Math.toIntExact(count)];
            boolean f32 = t.get("dtype").getAsString().equals("F32");
            for (int i = 0; i < v.length; i++) v[i] = f32 ? bb.getFloat(start + 4 * i) : bb.getLong(start + 8 * i);
            out.put(e.getKey(), new Tensor(shape, v));
        }
        return out;
    }

    /** {max |a − b|, mean |a − b|, count of elements differing by more than 1e-5}. */
    static double[] diff(float[] a, double[] b) {
        assertEquals(b.length, a.length, "element count");
        double max = 0, sum = 0;
        int off = 0;
        for (int i = 0; i < a.length; i++) {
            double d = Math.abs(a[i] - b[i]);
            max = Math.max(max, d);
            sum += d;
            if (d > 1e-5) off++;
        }
        return new double[] {max, sum / a.length, off};
    }

    @Test
    void llavaOneVisionAnyresMatchesTransformersPixelValues() throws Exception {
        Path dir = ImageFixtures.resource("hf/llava_onevision");
        ImageProcessor p = ImageProcessors.fromFolder(dir);
        assertEquals("llava_onevision", p.family());
        ProcessedImage out = p.process(ImageLoader.load(dir.resolve("image.png")));
        Map<String, Tensor> ref = safetensors(dir.resolve("pixel_values.safetensors"));
        Tensor pv = ref.get("pixel_values");
        assertArrayEquals(pv.shape(), out.shape(), "base + 4 tiles of 3x56x56");
        double[] d = diff(out.pixelValues(), pv.values());
        System.out.printf("llava_onevision pixel_values: max %.6f mean %.3g, %d of %d elements off by > 1e-5%n", d[0], d[1], (int) d[2], pv.values().length);
        assertTrue(d[0] <= ONE_LEVEL, "at most one 8-bit level apart, got " + d[0]);
        assertTrue(d[1] < 2e-4, "mean difference " + d[1]);
        assertEquals(100, out.originalHeight());
        assertEquals(70, out.originalWidth());
        assertArrayEquals(new double[] {100, 70}, ref.get("image_sizes").values());
        JsonObject reference = JsonParser.parseString(Files.readString(dir.resolve("reference.json"))).getAsJsonObject();
        assertEquals(reference.getAsJsonObject("notes").get("image_tokens").getAsInt(), out.visualTokens(), "the model's feature count (72)");
    }

    @Test
    void qwen2VlPatchesMatchTransformersPixelValues() throws Exception {
        Path dir = ImageFixtures.resource("hf/qwen2_vl");
        ImageProcessor p = ImageProcessors.fromFolder(dir);
        assertEquals("qwen2_vl", p.family());
        ProcessedImage out = p.process(ImageLoader.load(dir.resolve("image.png")));
        Map<String, Tensor> ref = safetensors(dir.resolve("pixel_values.safetensors"));
        assertArrayEquals(ref.get("pixel_values").shape(), out.shape());
        assertArrayEquals(new int[] {1, 8, 6}, out.gridThw());
        assertArrayEquals(ref.get("image_grid_thw").values(), Arrays.stream(out.gridThw()).asDoubleStream().toArray());
        double[] d = diff(out.pixelValues(), ref.get("pixel_values").values());
        System.out.printf("qwen2_vl pixel_values: max %.3g mean %.3g%n", d[0], d[1]);
        assertTrue(d[0] < 1e-5, "no resize at 112x84: only float rounding may differ, got " + d[0]);
        assertEquals(12, out.visualTokens());
    }

    @Test
    void anyresGeometry() {
        int[][] pins = {{56, 56}, {56, 112}, {112, 56}, {112, 112}};
        assertArrayEquals(new int[] {112, 112}, AnyResProcessor.selectBestResolution(100, 70, pins));
        assertArrayEquals(new int[] {56, 112}, AnyResProcessor.selectBestResolution(40, 100, pins));
        assertArrayEquals(new int[] {56, 56}, AnyResProcessor.selectBestResolution(20, 20, pins), "least waste among equals");
        Normalize n = new Normalize(true, 1 / 255.0, true, new double[] {0.5, 0.5, 0.5}, new double[] {0.5, 0.5, 0.5});
        AnyResProcessor p = new AnyResProcessor(56, 56, pins, Resample.Filter.BICUBIC, n, 4, 9);
        // 100x70 in 2x2 tiles: grid 8x8, width unpadded to 6 (padding 1 each side), 8 newlines, base 16
        assertEquals(8 * 6 + 8 + 16, p.visualTokens(100, 70, 2, 2));
        // a wide image crops rows instead
        assertEquals(4 * 8 + 4 + 16, p.visualTokens(40, 100, 1, 2));
        // anyres_max_1 shrinks a 2x2 grid (ratio 2 > 1.1): floor(8/2) x floor(8/2) + floor(8/2) newlines
        AnyResProcessor small = new AnyResProcessor(56, 56, pins, Resample.Filter.BICUBIC, n, 4, 1);
        assertEquals(4 * 4 + 4 + 16, small.visualTokens(100, 100, 2, 2));
    }

    @Test
    void llavaNextAnyresHasNoAnyresMaxDownscale() throws Exception {
        JsonObject llava = JsonParser.parseString(Files.readString(ImageFixtures.resource("hf/llava15/config.json"))).getAsJsonObject();
        JsonObject next = JsonParser.parseString("""
                {"image_processor_type": "LlavaNextImageProcessor", "size": {"shortest_edge": 56}, "crop_size": {"height": 56, "width": 56},
                 "image_grid_pinpoints": [[56, 56], [112, 112], [224, 224]], "resample": 3}""").getAsJsonObject();
        ImageProcessor p = ImageProcessors.create(next, llava, "llava_next");
        assertEquals("llava_next", p.family());
        byte[] px = new byte[3 * 200 * 200];
        for (int i = 0; i < px.length; i++) px[i] = (byte) (i % 251);
        ProcessedImage out = p.process(new RgbImage(200, 200, px));
        // best resolution 224x224: 4x4 tiles + base; grid 16x16 kept whole (OneVision's anyres_max_9 would shrink it)
        assertArrayEquals(new long[] {1, 17, 3, 56, 56}, out.shape());
        assertEquals(16 * 16 + 16 + 16, out.visualTokens());
        Normalize n = new Normalize(true, 1 / 255.0, true, new double[] {0.5, 0.5, 0.5}, new double[] {0.5, 0.5, 0.5});
        int[][] pins = {{56, 56}, {112, 112}, {224, 224}};
        assertEquals(12 * 12 + 12 + 16, new AnyResProcessor(56, 56, pins, Resample.Filter.BICUBIC, n, 4, 9).visualTokens(200, 200, 4, 4),
                "OneVision: ratio sqrt(256 / 144) = 1.33 > 1.1 shrinks the grid to 12x12");
        // mean/std default to 0.5; tiles are cut from the padded resize: tile (row 0, col 0) equals the resized image's top-left corner
        RgbImage resized = Resample.resize(new RgbImage(200, 200, px), 224, 224, Resample.Filter.BICUBIC);
        int plane = 3 * 56 * 56;
        assertEquals((float) ((resized.get(3, 5, 1) / 255.0 - 0.5) / 0.5), out.pixelValues()[plane + 56 * 56 + 5 * 56 + 3], 1e-6);
    }

    @Test
    void qwenSmartResize() {
        assertArrayEquals(new int[] {112, 84}, QwenVlProcessor.smartResize(112, 84, 28, 3136, 12544));
        // 1000x700 is above max_pixels: scaled down, floored to multiples of 28
        int[] hw = QwenVlProcessor.smartResize(1000, 700, 28, 3136, 12544);
        assertTrue(hw[0] * hw[1] <= 12544 && hw[0] % 28 == 0 && hw[1] % 28 == 0, Arrays.toString(hw));
        assertArrayEquals(new int[] {112, 84}, hw);
        // tiny image scaled up to at least min_pixels
        int[] up = QwenVlProcessor.smartResize(20, 30, 28, 3136, 12544);
        assertTrue(up[0] * up[1] >= 3136, Arrays.toString(up));
        // half-way rounds to even like Python: 42/28 = 1.5 -> 2, 70/28 = 2.5 -> 2
        assertArrayEquals(new int[] {56, 56}, QwenVlProcessor.smartResize(42, 70, 28, 56, 1 << 20));
        assertThrows(IllegalArgumentException.class, () -> QwenVlProcessor.smartResize(1, 300, 28, 56, 1 << 20));
    }

    @Test
    void clipSiglipGemmaAndSmolVlmFromConfigs(@TempDir Path dir) throws Exception {
        RgbImage img = ImageLoader.load(ImageFixtures.resource("hf/llava_onevision/image.png")); // 70 wide, 100 high
        JsonObject llava = JsonParser.parseString(Files.readString(ImageFixtures.resource("hf/llava15/config.json"))).getAsJsonObject();
        JsonObject clip = JsonParser.parseString("""
                {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 56}, "crop_size": {"height": 56, "width": 56},
                 "do_center_crop": true, "resample": 3, "image_mean": [0.48145466, 0.4578275, 0.40821073],
                 "image_std": [0.26862954, 0.26130258, 0.27577711]}""").getAsJsonObject();
        ProcessedImage c = ImageProcessors.create(clip, llava, "clip").process(img);
        assertArrayEquals(new long[] {1, 3, 56, 56}, c.shape());
        assertEquals(16, c.visualTokens(), "llava15 fixture: 16 image tokens (CLS dropped)");
        // shortest edge 70 -> 56, long side int(56 * 100 / 70) = 80, crop rows 12..68: check one pixel against a manual pipeline
        RgbImage manual = Resample.resize(img, 56, 80, Resample.Filter.BICUBIC).crop(0, 12, 56, 56);
        assertEquals((float) ((manual.get(5, 7, 1) / 255.0 - 0.4578275) / 0.26130258), c.pixelValues()[56 * 56 + 7 * 56 + 5], 1e-6);

        // LlavaImageProcessor with do_pad: pad to 100x100 with int(mean * 255) first, then the CLIP steps
        JsonObject padded = clip.deepCopy();
        padded.addProperty("image_processor_type", "LlavaImageProcessor");
        padded.addProperty("do_pad", true);
        ProcessedImage pd = ImageProcessors.create(padded, llava, "llava").process(img);
        RgbImage square = Resample.resize(img.pad(100, 100, 15, 0, 122, 116, 104), 56, 56, Resample.Filter.BICUBIC);
        assertEquals(square.get(0, 0, 0), 122, 1, "left border holds the mean colour");
        assertEquals((float) ((square.get(0, 30, 0) / 255.0 - 0.48145466) / 0.26862954), pd.pixelValues()[30 * 56], 1e-6);
        assertEquals((float) ((square.get(28, 30, 2) / 255.0 - 0.40821073) / 0.27577711), pd.pixelValues()[2 * 56 * 56 + 30 * 56 + 28], 1e-6);

        JsonObject gemmaCfg = JsonParser.parseString(Files.readString(ImageFixtures.resource("hf/gemma3/config.json"))).getAsJsonObject();
        JsonObject gemma = JsonParser.parseString("""
                {"image_processor_type": "Gemma3ImageProcessorFast", "size": {"height": 56, "width": 56}, "resample": 2,
                 "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}""").getAsJsonObject();
        ProcessedImage g = ImageProcessors.create(gemma, gemmaCfg, "gemma").process(img);
        assertArrayEquals(new long[] {1, 3, 56, 56}, g.shape());
        assertEquals(4, g.visualTokens(), "mm_tokens_per_image");
        RgbImage fixed = Resample.resize(img, 56, 56, Resample.Filter.BILINEAR);
        assertEquals((float) ((fixed.get(0, 0, 0) / 255.0 - 0.5) / 0.5), g.pixelValues()[0], 1e-6);

        JsonObject smolCfg = JsonParser.parseString(Files.readString(ImageFixtures.resource("hf/smolvlm/config.json"))).getAsJsonObject();
        JsonObject smol = JsonParser.parseString("""
                {"image_processor_type": "SmolVLMImageProcessor", "size": {"longest_edge": 112}, "max_image_size": {"longest_edge": 56},
                 "do_image_splitting": true, "resample": 1, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}""").getAsJsonObject();
        ProcessedImage s = ImageProcessors.create(smol, smolCfg, "smol").process(img);
        // 70x100 -> longest edge 112: 78x112 -> multiples of 56: 112 wide x 112 high -> 2x2 tiles + global
        assertEquals(2, s.tileRows());
        assertEquals(2, s.tileCols());
        assertArrayEquals(new long[] {1, 5, 3, 56, 56}, s.shape());
        assertEquals(5 * 4, s.visualTokens(), "4 tokens per frame (smolvlm fixture), 5 frames");
        smol.addProperty("do_image_splitting", false);
        ProcessedImage single = ImageProcessors.create(smol, smolCfg, "smol").process(img);
        assertEquals(0, single.tileRows());
        assertArrayEquals(new long[] {1, 1, 3, 56, 56}, single.shape());
    }

    @Test
    void configErrorsNameTheFile(@TempDir Path dir) throws Exception {
        ProcessingException none = assertThrows(ProcessingException.class, () -> ImageProcessors.fromFolder(dir));
        assertTrue(none.getMessage().startsWith(dir.toString()) && none.getMessage().contains("preprocessor_config.json"), none.getMessage());
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"image_processor_type\": \"BlipImageProcessor\"}");
        Files.writeString(dir.resolve("config.json"), "{}");
        ProcessingException bad = assertThrows(ProcessingException.class, () -> ImageProcessors.fromFolder(dir));
        assertTrue(bad.getMessage().contains("BlipImageProcessor") && bad.getMessage().contains("preprocessor_config.json"), bad.getMessage());
        Files.writeString(dir.resolve("preprocessor_config.json"), "{\"image_processor_type\": \"SiglipImageProcessor\", \"size\": {\"height\": 56, \"width\": 56}}");
        ProcessingException noPatch = assertThrows(ProcessingException.class, () -> ImageProcessors.fromFolder(dir));
        assertTrue(noPatch.getMessage().contains("patch_size"), noPatch.getMessage());
    }
}
