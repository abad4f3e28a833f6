/**
 * How policies are published and configured: the {@link io.github.kvpolicy.api.provider.PolicyProvider}
 * service found with {@link java.util.ServiceLoader}, its typed option schema, and the
 * {@link io.github.kvpolicy.api.provider.PolicyRegistry} that looks providers up by name.
 */
package io.github.kvpolicy.api.provider;
