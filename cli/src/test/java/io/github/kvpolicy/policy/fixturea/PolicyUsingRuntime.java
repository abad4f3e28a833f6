package io.github.kvpolicy.policy.fixturea;

/** Violates POLICIES_DEPEND_ONLY_ON_THE_API and POLICY_MODULES_ARE_INDEPENDENT (test fixture only). */
public class PolicyUsingRuntime {
    public io.github.kvpolicy.host.plugin.PluginLoader loader;
    public io.github.kvpolicy.policy.fixtureb.OtherPolicy other;
}
