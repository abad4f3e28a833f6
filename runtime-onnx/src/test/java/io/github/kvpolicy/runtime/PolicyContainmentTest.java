package io.github.kvpolicy.runtime;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.PolicyContext;
import io.github.kvpolicy.api.Protection;
import io.github.kvpolicy.api.RetentionPlan;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.TokenScorer;
import io.github.kvpolicy.runtime.cache.KvCache;
import io.github.kvpolicy.runtime.policy.PolicyCapabilityException;
import io.github.kvpolicy.runtime.policy.PolicyDeclaration;
import io.github.kvpolicy.runtime.policy.PolicyFailureException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.net.URLClassLoader;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A misbehaving policy fails its request, never the process or the generator: hangs (time limit, quarantine),
 * every kind of {@link Throwable}, reaching for the runtime's cache, capabilities it did not declare, concurrent calls
 * it cannot take; and the generator's lifecycle (close during generate, double close).
 */
class PolicyContainmentTest {
    private static ModelPackage_ tiny;
    private static Generator gen;
    private static volatile boolean stopHanging;

    /** Holder so the static model is built once. */
    private record ModelPackage_(io.github.kvpolicy.runtime.model.ModelPackage.BuiltModel built) {}

    @BeforeAll
    static void open() {
        tiny = new ModelPackage_(TestModels.built("tiny", 7));
        gen = Generator.open(tiny.built(), GeneratorConfig.defaults().withIntraOpThreads(1).withPolicyCallLimit(Duration.ofMillis(700)));
    }

    @AfterAll
    static void close() {
        gen.close();
    }

    private static GenerationRequest request(CompressionPolicy p, PolicyDeclaration d, int rows) {
        GenerationRequest.Builder b = GenerationRequest.builder().maxNewTokens(4).policy(p, Budget.count(8), d);
        for (int r = 0; r < rows; r++) b.row(Prompt.ofTokens(5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 + r));
        return b.build();
    }

    private static GenerationRequest plain() {
        return GenerationRequest.builder().row(Prompt.ofTokens(5, 6, 7, 8, 9)).maxNewTokens(4).build();
    }

    /** A policy whose compress runs {@code body}, with scope ALL so it acts on a text prompt. */
    private static CompressionPolicy policy(String name, Function<PolicyContext, RetentionPlan> body) {
        return new CompressionPolicy() {
            @Override public String name() { return name; }
            @Override public TokenScorer scorer() { return TestPolicies.UNUSED; }
            @Override public io.github.kvpolicy.api.Scope scope() { return io.github.kvpolicy.api.Scope.ALL; }
            @Override public RetentionPlan compress(PolicyContext ctx) { return body.apply(ctx); }
        };
    }

    @Test
    void aPolicyThatNeverReturnsFailsItsRequestWithinTheLimitAndIsQuarantined() {
        AtomicInteger calls = new AtomicInteger();
        CompressionPolicy hang = policy("test-hang", ctx -> {
            calls.incrementAndGet();
            long x = 0;
            while (!stopHanging) { // ignores interrupts, like a buggy plugin (the flag only keeps the test JVM quiet afterwards)
                x++;
            }
            return null;
        });
        long t0 = System.nanoTime();
        PolicyFailureException e = assertThrows(PolicyFailureException.class, () -> gen.generate(request(hang, PolicyDeclaration.undeclared(), 1)));
        double s = (System.nanoTime() - t0) / 1e9;
        assertTrue(e.getMessage().contains("'test-hang'") && e.getMessage().contains("did not return within its limit of 700 ms"), e.getMessage());
        assertTrue(s < 30, "returned after " + s + " s");
        // the generator still serves other requests
        assertEquals(4, gen.generate(plain()).tokens(0).length);
        // the same policy is refused at once, without another call
        PolicyFailureException again = assertThrows(PolicyFailureException.class, () -> gen.generate(request(hang, PolicyDeclaration.undeclared(), 1)));
        assertTrue(again.getMessage().contains("quarantined"), again.getMessage());
        assertEquals(1, calls.get());
        stopHanging = true;
        gen.policyRunner().release("test-hang");
        assertNull(gen.policyRunner().quarantineReason("test-hang"));
    }

