/** The runtime benchmark ({@link io.github.kvpolicy.runtime.bench.Bench}); not part of the test suite. */
package io.github.kvpolicy.runtime.bench;
