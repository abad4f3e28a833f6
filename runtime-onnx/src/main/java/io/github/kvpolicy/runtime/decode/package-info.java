/** ONNX Runtime plumbing of the decode loop: the contract graphs' sessions and the cache's past tensors. */
package io.github.kvpolicy.runtime.decode;
