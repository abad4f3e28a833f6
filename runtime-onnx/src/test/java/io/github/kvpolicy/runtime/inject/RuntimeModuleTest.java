package io.github.kvpolicy.runtime.inject;

import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.ProvisionException;
import io.github.kvpolicy.runtime.GenerationRequest;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;
import io.github.kvpolicy.runtime.Prompt;
import io.github.kvpolicy.runtime.TestModels;
import io.github.kvpolicy.runtime.model.ModelPackage;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class RuntimeModuleTest {
    @Test
    void injectsOneGeneratorThatMatchesTheLibraryApi() {
        ModelPackage.BuiltModel built = TestModels.built("tiny", 7);
        Path pkgDir = TestModels.dir("tiny-7"); // the package folder (config.json + weights)
        GeneratorConfig cfg = GeneratorConfig.defaults().withPrefillChunk(4);
        Injector inj = Guice.createInjector(new RuntimeModule(pkgDir, cfg));
        try (Generator g = inj.getInstance(Generator.class)) {
            assertSame(g, inj.getInstance(Generator.class));
            assertEquals(cfg, g.config());
            GenerationRequest req = GenerationRequest.builder().row(Prompt.ofTokens(5, 6, 7, 8, 9)).maxNewTokens(4).build();
            try (Generator plain = Generator.open(built.decoder().getParent(), GeneratorConfig.defaults())) {
                assertArrayEquals(plain.generate(req).tokens(0), g.generate(req).tokens(0));
            }
        }
    }

    @Test
    void aFolderThatIsNoModelFailsNamingWhatWasExpected(@org.junit.jupiter.api.io.TempDir Path dir) {
        Injector inj = Guice.createInjector(new RuntimeModule(dir, GeneratorConfig.defaults()));
        ProvisionException e = assertThrows(ProvisionException.class, () -> inj.getInstance(Generator.class));
        assertTrue(e.getCause().getMessage().contains("is not a model: expected config.json (a model package) or decoder.onnx + embed.onnx"), e.getMessage());
    }
}
