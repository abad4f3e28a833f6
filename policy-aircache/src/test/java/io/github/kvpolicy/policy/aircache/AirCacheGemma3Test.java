package io.github.kvpolicy.policy.aircache;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.GenerationResult;
import io.github.kvpolicy.runtime.GenerationSession;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.model.ModelPackage;
import io.github.kvpolicy.runtime.model.config.ModelConfig;
import io.github.kvpolicy.runtime.model.verify.ModelVerifier;
import io.github.kvpolicy.runtime.model.verify.ReferenceFile;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * AirCache at 10% and 50% end to end on the Gemma 3 fixture (runtime-onnx's {@code src/test/resources/hf/gemma3}: SigLIP
 * image of 4 tokens, a sliding-window layer with W = 8 and a global layer): the plan runs through the Generator (its
 * attention statistics come from the probe with Gemma's score scale, window and bidirectional image block), evicts
 * visual keys, and the decoding that follows equals decoding from the uncompacted cache with exactly the evicted
 * slots masked — the window stays on original positions after compaction.
 */
class AirCacheGemma3Test {
    static final Path FIXTURE = Path.of("..", "runtime-onnx", "src", "test", "resources", "hf", "gemma3");

    @TempDir
    Path tmp;

    /** 10% of the 4 visual tokens rounds to none kept; 50% keeps some per head by AirCache's importance. */
    @ParameterizedTest
    @ValueSource(doubles = {0.1, 0.5})
    void aircacheRunsOnGemma3(double ratio) throws Exception {
        assertTrue(Files.isRegularFile(FIXTURE.resolve("model.safetensors")), "the Gemma 3 fixture is missing at " + FIXTURE.toAbsolutePath());
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors", "reference.safetensors")) {
            Files.copy(FIXTURE.resolve(f), tmp.resolve(f));
        }
        ModelPackage pkg = ModelPackage.open(tmp);
        ModelConfig cfg = pkg.config();
        int maxNew = 6;
        try (Generator gen = Generator.open(pkg, GeneratorConfig.defaults().withIntraOpThreads(1))) {
            ReferenceFile ref = ReferenceFile.read(tmp.resolve("reference.safetensors"));
            long[] ids = ref.longs("input_ids");
            Prompt prompt = ModelVerifier.prompt(cfg, ids, ModelVerifier.imageEmbeddings(gen.sessions(), cfg, ref, ids));
            GenerationResult r = gen.generate(GenerationRequest.builder().row(prompt).maxNewTokens(maxNew)
                    .policy(new AirCachePolicy("aircache", AirCacheSettings.defaults()), Budget.ratio(ratio)).recordLogits(true).build());
            RetentionPlan plan = r.actions().getFirst().plan();
            int hkv = cfg.numKvHeads(), l = ids.length;
            long all = (long) cfg.numLayers() * hkv * l;
            assertTrue(plan.totalKept() < all, "AirCache evicted nothing");
            long text = (long) cfg.numLayers() * hkv * (l - 4);
            assertTrue(ratio < 0.5 ? plan.totalKept() == text : plan.totalKept() > text, "visual keys kept: " + (plan.totalKept() - text));

            try (GenerationSession s = gen.newSession(GenerationRequest.builder().row(prompt).maxNewTokens(maxNew).recordLogits(true).build())) {
                s.prefill();
                s.kvCache().maskEvicted(plan); // the full cache with exactly the evicted tokens masked
                GenerationResult masked = s.runToEnd();
                assertArrayEquals(masked.tokens(0), r.tokens(0));
                double worst = 0;
                for (int t = 0; t < maxNew; t++) worst = Math.max(worst, ModelVerifier.maxAbsDiff(masked.logits().get(0).get(t), r.logits().get(0).get(t)));
                assertTrue(worst < 1e-5, "compacted vs masked logits max|Δ| " + worst);
                System.out.printf("gemma3 aircache %.0f%%: kept %d of %d keys, compacted vs masked max|Δ| %.3g%n", ratio * 100, plan.totalKept(), all, worst);
            }
        }
    }
}
