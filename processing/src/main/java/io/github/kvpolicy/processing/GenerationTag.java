package io.github.kvpolicy.processing;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;

/**
 * transformers' {@code {% generation %}...{% endgeneration %}} block (its {@code AssistantTracker} extension, used
 * by e.g. LLaVA-OneVision's template to mark assistant text for training masks): renders its body unchanged, which
 * is what transformers does when no assistant mask is requested. Stateless.
 */
final class GenerationTag implements Tag {
    private static final long serialVersionUID = 1L;

    @Override
    public String getName() {
        return "generation";
    }

    @Override
    public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
        StringBuilder sb = new StringBuilder();
        for (Node child : tagNode.getChildren()) sb.append(child.render(interpreter).getValue());
        return sb.toString();
    }
}
