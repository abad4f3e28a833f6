package io.github.kvpolicy.policy.baselines;

import io.github.kvpolicy.api.Capability;
import io.github.kvpolicy.api.CompressionPolicy;
import io.github.kvpolicy.api.Schedule;
import io.github.kvpolicy.api.Scope;
import io.github.kvpolicy.api.provider.CreationContext;
import io.github.kvpolicy.api.provider.InvalidOptionException;
import io.github.kvpolicy.api.provider.OptionSpec;
import io.github.kvpolicy.api.provider.PolicyConfig;
import io.github.kvpolicy.api.provider.PolicyOptions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Option specs and parsing shared by the baselines (scope, decoding trigger, nested policies). Stateless. */
final class CommonOptions {
    private CommonOptions() {}

    static final String VERSION = "0.1.0";

    /**
     * What every baseline here supports (deterministic, batches, concurrent calls, the all-token scope) plus
     * {@code extra}.
     */
    static java.util.Set<Capability> capabilitiesWith(Capability... extra) {
        java.util.EnumSet<Capability> c = java.util.EnumSet.of(Capability.DETERMINISTIC, Capability.BATCH, Capability.THREAD_SAFE, Capability.ALL_TOKEN_SCOPE);
        c.addAll(List.of(extra));
        return java.util.Set.copyOf(c);
    }

    static final String SCOPE = "scope";
    static final String TRIGGER = "trigger";
    static final String EVERY = "every";
    static final String SLACK = "slack";
    static final String SCORER = "scorer";

    /** {@code scope}: visual (default; like-for-like comparisons at r% of the visual cache) or all. */
    static OptionSpec scope() {
        return OptionSpec.choice(SCOPE, "visual", List.of("visual", "all"),
                "Which tokens may be evicted: visual (image tokens only; every text token is kept) or all (text, visual and generated).");
    }

    /** {@code scope} of a wrapper: inherit (the nested policy's own) or forced onto the nested policy. */
    static OptionSpec wrapperScope() {
        return OptionSpec.choice(SCOPE, "inherit", List.of("inherit", "visual", "all"),
                "Which tokens may be evicted: inherit (the nested policy's scope), or visual / all, passed to the nested policy as its 'scope' option.");
    }

    static Scope scope(PolicyOptions o) {
        return parseScope(o.getString(SCOPE));
    }

    static Scope parseScope(String s) {
        return switch (s) {
            case "visual" -> Scope.VISUAL;
            case "all" -> Scope.ALL;
            default -> throw new IllegalArgumentException("unknown scope '" + s + "'");
        };
    }

    /** {@code trigger}, {@code every}, {@code slack} of a natively decoding-time policy (default: when over budget). */
    static List<OptionSpec> trigger(String defaultTrigger, List<String> allowed) {
        return List.of(
                OptionSpec.choice(TRIGGER, defaultTrigger, allowed,
                        "When the policy acts: prefill (once after prefill), every (after prefill and every 'every' generated tokens) or when-over-budget (after prefill and whenever a layer and KV head holds more than budget + 'slack' candidates)."),
                OptionSpec.integer(EVERY, 1, 1, 1_000_000, "Decoding steps between two actions when trigger = every."),
                OptionSpec.integer(SLACK, 0, 0, 1_000_000, "Candidates over the budget tolerated before acting when trigger = when-over-budget."));
    }

    static Schedule schedule(PolicyOptions o) {
        return switch (o.getString(TRIGGER)) {
            case "prefill" -> Schedule.onceAfterPrefill();
            case "every" -> Schedule.everySteps(o.getInt(EVERY));
            case "when-over-budget" -> Schedule.whenOverBudget(o.getInt(SLACK));
            default -> throw new IllegalArgumentException("unknown trigger '" + o.getString(TRIGGER) + "'");
        };
    }

    /** A nested policy option ({@code scorer}), defaulting to {@code defaultPolicy}. */
    static OptionSpec nested(String defaultPolicy, String description) {
        return OptionSpec.policy(SCORER, PolicyConfig.of(defaultPolicy), description);
    }

    /**
     * Creates the nested policy of option {@code scorer}; unless the wrapper's scope is {@code inherit}, the scope is
     * passed down as the nested policy's {@code scope} option.
     *
     * @throws InvalidOptionException if the nested configuration sets a different scope than the wrapper
     */
    static CompressionPolicy createNested(String wrapper, PolicyOptions o, CreationContext ctx) {
        PolicyConfig nested = o.getPolicy(SCORER);
        String scope = o.getString(SCOPE);
        if (!scope.equals("inherit")) {
            Object own = nested.options().get(SCOPE);
            if (own != null && !own.toString().trim().toLowerCase(Locale.ROOT).equals(scope)) {
                throw new InvalidOptionException("Option 'scope' of policy '" + wrapper + "' is '" + scope + "' but its nested policy '" + nested.policy()
                        + "' sets scope '" + own + "': set it in one place, or use scope: inherit");
            }
            Map<String, Object> opts = new LinkedHashMap<>(nested.options());
            opts.put(SCOPE, scope);
            nested = new PolicyConfig(nested.policy(), opts);
        }
        CompressionPolicy p = ctx.create(nested);
        if (p == null) throw new IllegalStateException("nested policy '" + nested.policy() + "' of '" + wrapper + "' was not created");
        return p;
    }

    static InvalidOptionException invalid(String policy, String option, Object value, String expected) {
        return new InvalidOptionException("Invalid value '" + value + "' for option '" + option + "' of policy '" + policy + "': expected " + expected);
    }
}
