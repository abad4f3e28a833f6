package io.github.kvpolicy.evaluation.engine;

/**
 * Produces answers for the {@link EvaluationEngine}: the seam where a model plugs in (the GridVQA testbed today; real
 * VLMs once their image processing exists). The engine calls {@link #prepare} once per example that still has work
 * and then {@link Prepared#answer} for each missing (contender, retention), so an implementation can prefill once and
 * fork its KV cache per policy, as the GridVQA answerer does.
 *
 * <p>Contract: {@code answer} must not depend on which other (contender, retention) pairs were asked before on the
 * same {@code Prepared} (a resumed run asks for a subset), and must be deterministic for a given example,
 * contender and retention if resumed runs are to be comparable. Not required to be thread-safe.
 *
 * @param <E> the example type
 */
public interface Answerer<E extends EvalExample> {
    /** One example made ready (e.g. prefilled); closed by the engine after its last answer. */
    interface Prepared extends AutoCloseable {
        Answer answer(Contender contender, double retention);

        @Override
        void close();
    }

    /**
     * Prepares {@code example}.
     *
     * @throws IllegalArgumentException if this answerer cannot handle the example (one line saying why)
     */
    Prepared prepare(E example);
}
