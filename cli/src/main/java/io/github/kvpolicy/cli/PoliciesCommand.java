package io.github.kvpolicy.cli;

import com.google.inject.Guice;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyProvider;
import io.github.kvpolicy.api.provider.PolicyRegistry;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Lists the available policies (class path and plugin directories) with their options and capabilities. */
@Command(name = "policies", mixinStandardHelpOptions = true, description = "List the available policies, their options and capabilities.")
public final class PoliciesCommand implements Callable<Integer> {
    @Mixin ConfigOptions config;
    @Spec CommandSpec spec;

    @Override
    public Integer call() {
        PolicyRegistry registry = Guice.createInjector(new KvPolicyModule(config.load())).getInstance(PolicyRegistry.class);
        PrintWriter out = spec.commandLine().getOut();
        for (PolicyRegistry.Registration r : registry.registrations()) {
            PolicyProvider p = r.provider();
            out.printf("%s %s  (%s)%n  %s%n  capabilities: %s%n", p.name(), p.version(), r.source(), p.description(), p.capabilities());
            for (OptionSpec o : p.options().specs()) {
                out.printf("    --set policy.%s=<%s>  default %s. %s%n", o.name(), o.expectation(), o.defaultValue(), o.description());
            }
        }
        for (PolicyRegistry.LoadProblem problem : registry.problems()) out.printf("NOT LOADED %s%n", problem);
        out.flush();
        return registry.problems().isEmpty() ? 0 : 1;
    }
}
