package io.github.kvpolicy.host.config;

/** A configuration file, flag or environment variable is malformed; the message names the source and key. */
public class ConfigException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }
}
