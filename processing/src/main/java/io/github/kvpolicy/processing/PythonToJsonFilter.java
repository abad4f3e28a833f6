package io.github.kvpolicy.processing;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;

import java.util.Map;

/**
 * transformers' {@code tojson} filter ({@code json.dumps(x, ensure_ascii=False, indent=indent, sort_keys=False)}):
 * Python's separators ({@code ", "} and {@code ": "}, or {@code ","} and newlines with {@code indent}), non-ASCII
 * kept, control characters escaped as {@code \\uXXXX}, integral numbers without a fraction, maps in insertion order.
 * Jinjava's own {@code tojson} writes compact JSON, which would change tool and message dumps in templates.
 * Stateless.
 */
final class PythonToJsonFilter implements Filter {

    @Override
    public String getName() {
        return "tojson";
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
        Integer indent = args.length > 0 && args[0] != null && !args[0].isEmpty() ? Integer.valueOf(args[0]) : null;
        return dumps(var, indent);
    }

    @Override
    public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        Object ind = kwargs.containsKey("indent") ? kwargs.get("indent") : (args.length > 0 ? args[0] : null);
        return dumps(var, ind == null ? null : ((Number) (ind instanceof Number ? ind : Long.valueOf(String.valueOf(ind)))).intValue());
    }

    static String dumps(Object v, Integer indent) {
        StringBuilder sb = new StringBuilder();
        write(sb, v, indent, 0);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object v, Integer indent, int depth) {
        switch (v) {
            case null -> sb.append("null");
            case Boolean b -> sb.append(b ? "true" : "false");
            case Integer i -> sb.append(i);
            case Long l -> sb.append(l);
            case Short s -> sb.append(s);
            case Byte b -> sb.append(b);
            case Number n -> {
                double d = n.doubleValue();
                if (Double.isNaN(d)) sb.append("NaN");
                else if (Double.isInfinite(d)) sb.append(d > 0 ? "Infinity" : "-Infinity");
                else sb.append(pyFloat(d));
            }
            case CharSequence s -> string(sb, s.toString());
            case Map<?, ?> m -> {
                if (m.isEmpty()) {
                    sb.append("{}");
                    return;
                }
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!first) sb.append(indent == null ? ", " : ",");
                    first = false;
                    newline(sb, indent, depth + 1);
                    string(sb, String.valueOf(e.getKey()));
                    sb.append(": ");
                    write(sb, e.getValue(), indent, depth + 1);
                }
                newline(sb, indent, depth);
                sb.append('}');
            }
            case Iterable<?> it -> {
                var iter = it.iterator();
                if (!iter.hasNext()) {
                    sb.append("[]");
                    return;
                }
                sb.append('[');
                boolean first = true;
                while (iter.hasNext()) {
                    if (!first) sb.append(indent == null ? ", " : ",");
                    first = false;
                    newline(sb, indent, depth + 1);
                    write(sb, iter.next(), indent, depth + 1);
                }
                newline(sb, indent, depth);
                sb.append(']');
            }
            case Object[] arr -> write(sb, java.util.Arrays.asList(arr), indent, depth);
            default -> string(sb, v.toString());
        }
    }

    private static void newline(StringBuilder sb, Integer indent, int depth) {
        if (indent == null) return;
        sb.append('\n').append(" ".repeat(indent * depth));
    }

    /** Python's {@code repr(float)}: shortest round-trip digits, always with a fraction or exponent. */
    private static String pyFloat(double d) {
        if (d == Math.rint(d) && Math.abs(d) < 1e16) return (long) d + ".0";
        String s = Double.toString(d);
        if (s.contains("E")) {
            String[] p = s.split("E");
            int exp = Integer.parseInt(p[1]);
            String mant = p[0].endsWith(".0") ? p[0].substring(0, p[0].length() - 2) : p[0];
            return mant + "e" + (exp < 0 ? "-" : "+") + String.format("%02d", Math.abs(exp));
        }
        return s;
    }

    private static void string(StringBuilder sb, String s) {
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
}
