package io.github.kvpolicy.host.plugin;

import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import java.net.URL;
import java.security.CodeSource;
import java.util.Iterator;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;

/**
 * The one place where kvpolicy finds policy providers: {@link ServiceLoader} over a class loader (the host class path,
 * or one plugin JAR's isolated loader from {@link PluginLoader}). A provider that cannot be instantiated, or a broken
 * services file, becomes a {@linkplain PolicyRegistry.LoadProblem load problem} and does not stop the others. Stateless.
 */
public final class ProviderDiscovery {
    private ProviderDiscovery() {}

    /** The registry of the providers visible to {@code loader} (e.g. a test's or the host's class path). */
    public static PolicyRegistry fromClassLoader(ClassLoader loader) {
        PolicyRegistry.Builder b = PolicyRegistry.builder();
        discover(b, loader, null);
        return b.build();
    }

    /**
     * Adds to {@code builder} every provider {@link ServiceLoader} finds through {@code loader}. Each provider's source
     * is {@code source}, or the location of its class when {@code source} is null.
     */
    public static PolicyRegistry.Builder discover(PolicyRegistry.Builder builder, ClassLoader loader, String source) {
        Iterator<ServiceLoader.Provider<PolicyProvider>> it = ServiceLoader.load(PolicyProvider.class, loader).stream().iterator();
        while (true) {
            ServiceLoader.Provider<PolicyProvider> sp;
            try {
                if (!it.hasNext()) break;
                sp = it.next();
            } catch (ServiceConfigurationError | LinkageError e) {
                builder.problem(source == null ? "class path" : source, describe(e));
                // a broken services entry ends this loader's iteration only if the iterator cannot continue
                if (e instanceof ServiceConfigurationError && e.getMessage() != null && e.getMessage().contains("Error reading")) break;
                continue;
            }
            String where = source;
            try {
                if (where == null) where = locationOf(sp.type());
                builder.add(sp.get(), where);
            } catch (ServiceConfigurationError | RuntimeException | LinkageError e) {
                builder.problem(where == null ? "class path" : where, describe(e));
            }
        }
        return builder;
    }

    private static String describe(Throwable e) {
        StringBuilder sb = new StringBuilder(String.valueOf(e.getMessage()));
        for (Throwable c = e.getCause(); c != null && c != e; c = c.getCause()) sb.append(": ").append(c);
        return sb.toString();
    }

    private static String locationOf(Class<?> type) {
        CodeSource cs = type.getProtectionDomain().getCodeSource();
        URL url = cs == null ? null : cs.getLocation();
        return url == null ? "class path" : url.getPath();
    }
}
