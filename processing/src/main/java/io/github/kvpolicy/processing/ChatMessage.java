package io.github.kvpolicy.processing;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One chat message as Hugging Face chat templates see it: a role and either plain text or a list of content
 * parts ({@code {"type": "text", "text": ...}} and {@code {"type": "image"}}). Immutable.
 *
 * @param role    {@code system}, {@code user}, {@code assistant}, ... (not blank)
 * @param text    the content when it is a plain string; null when {@code parts} is used
 * @param parts   the content parts in order; empty when {@code text} is used
 */
public record ChatMessage(String role, String text, List<Part> parts) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        if (role.isBlank()) throw new IllegalArgumentException("a chat message needs a role (e.g. user), got a blank one");
        parts = List.copyOf(parts);
        if ((text == null) == parts.isEmpty()) {
            throw new IllegalArgumentException("a chat message has either text or content parts, not both and not neither");
        }
    }

    /** A content part. */
    public sealed interface Part permits TextPart, ImagePart {}

    /** Text content. */
    public record TextPart(String text) implements Part {
        public TextPart {
            Objects.requireNonNull(text, "text");
        }
    }

    /** An image slot; the template writes the family's placeholder for it. */
    public record ImagePart() implements Part {}

    /** A message whose content is a plain string. */
    public static ChatMessage text(String role, String text) {
        return new ChatMessage(role, Objects.requireNonNull(text, "text"), List.of());
    }

    /** A message with content parts. */
    public static ChatMessage of(String role, Part... parts) {
        return new ChatMessage(role, null, List.of(parts));
    }

    /** {@code user} message: one image per {@code images}, then the text (the common VQA shape). */
    public static ChatMessage userWithImages(int images, String question) {
        List<Part> p = new ArrayList<>();
        for (int i = 0; i < images; i++) p.add(new ImagePart());
        p.add(new TextPart(question));
        return new ChatMessage("user", null, p);
    }

    /** Number of image parts. */
    public int imageCount() {
        return (int) parts.stream().filter(p -> p instanceof ImagePart).count();
    }

    /** The message as the template engine sees it (the shape {@code apply_chat_template} passes). */
    Map<String, Object> toTemplateValue() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        if (text != null) {
            m.put("content", text);
        } else {
            List<Object> content = new ArrayList<>();
            for (Part p : parts) {
                Map<String, Object> c = new LinkedHashMap<>();
                switch (p) {
                    case TextPart t -> {
                        c.put("type", "text");
                        c.put("text", t.text());
                    }
                    case ImagePart i -> c.put("type", "image");
                }
                content.add(c);
            }
            m.put("content", content);
        }
        return m;
    }
}
