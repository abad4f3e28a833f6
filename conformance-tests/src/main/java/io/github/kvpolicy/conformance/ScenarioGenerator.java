package io.github.kvpolicy.conformance;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.TokenLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Generates the suite's seeded, randomized scenarios. The same base seed always gives the same list (lengths,
 * shapes, tensors); every scenario has its own derived seed, printed in failure messages. Stateless.
 */
public final class ScenarioGenerator {
    private ScenarioGenerator() {}

    /** Token layouts the generator draws. */
    public enum LayoutKind {
        TEXT_ONLY("text-only"),
        ONE_TOKEN("one-token"),
        ONE_IMAGE("one-image"),
        IMAGE_THEN_QUESTION("image-then-question"),
        SEVERAL_IMAGES("several-images"),
        ADJACENT_IMAGES("adjacent-images"),
        IMAGE_ONLY("image-only"),
        ONE_VISUAL_TOKEN("one-visual-token"),
        TRAILING_IMAGE("trailing-image"),
        LONG_PROMPT("long-prompt"),
        MANY_IMAGES("many-images"),
        VERY_LONG_PROMPT("very-long-prompt");

        private final String label;

        LayoutKind(String label) { this.label = label; }

        public String label() { return label; }
    }

    /** Model shapes: multi-head, grouped-query, multi-query, and a minimal single-layer single-head model. */
    public static final List<ModelShape> SHAPES = List.of(
            new ModelShape(2, 4, 4, 8),    // multi-head attention
            new ModelShape(3, 8, 2, 16),   // grouped-query attention, group 4
            new ModelShape(2, 4, 1, 8),    // multi-query attention
            new ModelShape(1, 1, 1, 4));   // minimal

    /** Budgets: zero (ratio and count), tiny, typical, and at least the whole prompt. */
    public static final List<Budget> BUDGETS = List.of(
            Budget.ratio(0.0), Budget.count(0), Budget.count(1), Budget.ratio(0.05), Budget.ratio(0.25),
            Budget.count(16), Budget.ratio(0.5), Budget.ratio(1.0), Budget.count(1_000_000));

    /** Budgets for long prompts (kept few: long prompts cost the most). */
    private static final List<Budget> LONG_BUDGETS = List.of(Budget.ratio(0.1), Budget.count(64), Budget.ratio(1.0));

    /** Derives the seed of scenario {@code index} of a list generated from {@code base}. */
    public static long derive(long base, String list, int index) {
        long h = base * 0x9E3779B97F4A7C15L + list.hashCode();
        h ^= (h >>> 31) + index * 0xBF58476D1CE4E9B9L;
        h *= 0x94D049BB133111EBL;
        return (h ^ (h >>> 29)) & Long.MAX_VALUE;
    }

