/** Guice bindings of the runtime; the only package of the runtime that uses Guice. */
package io.github.kvpolicy.runtime.inject;
