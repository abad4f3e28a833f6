/**
 * Checking a built model against a transformers reference file: {@link io.github.kvpolicy.runtime.model.verify.ReferenceFile}
 * (inputs and outputs saved by transformers) and {@link io.github.kvpolicy.runtime.model.verify.ModelVerifier} (logits at
 * every prompt position, greedy decoding through the {@code Generator}), used by {@code kvpolicy verify-model} and the
 * family tests.
 */
package io.github.kvpolicy.runtime.model.verify;