    /** A random single row of {@code kind}, lengths drawn from {@code rnd}. */
    public static RowLayout row(LayoutKind kind, SplittableRandom rnd) {
        return switch (kind) {
            case TEXT_ONLY -> RowLayout.builder().text(rnd.nextInt(2, 48)).build();
            case ONE_TOKEN -> RowLayout.builder().text(1).build();
            case ONE_IMAGE -> RowLayout.of(rnd.nextInt(1, 12), rnd.nextInt(4, 64), rnd.nextInt(1, 16));
            case IMAGE_THEN_QUESTION -> RowLayout.of(0, rnd.nextInt(4, 64), rnd.nextInt(1, 16));
            case SEVERAL_IMAGES -> {
                RowLayout.Builder b = RowLayout.builder().text(rnd.nextInt(1, 8));
                int images = rnd.nextInt(2, 5);
                for (int i = 0; i < images; i++) {
                    b.image(rnd.nextInt(2, 24));
                    b.text(rnd.nextInt(1, 6));
                }
                yield b.build();
            }
            case ADJACENT_IMAGES -> RowLayout.builder().text(rnd.nextInt(1, 6)).image(rnd.nextInt(2, 20)).image(rnd.nextInt(2, 20)).text(rnd.nextInt(1, 8)).build();
            case IMAGE_ONLY -> RowLayout.builder().image(rnd.nextInt(2, 64)).build();
            case ONE_VISUAL_TOKEN -> RowLayout.builder().image(1).build();
            case TRAILING_IMAGE -> RowLayout.builder().text(rnd.nextInt(1, 16)).image(rnd.nextInt(2, 40)).build();
            case LONG_PROMPT -> RowLayout.builder().text(rnd.nextInt(8, 32)).image(rnd.nextInt(300, 576)).text(rnd.nextInt(2, 8))
                    .image(rnd.nextInt(100, 300)).text(rnd.nextInt(16, 64)).build();
            case MANY_IMAGES -> {
                RowLayout.Builder b = RowLayout.builder().text(rnd.nextInt(1, 8));
                int images = rnd.nextInt(12, 21);
                for (int i = 0; i < images; i++) {
                    b.image(rnd.nextInt(4, 17));
                    if (rnd.nextBoolean()) b.text(rnd.nextInt(1, 4)); // some images adjacent
                }
                yield b.text(rnd.nextInt(4, 16)).build();
            }
            case VERY_LONG_PROMPT -> RowLayout.builder().text(rnd.nextInt(16, 64)).image(rnd.nextInt(2800, 3000)).text(rnd.nextInt(4, 16))
                    .image(rnd.nextInt(1000, 1100)).text(rnd.nextInt(32, 96)).build();
        };
    }

    /**
     * The single-row contract scenarios: every layout kind × every budget of {@link #BUDGETS} (long prompts with
     * three budgets and the smallest multi-head shape), shapes rotating through {@link #SHAPES}.
     */
    public static List<ScenarioSpec> contract(long baseSeed) {
        List<ScenarioSpec> out = new ArrayList<>();
        int i = 0;
        for (LayoutKind kind : LayoutKind.values()) {
            if (kind == LayoutKind.MANY_IMAGES || kind == LayoutKind.VERY_LONG_PROMPT) continue; // in wide(), with their own shapes
            List<Budget> budgets = kind == LayoutKind.LONG_PROMPT ? LONG_BUDGETS : BUDGETS;
            for (Budget budget : budgets) {
                long seed = derive(baseSeed, "contract", i);
                SplittableRandom rnd = new SplittableRandom(seed);
                ModelShape shape = kind == LayoutKind.LONG_PROMPT ? SHAPES.get(2) : SHAPES.get(i % SHAPES.size());
                out.add(new ScenarioSpec(i, kind.label(), shape, TokenLayout.of(row(kind, rnd)), budget, seed, 0));
                i++;
            }
        }
        out.addAll(wide(baseSeed, i));
        return out;
    }

    /** Shapes of the wide scenarios: head dims 64 and 128. */
    public static final List<ModelShape> WIDE_SHAPES = List.of(new ModelShape(2, 8, 2, 128), new ModelShape(1, 4, 4, 64));

    /** Prompts longer than this many tokens are left out of the suite's repeated runs (determinism, options, hooks) to bound its time. */
    public static final int REPEAT_LIMIT = 400;

