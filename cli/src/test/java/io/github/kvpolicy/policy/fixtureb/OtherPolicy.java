package io.github.kvpolicy.policy.fixtureb;

/** Test fixture: a second "policy module". */
public class OtherPolicy {}
