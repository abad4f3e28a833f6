package io.github.kvpolicy.api;

import java.util.EnumSet;
import java.util.Set;

/**
 * Tokens a policy always keeps within its scope. Evaluated per (row, layer, KV head) over the in-scope
 * positions currently cached there, in position order: the first {@code sinks}, the last {@code recent},
 * and every position whose modality is in {@code modalities}. Protected tokens are outside the budget.
 *
 * @param sinks      leading in-scope positions always kept (StreamingLLM's attention sinks), ≥ 0
 * @param recent     trailing in-scope positions always kept (an observation or recency window), ≥ 0
 * @param modalities modalities always kept
 */
@Stable
public record Protection(int sinks, int recent, Set<Modality> modalities) {
    public Protection {
        if (sinks < 0 || recent < 0) throw new IllegalArgumentException("sinks and recent must be >= 0: " + sinks + ", " + recent);
        modalities = modalities.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(modalities));
    }

    /** Nothing protected. */
    public static Protection none() {
        return new Protection(0, 0, Set.of());
    }

    public static Protection sinksAndRecent(int sinks, int recent) {
        return new Protection(sinks, recent, Set.of());
    }

    public boolean isNone() {
        return sinks == 0 && recent == 0 && modalities.isEmpty();
    }
}
