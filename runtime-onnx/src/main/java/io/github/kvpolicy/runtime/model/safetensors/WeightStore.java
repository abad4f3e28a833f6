package io.github.kvpolicy.runtime.model.safetensors;

import io.github.kvpolicy.runtime.json.Json;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The weights of one model: a single {@code model.safetensors} or several shards listed by
 * {@code model.safetensors.index.json} ({@code {"weight_map": {tensor: shard file}}}). Every tensor is
 * looked up by its HF name; a name held by two shards, or an index entry whose shard lacks the tensor,
 * is an error naming both. Owns the opened files; {@link #close()} unmaps them. Thread-safe for reads.
 */
public final class WeightStore implements AutoCloseable {
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile> byName;
    private final String description;

    private WeightStore(List<SafetensorsFile> files, Map<String, SafetensorsFile> byName, String description) {
        this.files = files;
        this.byName = byName;
        this.description = description;
    }

    /**
     * Opens the weights in {@code dir}: {@code model.safetensors.index.json} if present, else
     * {@code model.safetensors}.
     */
    public static WeightStore openDirectory(Path dir) {
        Path index = dir.resolve("model.safetensors.index.json");
        if (Files.isRegularFile(index)) {
            return openIndex(index);
        }
        Path single = dir.resolve("model.safetensors");
        if (!Files.isRegularFile(single)) {
            throw new IllegalArgumentException(dir + ": no model.safetensors or model.safetensors.index.json");
        }
        return openFiles(List.of(single));
    }

    /** Opens the shards named by an index file. */
    public static WeightStore openIndex(Path index) {
        Map<String, Object> root;
        try {
            root = Json.parseObject(Files.readString(index), index.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(index + ": cannot read", e);
        }
        if (!(root.get("weight_map") instanceof Map<?, ?> wm)) {
            throw new IllegalArgumentException(index + ": missing object \"weight_map\"");
        }
        List<Path> shards = new ArrayList<>();
        Map<String, String> expected = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : wm.entrySet()) {
            if (!(e.getValue() instanceof String f) || f.contains("/") || f.contains("\\") || f.startsWith(".")) {
                throw new IllegalArgumentException(index + ": weight_map[\"" + e.getKey() + "\"] must be a plain file name, found " + e.getValue());
            }
            Path p = index.resolveSibling(f);
            if (!shards.contains(p)) shards.add(p);
            expected.put((String) e.getKey(), f);
        }
        WeightStore ws = openFiles(shards);
        for (Map.Entry<String, String> e : expected.entrySet()) {
            SafetensorsFile f = ws.byName.get(e.getKey());
            if (f == null || !f.path().getFileName().toString().equals(e.getValue())) {
                ws.close();
                throw new IllegalArgumentException(index + ": weight_map says \"" + e.getKey() + "\" is in " + e.getValue()
                        + " but " + (f == null ? "no shard holds it" : "it is in " + f.path().getFileName()));
            }
        }
        return ws;
    }

    /** Opens the given shard files; tensor names must be unique across them. */
    public static WeightStore openFiles(List<Path> paths) {
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
        try {
            for (Path p : paths) {
                SafetensorsFile f = SafetensorsFile.open(p);
                files.add(f);
                for (String n : f.tensors().keySet()) {
                    SafetensorsFile prev = byName.putIfAbsent(n, f);
                    if (prev != null) {
                        throw new SafetensorsException("tensor \"" + n + "\" appears in both " + prev.path() + " and " + p);
                    }
                }
            }
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        return new WeightStore(List.copyOf(files), Collections.unmodifiableMap(byName),
                paths.size() == 1 ? paths.get(0).toString() : paths.size() + " shards in " + paths.get(0).getParent());
    }

    /** The opened shard files. */
    public List<SafetensorsFile> files() {
        return files;
    }

    /** All tensor names. */
    public java.util.Set<String> names() {
        return byName.keySet();
    }

    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    /** The file holding {@code name}; error naming the store when absent. */
    public SafetensorsFile fileOf(String name) {
        SafetensorsFile f = byName.get(name);
        if (f == null) {
            throw new SafetensorsException(description + ": missing tensor \"" + name + "\"");
        }
        return f;
    }

    public TensorInfo info(String name) {
        return fileOf(name).info(name);
    }

    /**
     * The header entry of {@code name}, checked against the expected shape; the error names the tensor,
     * the file, and both shapes.
     */
    public TensorInfo require(String name, long... shape) {
        TensorInfo t = info(name);
        if (!java.util.Arrays.equals(t.shape(), shape)) {
            throw new SafetensorsException(fileOf(name).path() + ": tensor \"" + name + "\" has shape " + t.shapeString()
                    + ", expected " + java.util.Arrays.toString(shape) + " (from config.json)");
        }
        return t;
    }

    public float[] readFloats(String name) {
        return fileOf(name).readFloats(name);
    }

    public void readFloats(String name, long from, float[] dst, int off, int count) {
        fileOf(name).readFloats(name, from, dst, off, count);
    }

    public MemorySegment segment(String name) {
        return fileOf(name).segment(name);
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }

    @Override
    public String toString() {
        return "WeightStore[" + description + "]";
    }
}
