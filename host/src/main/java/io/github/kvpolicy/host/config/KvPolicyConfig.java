package io.github.kvpolicy.host.config;

import io.github.kvpolicy.api.Budget;
import io.github.kvpolicy.api.provider.PolicyConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.snakeyaml.engine.v2.exceptions.YamlEngineException;

/**
 * kvpolicy's configuration: which policy (with options, possibly nested), the budget, plugin directories, the
 * model and generation settings. Read from a YAML file, then overridden by environment variables, then by
 * command-line {@code key=value} overrides (later wins). Immutable.
 *
 * <p>Keys: {@code policy} (a name, or a map with a {@code policy} key and its options; options of type policy
 * nest the same way), {@code budget} ("10%", "0.1" or "64"), {@code plugins} (a directory or a list),
 * {@code model} (a model package directory, {@code testbed}, or {@code random:<preset>}), {@code device}
 * ({@code cpu} or {@code cuda}), {@code dtype} (the model's precision: {@code fp32}, {@code fp16-kv} or {@code fp16}), {@code seed}, {@code generation.max-new-tokens}, {@code generation.temperature}.
 *
 * <p>Overrides use dotted paths: {@code policy.alpha=0.8}, {@code budget=5%}. Environment variables
 * {@code KVPOLICY_<PATH>} use {@code __} for the dots: {@code KVPOLICY_POLICY__ALPHA=0.8},
 * {@code KVPOLICY_BUDGET=5%}.
 */
public final class KvPolicyConfig {
    /** The top-level keys; anything else is an error. */
    public static final Set<String> KEYS = Set.of("policy", "budget", "plugins", "model", "device", "dtype", "seed", "generation");
    private static final String ENV_PREFIX = "KVPOLICY_";
    /**
     * {@code KVPOLICY_*} variables that belong to the launcher or the runtime, not to the configuration tree
     * ({@code bin/kvpolicy} reads {@code KVPOLICY_JAVA_OPTS}; {@code KVPOLICY_DEBUG} turns on stack traces;
     * {@code KVPOLICY_CACHE_DIR} moves the per-user cache; {@code KVPOLICY_HOME} locates the distribution).
     */
    public static final Set<String> NON_CONFIG_VARIABLES = Set.of("KVPOLICY_JAVA_OPTS", "KVPOLICY_DEBUG", "KVPOLICY_CACHE_DIR", "KVPOLICY_HOME");
    /** Deepest nesting of maps/lists a configuration may have (composed policies need a handful). */
    public static final int MAX_YAML_DEPTH = 64;

    private final Map<String, Object> tree;

    private KvPolicyConfig(Map<String, Object> tree) {
        this.tree = tree;
    }

    /** An empty configuration (all defaults). */
    public static KvPolicyConfig empty() {
        return new KvPolicyConfig(new LinkedHashMap<>());
    }