    /**
     * The wide contract scenarios, indices from {@code first}: head dims 128 and 64; many images per prompt (12–20,
     * some adjacent); keys and queries with non-zero means and large magnitudes (e.g. 4 + 40·N(0,1)); a prompt of
     * about 4,000 tokens and one of about 8,000 (one layer, one KV head, small head dim: the suite's reference
     * probe is exact and unoptimised).
     */
    static List<ScenarioSpec> wide(long baseSeed, int first) {
        List<ScenarioSpec> out = new ArrayList<>();
        int i = first;
        record W(LayoutKind kind, ModelShape shape, Budget budget, float mean, float scale) {}
        List<W> ws = List.of(
                new W(LayoutKind.ONE_IMAGE, WIDE_SHAPES.get(0), Budget.ratio(0.25), 0f, 1f),
                new W(LayoutKind.SEVERAL_IMAGES, WIDE_SHAPES.get(1), Budget.ratio(0.05), 0f, 1f),
                new W(LayoutKind.MANY_IMAGES, SHAPES.get(1), Budget.ratio(0.25), 0f, 1f),
                new W(LayoutKind.MANY_IMAGES, SHAPES.get(0), Budget.count(1), 0f, 1f),
                new W(LayoutKind.ONE_IMAGE, SHAPES.get(0), Budget.ratio(0.25), 4f, 40f),
                new W(LayoutKind.SEVERAL_IMAGES, SHAPES.get(1), Budget.ratio(0.5), -3f, 25f),
                new W(LayoutKind.LONG_PROMPT, new ModelShape(1, 2, 1, 64), Budget.ratio(0.1), 2f, 10f),
                new W(LayoutKind.VERY_LONG_PROMPT, new ModelShape(1, 1, 1, 16), Budget.count(64), 0f, 1f),
                new W(LayoutKind.VERY_LONG_PROMPT, new ModelShape(1, 1, 1, 8), Budget.ratio(0.1), 0f, 1f));
        for (W w : ws) {
            long seed = derive(baseSeed, "wide", i - first);
            SplittableRandom rnd = new SplittableRandom(seed);
            RowLayout row = row(w.kind(), rnd);
            if (w.kind() == LayoutKind.VERY_LONG_PROMPT && w.shape().headDim() == 8) {
                // ≈ 8k tokens: the 4k layout twice over
                RowLayout.Builder b = RowLayout.builder().text(rnd.nextInt(16, 64)).image(rnd.nextInt(2800, 3000)).text(rnd.nextInt(4, 16))
                        .image(rnd.nextInt(1000, 1100)).text(rnd.nextInt(8, 16)).image(rnd.nextInt(2800, 3000)).text(rnd.nextInt(4, 16))
                        .image(rnd.nextInt(1000, 1100)).text(rnd.nextInt(32, 96));
                row = b.build();
            }
            String kind = w.kind().label() + (w.mean() != 0f || w.scale() != 1f ? " (offset, large)" : "");
            out.add(new ScenarioSpec(i, kind, w.shape(), TokenLayout.of(row), w.budget(), seed, 0, w.mean(), w.scale()));
            i++;
        }
        return out;
    }

    /** Batches of 2–3 rows with different layouts and lengths, at typical and extreme budgets. */
    public static List<ScenarioSpec> batch(long baseSeed) {
        LayoutKind[][] combos = {
                {LayoutKind.ONE_IMAGE, LayoutKind.TEXT_ONLY},
                {LayoutKind.SEVERAL_IMAGES, LayoutKind.IMAGE_ONLY, LayoutKind.ONE_TOKEN},
                {LayoutKind.IMAGE_THEN_QUESTION, LayoutKind.ONE_IMAGE, LayoutKind.ADJACENT_IMAGES},
                {LayoutKind.ONE_VISUAL_TOKEN, LayoutKind.TRAILING_IMAGE},
                {LayoutKind.ONE_IMAGE, LayoutKind.ONE_IMAGE, LayoutKind.ONE_IMAGE},   // equal-length rows (same layout, own tensors)
                {LayoutKind.MANY_IMAGES, LayoutKind.MANY_IMAGES},
        };
        List<Budget> budgets = List.of(Budget.ratio(0.25), Budget.count(0), Budget.count(8), Budget.ratio(1.0));
        List<ScenarioSpec> out = new ArrayList<>();
        int i = 0;
        for (LayoutKind[] combo : combos) {
            for (Budget budget : budgets) {
                long seed = derive(baseSeed, "batch", i);
                SplittableRandom rnd = new SplittableRandom(seed);
                List<RowLayout> rows = new ArrayList<>();
                StringBuilder kind = new StringBuilder("batch[");
                boolean equal = java.util.Arrays.stream(combo).allMatch(k -> k == combo[0]);
                for (int r = 0; r < combo.length; r++) {
                    rows.add(equal && r > 0 ? rows.getFirst() : row(combo[r], rnd));
                    kind.append(r > 0 ? ", " : "").append(combo[r].label());
                }
                if (equal) kind.append(" (equal lengths)");
                out.add(new ScenarioSpec(i, kind.append(']').toString(), SHAPES.get(i % 3), new TokenLayout(rows), budget, seed, 0));
                i++;
            }
        }
        return out;
    }

