/**
 * Model families: one class per Hugging Face architecture ({@link io.github.kvpolicy.runtime.model.family.LlamaFamily},
 * {@link io.github.kvpolicy.runtime.model.family.MistralFamily}, {@link io.github.kvpolicy.runtime.model.family.Qwen2Family},
 * {@link io.github.kvpolicy.runtime.model.family.Qwen3Family}, {@link io.github.kvpolicy.runtime.model.family.LlavaFamily},
 * {@link io.github.kvpolicy.runtime.model.family.LlavaOnevisionFamily},
 * {@link io.github.kvpolicy.runtime.model.family.Idefics3Family}, {@link io.github.kvpolicy.runtime.model.family.Qwen2VlFamily}
 * and the testbed's {@link io.github.kvpolicy.runtime.model.family.GridLlavaFamily}), chosen by
 * {@link io.github.kvpolicy.runtime.model.family.Families#of}. They share the transformer block
 * ({@link io.github.kvpolicy.runtime.model.family.TransformerDecoder}) and the ViT tower
 * ({@link io.github.kvpolicy.runtime.model.family.VitTower}); image-token layouts that need the original image size
 * (LLaVA-OneVision's anyres, Qwen2-VL's 3-D rotary positions) are computed here in Java. Graph building only: the
 * decode loop lives in {@code io.github.kvpolicy.runtime}. Everything here is stateless and thread-safe. See
 * {@code docs/models.md}.
 */
package io.github.kvpolicy.runtime.model.family;
