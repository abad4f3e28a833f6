package io.github.kvpolicy.processing;

import io.github.kvpolicy.processing.error.ProcessingException;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face chat template rendered with HubSpot Jinjava, configured like transformers' Jinja environment
 * ({@code trim_blocks} and {@code lstrip_blocks} on; a single trailing newline of the template dropped, as
 * Jinja2's default {@code keep_trailing_newline=False} does).
 *
 * <p>Sources, first found wins ({@link #fromFolder}): {@code chat_template.jinja}, then {@code chat_template}
 * in {@code tokenizer_config.json} (a string, or a list of named templates of which {@code default} is taken),
 * then {@code chat_template.json} (what processors save). {@link #fromFile} takes an explicit template file.
 *
 * <p>Variables: {@code messages} (see {@link ChatMessage#toTemplateValue()}: role and a string or a list of
 * {@code {type: text|image}} parts), {@code add_generation_prompt}, the special tokens named in
 * {@code tokenizer_config.json} ({@code bos_token}, {@code eos_token}, {@code pad_token}, {@code unk_token}),
 * any extra variables passed to {@link #render(List, boolean, Map)}, and the functions
 * {@code raise_exception(msg)} and {@code strftime_now(fmt)} that transformers provides.
 *
 * <p>Added to Jinjava so that templates written for transformers' Jinja2 render the same: Python {@code str}
 * methods ({@code PythonStringMethods}: {@code startswith}, {@code split}, {@code strip(chars)}, ...), transformers'
 * {@code tojson} ({@code PythonToJsonFilter}: Python separators, non-ASCII kept) and its
 * {@code {% generation %}} block ({@code GenerationTag}). Remaining gaps are Jinjava's dialect (e.g. Python's
 * {@code True}/{@code False} spelling when a boolean is printed); a template that fails renders with one line
 * naming the template. Immutable and thread-safe.
 */
public final class ChatTemplate {
    private static final JinjavaConfig CONFIG = JinjavaConfig.newBuilder()
            .withTrimBlocks(true)
            .withLstripBlocks(true)
            .withFailOnUnknownTokens(false)
            .withElResolver(resolver())
            .build();

    private static jinjava.javax.el.ELResolver resolver() {
        jinjava.javax.el.CompositeELResolver r = new jinjava.javax.el.CompositeELResolver();
        r.add(new PythonStringMethods());
        r.add(com.hubspot.jinjava.el.JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        return r;
    }

    private final String source;
    private final String template;
    private final Map<String, Object> specialTokens;
    private final Jinjava jinjava;

    private ChatTemplate(String source, String template, Map<String, Object> specialTokens) {
        this.source = source;
        // Jinja2 (keep_trailing_newline=False) drops one trailing newline of the template source
        this.template = template.endsWith("\n") ? template.substring(0, template.length() - 1) : template;
        this.specialTokens = Map.copyOf(specialTokens);
        this.jinjava = new Jinjava(CONFIG);
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", ChatTemplate.class,
                "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now", ChatTemplate.class,
                "strftimeNow", String.class));
        jinjava.getGlobalContext().registerTag(new GenerationTag());
        jinjava.getGlobalContext().registerFilter(new PythonToJsonFilter());
    }

    /**
     * The chat template of a model folder.
     *
     * @throws ProcessingException naming the folder when it has no template in any of the places listed above
     */
    public static ChatTemplate fromFolder(Path modelDir) {
        Map<String, Object> special = specialTokens(modelDir);
        Path jinja = modelDir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) return new ChatTemplate(jinja.toString(), read(jinja), special);
        Path cfg = modelDir.resolve("tokenizer_config.json");
        var tc = Json.readOptional(cfg);
        if (tc.isPresent() && tc.get().has("chat_template")) {
            return new ChatTemplate(cfg + " (chat_template)", templateValue(tc.get().get("chat_template"), cfg), special);
        }
        Path proc = modelDir.resolve("chat_template.json");
        var pc = Json.readOptional(proc);
        if (pc.isPresent() && pc.get().has("chat_template")) {
            return new ChatTemplate(proc.toString(), templateValue(pc.get().get("chat_template"), proc), special);
        }
        throw new ProcessingException(modelDir + ": no chat template (expected chat_template.jinja, a chat_template key in "
                + "tokenizer_config.json, or chat_template.json; or pass a template file explicitly)");
    }

    /**
     * A template from an explicit file; special tokens are taken from {@code tokenizer_config.json} in
     * {@code modelDir} when given and present.
     */
    public static ChatTemplate fromFile(Path templateFile, Path modelDir) {
        if (!Files.isRegularFile(templateFile)) {
            throw new ProcessingException(templateFile + ": chat template file not found (expected a Jinja template)");
        }
        return new ChatTemplate(templateFile.toString(), read(templateFile),
                modelDir == null ? Map.of() : specialTokens(modelDir));
    }

    /** A template given as text (for tests and callers that hold the template themselves). */
    public static ChatTemplate of(String template) {
        return new ChatTemplate("<inline template>", template, Map.of());
    }

    /** Where the template came from (a file path, or the config file and key). */
    public String source() {
        return source;
    }

    /** {@code render(messages, addGenerationPrompt, Map.of())}. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, addGenerationPrompt, Map.of());
    }

    /**
     * Renders the conversation.
     *
     * @param extra additional template variables (e.g. {@code tools}, {@code enable_thinking}); they override the special tokens
     * @throws ProcessingException naming the template when rendering fails (a syntax error, {@code raise_exception}, ...)
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt, Map<String, Object> extra) {
        Map<String, Object> vars = new HashMap<>(specialTokens);
        List<Object> msgs = new ArrayList<>();
        for (ChatMessage m : messages) msgs.add(m.toTemplateValue());
        vars.put("messages", msgs);
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.putAll(extra);
        RenderResult r;
        try {
            r = jinjava.renderForResult(template, vars);
        } catch (RuntimeException e) {
            throw new ProcessingException(source + ": chat template failed to render (" + oneLine(e.getMessage()) + ")", e);
        }
        for (TemplateError err : r.getErrors()) {
            if (err.getSeverity() == TemplateError.ErrorType.FATAL) {
                String why = err.getMessage();
                for (Throwable c = err.getException(); c != null; c = c.getCause()) {
                    if (c instanceof TemplateRaisedException raised) why = "raise_exception: " + raised.getMessage();
                }
                throw new ProcessingException(source + ": chat template failed to render (line " + err.getLineno() + ": "
                        + oneLine(why) + ")");
            }
        }
        return r.getOutput();
    }

    /** Bound to {@code raise_exception} in templates. */
    public static String raiseException(String message) {
        throw new TemplateRaisedException(message);
    }

    /** Bound to {@code strftime_now} in templates (Python {@code %d %b %Y}-style codes for the common cases). */
    public static String strftimeNow(String format) {
        String java = format.replace("%Y", "yyyy").replace("%m", "MM").replace("%d", "dd").replace("%B", "MMMM")
                .replace("%b", "MMM").replace("%H", "HH").replace("%M", "mm").replace("%S", "ss");
        return LocalDateTime.now().format(DateTimeFormatter.ofPattern(java));
    }

    /** What {@code raise_exception} throws; its message is the template's. */
    static final class TemplateRaisedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        TemplateRaisedException(String message) {
            super(message);
        }
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replace('\n', ' ').strip();
    }

    private static String read(Path f) {
        try {
            return Files.readString(f);
        } catch (IOException e) {
            throw new ProcessingException(f + ": cannot read chat template (" + e.getMessage() + ")", e);
        }
    }

    private static String templateValue(JsonElement e, Path file) {
        if (e.isJsonPrimitive()) return e.getAsString();
        if (e.isJsonArray()) {
            for (JsonElement t : e.getAsJsonArray()) {
                JsonObject o = t.getAsJsonObject();
                if ("default".equals(Json.stringOr(o, "name", ""))) return Json.stringOr(o, "template", "");
            }
        }
        throw new ProcessingException(file + ": chat_template must be a string or a list with a template named 'default'");
    }

    private static Map<String, Object> specialTokens(Path modelDir) {
        Map<String, Object> out = new HashMap<>();
        Json.readOptional(modelDir.resolve("tokenizer_config.json")).ifPresent(cfg -> {
            for (String k : List.of("bos_token", "eos_token", "pad_token", "unk_token")) {
                JsonElement e = cfg.get(k);
                if (e == null || e.isJsonNull()) continue;
                if (e.isJsonPrimitive()) out.put(k, e.getAsString());
                else if (e.isJsonObject() && e.getAsJsonObject().has("content")) out.put(k, e.getAsJsonObject().get("content").getAsString());
            }
        });
        return out;
    }
}
