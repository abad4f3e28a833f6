package io.github.kvpolicy.cli;

import com.google.inject.AbstractModule;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import io.github.kvpolicy.host.config.KvPolicyConfig;
import io.github.kvpolicy.host.plugin.PluginLoader;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;

/**
 * The command-line tool's composition root: configuration → plugin registry (class path + plugin directories) →
 * the configured policy. The runtime's own bindings come from {@code io.github.kvpolicy.runtime.inject}.
 */
public final class KvPolicyModule extends AbstractModule {
    private final KvPolicyConfig config;

    public KvPolicyModule(KvPolicyConfig config) {
        this.config = config;
    }

    @Override
    protected void configure() {
        bind(KvPolicyConfig.class).toInstance(config);
    }

    @Provides
    @Singleton
    PolicyRegistry registry(KvPolicyConfig c) {
        return new PluginLoader(KvPolicyModule.class.getClassLoader()).load(true, c.pluginDirs());
    }

    @Provides
    CompressionPolicy policy(PolicyRegistry registry, KvPolicyConfig c) {
        return registry.create(c.policy());
    }

    /** What the configured policy's provider declared; the runtime enforces it. */
    @Provides
    PolicyDeclaration declaration(PolicyRegistry registry, KvPolicyConfig c) {
        return PolicyDeclaration.of(registry.provider(c.policy().policy()));
    }

    @Provides
    Budget budget(KvPolicyConfig c) {
        return c.budget();
    }
}
