package io.github.kvpolicy.conformance;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.ModelShape;
import io.github.kvpolicy.api.Modality;
import io.github.kvpolicy.api.RowLayout;
import io.github.kvpolicy.api.TokenLayout;
import io.github.kvpolicy.conformance.synthetic.SyntheticScenario;

/**
 * One generated, reproducible scenario: a model shape, a batch layout, a budget and the seed its tensors come from.
 * {@link #build()} gives a fresh {@link SyntheticScenario} each time (equal tensors for equal specs). Immutable.
 *
 * @param index        position in its generated list (for messages)
 * @param kind         the layout kind(s), e.g. {@code one-image} or {@code batch[text-only, several-images]}
 * @param shape        model shape
 * @param layout       the batch layout
 * @param budget       the budget the policy is called with
 * @param seed         seed of the tensors and of {@code PolicyContext.seed()}
 * @param maxGenerated generated positions with prepared queries (decoding scenarios), ≥ 0
 * @param mean         added to every key and query component (0: centred)
 * @param scale        multiplies every key and query component before {@code mean} is added (1: unit variance)
 */
public record ScenarioSpec(int index, String kind, ModelShape shape, TokenLayout layout, Budget budget, long seed, int maxGenerated,
                           float mean, float scale) {

    /** A spec with centred, unit-scale keys and queries. */
    public ScenarioSpec(int index, String kind, ModelShape shape, TokenLayout layout, Budget budget, long seed, int maxGenerated) {
        this(index, kind, shape, layout, budget, seed, maxGenerated, 0f, 1f);
    }

    /** A fresh synthetic scenario for this spec. */
    public SyntheticScenario build() {
        return SyntheticScenario.random(shape, layout, seed, maxGenerated, mean, scale);
    }

    /** The longest prompt of the batch. */
    public int maxPromptLength() {
        int m = 0;
        for (RowLayout r : layout.rows()) m = Math.max(m, r.promptLength());
        return m;
    }

    /** One line: kind, shape, rows, budget and seed. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        sb.append('#').append(index).append(' ').append(kind).append(": ").append(shape.layers()).append(" layers, ")
                .append(shape.queryHeads()).append(" query / ").append(shape.kvHeads()).append(" KV heads, head dim ").append(shape.headDim())
                .append("; rows [");
        for (int r = 0; r < layout.batchSize(); r++) {
            RowLayout row = layout.row(r);
            if (r > 0) sb.append("; ");
            sb.append(row.promptLength()).append(" tokens, ").append(row.count(Modality.IMAGE)).append(" visual in ")
                    .append(row.images().size()).append(row.images().size() == 1 ? " image" : " images");
        }
        sb.append("]; budget ").append(budget);
        if (mean != 0f || scale != 1f) sb.append("; keys/queries ").append(mean).append(" + ").append(scale).append("·N(0,1)");
        if (maxGenerated > 0) sb.append("; ").append(maxGenerated).append(" decode steps");
        return sb.append("; scenario seed ").append(seed).toString();
    }

    @Override
    public String toString() {
        return describe();
    }
}
