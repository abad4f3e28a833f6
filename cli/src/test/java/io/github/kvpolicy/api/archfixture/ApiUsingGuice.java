package io.github.kvpolicy.api.archfixture;

/** Violates API_DEPENDS_ONLY_ON_THE_JDK (test fixture only). */
public class ApiUsingGuice {
    public com.google.inject.Injector injector;
}
