package io.github.kvpolicy.cli;

import io.github.kvpolicy.host.config.KvPolicyConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Options every command shares: the configuration file and its overrides. */
public final class ConfigOptions {
    @Option(names = {"-c", "--config"}, description = "YAML configuration file (policy, budget, plugins, model, device, generation).")
    Path configFile;

    @Option(names = {"-p", "--policy"}, description = "Policy name (overrides the configuration).")
    String policy;

    @Option(names = {"-b", "--budget"}, description = "Budget: '10%%', '0.1' or a token count such as '64'.")
    String budget;

    @Option(names = {"--plugins"}, description = "Plugin directory (each *.jar is loaded in its own class loader).")
    List<Path> plugins = new ArrayList<>();

    @Option(names = {"--set"}, description = "Configuration override key=value, e.g. --set policy.alpha=0.8 (repeatable).")
    List<String> overrides = new ArrayList<>();

    /**
     * File < KVPOLICY_* environment < dedicated flags (--policy, --budget, --plugins) < --set overrides, so that
     * {@code -p snapkv --set policy.window=16} configures the policy the flag chose.
     */
    public KvPolicyConfig load() {
        List<String> o = new ArrayList<>();
        if (policy != null) o.add("policy=" + policy);
        if (budget != null) o.add("budget=" + budget);
        for (int i = 0; i < plugins.size(); i++) o.add("plugins=" + plugins.get(i));
        o.addAll(overrides);
        Path file = configFile;
        if (file == null && java.nio.file.Files.isRegularFile(Path.of("kvpolicy.yaml"))) file = Path.of("kvpolicy.yaml");
        return KvPolicyConfig.load(file, System.getenv(), o);
    }
}
