package io.github.kvpolicy.runtime.json;

import com.fasterxml.jackson.core.JsonGenerationException;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.StdSerializer;

import java.io.IOException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.ListIterator;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Strict JSON (RFC 8259) reading and writing on Jackson, for safetensors headers, {@code config.json},
 * {@code vocab.json}, {@code tokenizer.json}, index files, reference files and build fingerprints.
 *
 * <p>Parsed values map to: object → {@link LinkedHashMap}{@code <String,Object>} (insertion order kept),
 * array → {@link ArrayList}, string → {@link String}, integer literal → {@link Long} (or {@link BigInteger}
 * when it does not fit), other numbers → {@link Double}, {@code true/false} → {@link Boolean},
 * {@code null} → {@code null}. Duplicate object keys ({@link StreamReadFeature#STRICT_DUPLICATE_DETECTION}),
 * trailing tokens ({@link DeserializationFeature#FAIL_ON_TRAILING_TOKENS}), and — Jackson's defaults — trailing
 * commas, comments, single quotes, leading zeros, {@code NaN}, unescaped control characters in strings and
 * nesting past Jackson's {@code StreamReadConstraints} are rejected with a {@link JsonException} whose message is
 * one line naming the source and the line and column.
 *
 * <p>One shared, immutable reader and writer: thread-safe.
 */
public final class Json {
    private Json() {}

    /** Thrown for malformed JSON (the message is one line naming the source, line and column) or an unwritable value. */
    public static final class JsonException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public JsonException(String message) {
            super(message);
        }

        public JsonException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** Rejects NaN and the infinities: JSON has no literal for them (Jackson would write them as strings). */
    private static final class FiniteSerializer<T extends Number> extends StdSerializer<T> {
        private static final long serialVersionUID = 1L;

        FiniteSerializer(Class<T> type) {
            super(type);
        }

        @Override
        public void serialize(T value, JsonGenerator g, SerializerProvider provider) throws IOException {
            double d = value.doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                throw new JsonGenerationException("JSON cannot represent " + value, g);
            }
            if (value instanceof Float f) g.writeNumber(f);
            else g.writeNumber(d);
        }
    }

    private static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .addModule(new SimpleModule("kvpolicy-finite-numbers")
                    .addSerializer(Double.class, new FiniteSerializer<>(Double.class))
                    .addSerializer(Float.class, new FiniteSerializer<>(Float.class)))
            .build();

    private static final ObjectReader READER = MAPPER.readerFor(Object.class);
    private static final ObjectWriter COMPACT = MAPPER.writer();
    /** Two spaces per level, {@code "key": value}, one array element per line, {@code {}} and {@code []} when empty. */
    private static final ObjectWriter PRETTY = MAPPER.writer(new DefaultPrettyPrinter()
            .withObjectIndenter(new DefaultIndenter("  ", "\n"))
            .withArrayIndenter(new DefaultIndenter("  ", "\n"))
            .withSeparators(Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                    .withObjectEmptySeparator("")
                    .withArrayEmptySeparator("")));

    /** Jackson's nested location text, e.g. in "start marker at [Source: REDACTED ...; line: 1, column: 3]". */
    private static final Pattern NESTED_LOCATION = Pattern.compile("\\[Source: [^;\\]]*; (line: \\d+(?:, column: \\d+)?)\\]");
    private static final Pattern LINE_BREAKS = Pattern.compile("\\s*[\\r\\n]+\\s*");

    /**
     * Parses one JSON value.
     *
     * @param text   the JSON text
     * @param source a name for error messages (e.g. a file path)
     */
    public static Object parse(String text, String source) {
        Object v;
        try {
            v = READER.readValue(text);
        } catch (JsonProcessingException e) {
            throw new JsonException(source + ": malformed JSON" + where(e.getLocation()) + ": " + oneLine(e.getOriginalMessage()), e);
        }
        return longs(v);
    }

    /** Parses a JSON object; fails if the top-level value is not an object. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String text, String source) {
        Object v = parse(text, source);
        if (!(v instanceof Map)) {
            throw new JsonException(source + ": expected a JSON object at the top level, found " + typeName(v));
        }
        return (Map<String, Object>) v;
    }

    /** A short type name for error messages. */
    public static String typeName(Object v) {
        if (v == null) return "null";
        if (v instanceof Map) return "object";
        if (v instanceof List) return "array";
        if (v instanceof String) return "string";
        if (v instanceof Boolean) return "boolean";
        if (v instanceof Number) return "number";
        return v.getClass().getSimpleName();
    }

    /** Writes a value (Map, List/array, String, Number, Boolean, null) as compact JSON. */
    public static String write(Object value) {
        return write(COMPACT, value);
    }

    /** Writes a value as JSON indented by two spaces per level, ending in a newline. */
    public static String writePretty(Object value) {
        return write(PRETTY, value) + "\n";
    }

    private static String write(ObjectWriter w, Object value) {
        try {
            return w.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new JsonException("cannot write JSON: " + oneLine(e.getOriginalMessage()), e);
        }
    }

    private static String where(JsonLocation loc) {
        if (loc == null || loc.getLineNr() <= 0) return "";
        return " at line " + loc.getLineNr() + (loc.getColumnNr() > 0 ? ", column " + loc.getColumnNr() : "");
    }

    private static String oneLine(String message) {
        if (message == null) return "(no message)";
        return LINE_BREAKS.matcher(NESTED_LOCATION.matcher(message).replaceAll("$1")).replaceAll(" ");
    }

    /** Jackson reads integers that fit an int as Integer: make every such one a Long, in place. */
    @SuppressWarnings("unchecked")
    private static Object longs(Object v) {
        switch (v) {
            case Integer i -> {
                return i.longValue();
            }
            case Map<?, ?> m -> {
                for (Map.Entry<String, Object> e : ((Map<String, Object>) m).entrySet()) {
                    Object x = e.getValue();
                    if (x instanceof Integer || x instanceof Map || x instanceof List) e.setValue(longs(x));
                }
                return m;
            }
            case List<?> l -> {
                for (ListIterator<Object> it = ((List<Object>) l).listIterator(); it.hasNext(); ) {
                    Object x = it.next();
                    if (x instanceof Integer || x instanceof Map || x instanceof List) it.set(longs(x));
                }
                return l;
            }
            case null, default -> {
                return v;
            }
        }
    }
}
