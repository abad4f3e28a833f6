#!/usr/bin/python3
"""Independent numpy reference for the kvpolicy decoder/vision graphs.

    /usr/bin/python3 runtime-onnx/src/test/python/make_reference.py \
        runtime-onnx/src/test/resources/fixtures

Writes two tiny random models (their own safetensors + config.json, written
here, so the Java reader reads Python-made files) and, for each, a
reference.json with:

  * logits (float64 and float32 arithmetic) for a fixed prompt, the greedy
    continuation (8 tokens, computed by re-running the FULL sequence each step,
    no KV cache) and the float64 logits at every greedy step;
  * post-rotary queries/keys (float64) of a few positions in the first and
    last layer;
  * a "subset" case: after the prompt, one more token is decoded while each
    (layer, KV head) sees only a subset of the prompt's keys at their original
    positions; the reference gathers those keys physically (no masks);
  * for the LLaVA-style fixture, vision-tower outputs for a fixed grid image.

Math (HF Llama/Qwen2): RMSNorm x/sqrt(mean(x^2)+eps)*w; RoPE rotate_half with
inv_freq = theta^(-2i/D); GQA (query head h reads KV head h // (Hq/Hkv));
SwiGLU; lm_head (or tied embeddings).  Vision: testbed grid tower + LLaVA
projector with exact-erf GELU.

Fixture 1 "llama-vlm": LLaVA nesting, F32, untied, head_dim != hidden/heads.
Fixture 2 "qwen2": flat qwen2 config, q/k/v bias, tied embeddings (o_proj and
down_proj scaled x4 so the tied head does not just repeat the last token),
theta 1e6, eps 1e-6, G = 4 (one KV head), tensors stored as BF16 (matrices)
and F16 (norms/biases); the reference uses the rounded values.
"""
import json
import math
import os
import struct
import sys

import numpy as np

GREEDY_STEPS = 8


