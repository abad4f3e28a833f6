package org.acme;

/** Calls Runtime.halt(0) on a long prompt (broken on purpose; the skeleton is {@link LongPromptDefect}). */
public final class HaltingProvider extends LongPromptDefect {
    public HaltingProvider() {
        super("acme-halt", "Calls Runtime.halt(0) on a long prompt");
    }

    @Override
    protected void onLongPrompt() {
        Runtime.getRuntime().halt(0);
    }
}
