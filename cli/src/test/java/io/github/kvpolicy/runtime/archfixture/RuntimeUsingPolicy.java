package io.github.kvpolicy.runtime.archfixture;

/** Violates RUNTIME_DEPENDS_ON_NO_CONCRETE_POLICY and GUICE_ONLY_IN_COMPOSITION_ROOTS (test fixture only). */
public class RuntimeUsingPolicy {
    public io.github.kvpolicy.policy.fixtureb.OtherPolicy policy;
    public com.google.inject.Module module;
}
