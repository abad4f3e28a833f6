package io.github.kvpolicy.api.archfixture;

/** Violates DISCOVERY_LIVES_IN_THE_HOST: an SPI class that looks providers up itself. */
public class ApiDiscoveringProviders {
    public Object find() {
        return java.util.ServiceLoader.load(Runnable.class);
    }
}
