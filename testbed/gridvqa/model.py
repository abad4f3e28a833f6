"""LLaVA-shaped GridVQA model in plain PyTorch (torch 1.13, no SDPA).

Vision tower (cells -> visual features), projector (HF LLaVA), Llama decoder
(HF LlamaForCausalLM semantics and weight names).  See testbed/README.md for
the exact math.  Weight names in state_dict() == names in model.safetensors.
"""
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import task


DEFAULT_CONFIG = {
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 512,
    "vocab_size": len(task.VOCAB),
    "vision_hidden_size": 64,
}


class VisionTower(nn.Module):
    def __init__(self, dv, factorized_pos=False):
        super().__init__()
        self.shape_embed = nn.Embedding(task.NUM_SHAPE_IDS, dv)
        self.color_embed = nn.Embedding(task.NUM_COLOUR_IDS, dv)
        self.glyph_embed = nn.Embedding(task.NUM_GLYPH_IDS, dv)
        self.factorized_pos = factorized_pos
        if factorized_pos:
            # training-time parametrisation: pos[16r+c] = pos_row[r] + pos_col[c]
            # (exported as the plain [256, Dv] tensor `pos_embed`)
            self.pos_row = nn.Parameter(torch.randn(task.G, dv) * 0.02)
            self.pos_col = nn.Parameter(torch.randn(task.G, dv) * 0.02)
        else:
            self.pos_embed = nn.Parameter(torch.zeros(task.NUM_CELLS, dv))
        self.conv = nn.Conv2d(dv, dv, kernel_size=3, padding=1, bias=True)
        self.dv = dv

    def get_pos_embed(self, g=task.G):
        """[g*g, Dv]; g < G only for the training curriculum (top-left g x g
        block of the position table)."""
        if self.factorized_pos:
            return (self.pos_row[:g, None, :] + self.pos_col[None, :g, :]).reshape(g * g, self.dv)
        return self.pos_embed.view(task.G, task.G, self.dv)[:g, :g].reshape(g * g, self.dv)

    def window_pos_embed(self, origins, g):
        """[B, g*g, Dv] position codes of g x g windows with top-left cells
        `origins` (int64 [B, 2]) of the 16 x 16 table (training curriculum)."""
        ar = torch.arange(g)
        rows = origins[:, 0:1] + ar[None]                    # [B, g]
        cols = origins[:, 1:2] + ar[None]
        if self.factorized_pos:
            pe = self.pos_row[rows][:, :, None, :] + self.pos_col[cols][:, None, :, :]
        else:
            pe = self.pos_embed.view(task.G, task.G, self.dv)[rows[:, :, None], cols[:, None, :]]
        return pe.reshape(origins.shape[0], g * g, self.dv)

    def forward(self, cells, origins=None):        # cells: int64 [B, 256, 3]
        N = cells.shape[1]
        g = int(round(math.sqrt(N)))
        pe = self.get_pos_embed(g)[None] if origins is None else self.window_pos_embed(origins, g)
        e = (self.shape_embed(cells[..., 0]) + self.color_embed(cells[..., 1])
             + self.glyph_embed(cells[..., 2]) + pe)
        B = e.shape[0]
        x = e.transpose(1, 2).reshape(B, self.dv, g, g)
        h = x + self.conv(x)
        return h.reshape(B, self.dv, N).transpose(1, 2)   # [B, 256, Dv]