    /**
     * The long prompt the thread-safety check adds to its calls: about 450–950 tokens on one layer with one KV head
     * (2 query heads, head dim 8), so that its many concurrent calls stay cheap for attention-scored policies.
     */
    public static ScenarioSpec longForThreads(long baseSeed) {
        long seed = derive(baseSeed, "threads", 0);
        return new ScenarioSpec(0, LayoutKind.LONG_PROMPT.label() + " (threads)", new ModelShape(1, 2, 1, 8),
                TokenLayout.of(row(LayoutKind.LONG_PROMPT, new SplittableRandom(seed))), Budget.ratio(0.25), seed, 0);
    }

    /**
     * The mid-size scenario {@code maxCallTime()} is measured on: 4 layers, 8 query / 2 KV heads, head dim 32,
     * 16 system tokens, one image of 576 visual tokens, 32 instruction tokens, budget 25%.
     */
    public static ScenarioSpec midSize(long baseSeed) {
        return new ScenarioSpec(0, "mid-size", new ModelShape(4, 8, 2, 32), TokenLayout.of(RowLayout.of(16, 576, 32)),
                Budget.ratio(0.25), derive(baseSeed, "mid-size", 0), 0);
    }

    /**
     * Grouped-query scenarios for the head-grouping check: groups of 4 and of 3 query heads per KV head, one
     * image, several images and many images.
     */
    public static List<ScenarioSpec> grouped(long baseSeed) {
        record G(LayoutKind kind, ModelShape shape, Budget budget) {}
        List<G> gs = List.of(new G(LayoutKind.ONE_IMAGE, new ModelShape(2, 8, 2, 16), Budget.ratio(0.25)),
                new G(LayoutKind.SEVERAL_IMAGES, new ModelShape(1, 12, 3, 16), Budget.ratio(0.1)),
                new G(LayoutKind.MANY_IMAGES, new ModelShape(2, 8, 2, 32), Budget.ratio(0.25)),
                new G(LayoutKind.IMAGE_THEN_QUESTION, new ModelShape(1, 6, 2, 8), Budget.count(4)));
        List<ScenarioSpec> out = new ArrayList<>();
        for (int i = 0; i < gs.size(); i++) {
            long seed = derive(baseSeed, "grouped", i);
            out.add(new ScenarioSpec(i, gs.get(i).kind().label() + " (grouped)", gs.get(i).shape(),
                    TokenLayout.of(row(gs.get(i).kind(), new SplittableRandom(seed))), gs.get(i).budget(), seed, 0));
        }
        return out;
    }

