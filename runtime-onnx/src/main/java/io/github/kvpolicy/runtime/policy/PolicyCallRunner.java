package io.github.kvpolicy.runtime.policy;

import io.github.kvpolicy.api.CompressionPolicy;

import java.time.Duration;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs plugin code (a policy's {@code compress}) the way the engine promises:
 * <ul>
 *   <li><b>on a worker thread with a wall-clock limit.</b> A call that overruns fails its request with a
 *       {@link PolicyFailureException} naming the policy and the limit; the worker is interrupted and then
 *       <em>abandoned</em> (Java cannot stop a thread that ignores interrupts): it is a daemon thread, so it never
 *       blocks the JVM's exit, and the cache it was reading is freed by its session, after which its reads fail
 *       with an exception instead of touching freed memory (shared arenas). The policy's name is
 *       <b>quarantined</b> for this runner: every later call fails at once, until {@link #release}.</li>
 *   <li><b>with the plugin's class loader as the thread context class loader</b> (the class loader of the policy's
 *       class), so service lookups inside the plugin resolve against the plugin, not the host.</li>
 *   <li><b>with every {@link Throwable}</b> (runtime exceptions, {@link StackOverflowError},
 *       {@link OutOfMemoryError}, linkage errors) turned into a {@link PolicyFailureException} naming the policy;
 *       nothing a policy throws escapes as anything else.</li>
 *   <li><b>serialized per instance</b> when the declaration lacks {@code THREAD_SAFE}.</li>
 * </ul>
 * A runner belongs to a {@link io.github.kvpolicy.runtime.Generator} (or to one conformance run) and is thread-safe.
 * {@link #close()} stops idle workers; abandoned ones keep running until they return.
 */
public final class PolicyCallRunner implements AutoCloseable {
    private static final AtomicInteger THREADS = new AtomicInteger();
    private final ExecutorService workers;
    private final Duration defaultLimit;
    private final Map<String, String> quarantined = new ConcurrentHashMap<>();
    private final Map<CompressionPolicy, Object> locks = Collections.synchronizedMap(new WeakHashMap<>());

    /** @param defaultLimit the limit of a call whose policy declares no {@code maxCallTime}; positive */
    public PolicyCallRunner(Duration defaultLimit) {
        if (defaultLimit == null || defaultLimit.isNegative() || defaultLimit.isZero()) throw new IllegalArgumentException("defaultLimit must be positive, got " + defaultLimit);
        this.defaultLimit = defaultLimit;
        ThreadFactory tf = r -> {
            Thread t = new Thread(r, "kvpolicy-policy-" + THREADS.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
        this.workers = Executors.newCachedThreadPool(tf);
    }

    /** The limit that applies to {@code declaration}: its {@code maxCallTime} if declared, else the default. */
    public Duration limit(PolicyDeclaration declaration) {
        return declaration.maxCallTime().filter(d -> !d.isNegative() && !d.isZero()).orElse(defaultLimit);
    }

    /** Why {@code policyName} is quarantined, or null if it is not. */
    public String quarantineReason(String policyName) {
        return quarantined.get(policyName);
    }

    /** Lifts the quarantine of {@code policyName} (e.g. after the user replaced the plugin). */
    public void release(String policyName) {
        quarantined.remove(policyName);
    }

    /**
     * Calls {@code body} (plugin code of {@code policy}) under the rules of the class comment.
     *
     * @param what a few words for messages, e.g. "after prefill" or "at decoding step 12"
     * @throws PolicyFailureException if the policy is quarantined, overruns its limit, or throws anything
     */
    public <T> T call(CompressionPolicy policy, PolicyDeclaration declaration, String what, Callable<T> body) {
        String name = safeName(policy);
        String q = quarantined.get(name);
        if (q != null) throw new PolicyFailureException(name, "policy '" + name + "' is quarantined: " + q, null);
        Duration limit = limit(declaration);
        ClassLoader pluginLoader = policy.getClass().getClassLoader();
        Object lock = declaration.serializeCalls() ? locks.computeIfAbsent(policy, k -> new Object()) : null;
        Callable<T> task = () -> {
            Thread t = Thread.currentThread();
            ClassLoader before = t.getContextClassLoader();
            t.setContextClassLoader(pluginLoader);
            try {
                if (lock == null) return body.call();
                synchronized (lock) {
                    return body.call();
                }
            } finally {
                t.setContextClassLoader(before);
            }
        };
        Future<T> f;
        try {
            f = workers.submit(task);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            throw new IllegalStateException("the policy runner was closed", e);
        }
        try {
            return f.get(limit.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            String reason = "a compress() call " + what + " did not return within its limit of " + format(limit)
                    + (declaration.maxCallTime().isPresent() ? " (the provider's maxCallTime)" : " (the generator's policyCallLimit)")
                    + "; its thread was interrupted and abandoned";
            quarantined.put(name, reason);
            throw new PolicyFailureException(name, "policy '" + name + "' failed " + what + ": " + reason.substring(reason.indexOf("did not")), null);
        } catch (ExecutionException e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            throw new PolicyFailureException(name, "policy '" + name + "' failed " + what + ": " + describe(c), c);
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw new PolicyFailureException(name, "policy '" + name + "' " + what + ": interrupted while waiting for the policy", e);
        }
    }

    private static String safeName(CompressionPolicy p) {
        try {
            String n = p.name();
            return n == null ? p.getClass().getName() : n;
        } catch (Throwable t) {
            return p.getClass().getName();
        }
    }

    /** One line: the throwable's class and message, e.g. {@code java.lang.StackOverflowError} or {@code IllegalStateException: x}. */
    public static String describe(Throwable t) {
        String m = t.getMessage();
        String n = t.getClass().getName();
        if (n.startsWith("java.lang.")) n = n.substring("java.lang.".length());
        return m == null ? n : n + ": " + m.lines().findFirst().orElse("");
    }

    private static String format(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? (ms / 1000) + " s" : ms + " ms";
    }

    /** Stops idle workers; a call in flight is not waited for (its thread is a daemon). Idempotent. */
    @Override
    public void close() {
        workers.shutdownNow();
    }
}
