package io.github.kvpolicy.runtime;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * The bounded record of a request's policy actions: the first action, the most recent {@link #RECENT} ones, and totals
 * over all of them. Memory stays constant however long a request decodes (a decoding-time policy may act at every
 * step). Not thread-safe (one per session).
 */
final class ActionLog {
    /** Recent actions kept besides the first. */
    static final int RECENT = 64;

    private PolicyAction first;
    private final ArrayDeque<PolicyAction> recent = new ArrayDeque<>();
    private long count;

    ActionLog() {}

    ActionLog(ActionLog o) {
        this.first = o.first;
        this.recent.addAll(o.recent);
        this.count = o.count;
    }

    void add(PolicyAction a) {
        count++;
        if (first == null) {
            first = a;
            return;
        }
        recent.addLast(a);
        if (recent.size() > RECENT) recent.removeFirst();
    }

    /** Every action taken so far. */
    long count() {
        return count;
    }

    boolean isEmpty() {
        return count == 0;
    }

    /** True if some action happened in {@code phase}. */
    boolean any(io.github.kvpolicy.api.Phase phase) {
        if (first != null && first.phase() == phase) return true;
        for (PolicyAction a : recent) if (a.phase() == phase) return true;
        return false;
    }

    /** The first action and the most recent ones, in order. */
    List<PolicyAction> retained() {
        List<PolicyAction> out = new ArrayList<>(recent.size() + 1);
        if (first != null) out.add(first);
        out.addAll(recent);
        return out;
    }
}