    /**
     * Scenarios an option's effect is looked for on: text-only (scope), one and several images, image-only,
     * and many images, at budgets from 1 token to 50% (plus a ragged batch if {@code batch}).
     */
    public static List<ScenarioSpec> optionProbes(long baseSeed, boolean batch) {
        record O(LayoutKind kind, ModelShape shape, Budget budget) {}
        List<O> os = List.of(new O(LayoutKind.SEVERAL_IMAGES, SHAPES.get(1), Budget.ratio(0.25)),
                new O(LayoutKind.ONE_IMAGE, SHAPES.get(0), Budget.ratio(0.05)),
                new O(LayoutKind.TEXT_ONLY, SHAPES.get(0), Budget.ratio(0.25)),
                new O(LayoutKind.IMAGE_ONLY, SHAPES.get(2), Budget.ratio(0.5)),
                new O(LayoutKind.MANY_IMAGES, SHAPES.get(1), Budget.count(4)),
                new O(LayoutKind.IMAGE_THEN_QUESTION, SHAPES.get(1), Budget.count(1)));
        List<ScenarioSpec> out = new ArrayList<>();
        for (int i = 0; i < os.size(); i++) {
            long seed = derive(baseSeed, "options", i);
            out.add(new ScenarioSpec(i, os.get(i).kind().label(), os.get(i).shape(), TokenLayout.of(row(os.get(i).kind(), new SplittableRandom(seed))),
                    os.get(i).budget(), seed, 0));
        }
        if (batch) {
            long seed = derive(baseSeed, "options", os.size());
            SplittableRandom rnd = new SplittableRandom(seed);
            out.add(new ScenarioSpec(os.size(), "batch[one-image, text-only, several-images]", SHAPES.get(1),
                    TokenLayout.of(row(LayoutKind.ONE_IMAGE, rnd), row(LayoutKind.TEXT_ONLY, rnd), row(LayoutKind.SEVERAL_IMAGES, rnd)), Budget.ratio(0.25), seed, 0));
        }
        return out;
    }

    /** Decode steps of the long-generation decoding scenario. */
    public static final int LONG_DECODE_STEPS = 320;

    /**
     * Decoding scenarios: prompts of several layouts with {@code steps} prepared generated positions, at budgets
     * of 25%, 4 tokens and 0, one long generation of {@link #LONG_DECODE_STEPS} steps at budget 8 (plus ragged
     * batches if {@code batch}). Each scenario's {@link ScenarioSpec#maxGenerated()} is its number of steps.
     */
    public static List<ScenarioSpec> decoding(long baseSeed, int steps, boolean batch) {
        LayoutKind[] kinds = {LayoutKind.ONE_IMAGE, LayoutKind.TEXT_ONLY, LayoutKind.SEVERAL_IMAGES, LayoutKind.IMAGE_ONLY};
        List<Budget> budgets = List.of(Budget.ratio(0.25), Budget.count(4), Budget.count(0));
        List<ScenarioSpec> out = new ArrayList<>();
        int i = 0;
        for (LayoutKind kind : kinds) {
            Budget budget = budgets.get(i % budgets.size());
            long seed = derive(baseSeed, "decoding", i);
            SplittableRandom rnd = new SplittableRandom(seed);
            out.add(new ScenarioSpec(i, kind.label(), SHAPES.get(i % 3), TokenLayout.of(row(kind, rnd)), budget, seed, steps));
            i++;
        }
        {
            // a long generation: LONG_DECODE_STEPS steps on a short prompt
            long seed = derive(baseSeed, "decoding", i);
            SplittableRandom rnd = new SplittableRandom(seed);
            out.add(new ScenarioSpec(i, LayoutKind.ONE_IMAGE.label() + " (long generation)", SHAPES.get(1), TokenLayout.of(row(LayoutKind.ONE_IMAGE, rnd)),
                    Budget.count(8), seed, Math.max(steps, LONG_DECODE_STEPS)));
            i++;
        }
        if (batch) {
            for (Budget budget : List.of(Budget.ratio(0.25), Budget.count(2))) {
                long seed = derive(baseSeed, "decoding", i);
                SplittableRandom rnd = new SplittableRandom(seed);
                TokenLayout layout = TokenLayout.of(row(LayoutKind.ONE_IMAGE, rnd), row(LayoutKind.TEXT_ONLY, rnd), row(LayoutKind.SEVERAL_IMAGES, rnd));
                out.add(new ScenarioSpec(i, "batch[one-image, text-only, several-images]", SHAPES.get(1), layout, budget, seed, steps));
                i++;
            }
        }
        return out;
    }
}