class Projector(nn.Module):
    def __init__(self, dv, h):
        super().__init__()
        self.linear_1 = nn.Linear(dv, h, bias=True)
        self.linear_2 = nn.Linear(h, h, bias=True)

    def forward(self, x):
        return self.linear_2(F.gelu(self.linear_1(x)))   # exact (erf) GELU


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_cos_sin(pos_ids, head_dim, theta, dtype):
    """pos_ids: int64 [T] or [B, T] -> cos, sin [.., T, head_dim] (HF Llama)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = pos_ids.float()[..., None] * inv_freq          # [.., T, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H = cfg["hidden_size"]
        self.nh, self.nkv, self.hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
        self.q_proj = nn.Linear(H, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(H, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(H, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, H, bias=False)

    def forward(self, x, cos, sin, mask, past=None):
        """x [B,T,H]; cos/sin [T,hd] or [B,T,hd]; mask additive [T, S] (or
        [B,1,T,S]) where S = past_len + T; past = (k, v) each [B,nkv,P,hd]."""
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        if cos.dim() == 3:
            cos, sin = cos[:, None], sin[:, None]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        present = (k, v)
        rep = self.nh // self.nkv
        # GQA: query head h uses kv head h // rep  (HF repeat_kv)
        kk = k.repeat_interleave(rep, dim=1)
        vv = v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, kk.transpose(2, 3)) / math.sqrt(self.hd)
        scores = scores + mask
        p = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        o = torch.matmul(p, vv).transpose(1, 2).reshape(B, T, self.nh * self.hd)
        return self.o_proj(o), present

    def forward_packed(self, x, cos, sin, P, K, S, seg_mask, prob_heads=None):
        """Training-only fast path, same math as forward() with the packed
        mask of train.py: tokens [0,P) = causal prefix; then K segments of S
        tokens, each attending to the whole prefix + causally to itself.
        Avoids computing the (masked-out) segment x segment blocks."""
        B, T, _ = x.shape
        nh, nkv, hd = self.nh, self.nkv, self.hd
        rep = nh // nkv
        q = self.q_proj(x).view(B, T, nh, hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, nkv, hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, nkv, hd).transpose(1, 2)
        q = (q * cos + rotate_half(q) * sin) * (1.0 / math.sqrt(hd))
        k = k * cos + rotate_half(k) * sin
        # group query heads by kv head: [B, nkv, rep, T, hd] (head h -> kv h // rep)
        q = q.view(B, nkv, rep, T, hd)
        kp, vp = k[:, :, :P], v[:, :, :P]                       # [B,nkv,P,hd]
        # prefix block
        qp = q[:, :, :, :P].reshape(B, nkv, rep * P, hd)
        sp = torch.matmul(qp, kp.transpose(2, 3)).view(B, nkv, rep, P, P) + causal_mask(P, x.dtype)
        op = torch.matmul(torch.softmax(sp, -1).view(B, nkv, rep * P, P), vp).view(B, nkv, rep, P, hd)
        # segments
        qs = q[:, :, :, P:]                                     # [B,nkv,rep,K*S,hd]
        s1 = torch.matmul(qs.reshape(B, nkv, rep * K * S, hd), kp.transpose(2, 3))
        s1 = s1.view(B, nkv, rep, K, S, P)
        ks = k[:, :, P:].reshape(B, nkv, 1, K, S, hd)
        vs = v[:, :, P:].reshape(B, nkv, 1, K, S, hd)
        qs6 = qs.reshape(B, nkv, rep, K, S, hd)
        s2 = torch.matmul(qs6, ks.transpose(-1, -2)) + seg_mask  # [B,nkv,rep,K,S,S]
        pr = torch.softmax(torch.cat([s1, s2], -1), -1)
        p1, p2 = pr[..., :P], pr[..., P:]
        os_ = torch.matmul(p1.reshape(B, nkv, rep * K * S, P), vp).view(B, nkv, rep, K, S, hd)
        os_ = os_ + torch.matmul(p2, vs)
        o = torch.cat([op, os_.reshape(B, nkv, rep, K * S, hd)], dim=3)   # [B,nkv,rep,T,hd]
        o = o.reshape(B, nh, T, hd).transpose(1, 2).reshape(B, T, nh * hd)
        if prob_heads is not None:
            # attention of the segment tokens for the query heads prob_heads:
            # over the prefix [B, n, K, S, P] and over their own segment [B, n, K, S, S]
            return (self.o_proj(o), torch.stack([p1[:, h // rep, h % rep] for h in prob_heads], 1),
                    torch.stack([p2[:, h // rep, h % rep] for h in prob_heads], 1))
        return self.o_proj(o)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        H, I = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(H, I, bias=False)
        self.up_proj = nn.Linear(H, I, bias=False)
        self.down_proj = nn.Linear(I, H, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask, past=None):
        a, present = self.self_attn(self.input_layernorm(x), cos, sin, mask, past)
        x = x + a
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, present

    def forward_packed(self, x, cos, sin, P, K, S, seg_mask, prob_heads=None):
        """Returns x, or (x, prefix probabilities, segment probabilities) when prob_heads is given."""
        a = self.self_attn.forward_packed(self.input_layernorm(x), cos, sin, P, K, S, seg_mask, prob_heads)
        if prob_heads is None:
            x = x + a
            return x + self.mlp(self.post_attention_layernorm(x))
        a, p_prefix, p_seg = a
        x = x + a
        x = x + self.mlp(self.post_attention_layernorm(x))
        return x, p_prefix, p_seg


class LlamaModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class GridVQAModel(nn.Module):
    def __init__(self, cfg=None, factorized_pos=False):
        super().__init__()
        cfg = dict(DEFAULT_CONFIG, **(cfg or {}))
        self.cfg = cfg
        self.vision_tower = VisionTower(cfg["vision_hidden_size"], factorized_pos)
        self.multi_modal_projector = Projector(cfg["vision_hidden_size"], cfg["hidden_size"])
        self.model = LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    # ---------------------------------------------------------------- parts
    def image_features(self, cells, origins=None):
        return self.multi_modal_projector(self.vision_tower(cells, origins))   # [B,256,H]

    def embed_prompt(self, cells, question_ids, origins=None):
        """cells [B,256,3]; question_ids [B, n] (the question and the assistant header
        + optional answer tokens).  Returns inputs_embeds [B, 5+256+n, H]."""
        B = cells.shape[0]
        pre = torch.tensor([task.BOS_ID] + task.SYSTEM_IDS, dtype=torch.long)
        pre = self.model.embed_tokens(pre)[None].expand(B, -1, -1)
        vis = self.image_features(cells, origins)
        return torch.cat([pre, vis, self.model.embed_tokens(question_ids)], dim=1)

    def decoder(self, x, pos_ids, mask, past=None):
        cos, sin = rope_cos_sin(pos_ids, self.cfg["head_dim"], self.cfg["rope_theta"], x.dtype)
        presents = []
        for i, layer in enumerate(self.model.layers):
            x, pr = layer(x, cos, sin, mask, None if past is None else past[i])
            presents.append(pr)
        return self.lm_head(self.model.norm(x)), presents

    def forward_packed(self, cells, seg_ids, K, S, origins=None, hint_layer=None, hint_heads=(0,),
                       addr_layer=None, addr_heads=(0,)):
        """Training fast path: seg_ids [B, K*S] = K padded QA segments sharing
        one image prefix.  Returns logits for the segment tokens [B, K*S, V].
        origins: optional int64 [B, 2] window origins (curriculum, g < 16).
        hint_layer: also return the attention over the prefix of the query
        heads hint_heads in that layer ([B, n, K, S, P]; the cell hint).
        addr_layer: also return the attention of the query heads addr_heads
        in that layer over the tokens of their own segment ([B, n, K, S, S];
        the address hint).  Returns (logits, cell_probs, addr_probs) when
        either is asked for (None for the one that is not)."""
        x = self.embed_prompt(cells, seg_ids, origins)
        P = 1 + len(task.SYSTEM) + cells.shape[1]         # = task.PREFIX_LEN for g = 16
        pos = torch.cat([torch.arange(P), (P + torch.arange(S)).repeat(K)])
        cos, sin = rope_cos_sin(pos, self.cfg["head_dim"], self.cfg["rope_theta"], x.dtype)
        seg_mask = causal_mask(S, x.dtype)
        cell_probs = addr_probs = None
        for i, layer in enumerate(self.model.layers):
            heads = []
            if i == hint_layer:
                heads += list(hint_heads)
            if i == addr_layer:
                heads += list(addr_heads)
            if heads:
                x, pp, ps = layer.forward_packed(x, cos, sin, P, K, S, seg_mask, heads)
                n = len(hint_heads) if i == hint_layer else 0
                if i == hint_layer:
                    cell_probs = pp[:, :n]
                if i == addr_layer:
                    addr_probs = ps[:, n:]
            else:
                x = layer.forward_packed(x, cos, sin, P, K, S, seg_mask)
        logits = self.lm_head(self.model.norm(x[:, P:]))
        if hint_layer is None and addr_layer is None:
            return logits
        return logits, cell_probs, addr_probs

    def forward(self, cells, question_ids):
        """Plain causal forward over the full sequence; returns logits [B,T,V]."""
        x = self.embed_prompt(cells, question_ids)
        T = x.shape[1]
        mask = causal_mask(T, x.dtype)
        logits, _ = self.decoder(x, torch.arange(T), mask)
        return logits

    # ------------------------------------------------------------- export
    def export_state(self):
        sd = {}
        for k, v in self.state_dict().items():
            if k in ("vision_tower.pos_row", "vision_tower.pos_col"):
                continue
            sd[k] = v.detach().float().contiguous()
        sd["vision_tower.pos_embed"] = self.vision_tower.get_pos_embed().detach().float().contiguous()
        return sd


def causal_mask(T, dtype=torch.float32, past_len=0):
    m = torch.full((T, past_len + T), float("-inf"), dtype=dtype)
    m = torch.triu(m, diagonal=past_len + 1)
    return m


# ------------------------------------------------------------ safetensors
def save_safetensors(path, tensors, metadata=None):
    names = sorted(tensors)
    header, off, blobs = {}, 0, []
    for n in names:
        t = tensors[n].detach().cpu().float().contiguous()
        b = t.numpy().astype("<f4").tobytes()
        header[n] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)          # pad header to 8-byte alignment
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    import numpy as np
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32"
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[base + b: base + e], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, header.get("__metadata__", {})


def text_config_from_hf(conf):
    tc = conf.get("text_config", conf)
    c = {k: tc[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                             "num_attention_heads", "num_key_value_heads", "rms_norm_eps",
                             "rope_theta", "max_position_embeddings", "vocab_size")}
    c["head_dim"] = tc.get("head_dim", c["hidden_size"] // c["num_attention_heads"])
    c["vision_hidden_size"] = conf["vision_config"]["hidden_size"]
    return c


def load_model(model_dir):
    """Load testbed/model/{config.json, model.safetensors} -> eval-mode model."""
    with open(os.path.join(model_dir, "config.json")) as f:
        conf = json.load(f)
    m = GridVQAModel(text_config_from_hf(conf), factorized_pos=False)
    sd, _ = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    m.load_state_dict(sd, strict=True)
    m.eval()
    return m


def hf_config(cfg, steps=None):
    text = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": cfg["hidden_size"],
        "intermediate_size": cfg["intermediate_size"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "num_attention_heads": cfg["num_attention_heads"],
        "num_key_value_heads": cfg["num_key_value_heads"],
        "head_dim": cfg["head_dim"],
        "hidden_act": "silu",
        "rms_norm_eps": cfg["rms_norm_eps"],
        "rope_theta": cfg["rope_theta"],
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "max_position_embeddings": cfg["max_position_embeddings"],
        "vocab_size": cfg["vocab_size"],
        "tie_word_embeddings": False,
        "bos_token_id": task.BOS_ID,
        "eos_token_id": task.EOS_ID,
        "pad_token_id": task.PAD_ID,
        "torch_dtype": "float32",
    }
    conf = {
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "torch_dtype": "float32",
        "image_token_index": task.IMAGE_ID,
        "projector_hidden_act": "gelu",
        "projector_hidden_act_note": "exact erf GELU: 0.5*x*(1+erf(x/sqrt(2)))",
        "vision_feature_layer": None,
        "tie_word_embeddings": False,
        "text_config": text,
        "vision_config": {
            "model_type": "gridvqa_cell_tower",
            "grid_size": task.G,
            "num_patches": task.NUM_CELLS,
            "hidden_size": cfg["vision_hidden_size"],
            "num_shapes": task.NUM_SHAPE_IDS,
            "num_colors": task.NUM_COLOUR_IDS,
            "num_glyphs": task.NUM_GLYPH_IDS,
            "attribute_order": ["shape", "colour", "glyph"],
            "conv_kernel_size": 3,
            "conv_padding": 1,
            "conv_padding_mode": "zeros",
            "residual_conv": True,
            "note": "e = shape_embed[s]+color_embed[c]+glyph_embed[g]+pos_embed[cell]; h = e + conv(e) (NCHW, cross-correlation)",
        },
        "prompt": {
            "tokens": [task.BOS] + task.SYSTEM + [task.IMAGE] + ["<question...>"] + task.SUFFIX,
            "bos_id": task.BOS_ID,
            "prefix_tokens": [task.BOS] + task.SYSTEM,
            "suffix_tokens": task.SUFFIX,
            "system_tokens": task.SYSTEM,
            "system_ids": task.SYSTEM_IDS,
            "image_token_id": task.IMAGE_ID,
            "image_placeholder_index": task.IMAGE_START,
            "num_image_tokens": task.NUM_CELLS,
            "image_seq_start": task.IMAGE_START,
            "prefix_len": task.PREFIX_LEN,
            "suffix_ids": task.SUFFIX_IDS,
            "eos_id": task.EOS_ID,
            "pad_id": task.PAD_ID,
            "max_answer_tokens": task.MAX_ANSWER_TOKENS,
        },
        "vocab_file": "vocab.json",
    }
    # top-level copies of the Llama keys (same values as text_config)
    for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta",
              "max_position_embeddings", "vocab_size", "bos_token_id", "eos_token_id",
              "pad_token_id"):
        conf[k] = text[k]
    if steps is not None:
        conf["training_steps"] = steps
    return conf


# ------------------------------------------------------------- decoding
@torch.no_grad()
def greedy_decode(model, cells, question_ids, max_new=task.MAX_ANSWER_TOKENS):
    """cells [B,256,3]; question_ids [B, n] = question + assistant header (same length
    in the batch).  KV-cached greedy decoding. Returns list of id lists
    (each ends with <eos> unless max_new was hit)."""
    x = model.embed_prompt(cells, question_ids)
    B, T, _ = x.shape
    logits, past = model.decoder(x, torch.arange(T), causal_mask(T, x.dtype))
    nxt = logits[:, -1].argmax(-1)
    outs = [[] for _ in range(B)]
    done = torch.zeros(B, dtype=torch.bool)
    pos = T
    for step in range(max_new):
        for b in range(B):
            if not done[b]:
                outs[b].append(int(nxt[b]))
        done = done | (nxt == task.EOS_ID)
        if bool(done.all()) or step == max_new - 1:
            break
        e = model.model.embed_tokens(nxt)[:, None]
        logits, past = model.decoder(e, torch.tensor([pos]), causal_mask(1, x.dtype, past_len=pos), past)
        nxt = logits[:, -1].argmax(-1)
        pos += 1
    return outs
