package org.acme;

/** Allocates until the heap is exhausted on a long prompt (broken on purpose; the skeleton is {@link LongPromptDefect}). */
public final class HoardingProvider extends LongPromptDefect {
    public HoardingProvider() {
        super("acme-oom", "Allocates until the heap is exhausted on a long prompt");
    }

    @Override
    protected void onLongPrompt() {
        java.util.List<long[]> hoard = new java.util.ArrayList<>();
        while (hoard.size() >= 0) hoard.add(new long[1 << 20]);
        throw new AssertionError(hoard.size());
    }
}
