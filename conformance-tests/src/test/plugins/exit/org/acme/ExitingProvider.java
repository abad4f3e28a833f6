package org.acme;

/** Calls System.exit(0) on a long prompt (broken on purpose; the skeleton is {@link LongPromptDefect}). */
public final class ExitingProvider extends LongPromptDefect {
    public ExitingProvider() {
        super("acme-exit", "Calls System.exit(0) on a long prompt");
    }

    @Override
    protected void onLongPrompt() {
        System.exit(0);
    }
}
