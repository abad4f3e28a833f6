package io.github.kvpolicy.runtime.model.json;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonTest {
    @Test
    void parsesAllValueKinds() {
        Object v = Json.parse(" {\"a\": [1, -2.5e1, true, false, null, \"x\\u00e9\\n\"], \"b\": {}, \"c\": 12345678901234567890} ", "t");
        Map<?, ?> m = (Map<?, ?>) v;
        List<?> a = (List<?>) m.get("a");
        assertEquals(1L, a.get(0));
        assertEquals(-25.0, a.get(1));
        assertEquals(true, a.get(2));
        assertEquals(false, a.get(3));
        assertNull(a.get(4));
        assertEquals("xé\n", a.get(5));
        assertEquals(Map.of(), m.get("b"));
        assertEquals(new java.math.BigInteger("12345678901234567890"), m.get("c"));
    }

    @Test
    void rejectsNonStrictJson() {
        for (String bad : new String[]{"{\"a\":1,}", "[1,]", "{'a':1}", "01", "{\"a\":1} x", "// c\n{}", "\"\t\"",
                "{\"a\":1,\"a\":2}", "[1 2]", "", "NaN", "\"\\x\""}) {
            Json.JsonException e = assertThrows(Json.JsonException.class, () -> Json.parse(bad, "src.json"), bad);
            assertTrue(e.getMessage().startsWith("src.json: malformed JSON at offset"), e.getMessage());
        }
    }

    @Test
    void writeThenParseRoundTrips() {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("s", "q\"\\\u0001");
        m.put("l", List.of(1L, 2.5, true));
        m.put("n", null);
        m.put("o", Map.of("k", "v"));
        assertEquals(m, Json.parse(Json.write(m), "w"));
        assertEquals(m, Json.parse(Json.writePretty(m), "w"));
        assertThrows(IllegalArgumentException.class, () -> Json.write(Double.NaN));
    }
}
