/** The CPU attention probe: exact attention of kept post-rotary queries over cached keys, as {@link io.github.kvpolicy.api.AttentionQuery} defines it. */
package io.github.kvpolicy.runtime.probe;
