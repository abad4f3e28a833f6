package io.github.kvpolicy.evaluation.metrics;

import java.util.ArrayList;
import java.util.List;

/**
 * VQA accuracy (Antol et al., "VQA: Visual Question Answering", ICCV 2015; the official evaluation script
 * {@code vqaEval.py} of the VQA API). The prediction and every annotator answer are normalised by
 * {@link VqaNormalizer}; with n answers, the score is the mean over the n leave-one-out subsets of
 * min(#answers in the subset equal to the prediction / 3, 1). With the usual 10 answers these are the 10 subsets of 9
 * the official script averages over, so 3 matching annotators give 0.9 (not 1) and 4 or more give 1.
 *
 * <p>Two deliberate differences from {@code vqaEval.py}: it normalises only when the annotators disagree, we always
 * do (as EvalAI's answer processor and most VLM harnesses do; otherwise "Yes." scores 0 against ten "yes");
 * and with a single answer (a user set, not VQA) the score is exact match after normalisation, because one answer
 * leaves no subset to vote.
 */
public final class VqaAccuracy implements Metric {
    /** Annotators that must agree for full credit. */
    public static final int FULL_CREDIT_VOTES = 3;

    @Override
    public String name() {
        return "vqa";
    }

    @Override
    public double score(String prediction, List<String> answers) {
        Metric.requireAnswers(name(), answers);
        String p = VqaNormalizer.normalise(prediction);
        List<String> gts = new ArrayList<>(answers.size());
        for (String a : answers) gts.add(VqaNormalizer.normalise(a));
        if (gts.size() == 1) return gts.get(0).equals(p) ? 1.0 : 0.0;
        int matching = 0;
        for (String g : gts) if (g.equals(p)) matching++;
        double sum = 0;
        for (String held : gts) {
            int others = matching - (held.equals(p) ? 1 : 0); // matches among the other n − 1 answers
            sum += Math.min(1.0, others / (double) FULL_CREDIT_VOTES);
        }
        return sum / gts.size();
    }
}
