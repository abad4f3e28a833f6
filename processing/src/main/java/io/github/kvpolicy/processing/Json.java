package io.github.kvpolicy.processing;

import io.github.kvpolicy.processing.error.ProcessingException;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** Small helpers to read the JSON files of a Hugging Face model folder, with one-line errors naming the file and key. */
final class Json {
    private Json() {}

    /** Parses {@code file} as a JSON object; fails naming the file when it is missing or not an object. */
    static JsonObject readObject(Path file) {
        if (!Files.isRegularFile(file)) throw new ProcessingException(file + ": file not found (expected a JSON object)");
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file));
            if (!e.isJsonObject()) throw new ProcessingException(file + ": expected a JSON object at the top level");
            return e.getAsJsonObject();
        } catch (IOException | JsonParseException e) {
            throw new ProcessingException(file + ": not readable as JSON (" + e.getMessage() + ")", e);
        }
    }

    /** Reads {@code file} if it exists. */
    static Optional<JsonObject> readOptional(Path file) {
        return Files.isRegularFile(file) ? Optional.of(readObject(file)) : Optional.empty();
    }

    static boolean boolOr(JsonObject o, String key, boolean dflt) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? dflt : e.getAsBoolean();
    }

    static String stringOr(JsonObject o, String key, String dflt) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() || !e.isJsonPrimitive() ? dflt : e.getAsString();
    }

    static JsonObject objectOr(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e != null && e.isJsonObject() ? e.getAsJsonObject() : new JsonObject();
    }
}
