package org.acme;

/** Spins forever, ignoring interrupts, on a long prompt (broken on purpose; the skeleton is {@link LongPromptDefect}). */
public final class LoopingProvider extends LongPromptDefect {
    public LoopingProvider() {
        super("acme-loop", "Spins forever, ignoring interrupts, on a long prompt");
    }

    @Override
    protected void onLongPrompt() {
        long x = 0;
        while (x >= 0) x = (x + 1) & 0x3fffffffffffffffL;
        throw new AssertionError(x);
    }
}
