package io.github.kvpolicy.evaluation.json;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Strict JSON for the evaluation's files (Jackson): one value per text, nothing after it, no duplicate keys, no
 * comments, no NaN. Thread-safe (the mapper is configured once and never changed).
 */
public final class JsonLines {
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private JsonLines() {}

    /**
     * Parses one JSON value.
     *
     * @param label where the text comes from (a file and line), named in the error
     * @throws IllegalArgumentException {@code label: invalid JSON (…)} with Jackson's reason, without its source dump
     */
    public static JsonNode parse(String json, String label) {
        try {
            return parse(json);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(label + ": " + e.getMessage(), e.getCause());
        }
    }

    /**
     * Parses one JSON value.
     *
     * @throws IllegalArgumentException {@code invalid JSON (…)} with Jackson's reason, without its source dump
     */
    public static JsonNode parse(String json) {
        try {
            JsonNode n = MAPPER.readTree(json);
            if (n == null || n.isMissingNode()) throw new IllegalArgumentException("empty, expected a JSON value");
            return n;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("invalid JSON (" + e.getOriginalMessage() + ")", e);
        }
    }

    /** A new empty object node. */
    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    /** {@code node} as indented JSON. */
    public static String pretty(JsonNode node) {
        try {
            return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise " + node, e);
        }
    }

    /** {@code node} as compact one-line JSON (no line breaks, so it is one JSONL record). */
    public static String compact(JsonNode node) {
        try {
            return MAPPER.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialise " + node, e);
        }
    }
}