    @Test
    void aDeclaredMaxCallTimeIsTheLimit() {
        CompressionPolicy slow = policy("test-slow", ctx -> {
            try {
                Thread.sleep(5_000);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            return null;
        });
        PolicyDeclaration d = new PolicyDeclaration(EnumSet.allOf(Capability.class), Optional.of(Duration.ofMillis(200)));
        PolicyFailureException e = assertThrows(PolicyFailureException.class, () -> gen.generate(request(slow, d, 1)));
        assertTrue(e.getMessage().contains("200 ms"), e.getMessage());
        gen.policyRunner().release("test-slow");
    }

    @Test
    void everyThrowableBecomesAPolicyFailureNamingThePolicy() {
        Throwable[] faults = {new IllegalStateException("boom"), new StackOverflowError(), new OutOfMemoryError("Java heap space"),
                new AssertionError("assert"), new NoClassDefFoundError("com/example/Missing"), new ExceptionInInitializerError("static init")};
        for (Throwable f : faults) {
            CompressionPolicy p = policy("test-fault", ctx -> {
                if (f instanceof RuntimeException re) throw re;
                throw (Error) f;
            });
            PolicyFailureException e = assertThrows(PolicyFailureException.class, () -> gen.generate(request(p, PolicyDeclaration.undeclared(), 1)), f.toString());
            assertTrue(e.getMessage().startsWith("policy 'test-fault' failed after prefill: "), e.getMessage());
            assertTrue(e.getMessage().contains(f.getClass().getSimpleName()), e.getMessage());
            assertSame(f, e.getCause());
        }
        CompressionPolicy nul = policy("test-null", ctx -> null);
        assertTrue(assertThrows(PolicyFailureException.class, () -> gen.generate(request(nul, PolicyDeclaration.undeclared(), 1)))
                .getMessage().contains("returned null"));
        assertEquals(4, gen.generate(plain()).tokens(0).length, "the generator is still usable");
    }

    @Test
    void policiesSeeAReadOnlyViewNotTheRuntimesCache() {
        AtomicReference<Object> seen = new AtomicReference<>();
        CompressionPolicy closer = policy("test-closer", ctx -> {
            seen.set(ctx.cache());
            ((KvCache) ctx.cache()).close(); // what a hostile plugin tried
            return null;
        });
        PolicyFailureException e = assertThrows(PolicyFailureException.class, () -> gen.generate(request(closer, PolicyDeclaration.undeclared(), 1)));
        assertTrue(e.getCause() instanceof ClassCastException, String.valueOf(e.getCause()));
        assertFalse(seen.get() instanceof KvCache);
        // and the same request without the fault answers as before
        GenerationRequest ok = request(TestPolicies.recent(Schedule.onceAfterPrefill(), Protection.none()), PolicyDeclaration.undeclared(), 1);
        assertArrayEquals(gen.generate(ok).tokens(0), gen.generate(ok).tokens(0));
    }

    @Test
    void pluginCodeRunsWithThePolicysClassLoaderAsContextLoader() throws Exception {
        AtomicReference<ClassLoader> tccl = new AtomicReference<>();
        CompressionPolicy recent = TestPolicies.recent(Schedule.onceAfterPrefill(), Protection.none());
        CompressionPolicy spy = policy("test-tccl", ctx -> {
            tccl.set(Thread.currentThread().getContextClassLoader());
            return recent.compress(ctx);
        });
        ClassLoader before = Thread.currentThread().getContextClassLoader();
        try (URLClassLoader other = new URLClassLoader(new URL[0], null)) {
            Thread.currentThread().setContextClassLoader(other);
            gen.generate(request(spy, PolicyDeclaration.undeclared(), 1));
        } finally {
            Thread.currentThread().setContextClassLoader(before);
        }
        assertSame(spy.getClass().getClassLoader(), tccl.get());
    }

    @Test
    void theEngineEnforcesDeclaredCapabilities() {
        AtomicInteger calls = new AtomicInteger();
        CompressionPolicy recent = TestPolicies.recent(Schedule.onceAfterPrefill(), Protection.none());
        CompressionPolicy counting = policy("test-count", ctx -> {
            calls.incrementAndGet();
            return recent.compress(ctx);
        });
        PolicyDeclaration noBatch = new PolicyDeclaration(EnumSet.of(Capability.DETERMINISTIC, Capability.ALL_TOKEN_SCOPE), Optional.empty());
        PolicyCapabilityException e = assertThrows(PolicyCapabilityException.class, () -> gen.generate(request(counting, noBatch, 2)));
        assertTrue(e.getMessage().contains("does not declare the BATCH capability"), e.getMessage());
        assertDoesNotThrow(() -> gen.generate(request(counting, noBatch, 1)));
        PolicyDeclaration noAll = new PolicyDeclaration(EnumSet.of(Capability.BATCH), Optional.empty());
        assertTrue(assertThrows(PolicyCapabilityException.class, () -> gen.generate(request(counting, noAll, 1))).getMessage().contains("ALL_TOKEN_SCOPE"));
        CompressionPolicy decoding = TestPolicies.recent(Schedule.everySteps(2), Protection.none());
        assertTrue(assertThrows(PolicyCapabilityException.class, () -> gen.generate(request(decoding, noBatch, 1))).getMessage().contains("DECODING_TIME"));
        assertEquals(1, calls.get(), "refused requests never reached the policy");
    }

    @Test
    void anInstanceWithoutThreadSafeIsNeverCalledConcurrently() throws Exception {
        AtomicInteger inside = new AtomicInteger(), maxInside = new AtomicInteger();
        CompressionPolicy recent = TestPolicies.recent(Schedule.onceAfterPrefill(), Protection.none());
        CompressionPolicy p = policy("test-serial", ctx -> {
            int n = inside.incrementAndGet();
            maxInside.accumulateAndGet(n, Math::max);
            try {
                Thread.sleep(30);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            inside.decrementAndGet();
            return recent.compress(ctx);
        });
        PolicyDeclaration d = new PolicyDeclaration(EnumSet.of(Capability.ALL_TOKEN_SCOPE), Optional.empty());
        Thread[] ts = new Thread[4];
        AtomicReference<Throwable> err = new AtomicReference<>();
        for (int i = 0; i < ts.length; i++) {
            ts[i] = new Thread(() -> {
                try {
                    for (int k = 0; k < 3; k++) gen.generate(request(p, d, 1));
                } catch (Throwable t) {
                    err.set(t);
                }
            });
            ts[i].start();
        }
        for (Thread t : ts) t.join();
        assertNull(err.get());
        assertEquals(1, maxInside.get());
    }

    @Test
    void closeWaitsForAGenerationInFlightAndIsIdempotent() throws Exception {
        Generator g = Generator.open(tiny.built(), GeneratorConfig.defaults().withIntraOpThreads(1));
        CountDownLatch started = new CountDownLatch(1);
        AtomicReference<Object> outcome = new AtomicReference<>();
        CompressionPolicy recent = TestPolicies.recent(Schedule.onceAfterPrefill(), Protection.none());
        CompressionPolicy signal = policy("test-signal", ctx -> {
            started.countDown();
            return recent.compress(ctx);
        });
        Thread t = new Thread(() -> {
            try {
                outcome.set(g.generate(GenerationRequest.builder().row(Prompt.ofTokens(5, 6, 7, 8, 9, 10, 11, 12)).maxNewTokens(400)
                        .policy(signal, Budget.count(4)).build()));
            } catch (Throwable e) {
                outcome.set(e);
            }
        });
        t.start();
        started.await();
        g.close(); // used to free the native sessions under the running decoder: SIGSEGV
        t.join();
        assertTrue(outcome.get() instanceof GenerationResult, String.valueOf(outcome.get()));
        assertEquals(400, ((GenerationResult) outcome.get()).tokens(0).length);
        assertDoesNotThrow(g::close);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> g.generate(plain()));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }
}