    /**
     * @param file      YAML file, or null
     * @param env       environment (only {@code KVPOLICY_*} entries are read)
     * @param overrides {@code path=value} strings from the command line
     * @throws ConfigException naming the file/variable/flag and what is wrong
     */
    public static KvPolicyConfig load(Path file, Map<String, String> env, List<String> overrides) {
        Map<String, Object> tree = new LinkedHashMap<>();
        if (file != null) tree = parseYaml(file);
        checkKeys(tree, "configuration file " + file);
        for (Map.Entry<String, String> e : new java.util.TreeMap<>(env).entrySet()) {
            if (!e.getKey().startsWith(ENV_PREFIX) || NON_CONFIG_VARIABLES.contains(e.getKey())) continue;
            String path = e.getKey().substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace("__", ".").replace('_', '-');
            set(tree, path, scalar(e.getValue()), "environment variable " + e.getKey());
        }
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq <= 0) throw new ConfigException("Invalid override '" + o + "': expected key=value, e.g. policy.alpha=0.8");
            set(tree, o.substring(0, eq).trim(), scalar(o.substring(eq + 1)), "override '" + o + "'");
        }
        return new KvPolicyConfig(tree);
    }

    /** Parses YAML text (for tests and embedded defaults). */
    public static KvPolicyConfig parse(String yaml, String sourceName) {
        Map<String, Object> tree = parseYamlText(yaml, sourceName);
        checkKeys(tree, sourceName);
        return new KvPolicyConfig(tree);
    }

    private static Map<String, Object> parseYaml(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new ConfigException("Cannot read configuration file " + file + ": " + e.getMessage());
        }
        return parseYamlText(text, "configuration file " + file);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> parseYamlText(String text, String source) {
        Object doc;
        int depth = flowDepth(text);
        if (depth > MAX_YAML_DEPTH) {
            throw new ConfigException("Malformed " + source + ": nested " + depth + " levels deep, more than the " + MAX_YAML_DEPTH + " a configuration may have");
        }
        try {
            doc = new Load(LoadSettings.builder().setLabel(source).setAllowDuplicateKeys(false).setMaxAliasesForCollections(50)
                    .setCodePointLimit(8 * 1024 * 1024).build()).loadFromString(text);
        } catch (YamlEngineException e) {
            throw new ConfigException("Malformed YAML in " + source + ": " + e.getMessage().replace('\n', ' '));
        } catch (StackOverflowError e) {
            throw new ConfigException("Malformed " + source + ": nested too deeply to parse (more than " + MAX_YAML_DEPTH + " levels are not allowed)");
        }
        if (depth(doc, 0) > MAX_YAML_DEPTH) {
            throw new ConfigException("Malformed " + source + ": nested more than the " + MAX_YAML_DEPTH + " levels a configuration may have");
        }
        if (doc == null) return new LinkedHashMap<>();
        if (!(doc instanceof Map<?, ?> m)) throw new ConfigException("Malformed " + source + ": expected a map of keys (policy, budget, ...), got " + doc.getClass().getSimpleName());
        return deepCopy((Map<String, Object>) m);
    }

    /** The deepest bracket nesting of flow-style YAML ({@code [[[...]]]}, {@code {a: {b: ...}}}), ignoring quoted text. */
    private static int flowDepth(String text) {
        int d = 0, max = 0;
        char quote = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quote != 0) {
                if (c == quote) quote = 0;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '[' || c == '{') {
                max = Math.max(max, ++d);
            } else if (c == ']' || c == '}') {
                d = Math.max(0, d - 1);
            } else if (c == '#') {
                while (i < text.length() && text.charAt(i) != '\n') i++;
            }
        }
        return max;
    }

    private static int depth(Object o, int level) {
        if (level > MAX_YAML_DEPTH) return level;
        int max = level;
        if (o instanceof Map<?, ?> m) for (Object v : m.values()) max = Math.max(max, depth(v, level + 1));
        else if (o instanceof List<?> l) for (Object v : l) max = Math.max(max, depth(v, level + 1));
        return max;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> deepCopy(Map<String, Object> m) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            Object v = e.getValue();
            out.put(String.valueOf(e.getKey()), v instanceof Map<?, ?> sub ? deepCopy((Map<String, Object>) sub) : v);
        }
        return out;
    }

    private static void checkKeys(Map<String, Object> tree, String source) {
        for (String k : tree.keySet()) {
            if (!KEYS.contains(k)) {
                throw new ConfigException("Unknown configuration key '" + k + "' in " + source + ". Known keys: " + String.join(", ", new TreeSet<>(KEYS)));
            }
        }
    }

    private static Object scalar(String s) {
        String t = s.trim();
        if (t.equals("true") || t.equals("false")) return Boolean.parseBoolean(t);
        try { return Integer.parseInt(t); } catch (NumberFormatException ignored) { }
        try { if (!t.endsWith("%")) return Double.parseDouble(t); } catch (NumberFormatException ignored) { }
        return t;
    }

    /**
     * Sets a dotted path. Setting {@code policy.x} when {@code policy} is a bare name turns it into a map
     * {@code {policy: name, x: value}}; setting {@code policy} to a name replaces the policy and drops its options.
     */
    @SuppressWarnings("unchecked")
    private static void set(Map<String, Object> tree, String path, Object value, String source) {
        String[] parts = path.split("\\.");
        if (parts.length == 0 || !KEYS.contains(parts[0])) {
            throw new ConfigException("Unknown configuration key '" + parts[0] + "' in " + source + ". Known keys: " + String.join(", ", new TreeSet<>(KEYS)));
        }
        Map<String, Object> cur = tree;
        for (int i = 0; i < parts.length - 1; i++) {
            Object next = cur.get(parts[i]);
            if (next instanceof String name && isPolicyKey(parts, i)) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("policy", name);
                cur.put(parts[i], m);
                next = m;
            } else if (!(next instanceof Map)) {
                Map<String, Object> m = new LinkedHashMap<>();
                cur.put(parts[i], m);
                next = m;
            }
            cur = (Map<String, Object>) next;
        }
        String last = parts[parts.length - 1];
        if (cur.get(last) instanceof Map<?, ?> existing && existing.containsKey("policy") && value instanceof String) {
            ((Map<String, Object>) existing).clear();
            ((Map<String, Object>) existing).put("policy", value);
        } else {
            cur.put(last, value);
        }
    }

    private static boolean isPolicyKey(String[] parts, int i) {
        return i == 0 ? parts[0].equals("policy") : true; // nested policy-valued options may be bare names too
    }

    /** The selected policy; defaults to {@code aircache}. */
    public PolicyConfig policy() {
        Object p = tree.getOrDefault("policy", "aircache");
        try {
            return PolicyConfig.from(p);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("Invalid 'policy' configuration: " + e.getMessage());
        }
    }

    /** The budget; defaults to 10% of the visual cache. */
    public Budget budget() {
        Object b = tree.getOrDefault("budget", "10%");
        try {
            return Budget.parse(String.valueOf(b));
        } catch (IllegalArgumentException e) {
            throw new ConfigException("Invalid 'budget' configuration: " + e.getMessage());
        }
    }

    /** Plugin directories (empty if none configured). */
    public List<Path> pluginDirs() {
        Object p = tree.get("plugins");
        List<Path> out = new ArrayList<>();
        if (p == null) return out;
        if (p instanceof List<?> l) for (Object o : l) out.add(Path.of(String.valueOf(o)));
        else out.add(Path.of(String.valueOf(p)));
        return out;
    }

    /** The model to run: a package directory, {@code testbed} or {@code random:<preset>}; default {@code testbed}. */
    public String model() {
        return String.valueOf(tree.getOrDefault("model", "testbed"));
    }

    /** {@code cpu} (default) or {@code cuda}. */
    public String device() {
        String d = String.valueOf(tree.getOrDefault("device", "cpu")).toLowerCase(Locale.ROOT);
        if (!d.equals("cpu") && !d.equals("cuda")) throw new ConfigException("Invalid 'device' configuration '" + d + "': expected cpu or cuda");
        return d;
    }

    /**
     * The model's numeric precision: {@code fp32} (default), {@code fp16-kv} (fp16 KV cache, fp32 arithmetic) or
     * {@code fp16} (fp16 weights, projections and KV cache; norm statistics and softmax in fp32).
     */
    public String dtype() {
        String d = String.valueOf(tree.getOrDefault("dtype", "fp32")).toLowerCase(Locale.ROOT);
        if (!d.equals("fp32") && !d.equals("fp16-kv") && !d.equals("fp16")) {
            throw new ConfigException("Invalid 'dtype' configuration '" + d + "': expected fp32, fp16-kv or fp16");
        }
        return d;
    }

    public long seed() {
        Object s = tree.getOrDefault("seed", 0);
        if (s instanceof Number n) return n.longValue();
        throw new ConfigException("Invalid 'seed' configuration '" + s + "': expected an integer");
    }

    /** A value under {@code generation}, e.g. {@code max-new-tokens}. */
    public Optional<Object> generation(String key) {
        return tree.get("generation") instanceof Map<?, ?> m ? Optional.ofNullable(m.get(key)) : Optional.empty();
    }

    /** The whole tree (read-only copy), for diagnostics. */
    public Map<String, Object> asMap() {
        return deepCopy(tree);
    }

    @Override
    public String toString() {
        return tree.toString();
    }
}
