package io.github.kvpolicy.processing;

import com.google.gson.JsonArray;
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

    static int intOr(JsonObject o, String key, int dflt) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? dflt : e.getAsInt();
    }

    static double doubleOr(JsonObject o, String key, double dflt) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? dflt : e.getAsDouble();
    }

    static boolean boolOr(JsonObject o, String key, boolean dflt) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? dflt : e.getAsBoolean();
    }

    static String stringOr(JsonObject o, String key, String dflt) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() || !e.isJsonPrimitive() ? dflt : e.getAsString();
    }

    static int requireInt(JsonObject o, String key, String where) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull() || !e.isJsonPrimitive()) {
            throw new ProcessingException(where + ": missing integer key '" + key + "'");
        }
        return e.getAsInt();
    }

    static double[] doubles(JsonObject o, String key, double[] dflt, String where) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) return dflt;
        if (e.isJsonPrimitive()) { // a scalar applies to all three channels
            double v = e.getAsDouble();
            return new double[] {v, v, v};
        }
        JsonArray a = e.getAsJsonArray();
        if (a.size() != 3) throw new ProcessingException(where + ": '" + key + "' must have 3 values (R, G, B), got " + a.size());
        return new double[] {a.get(0).getAsDouble(), a.get(1).getAsDouble(), a.get(2).getAsDouble()};
    }

    static JsonObject objectOr(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e != null && e.isJsonObject() ? e.getAsJsonObject() : new JsonObject();
    }
}
