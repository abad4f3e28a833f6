package io.github.kvpolicy.archfixture.cyclea;

/** Half of a package cycle (test fixture only). */
public class A {
    public io.github.kvpolicy.archfixture.cycleb.B b;
}
