package io.github.kvpolicy.host.plugin;

/**
 * The parent of every plugin class loader: it exposes the JDK (through the platform class loader) and the SPI
 * packages ({@code io.github.kvpolicy.api} and its sub-packages, from the host), and nothing else — no runtime,
 * no Guice, no other plugin, and no class-path resources. Thread-safe.
 */
public final class SpiOnlyClassLoader extends ClassLoader {
    /** Package prefix of the classes plugins may see from the host. */
    public static final String SPI_PREFIX = "io.github.kvpolicy.api.";

    static {
        registerAsParallelCapable();
    }

    private final ClassLoader host;

    /** @param host the loader that has the SPI classes (normally the host application's) */
    public SpiOnlyClassLoader(ClassLoader host) {
        super("kvpolicy-spi", ClassLoader.getPlatformClassLoader());
        this.host = host;
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        if (name.startsWith(SPI_PREFIX)) return host.loadClass(name);
        return super.loadClass(name, resolve); // platform (JDK) classes only
    }
}
