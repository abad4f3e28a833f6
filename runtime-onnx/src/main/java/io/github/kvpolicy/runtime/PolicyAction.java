package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.Phase;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.runtime.cache.CompactionReport;

/**
 * One application of the policy: when, the validated plan, what it cost and the KV memory before/after.
 *
 * @param phase        prefill or decoding
 * @param decodeStep   generated tokens cached when it acted (0 at prefill)
 * @param plan         the applied plan; kept for the first action of a request (the prefill action) and, only when
 *                     {@link GenerationRequest#recordPlans()} asks for it, for decoding-time actions too; null otherwise
 *                     (so that a long decoding run holds bounded memory)
 * @param policyMs     building the context, {@code compress} (scoring, allocation, eviction) and validation, in ms
 * @param compactionMs rewriting the cache to the plan, in ms
 * @param memory       KV bytes per layer before and after (allocated and live separately)
 */
public record PolicyAction(Phase phase, int decodeStep, RetentionPlan plan, double policyMs, double compactionMs, CompactionReport memory) {
    /** True if {@link #plan} was kept. */
    public boolean hasPlan() {
        return plan != null;
    }
}