# ----------------------------------------------------------------- safetensors
def to_bf16_bits(a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    rounding = 0x7FFF + ((u >> 16) & 1)
    return ((u + rounding) >> 16).astype(np.uint16)


def from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def round_to(dtype, a):
    """The float32 values a tensor has after storing it as dtype."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F32":
        return a
    if dtype == "F16":
        return a.astype(np.float16).astype(np.float32)
    if dtype == "BF16":
        return from_bf16_bits(to_bf16_bits(a)).reshape(a.shape)
    raise ValueError(dtype)


def save_safetensors(path, tensors, dtypes, metadata):
    names = sorted(tensors)
    header, blobs, off = {}, [], 0
    for n in names:
        a = np.asarray(tensors[n], dtype=np.float32)
        dt = dtypes[n]
        if dt == "F32":
            b = a.astype("<f4").tobytes()
        elif dt == "F16":
            b = a.astype("<f2").tobytes()
        else:
            b = to_bf16_bits(a).astype("<u2").tobytes()
        header[n] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    header["__metadata__"] = metadata
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


# ----------------------------------------------------------------- the model
def make_weights(rng, c, vision=None):
    H, I, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    Hq, Hkv, D, V = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], c["vocab_size"]

    def mat(o, i):
        return rng.standard_normal((o, i)) / math.sqrt(i)

    w = {"model.embed_tokens.weight": rng.standard_normal((V, H))}
    for l in range(L):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(H)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(H)
        w[p + "self_attn.q_proj.weight"] = mat(Hq * D, H)
        w[p + "self_attn.k_proj.weight"] = mat(Hkv * D, H)
        w[p + "self_attn.v_proj.weight"] = mat(Hkv * D, H)
        w[p + "self_attn.o_proj.weight"] = c.get("out_gain", 1.0) * mat(H, Hq * D)
        if c["bias"]:
            w[p + "self_attn.q_proj.bias"] = 0.2 * rng.standard_normal(Hq * D)
            w[p + "self_attn.k_proj.bias"] = 0.2 * rng.standard_normal(Hkv * D)
            w[p + "self_attn.v_proj.bias"] = 0.2 * rng.standard_normal(Hkv * D)
        w[p + "mlp.gate_proj.weight"] = mat(I, H)
        w[p + "mlp.up_proj.weight"] = mat(I, H)
        w[p + "mlp.down_proj.weight"] = c.get("out_gain", 1.0) * mat(H, I)
    w["model.norm.weight"] = 1 + 0.1 * rng.standard_normal(H)
    if not c["tie"]:
        w["lm_head.weight"] = mat(V, H)
    if vision:
        dv, g = vision["hidden_size"], vision["grid_size"]
        w["vision_tower.shape_embed.weight"] = rng.standard_normal((vision["num_shapes"], dv))
        w["vision_tower.color_embed.weight"] = rng.standard_normal((vision["num_colors"], dv))
        w["vision_tower.glyph_embed.weight"] = rng.standard_normal((vision["num_glyphs"], dv))
        w["vision_tower.pos_embed"] = 0.5 * rng.standard_normal((g * g, dv))
        w["vision_tower.conv.weight"] = rng.standard_normal((dv, dv, 3, 3)) / math.sqrt(dv * 9)
        w["vision_tower.conv.bias"] = 0.1 * rng.standard_normal(dv)
        w["multi_modal_projector.linear_1.weight"] = mat(H, dv)
        w["multi_modal_projector.linear_1.bias"] = 0.1 * rng.standard_normal(H)
        w["multi_modal_projector.linear_2.weight"] = mat(H, H)
        w["multi_modal_projector.linear_2.bias"] = 0.1 * rng.standard_normal(H)
    return {k: np.asarray(v, dtype=np.float32) for k, v in w.items()}


def rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, pos, theta, dt):
    """x [T, heads, D] at integer positions pos [T] -> rotated (rotate_half)."""
    D = x.shape[-1]
    if dt == np.float32:   # mimic HF float32: inv_freq and the angle in float32
        inv = (np.float32(1.0) / (np.float32(theta) ** (np.arange(0, D, 2).astype(np.float32) / np.float32(D)))).astype(np.float32)
        ang = pos.astype(np.float32)[:, None] * inv[None, :]
    else:
        inv = theta ** (-np.arange(0, D, 2, dtype=np.float64) / D)
        ang = pos.astype(np.float64)[:, None] * inv[None, :]
    ang = np.concatenate([ang, ang], axis=-1)
    cos, sin = np.cos(ang).astype(dt)[:, None, :], np.sin(ang).astype(dt)[:, None, :]
    h = D // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], axis=-1)
    return x * cos + rot * sin


def softmax(s):
    s = s - np.max(s)
    e = np.exp(s)
    return e / np.sum(e)


def layer_qkv(w, c, l, x, pos, dt):
    p = f"model.layers.{l}."
    Hq, Hkv, D = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    g = lambda n: w[p + n].astype(dt)
    h = rms(x, g("input_layernorm.weight"), c["rms_norm_eps"])
    q, k, v = h @ g("self_attn.q_proj.weight").T, h @ g("self_attn.k_proj.weight").T, h @ g("self_attn.v_proj.weight").T
    if c["bias"]:
        q, k, v = q + g("self_attn.q_proj.bias"), k + g("self_attn.k_proj.bias"), v + g("self_attn.v_proj.bias")
    T = x.shape[0]
    q = rope(q.reshape(T, Hq, D), pos, c["rope_theta"], dt)
    k = rope(k.reshape(T, Hkv, D), pos, c["rope_theta"], dt)
    return q, k, v.reshape(T, Hkv, D)


def layer_rest(w, c, l, x, attn_out, dt):
    p = f"model.layers.{l}."
    g = lambda n: w[p + n].astype(dt)
    x = x + attn_out @ g("self_attn.o_proj.weight").T
    h = rms(x, g("post_attention_layernorm.weight"), c["rms_norm_eps"])
    gate = h @ g("mlp.gate_proj.weight").T
    up = h @ g("mlp.up_proj.weight").T
    act = gate / (1 + np.exp(-gate)) * up
    return x + act @ g("mlp.down_proj.weight").T


def attend(q_t, keys, vals, D):
    """one query head vector against an explicit list of keys/values."""
    s = (keys @ q_t) / math.sqrt(D)
    return softmax(s) @ vals


def head_logits(w, c, x_last, dt):
    hN = rms(x_last, w["model.norm.weight"].astype(dt), c["rms_norm_eps"])
    head = w["model.embed_tokens.weight" if c["tie"] else "lm_head.weight"].astype(dt)
    return head @ hN


def forward_full(w, c, ids, dt):
    """Plain causal forward over the whole sequence (positions 0..T-1).
    Returns logits of every position [T, V] and per-layer (q, k, v)."""
    Hq, Hkv, D = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    G = Hq // Hkv
    T = len(ids)
    pos = np.arange(T)
    x = w["model.embed_tokens.weight"].astype(dt)[ids]
    qkv = []
    for l in range(c["num_hidden_layers"]):
        q, k, v = layer_qkv(w, c, l, x, pos, dt)
        qkv.append((q, k, v))
        out = np.zeros((T, Hq, D), dtype=dt)
        for t in range(T):
            for hh in range(Hq):
                kv = hh // G
                out[t, hh] = attend(q[t, hh], k[: t + 1, kv], v[: t + 1, kv], D)
        x = layer_rest(w, c, l, x, out.reshape(T, Hq * D), dt)
    logits = np.stack([head_logits(w, c, x[t], dt) for t in range(T)])
    return logits, qkv


def decode_with_subsets(w, c, ids, new_id, keep, dt):
    """Prefill ids with full causal attention, then decode new_id at position
    len(ids) where layer l, KV head j sees only the prompt keys keep[l][j]
    (at their original positions) plus the new token itself."""
    Hq, Hkv, D = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    G = Hq // Hkv
    T = len(ids)
    _, qkv = forward_full(w, c, ids, dt)
    x = w["model.embed_tokens.weight"].astype(dt)[[new_id]]
    for l in range(c["num_hidden_layers"]):
        q, k, v = layer_qkv(w, c, l, x, np.array([T]), dt)
        _, kp, vp = qkv[l]
        out = np.zeros((1, Hq, D), dtype=dt)
        for hh in range(Hq):
            j = hh // G
            idx = keep[l][j]
            keys = np.concatenate([kp[idx, j], k[:, j]], axis=0)
            vals = np.concatenate([vp[idx, j], v[:, j]], axis=0)
            out[0, hh] = attend(q[0, hh], keys, vals, D)
        x = layer_rest(w, c, l, x, out.reshape(1, Hq * D), dt)
    return head_logits(w, c, x[0], dt)


def vision_forward(w, vc, cells):
    """cells int [N, 3] -> image_embeds [N, H] (float64)."""
    g, dv = vc["grid_size"], vc["hidden_size"]
    f = lambda n: w[n].astype(np.float64)
    e = (f("vision_tower.shape_embed.weight")[cells[:, 0]] + f("vision_tower.color_embed.weight")[cells[:, 1]]
         + f("vision_tower.glyph_embed.weight")[cells[:, 2]] + f("vision_tower.pos_embed"))
    grid = e.T.reshape(dv, g, g)                       # [Dv, G, G], cell = row*G + col
    pad = np.zeros((dv, g + 2, g + 2))
    pad[:, 1:-1, 1:-1] = grid
    W, b = f("vision_tower.conv.weight"), f("vision_tower.conv.bias")
    conv = np.zeros_like(grid)
    for o in range(dv):
        for r in range(g):
            for cc in range(g):
                conv[o, r, cc] = np.sum(W[o] * pad[:, r:r + 3, cc:cc + 3]) + b[o]
    h = (grid + conv).reshape(dv, g * g).T             # [N, Dv]
    a = h @ f("multi_modal_projector.linear_1.weight").T + f("multi_modal_projector.linear_1.bias")
    a = 0.5 * a * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))
    return a @ f("multi_modal_projector.linear_2.weight").T + f("multi_modal_projector.linear_2.bias")


# ------------------------------------------------------------------ fixtures
def greedy(w, c, prompt, dt):
    ids = list(prompt)
    toks, step_logits, margins = [], [], []
    for _ in range(GREEDY_STEPS):
        logits, _ = forward_full(w, c, ids, dt)
        last = logits[-1]
        top = np.argsort(last)[::-1]
        toks.append(int(top[0]))
        margins.append(float(last[top[0]] - last[top[1]]))
        step_logits.append(last)
        ids.append(int(top[0]))
    return toks, step_logits, margins


def build(out_dir, name, c, hf_config, dtypes_fn, prompt, seed, vision=None):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(seed)
    w = make_weights(rng, c, vision)
    dtypes = {k: dtypes_fn(k, v) for k, v in w.items()}
    w = {k: round_to(dtypes[k], v) for k, v in w.items()}      # the values the file really holds
    save_safetensors(os.path.join(d, "model.safetensors"), w, dtypes, {"format": "pt", "source": "make_reference.py"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hf_config, f, indent=2)

    prompt = np.array(prompt)
    T = len(prompt)
    logits64, qkv64 = forward_full(w, c, prompt, np.float64)
    logits32, _ = forward_full(w, c, prompt, np.float32)
    toks, steps64, margins = greedy(w, c, prompt, np.float64)
    toks32, _, _ = greedy(w, c, prompt, np.float32)
    assert toks == toks32, "float32 and float64 greedy paths differ; pick another seed"
    assert min(margins) > 1e-2, f"greedy margin too small: {margins}"

    L, Hkv = c["num_hidden_layers"], c["num_key_value_heads"]
    probe_pos = [0, 3, T - 1]
    probes = []
    for l in sorted({0, L - 1}):
        q, k, _ = qkv64[l]
        for p in probe_pos:
            probes.append({"layer": l, "position": p, "query": q[p].tolist(), "key": k[p].tolist()})

    # per (layer, kv head) subsets of the prompt's keys; always keep token 0 (sink)
    srng = np.random.default_rng(seed + 1)
    keep = [[sorted({0} | set(srng.choice(np.arange(1, T), size=T // 2, replace=False).tolist()))
             for _ in range(Hkv)] for _ in range(L)]
    new_id = int(toks[0])
    subset64 = decode_with_subsets(w, c, prompt, new_id, keep, np.float64)
    full_next64 = forward_full(w, c, np.append(prompt, new_id), np.float64)[0][-1]

    ref = {
        "prompt": prompt.tolist(),
        "logits_last_f64": logits64[-1].tolist(),
        "logits_last_f32": logits32[-1].astype(np.float64).tolist(),
        "logits_all_f64": logits64.tolist(),
        "greedy_tokens": toks,
        "greedy_logits_f64": [s.tolist() for s in steps64],
        "greedy_margins": margins,
        "probes": probes,
        "subset": {"new_token": new_id, "position": T, "keep": keep,
                   "logits_f64": subset64.tolist(), "full_logits_f64": full_next64.tolist()},
    }
    if vision:
        vrng = np.random.default_rng(seed + 2)
        n = vision["grid_size"] ** 2
        cells = np.stack([vrng.integers(0, vision["num_shapes"], n), vrng.integers(0, vision["num_colors"], n),
                          vrng.integers(0, vision["num_glyphs"], n)], axis=1)
        ref["vision"] = {"pixel_attributes": cells.tolist(), "image_embeds_f64": vision_forward(w, vision, cells).tolist()}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f)
    print(f"{name}: greedy {toks} min margin {min(margins):.4f}, "
          f"|f32-f64| logits {np.max(np.abs(logits32[-1] - logits64[-1])):.2e}, "
          f"subset vs full max diff {np.max(np.abs(subset64 - full_next64)):.3f}")


def main(out_dir):
    # ---- fixture 1: LLaVA-nested Llama with the grid vision tower, F32
    c1 = dict(hidden_size=32, intermediate_size=72, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=12, rms_norm_eps=1e-5, rope_theta=10000.0, vocab_size=96,
              bias=False, tie=False)
    vis = dict(model_type="gridvqa_cell_tower", hidden_size=8, grid_size=4, num_patches=16,
               num_shapes=5, num_colors=4, num_glyphs=6)
    text = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 32,
            "intermediate_size": 72, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 12, "hidden_act": "silu", "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
            "max_position_embeddings": 128, "vocab_size": 96, "tie_word_embeddings": False,
            "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
    cfg1 = {"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
            "image_token_index": 3, "projector_hidden_act": "gelu", "tie_word_embeddings": False,
            "text_config": text, "vision_config": vis}
    build(out_dir, "llama-vlm", c1, cfg1, lambda k, v: "F32",
          [1, 17, 42, 5, 88, 23, 9, 60, 31, 7, 70, 12], seed=1234, vision=vis)

    # ---- fixture 2: Qwen2-style: q/k/v bias, tied embeddings, theta 1e6, one KV head, BF16/F16 storage
    c2 = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=1, head_dim=16, rms_norm_eps=1e-6, rope_theta=1000000.0, vocab_size=80,
              bias=True, tie=True, out_gain=4.0)
    cfg2 = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64,
            "intermediate_size": 96, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 1, "hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
            "max_position_embeddings": 4096, "vocab_size": 80, "tie_word_embeddings": True,
            "use_sliding_window": False, "sliding_window": 4096, "max_window_layers": 3,
            "bos_token_id": 0, "eos_token_id": [1, 2], "torch_dtype": "bfloat16"}
    build(out_dir, "qwen2", c2, cfg2, lambda k, v: "BF16" if v.ndim == 2 else "F16",
          [0, 5, 61, 33, 12, 47, 8, 19, 70, 25, 3, 44, 56, 14], seed=99)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "resources", "fixtures"))
