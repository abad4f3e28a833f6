package io.github.kvpolicy.archfixture.cycleb;

/** Half of a package cycle (test fixture only). */
public class B {
    public io.github.kvpolicy.archfixture.cyclea.A a;
}
