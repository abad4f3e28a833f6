package io.github.kvpolicy.runtime.json;

import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonTest {
    @Test
    void parsesAllValueKindsToTheValueModel() {
        Object v = Json.parse(" {\"a\": [1, -2.5e1, true, false, null, \"x\\u00e9\\n\", 9223372036854775807], \"b\": {},"
                + " \"c\": 12345678901234567890, \"z\": 0, \"y\": [[2]]} ", "t");
        Map<?, ?> m = assertInstanceOf(LinkedHashMap.class, v);
        assertEquals(List.of("a", "b", "c", "z", "y"), List.copyOf(m.keySet()), "insertion order kept");
        List<?> a = assertInstanceOf(ArrayList.class, m.get("a"));
        assertEquals(Long.valueOf(1L), assertInstanceOf(Long.class, a.get(0)), "small integers are Long, not Integer");
        assertEquals(-25.0, assertInstanceOf(Double.class, a.get(1)));
        assertEquals(true, a.get(2));
        assertEquals(false, a.get(3));
        assertNull(a.get(4));
        assertEquals("xé\n", a.get(5));
        assertEquals(Long.MAX_VALUE, assertInstanceOf(Long.class, a.get(6)));
        assertEquals(Map.of(), m.get("b"));
        assertEquals(new BigInteger("12345678901234567890"), assertInstanceOf(BigInteger.class, m.get("c")));
        assertInstanceOf(Long.class, m.get("z"), "integers in objects are Long too");
        assertInstanceOf(Long.class, ((List<?>) ((List<?>) m.get("y")).get(0)).get(0), "and in nested arrays");
    }

    @Test
    void rejectsNonStrictJsonWithOneLineNamingSourceAndPosition() {
        for (String bad : new String[]{"{\"a\":1,}", "[1,]", "{'a':1}", "01", "{\"a\":1} x", "{} {}", "// c\n{}", "\"\t\"",
                "{\"a\":1,\"a\":2}", "[1 2]", "", "NaN", "\"\\x\"", "[[[", "{\"a\":",
                "{\"a\\nb\": 1, \"a\\nb\": 2}" /* Jackson's message quotes the decoded key, line break included */}) {
            Json.JsonException e = assertThrows(Json.JsonException.class, () -> Json.parse(bad, "dir/src.json"), bad);
            String msg = e.getMessage();
            assertTrue(msg.startsWith("dir/src.json: malformed JSON at line "), msg);
            assertFalse(msg.contains("\n") || msg.contains("\r"), "one line: " + msg);
            assertFalse(msg.contains("[Source"), "Jackson's location text is replaced by line/column: " + msg);
            if (!bad.isEmpty()) assertTrue(msg.matches("dir/src\\.json: malformed JSON at line \\d+, column \\d+: .+"), msg);
        }
    }

    @Test
    void duplicateKeyIsReportedWhereItIs() {
        Json.JsonException e = assertThrows(Json.JsonException.class, () -> Json.parse("{\"a\": 1,\n  \"b\": 2,\n  \"a\": 3}", "cfg.json"));
        assertTrue(e.getMessage().startsWith("cfg.json: malformed JSON at line 3, column "), e.getMessage());
        assertTrue(e.getMessage().contains("'a'"), e.getMessage());
        assertThrows(Json.JsonException.class, () -> Json.parse("[{\"k\": {\"x\": 1, \"x\": 1}}]", "nested"));
    }

    @Test
    void trailingTokensAreRejected() {
        Json.JsonException e = assertThrows(Json.JsonException.class, () -> Json.parse("{\"a\": 1}\n{}", "two.json"));
        assertTrue(e.getMessage().startsWith("two.json: malformed JSON at line 2, column "), e.getMessage());
        assertEquals(Map.of("a", 1L), Json.parse("{\"a\": 1}\n \t\r\n", "ws.json"), "trailing whitespace is fine");
    }

    @Test
    void parseObjectWantsAnObject() {
        Json.JsonException e = assertThrows(Json.JsonException.class, () -> Json.parseObject("[1]", "v.json"));
        assertEquals("v.json: expected a JSON object at the top level, found array", e.getMessage());
        assertInstanceOf(IllegalArgumentException.class, e);
    }

    @Test
    void writeThenParseRoundTrips() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("s", "q\"\\\u0001");
        m.put("l", List.of(1L, 2.5, true, new BigInteger("123456789012345678901234")));
        m.put("n", null);
        m.put("o", Map.of("k", "v"));
        assertEquals(m, Json.parse(Json.write(m), "w"));
        assertEquals(m, Json.parse(Json.writePretty(m), "w"));
        assertThrows(IllegalArgumentException.class, () -> Json.write(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> Json.write(List.of(Float.POSITIVE_INFINITY)));
        assertThrows(IllegalArgumentException.class, () -> Json.writePretty(Map.of("x", Double.NEGATIVE_INFINITY)));
    }

    /** Fingerprints and random.json markers are compared as text: this is the format they were written in before Jackson. */
    @Test
    void writesTheSameTextAsBefore() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("builder", 7L);
        m.put("ok", true);
        m.put("eps", 1.0e-6);
        m.put("f", 0.5f);
        m.put("empty", Map.of());
        m.put("none", List.of());
        m.put("w", List.of(Map.of("name", "a\tb"), 2));
        assertEquals("{\"builder\":7,\"ok\":true,\"eps\":1.0E-6,\"f\":0.5,\"empty\":{},\"none\":[],\"w\":[{\"name\":\"a\\tb\"},2]}", Json.write(m));
        assertEquals("""
                {
                  "builder": 7,
                  "ok": true,
                  "eps": 1.0E-6,
                  "f": 0.5,
                  "empty": {},
                  "none": [],
                  "w": [
                    {
                      "name": "a\\tb"
                    },
                    2
                  ]
                }
                """, Json.writePretty(m));
    }
}
