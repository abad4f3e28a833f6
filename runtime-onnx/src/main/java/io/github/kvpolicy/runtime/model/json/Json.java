package io.github.kvpolicy.runtime.model.json;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON (RFC 8259) parser and writer used for safetensors headers, {@code config.json},
 * {@code vocab.json} and index files.
 *
 * <p>Parsed values map to: object → {@link LinkedHashMap}{@code <String,Object>} (insertion order kept),
 * array → {@link ArrayList}, string → {@link String}, integer literal → {@link Long} (or {@link BigInteger}
 * when it does not fit), other numbers → {@link Double}, {@code true/false} → {@link Boolean},
 * {@code null} → {@code null}. Duplicate object keys, trailing commas, comments, leading zeros,
 * control characters in strings and trailing garbage are rejected with a {@link JsonException}
 * that names the source and the character offset.
 *
 * <p>Stateless and thread-safe.
 */
public final class Json {
    private Json() {}

    /** Thrown for malformed JSON; the message names the source and the offset. */
    public static final class JsonException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public JsonException(String message) {
            super(message);
        }
    }

    /**
     * Parses one JSON value.
     *
     * @param text   the JSON text
     * @param source a name for error messages (e.g. a file path)
     */
    public static Object parse(String text, String source) {
        Parser p = new Parser(text, source);
        p.ws();
        Object v = p.value(0);
        p.ws();
        if (p.pos != text.length()) {
            throw p.error("trailing characters after the JSON value");
        }
        return v;
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
        StringBuilder sb = new StringBuilder();
        write(value, sb, -1, 0);
        return sb.toString();
    }

    /** Writes a value as JSON indented by two spaces per level. */
    public static String writePretty(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb, 2, 0);
        return sb.append('\n').toString();
    }

    private static void newline(StringBuilder sb, int indent, int depth) {
        if (indent >= 0) {
            sb.append('\n');
            sb.append(" ".repeat(indent * depth));
        }
    }

    private static void write(Object v, StringBuilder sb, int indent, int depth) {
        switch (v) {
            case null -> sb.append("null");
            case String s -> quote(s, sb);
            case Boolean b -> sb.append(b);
            case Double d -> {
                if (d.isNaN() || d.isInfinite()) throw new IllegalArgumentException("JSON cannot represent " + d);
                sb.append(d);
            }
            case Float f -> {
                if (f.isNaN() || f.isInfinite()) throw new IllegalArgumentException("JSON cannot represent " + f);
                sb.append(f);
            }
            case Number n -> sb.append(n);
            case Map<?, ?> m -> {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) sb.append(',');
                    first = false;
                    newline(sb, indent, depth + 1);
                    quote(String.valueOf(e.getKey()), sb);
                    sb.append(indent >= 0 ? ": " : ":");
                    write(e.getValue(), sb, indent, depth + 1);
                }
                if (!m.isEmpty()) newline(sb, indent, depth);
                sb.append('}');
            }
            case List<?> l -> {
                sb.append('[');
                for (int i = 0; i < l.size(); i++) {
                    if (i > 0) sb.append(',');
                    newline(sb, indent, depth + 1);
                    write(l.get(i), sb, indent, depth + 1);
                }
                if (!l.isEmpty()) newline(sb, indent, depth);
                sb.append(']');
            }
            case long[] a -> {
                List<Long> l = new ArrayList<>();
                for (long x : a) l.add(x);
                write(l, sb, -1, depth);
            }
            case int[] a -> {
                List<Integer> l = new ArrayList<>();
                for (int x : a) l.add(x);
                write(l, sb, -1, depth);
            }
            default -> throw new IllegalArgumentException("cannot write " + v.getClass().getName() + " as JSON");
        }
    }

    private static void quote(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    private static final class Parser {
        private static final int MAX_DEPTH = 512;
        final String s;
        final String source;
        int pos;

        Parser(String s, String source) {
            this.s = s;
            this.source = source;
        }

        JsonException error(String msg) {
            return new JsonException(source + ": malformed JSON at offset " + pos + ": " + msg);
        }

        void ws() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == ' ' || c == '\t' || c == '\n' || c == '\r') pos++;
                else break;
            }
        }

        Object value(int depth) {
            if (depth > MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH);
            if (pos >= s.length()) throw error("unexpected end of input, expected a value");
            char c = s.charAt(pos);
            return switch (c) {
                case '{' -> object(depth);
                case '[' -> array(depth);
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", null);
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) yield number();
                    throw error("unexpected character '" + c + "', expected a value");
                }
            };
        }

        Object literal(String word, Object v) {
            if (!s.startsWith(word, pos)) throw error("expected '" + word + "'");
            pos += word.length();
            return v;
        }

        Map<String, Object> object(int depth) {
            pos++; // {
            Map<String, Object> m = new LinkedHashMap<>();
            ws();
            if (pos < s.length() && s.charAt(pos) == '}') {
                pos++;
                return m;
            }
            while (true) {
                ws();
                if (pos >= s.length() || s.charAt(pos) != '"') throw error("expected a string key");
                int keyPos = pos;
                String k = string();
                ws();
                if (pos >= s.length() || s.charAt(pos) != ':') throw error("expected ':' after key \"" + k + "\"");
                pos++;
                ws();
                Object v = value(depth + 1);
                if (m.containsKey(k)) {
                    pos = keyPos;
                    throw error("duplicate key \"" + k + "\"");
                }
                m.put(k, v);
                ws();
                if (pos >= s.length()) throw error("unexpected end of input in object");
                char c = s.charAt(pos++);
                if (c == '}') return m;
                if (c != ',') {
                    pos--;
                    throw error("expected ',' or '}' in object");
                }
            }
        }

        List<Object> array(int depth) {
            pos++; // [
            List<Object> l = new ArrayList<>();
            ws();
            if (pos < s.length() && s.charAt(pos) == ']') {
                pos++;
                return l;
            }
            while (true) {
                ws();
                l.add(value(depth + 1));
                ws();
                if (pos >= s.length()) throw error("unexpected end of input in array");
                char c = s.charAt(pos++);
                if (c == ']') return l;
                if (c != ',') {
                    pos--;
                    throw error("expected ',' or ']' in array");
                }
            }
        }

        String string() {
            pos++; // "
            StringBuilder sb = null;
            int start = pos;
            while (true) {
                if (pos >= s.length()) throw error("unterminated string");
                char c = s.charAt(pos);
                if (c == '"') {
                    String out = sb == null ? s.substring(start, pos) : sb.append(s, start, pos).toString();
                    pos++;
                    return out;
                }
                if (c < 0x20) throw error("control character in string (must be escaped)");
                if (c == '\\') {
                    if (sb == null) sb = new StringBuilder();
                    sb.append(s, start, pos);
                    pos++;
                    if (pos >= s.length()) throw error("unterminated escape");
                    char e = s.charAt(pos++);
                    switch (e) {
                        case '"' -> sb.append('"');
                        case '\\' -> sb.append('\\');
                        case '/' -> sb.append('/');
                        case 'b' -> sb.append('\b');
                        case 'f' -> sb.append('\f');
                        case 'n' -> sb.append('\n');
                        case 'r' -> sb.append('\r');
                        case 't' -> sb.append('\t');
                        case 'u' -> {
                            if (pos + 4 > s.length()) throw error("truncated \\u escape");
                            int cp = 0;
                            for (int i = 0; i < 4; i++) {
                                int d = Character.digit(s.charAt(pos + i), 16);
                                if (d < 0) throw error("bad hex digit in \\u escape");
                                cp = cp * 16 + d;
                            }
                            pos += 4;
                            sb.append((char) cp);
                        }
                        default -> {
                            pos--;
                            throw error("invalid escape '\\" + e + "'");
                        }
                    }
                    start = pos;
                } else {
                    pos++;
                }
            }
        }

        Object number() {
            int start = pos;
            if (s.charAt(pos) == '-') pos++;
            if (pos >= s.length()) throw error("truncated number");
            if (s.charAt(pos) == '0') {
                pos++;
                if (pos < s.length() && Character.isDigit(s.charAt(pos))) throw error("leading zero in number");
            } else if (Character.isDigit(s.charAt(pos))) {
                while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
            } else {
                throw error("expected a digit");
            }
            boolean integral = true;
            if (pos < s.length() && s.charAt(pos) == '.') {
                integral = false;
                pos++;
                int d = pos;
                while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
                if (pos == d) throw error("expected a digit after '.'");
            }
            if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                integral = false;
                pos++;
                if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) pos++;
                int d = pos;
                while (pos < s.length() && Character.isDigit(s.charAt(pos))) pos++;
                if (pos == d) throw error("expected a digit in exponent");
            }
            String t = s.substring(start, pos);
            if (integral) {
                BigInteger bi = new BigInteger(t);
                return bi.bitLength() < 64 ? (Object) bi.longValue() : bi;
            }
            return new BigDecimal(t).doubleValue();
        }
    }
}
