package io.github.kvpolicy.processing;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Python {@code str} methods for Jinjava, so that chat templates written for Jinja2 can call them on strings:
 * {@code startswith}, {@code endswith}, {@code strip}/{@code lstrip}/{@code rstrip} (optionally with a set of
 * characters), {@code split} (whitespace or a literal separator, optional maxsplit), {@code upper}, {@code lower},
 * {@code title}, {@code capitalize}, {@code replace}, {@code find}, {@code count}, {@code join}. Semantics follow
 * Python's (literal separators, not regular expressions). Other calls fall through to Jinjava's resolvers.
 * Stateless and thread-safe.
 */
final class PythonStringMethods extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || !(method instanceof String name)) return null;
        Object[] p = params == null ? new Object[0] : params;
        Object r;
        switch (name) {
            case "startswith" -> r = p.length >= 1 && anyMatch(p[0], x -> s.startsWith(x));
            case "endswith" -> r = p.length >= 1 && anyMatch(p[0], x -> s.endsWith(x));
            case "strip" -> r = strip(s, arg(p, 0), true, true);
            case "lstrip" -> r = strip(s, arg(p, 0), true, false);
            case "rstrip" -> r = strip(s, arg(p, 0), false, true);
            case "split" -> r = split(s, arg(p, 0), p.length >= 2 && p[1] != null ? ((Number) p[1]).intValue() : -1);
            case "upper" -> r = s.toUpperCase(java.util.Locale.ROOT);
            case "lower" -> r = s.toLowerCase(java.util.Locale.ROOT);
            case "capitalize" -> r = s.isEmpty() ? s : s.substring(0, 1).toUpperCase(java.util.Locale.ROOT) + s.substring(1).toLowerCase(java.util.Locale.ROOT);
            case "title" -> r = title(s);
            case "replace" -> {
                if (p.length < 2) return null;
                r = s.replace(String.valueOf(p[0]), String.valueOf(p[1]));
            }
            case "find" -> {
                if (p.length < 1) return null;
                r = s.indexOf(String.valueOf(p[0]));
            }
            case "count" -> {
                if (p.length < 1) return null;
                String sub = String.valueOf(p[0]);
                int n = 0;
                if (sub.isEmpty()) n = s.length() + 1;
                else for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) n++;
                r = n;
            }
            case "join" -> {
                if (p.length < 1 || !(p[0] instanceof Iterable<?> it)) return null;
                List<String> parts = new ArrayList<>();
                for (Object o : it) parts.add(String.valueOf(o));
                r = String.join(s, parts);
            }
            default -> {
                return null;
            }
        }
        context.setPropertyResolved(true);
        return r;
    }

    private static String arg(Object[] p, int i) {
        return p.length > i && p[i] != null ? String.valueOf(p[i]) : null;
    }

    private static boolean anyMatch(Object prefixes, java.util.function.Predicate<String> test) {
        if (prefixes instanceof Iterable<?> it) {
            for (Object o : it) if (test.test(String.valueOf(o))) return true;
            return false;
        }
        return test.test(String.valueOf(prefixes));
    }

    static String strip(String s, String chars, boolean left, boolean right) {
        int a = 0, b = s.length();
        if (chars == null) {
            while (left && a < b && Character.isWhitespace(s.charAt(a))) a++;
            while (right && b > a && Character.isWhitespace(s.charAt(b - 1))) b--;
        } else {
            while (left && a < b && chars.indexOf(s.charAt(a)) >= 0) a++;
            while (right && b > a && chars.indexOf(s.charAt(b - 1)) >= 0) b--;
        }
        return s.substring(a, b);
    }

    static List<String> split(String s, String sep, int maxsplit) {
        List<String> out = new ArrayList<>();
        if (sep == null) { // runs of whitespace, no empty strings
            int i = 0, n = s.length();
            while (i < n) {
                while (i < n && Character.isWhitespace(s.charAt(i))) i++;
                if (i >= n) break;
                if (maxsplit >= 0 && out.size() == maxsplit) {
                    out.add(strip(s.substring(i), null, false, true));
                    return out;
                }
                int j = i;
                while (j < n && !Character.isWhitespace(s.charAt(j))) j++;
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
        int from = 0;
        for (int i = s.indexOf(sep); i >= 0 && (maxsplit < 0 || out.size() < maxsplit); i = s.indexOf(sep, from)) {
            out.add(s.substring(from, i));
            from = i + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean prevCased = false;
        for (char c : s.toCharArray()) {
            sb.append(prevCased ? Character.toLowerCase(c) : Character.toUpperCase(c));
            prevCased = Character.isLetter(c);
        }
        return sb.toString();
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        // never resolves a property
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<java.beans.FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return base instanceof String ? Object.class : null;
    }
}
