package org.acme;

/** Registers a shutdown hook that never finishes (broken on purpose; the skeleton is {@link LongPromptDefect}). */
public final class HookingProvider extends LongPromptDefect {
    private static final java.util.concurrent.atomic.AtomicBoolean HOOKED = new java.util.concurrent.atomic.AtomicBoolean();

    public HookingProvider() {
        super("acme-hook", "Registers a shutdown hook that never finishes");
        if (!HOOKED.getAndSet(true)) {
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                while (true) {
                    try {
                        Thread.sleep(1_000);
                    } catch (InterruptedException e) {
                        // keep hanging
                    }
                }
            }, "acme-hook"));
        }
    }

    @Override
    protected void onLongPrompt() {
        // nothing: the policy is correct; its defect is the shutdown hook
    }
}
