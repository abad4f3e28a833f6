package io.github.kvpolicy.cli.archfixture;

import io.github.kvpolicy.runtime.cache.KvCache;

/** Violates the one-decode-path rule: production-side code holding the host reference cache. */
public class HostDecoding {
    KvCache cache;

    public long bytes() {
        return cache.bytes();
    }
}
