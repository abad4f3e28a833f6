package io.github.kvpolicy.runtime.model.family;

import io.github.kvpolicy.runtime.model.config.VitVisionConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The anyres packing by hand-computed cases (the fixture's portrait image is covered end to end by HfFamilyReferenceTest). */
class AnyresLayoutTest {
    static final List<List<Integer>> PINS = List.of(List.of(56, 56), List.of(56, 112), List.of(112, 56), List.of(112, 112));

    static VitVisionConfig cfg(int maxPatches) {
        return new VitVisionConfig("siglip_vision_model", 32, 64, 3, 3, 2, 56, 14, 3, 1e-6, "gelu_pytorch_tanh", false, false,
                false, VitVisionConfig.Connector.LLAVA_MLP, "gelu", true, 1, PINS, maxPatches);
    }

    /** Tiles whose rows are one-element vectors holding tile*1000 + patch index, so the order can be read back. */
    static float[][][] tiles(int n) {
        float[][][] t = new float[n][16][];
        for (int i = 0; i < n; i++) for (int p = 0; p < 16; p++) t[i][p] = new float[]{i * 1000 + p};
        return t;
    }

    @Test
    void picksTheResolutionLikeTransformers() {
        assertArrayEquals(new int[]{112, 112}, AnyresLayout.bestResolution(100, 70, PINS));  // the fixture's image
        assertArrayEquals(new int[]{56, 112}, AnyresLayout.bestResolution(60, 130, PINS));
        assertArrayEquals(new int[]{56, 56}, AnyresLayout.bestResolution(20, 20, PINS));
        assertEquals(5, AnyresLayout.tileCount(100, 70, cfg(9)));
    }

    @Test
    void wideImageCutsRowsAndEndsEachRowWithTheNewline() {
        float[] nl = {-1};
        float[][] out = AnyresLayout.pack(tiles(3), nl, 60, 130, cfg(9));
        // grid 1x2 tiles -> 4x8 features; new height int(60*8/130)=3, padding (4-3)/2=0 -> all 4 rows kept
        assertEquals(16 + 4 * (8 + 1), out.length);
        for (int p = 0; p < 16; p++) assertEquals(p, out[p][0]);
        // first grid row: tile 1 patches 0..3, tile 2 patches 0..3, newline
        float[] row0 = new float[9];
        for (int i = 0; i < 9; i++) row0[i] = out[16 + i][0];
        assertArrayEquals(new float[]{1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003, -1}, row0);
        assertSame(nl, out[16 + 8]);
    }

    @Test
    void tallImageCutsColumns() {
        float[][] out = AnyresLayout.pack(tiles(5), new float[]{-1}, 100, 70, cfg(9));
        // 8x8 grid, new width int(70*8/100)=5, padding (8-5)/2=1 -> columns 1..6 (6 wide), 8 rows
        assertEquals(16 + 8 * 7, out.length);
        assertEquals(1001, out[16][0]);  // row 0, column 1 = tile (0,0) patch (0,1)
        assertEquals(2000, out[16 + 3][0]);  // column 4 = tile (0,1) patch (0,0)
    }

    @Test
    void refusesWhatItCannotDo() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AnyresLayout.pack(tiles(4), new float[]{0}, 100, 70, cfg(9)));
        assertTrue(e.getMessage().contains("needs 1 + 2x2 tiles"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> AnyresLayout.pack(tiles(5), new float[]{0}, 100, 100, cfg(1)));
        assertTrue(e.getMessage().contains("anyres_max_1") && e.getMessage().contains("not supported"), e.getMessage());
    }
}
