/** The processing module's exception, in a leaf package that both the module's root and its {@code image} package use. */
package io.github.kvpolicy.processing.error;
