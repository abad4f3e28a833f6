package io.github.kvpolicy.processing;

import io.github.kvpolicy.processing.error.ProcessingException;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class ChatTemplateTest {

    /** The messages of notes.chat, converted to ChatMessage. */
    static List<ChatMessage> messages(JsonObject chat) {
        List<ChatMessage> out = new ArrayList<>();
        for (JsonElement m : chat.getAsJsonArray("messages")) {
            JsonObject o = m.getAsJsonObject();
            if (o.get("content").isJsonPrimitive()) {
                out.add(ChatMessage.text(o.get("role").getAsString(), o.get("content").getAsString()));
                continue;
            }
            List<ChatMessage.Part> parts = new ArrayList<>();
            for (JsonElement p : o.getAsJsonArray("content")) {
                JsonObject po = p.getAsJsonObject();
                parts.add(po.get("type").getAsString().equals("image") ? new ChatMessage.ImagePart()
                        : new ChatMessage.TextPart(po.get("text").getAsString()));
            }
            out.add(new ChatMessage(o.get("role").getAsString(), null, parts));
        }
        return out;
    }

    @Test
    void rendersTheFixtureChatExactly() throws Exception {
        JsonObject chat = Fixtures.reference("llama3").getAsJsonObject("notes").getAsJsonObject("chat");
        ChatTemplate t = ChatTemplate.fromFolder(Fixtures.dir("llama3"));
        assertTrue(t.source().endsWith("chat_template.jinja"), t.source());
        assertEquals(chat.get("rendered").getAsString(), t.render(messages(chat), true));
        // without the generation prompt the assistant header is absent
        assertEquals("<|im_start|>user\n<image>\nwhat is shown?<|im_end|>\n", t.render(messages(chat), false));
    }

    @Test
    void everyFixtureFamilyRendersItsTemplateToTheIdsTransformersUsed() throws Exception {
        // llava_onevision's prompt ids are the rendered ChatML prompt with <image> expanded; the text around it must match
        ChatTemplate t = ChatTemplate.fromFolder(Fixtures.dir("llava_onevision"));
        String s = t.render(List.of(ChatMessage.userWithImages(1, "what is shown?")), true);
        int[] ref = Fixtures.ints(Fixtures.reference("llava_onevision").get("input_ids"));
        try (HfTokenizer tok = HfTokenizer.fromFolder(Fixtures.dir("llava_onevision"))) {
            int[] ids = tok.encode(s);
            int image = tok.requireTokenId("<image>");
            // collapse the fixture's run of image tokens to one: that is the rendered prompt
            List<Integer> collapsed = new ArrayList<>();
            for (int i = 0; i < ref.length; i++) if (!(ref[i] == image && i > 0 && ref[i - 1] == image)) collapsed.add(ref[i]);
            assertArrayEquals(collapsed.stream().mapToInt(Integer::intValue).toArray(), ids);
        }
    }

    @Test
    void stringContentSystemMessagesAndMultipleTurns() {
        ChatTemplate t = ChatTemplate.fromFolder(Fixtures.dir("qwen2"));
        String s = t.render(List.of(ChatMessage.text("system", "be brief"), ChatMessage.text("user", "hi"),
                ChatMessage.text("assistant", "hello"), ChatMessage.userWithImages(2, "compare")), true);
        assertEquals("<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
                + "<|im_start|>user\n<image>\n<image>\ncompare<|im_end|>\n<|im_start|>assistant\n", s);
    }

    /** Jinja2 semantics HF templates rely on: trim/lstrip blocks, namespace, loop, is string, special tokens, raise_exception. */
    @Test
    void jinja2FeaturesThatRealTemplatesUse(@TempDir Path dir) throws Exception {
        String tpl = """
                {{ bos_token }}
                {% set ns = namespace(images=0) %}
                {% for m in messages %}
                    {% if loop.first and m['role'] != 'system' %}<|im_start|>system
                You are helpful.<|im_end|>
                {% endif %}
                <|im_start|>{{ m['role'] }}
                {% if m['content'] is string %}{{ m['content'] | trim }}{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}{% set ns.images = ns.images + 1 %}Picture {{ ns.images }}: <|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>
                {% endfor %}
                {% if add_generation_prompt %}<|im_start|>assistant
                {% endif %}
                """;
        Files.writeString(dir.resolve("tpl.jinja"), tpl);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": {\"content\": \"<s>\"}, \"eos_token\": \"</s>\"}");
        ChatTemplate t = ChatTemplate.fromFile(dir.resolve("tpl.jinja"), dir);
        String s = t.render(List.of(ChatMessage.userWithImages(2, "which is larger?")), true);
        // Jinja2: trim_blocks drops the newline after a block tag, not after {{ bos_token }}
        assertEquals("<s>\n<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n"
                + "Picture 1: <|vision_start|><|image_pad|><|vision_end|>Picture 2: <|vision_start|><|image_pad|><|vision_end|>"
                + "which is larger?<|im_end|>\n<|im_start|>assistant\n", s);
        assertEquals("<s>\n<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n",
                t.render(List.of(ChatMessage.text("user", "  hi ")), false));
    }

    @Test
    void theLlavaOneVisionHubTemplateWithSelectattrAndGenerationRendersTheFixtureChat() throws Exception {
        JsonObject chat = Fixtures.reference("llama3").getAsJsonObject("notes").getAsJsonObject("chat");
        Path tpl = Path.of(ChatTemplateTest.class.getResource("/templates/llava_onevision_hub.jinja").toURI());
        ChatTemplate t = ChatTemplate.fromFile(tpl, Fixtures.dir("llava_onevision"));
        assertEquals(chat.get("rendered").getAsString(), t.render(messages(chat), true));
        // {% generation %} renders its body
        assertEquals("<|im_start|>user\n<image>\nwhat is shown?<|im_end|>\n<|im_start|>assistant\na cat<|im_end|>\n",
                t.render(List.of(ChatMessage.userWithImages(1, "what is shown?"), ChatMessage.of("assistant", new ChatMessage.TextPart("a cat"))), false));
    }

    /** Python str methods and transformers' tojson (expected values from CPython; booleans print in Jinjava's spelling, true). */
    @Test
    void pythonStringMethodsAndTojson() {
        ChatTemplate t = ChatTemplate.of("{{ m.split('</think>')[-1].lstrip('\n') }}|{{ 'a b  c'.split() | join('/') }}|"
                + "{{ 'a,b,,c'.split(',', 2) | join('/') }}|{{ 'xxhixx'.strip('x') }}|{{ m.startswith('abc') }}|{{ m.endswith(('x', 'answer')) }}|"
                + "{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}|{{ '-'.join(['a', 'b']) }}");
        assertEquals("answer|a/b/c|a/b/,c|hi|true|true|HIhi|a-b", t.render(List.of(), false, Map.of("m", "abc</think>\n\nanswer")));
        java.util.Map<String, Object> params = new java.util.LinkedHashMap<>();
        params.put("city", "Zürich");
        params.put("days", 3);
        params.put("scale", 1.5);
        params.put("tags", List.of("a\"b", "c\n"));
        params.put("x", null);
        params.put("ok", true);
        java.util.Map<String, Object> tool = new java.util.LinkedHashMap<>();
        tool.put("name", "get_weather");
        tool.put("parameters", params);
        assertEquals("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Zürich\", \"days\": 3, \"scale\": 1.5, "
                + "\"tags\": [\"a\\\"b\", \"c\\n\"], \"x\": null, \"ok\": true}}",
                ChatTemplate.of("{{ tool | tojson }}").render(List.of(), false, Map.of("tool", tool)));
        java.util.Map<String, Object> nested = new java.util.LinkedHashMap<>();
        nested.put("a", List.of(1, Map.of("b", 2)));
        nested.put("c", Map.of());
        assertEquals("{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": {}\n}",
                ChatTemplate.of("{{ x | tojson(indent=2) }}").render(List.of(), false, Map.of("x", nested)));
    }

    @Test
    void raiseExceptionAndSyntaxErrorsAreOneLineNamingTheTemplate() {
        ChatTemplate t = ChatTemplate.of("{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be user') }}{% endif %}ok");
        assertEquals("ok", t.render(List.of(ChatMessage.text("user", "x")), false));
        ProcessingException e = assertThrows(ProcessingException.class, () -> t.render(List.of(ChatMessage.text("system", "x")), false));
        assertTrue(e.getMessage().contains("first message must be user") && e.getMessage().contains("<inline template>"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        ProcessingException syntax = assertThrows(ProcessingException.class,
                () -> ChatTemplate.of("{% for m in messages %}{{ m['role'] }").render(List.of(ChatMessage.text("user", "x")), false));
        assertTrue(syntax.getMessage().contains("<inline template>"), syntax.getMessage());
    }

    @Test
    void sourcesInOrderAndAClearErrorWithoutAny(@TempDir Path dir) throws Exception {
        ProcessingException e = assertThrows(ProcessingException.class, () -> ChatTemplate.fromFolder(dir));
        assertTrue(e.getMessage().startsWith(dir.toString()) && e.getMessage().contains("chat_template.jinja"), e.getMessage());
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", \"template\": \"D{{ messages|length }}\"}]}");
        assertEquals("D1", ChatTemplate.fromFolder(dir).render(List.of(ChatMessage.text("user", "x")), false));
        Files.writeString(dir.resolve("chat_template.jinja"), "J\n");
        assertEquals("J", ChatTemplate.fromFolder(dir).render(List.of(), false), "the jinja file wins; one trailing newline dropped");
        ProcessingException missing = assertThrows(ProcessingException.class, () -> ChatTemplate.fromFile(dir.resolve("nope.jinja"), null));
        assertTrue(missing.getMessage().contains("nope.jinja"), missing.getMessage());
        assertEquals("x", ChatTemplate.of("{{ who }}").render(List.of(), false, Map.of("who", "x")));
    }
}
