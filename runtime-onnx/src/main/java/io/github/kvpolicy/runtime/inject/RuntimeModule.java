package io.github.kvpolicy.runtime.inject;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import com.google.inject.name.Named;
import com.google.inject.name.Names;
import io.github.kvpolicy.runtime.Generator;
import io.github.kvpolicy.runtime.GeneratorConfig;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Guice bindings of the runtime: the {@link GeneratorConfig}, the model directory ({@code @Named("kvpolicy.model")})
 * and a singleton {@link Generator} opened with {@link Generator#openModel} (a model package or a folder of built
 * graphs). The injector's owner closes the generator ({@code injector.getInstance(Generator.class).close()}).
 * Guice stays here: the library API ({@link Generator} and friends) works without it.
 */
public final class RuntimeModule extends AbstractModule {
    /** The binding name of the model directory. */
    public static final String MODEL_DIR = "kvpolicy.model";

    private final Path modelDir;
    private final GeneratorConfig config;

    public RuntimeModule(Path modelDir, GeneratorConfig config) {
        this.modelDir = Objects.requireNonNull(modelDir, "modelDir");
        this.config = Objects.requireNonNull(config, "config");
    }

    @Override
    protected void configure() {
        bind(GeneratorConfig.class).toInstance(config);
        bind(Path.class).annotatedWith(Names.named(MODEL_DIR)).toInstance(modelDir);
    }

    @Provides
    @Singleton
    Generator generator(@Named(MODEL_DIR) Path dir, GeneratorConfig cfg) {
        return Generator.openModel(dir, cfg);
    }
}
