#!/usr/bin/python3
"""Train the GridVQA model on CPU.

    nice -n 10 /usr/bin/python3 testbed/train.py --stop_after 2600   # = the shipped weights
    nice -n 10 /usr/bin/python3 testbed/train.py --resume             # continue to --steps (4200)

Training examples are generated on the fly from gridvqa/task.py (images that
occur in the eval/dev sets are skipped).  Packing trick (mathematically
identical to training on separate sequences): each training row holds ONE
image prefix [<bos> system V_0..V_255] followed by K question/answer segments;
every segment attends to the whole prefix and causally to itself only, and its
position ids restart at 261 (= exactly the positions it would have in its own
single-question sequence).  This amortises the 261-token prefix over K
questions.
"""
import argparse
import json
import math
import os
import pickle
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gridvqa import task                      # noqa: E402
from gridvqa import model as M                # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def set_seeds(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Batcher:
    def __init__(self, seed, excluded, family_weights):
        self.rng = random.Random(seed)
        self.excluded = excluded
        self.fams = list(family_weights)
        self.w = [family_weights[f] for f in self.fams]

    def image(self, g, window):
        """(objects, origin): a g x g window of the grid at a random origin
        (window curriculum) or at (0, 0)."""
        while True:
            if window and g < task.G:
                origin = (self.rng.randrange(task.G - g + 1), self.rng.randrange(task.G - g + 1))
            else:
                origin = (0, 0)
            objs = task.sample_objects(self.rng, g, origin)
            if g != task.G or task.objects_key(objs) not in self.excluded:
                return objs, origin

    def segment(self, objs, g, origin):
        for _ in range(20):
            fam = self.rng.choices(self.fams, self.w)[0]
            qa = task.make_question(self.rng, objs, fam, g, origin)
            if qa is not None:
                return fam, qa
        fam = "what_at"                     # applicable to every image with an object
        return fam, task.make_question(self.rng, objs, fam, g, origin)

    def grid_size(self, step, curriculum):
        sizes = [c for c in curriculum if c[0] <= step][-1][1]
        return self.rng.choices([g for g, _ in sizes], [w for _, w in sizes])[0]

    @staticmethod
    def hint_targets(fam, q, a, objs, g, origin):
        """[(segment position, [prefix positions])]: where an answer token that
        depends on the image is predicted, the prefix position of the cell that
        holds it.  Answer token 0 is predicted at the last prompt position: its
        attention is prompt-time attention (what policies score), so it is never
        hinted."""
        cell = lambda r, c: task.IMAGE_START + (r - origin[0]) * g + (c - origin[1])
        last_prompt = len(q) + len(task.SUFFIX) - 1
        return [(last_prompt + j, [cell(*rc)]) for j, rc in task.answer_cells(fam, q, a, objs) if j > 0]

    @staticmethod
    def address_targets(fam, q, a):
        """[(segment position, src0, src1)]: where an answer token that depends
        on the image is predicted (answer index j >= 1), the two tokens of the
        same segment that say WHICH cell to read, one per address head (so the
        two roles stay apart: values carry no position): the question's row
        and col numbers (what_at), colour and shape words (where), or the row
        number and the column just answered (row).  Answer-time attention over
        text only; the last prompt position (j = 0) is never hinted."""
        last = len(q) + len(task.SUFFIX) - 1
        ans = lambda j: last + 1 + j                 # segment position of answer token j
        out = []
        for j in range(1, len(a)):
            if fam == "what_at":
                src = (4, 6) if j < 2 else (9, 11)
            elif fam == "where":
                src = (3, 4) if j < 2 else (7, 8)
            elif fam == "row":
                k, m = divmod(j, 3)
                src = (2, ans(3 * (k - 1))) if m == 0 else (2, ans(3 * k))
            else:
                raise ValueError(fam)
            if fam != "row" and j == len(a) - 1:
                continue                              # <eos> after a fixed number of tokens
            out.append((last + j,) + src)
        return out

    def batch(self, B, K, g=task.G, window=False):
        cells, segs, fams, origins, hints, addrs = [], [], [], [], [], []
        for _ in range(B):
            objs, origin = self.image(g, window)
            origins.append(origin)
            cells.append(task.objects_to_grid(objs, g, origin))
            row = []
            for _ in range(K):
                fam, (q, a) = self.segment(objs, g, origin)
                hints.append(self.hint_targets(fam, q, a, objs, g, origin))
                addrs.append(self.address_targets(fam, q, a))
                row.append((task.encode(task.after_image(q) + a), len(q) + len(task.SUFFIX) - 1))
                fams.append(fam)
            segs.append(row)
        S = max(len(t) for row in segs for t, _ in row)
        ids = torch.full((B, K * S), task.PAD_ID, dtype=torch.long)
        tgt = torch.full((B, K * S), -100, dtype=torch.long)
        fam_idx = torch.full((B, K * S), -1, dtype=torch.long)
        for b, row in enumerate(segs):
            for k, (t, qlen) in enumerate(row):
                o = k * S
                ids[b, o:o + len(t)] = torch.tensor(t)
                # the last prompt position (`assistant`, index qlen) predicts the first answer token, ...
                for j in range(qlen, len(t) - 1):
                    tgt[b, o + j] = t[j + 1]
                    fam_idx[b, o + j] = task.FAMILIES.index(fams[b * K + k])
        P = 1 + len(task.SYSTEM) + g * g
        hint = torch.zeros(B, K, S, P)
        for i, h in enumerate(hints):
            for j, pos in h:
                hint[i // K, i % K, j, pos] = 1.0 / len(pos)
        addr = torch.zeros(B, 2, K, S, S)          # one target token per address head
        for i, h in enumerate(addrs):
            for j, s0, s1 in h:
                addr[i // K, 0, i % K, j, s0] = 1.0
                addr[i // K, 1, i % K, j, s1] = 1.0
        return (torch.tensor(cells, dtype=torch.long), ids, tgt, fam_idx, S,
                torch.tensor(origins, dtype=torch.long), hint, addr)


def packed_mask_and_pos(K, S):
    P = task.PREFIX_LEN
    T = P + K * S
    allow = torch.zeros(T, T, dtype=torch.bool)
    allow[:P, :P] = torch.tril(torch.ones(P, P, dtype=torch.bool))
    allow[P:, :P] = True
    seg = torch.tril(torch.ones(S, S, dtype=torch.bool))
    for k in range(K):
        o = P + k * S
        allow[o:o + S, o:o + S] = seg
    mask = torch.zeros(T, T)
    mask[~allow] = float("-inf")
    pos = torch.cat([torch.arange(P), (P + torch.arange(S)).repeat(K)])
    return mask, pos


def lr_at(step, total, peak, warmup, final_frac):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return peak * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def evaluate_rows(model, rows, batch_size=100):
    """Greedy exact match per family (full KV cache)."""
    model.eval()
    res = {}
    by = {}
    for r in rows:
        by.setdefault((r["family"], len(r["question"])), []).append(r)
    preds = {}
    for (_, _), lst in sorted(by.items()):
        for i in range(0, len(lst), batch_size):
            chunk = lst[i:i + batch_size]
            cells = torch.tensor([task.objects_to_grid(r["objects"]) for r in chunk])
            q = torch.tensor([task.encode(task.after_image(r["question"])) for r in chunk])
            outs = M.greedy_decode(model, cells, q)
            for r, o in zip(chunk, outs):
                preds[r["id"]] = o
    for r in rows:
        ok = preds[r["id"]] == task.encode(r["answer"])
        c = res.setdefault(r["family"], [0, 0])
        c[0] += int(ok)
        c[1] += 1
    model.train()
    out = {f: c[0] / c[1] for f, c in res.items()}
    out["all"] = sum(c[0] for c in res.values()) / sum(c[1] for c in res.values())
    return out, preds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4200, help="length of the LR schedule")
    ap.add_argument("--images", type=int, default=8, help="images per batch")
    ap.add_argument("--qpi", type=int, default=16, help="questions per image (packed)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--final_lr_frac", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval_every", type=int, default=500)
    ap.add_argument("--eval_start", type=int, default=2500, help="no dev evals before this step")
    ap.add_argument("--ckpt_every", type=int, default=200)
    ap.add_argument("--stop_after", type=int, default=0, help="stop (and save) after this step; 0 = run to --steps")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--intermediate", type=int, default=384)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv_heads", type=int, default=2)
    ap.add_argument("--head_dim", type=int, default=32)
    ap.add_argument("--rope_theta", type=float, default=10000.0)
    ap.add_argument("--vision_init", default="unit", choices=["unit", "small"])
    ap.add_argument("--embed_std", type=float, default=1.0)
    ap.add_argument("--conv_init", default="zero", choices=["normal", "zero"])
    ap.add_argument("--curriculum", default="0:4=1;1000:4=0.2,8=0.8;2000:4=0.05,8=0.15,16=0.8",
                    help="grid-size curriculum: 'from_step:g=weight,...;...' (one g per batch)")
    ap.add_argument("--levels", default="",
                    help="accuracy-gated curriculum, e.g. '4,6,8,12,16' (overrides --curriculum): train on the "
                         "current grid size (60%%), smaller ones (25%%) and the next one (15%%); move up when the "
                         "running exact match of every family on the current size reaches --gate")
    ap.add_argument("--gate", type=float, default=0.85)
    ap.add_argument("--gate_families", default="",
                    help="families whose running exact match gates the curriculum (default: every trained family)")
    ap.add_argument("--hint", type=float, default=0.0,
                    help="weight of the attention hint (0 = off): the query heads --hint_heads of --hint_layer are "
                         "trained to attend to the cells that hold the answer while image-dependent tokens are predicted")
    ap.add_argument("--hint_layer", type=int, default=2)
    ap.add_argument("--addr_hint", type=float, default=0.0,
                    help="weight of the address hint (0 = off; same schedule as --hint): the query heads --addr_heads "
                         "of --addr_layer are trained to attend, at the same answer positions, to the question/answer "
                         "tokens that name the cell to read (text-to-text attention at answer time)")
    ap.add_argument("--addr_layer", type=int, default=1)
    ap.add_argument("--addr_heads", default="0,2", help="two query heads: the first gets the row/colour token, the second the col/shape token")
    ap.add_argument("--hint_heads", default="0", help="query heads of --hint_layer that get the hint")
    ap.add_argument("--hint_decay_start", type=float, default=0.3, help="fraction of --steps")
    ap.add_argument("--hint_until", type=float, default=0.6, help="fraction of --steps; 0 weight from here on")
    ap.add_argument("--window", type=int, default=1,
                    help="1: curriculum grids g < 16 are g x g windows at random origins of the 16 x 16 "
                         "position table (every row/col number is trained from the start); 0: top-left block")
    ap.add_argument("--small_batch_mult", default="4=3,8=2",
                    help="whole-number multiplier of --images per grid size g (small grids have cheap prefixes)")
    ap.add_argument("--family_weights", default="what_at=1,where=1,row=1.5")
    ap.add_argument("--out", default=os.path.join(HERE, "model"))
    ap.add_argument("--log", default=os.path.join(HERE, "logs", "train.log"))
    ap.add_argument("--ckpt", default=os.path.join(HERE, "logs", "ckpt.pt"))
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init_from", default="",
                    help="warm start from a saved model folder (e.g. the v1 testbed weights): vision tower, projector, "
                         "final norm and the first layers copied; token rows matched by token string (new tokens "
                         "keep their fresh init); extra decoder layers start as the identity (o_proj and down_proj 0)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    set_seeds(args.seed)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(os.path.dirname(args.log), exist_ok=True)

    data_dir = os.path.join(HERE, "data")
    dev = task.read_jsonl(os.path.join(data_dir, "dev.jsonl"))
    ev = task.read_jsonl(os.path.join(data_dir, "eval.jsonl"))
    excluded = {task.objects_key(r["objects"]) for r in dev + ev}

    curriculum = []
    for part in args.curriculum.split(";"):
        st, sizes = part.split(":")
        curriculum.append((int(st), [(int(kv.split("=")[0]), float(kv.split("=")[1]))
                                     for kv in sizes.split(",")]))
    gcount = {}
    mult = {}
    for kv in filter(None, args.small_batch_mult.split(",")):
        gs, m = kv.split("=")
        if not m.isdigit():
            ap.error("--small_batch_mult %s: the multiplier must be a whole number" % kv)
        mult[int(gs)] = int(m)
    fw = {kv.split("=")[0]: float(kv.split("=")[1]) for kv in args.family_weights.split(",")}
    model = M.GridVQAModel({"num_hidden_layers": args.layers, "head_dim": args.head_dim,
                            "num_attention_heads": args.heads, "num_key_value_heads": args.kv_heads,
                            "hidden_size": args.hidden, "intermediate_size": args.intermediate,
                            "rope_theta": args.rope_theta}, factorized_pos=True)
    # init: Llama-style N(0, 0.02) for all linear / embedding weights, zero biases
    for n, p in model.named_parameters():
        if p.dim() >= 2 and "pos_" not in n:
            torch.nn.init.normal_(p, std=0.02)
        elif n.endswith(".bias"):
            torch.nn.init.zeros_(p)
    if args.vision_init == "unit":
        # vision side: N(0,1) attribute/position embeddings, PyTorch-default
        # (kaiming-uniform) projector, so visual tokens start O(1) and image
        # dependent (with N(0,0.02) everywhere they start ~1e-3, below the
        # RMSNorm eps, and training only ever learns a constant projector bias)
        vt = model.vision_tower
        for e in (vt.shape_embed, vt.color_embed, vt.glyph_embed):
            torch.nn.init.normal_(e.weight, std=1.0)
        torch.nn.init.normal_(vt.pos_row, std=1.0)
        torch.nn.init.normal_(vt.pos_col, std=1.0)
        model.multi_modal_projector.linear_1.reset_parameters()
        model.multi_modal_projector.linear_2.reset_parameters()
        torch.nn.init.normal_(model.model.embed_tokens.weight, std=args.embed_std)
    if args.conv_init == "zero":
        # h = e + conv(e) starts as the identity (no neighbour blur at init)
        torch.nn.init.zeros_(model.vision_tower.conv.weight)
    warm = warm_start(model, args.init_from) if args.init_from and not args.resume else None
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    batcher = Batcher(args.seed, excluded, fw)
    levels = [int(x) for x in args.levels.split(",") if x]
    level = 0
    run_em = {}
    start = 0
    elapsed0 = 0.0
    if args.resume and os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        batcher.rng.setstate(pickle.loads(ck["rng"]))
        level, run_em = ck.get("level", 0), ck.get("run_em", {})
        torch.set_rng_state(ck["torch_rng"])
        start, elapsed0 = ck["step"], ck["elapsed"]
    nparams = sum(p.numel() for p in model.export_state().values())
    logf = open(args.log, "a")

    def log(s):
        print(s, flush=True)
        logf.write(s + "\n")
        logf.flush()

    log("# %s start step=%d args=%s params=%d torch=%s threads=%d" % (
        time.strftime("%Y-%m-%d %H:%M:%S"), start, json.dumps(vars(args)), nparams,
        torch.__version__, torch.get_num_threads()))
    if warm:
        log(warm)
    t0 = time.time() - elapsed0
    run_loss, run_n, run_hint, run_addr = 0.0, 0, 0.0, 0.0

    def hint_weight(step):
        """args.hint until hint_decay_start*steps, then linear to 0 at hint_until*steps."""
        a, b = args.hint_decay_start * args.steps, args.hint_until * args.steps
        if args.hint <= 0 or step >= b:
            return 0.0
        return args.hint if step < a else args.hint * (b - step) / max(1.0, b - a)
    fam_loss = torch.zeros(len(task.FAMILIES))
    fam_cnt = torch.zeros(len(task.FAMILIES))
    model.train()
    for step in range(start, args.steps):
        lr = lr_at(step, args.steps, args.lr, args.warmup, args.final_lr_frac)
        for g in opt.param_groups:
            g["lr"] = lr
        if levels:
            cur = levels[level]
            lower, upper = levels[:level], levels[level + 1:level + 2]
            opts = [(cur, 0.6)] + [(x, 0.25 / len(lower)) for x in lower] + [(x, 0.15) for x in upper]
            if not upper:
                opts = [(cur, 0.85)] + [(x, 0.15 / len(lower)) for x in lower]
            g = batcher.rng.choices([o[0] for o in opts], [o[1] for o in opts])[0]
        else:
            g = batcher.grid_size(step, curriculum)
        gcount[g] = gcount.get(g, 0) + 1
        nimg = args.images * mult.get(g, 1)
        cells, ids, tgt, fam_idx, S, origins, hint, addr = batcher.batch(nimg, args.qpi, g, bool(args.window))
        # == model.decoder(embed_prompt(cells, ids), pos, mask)[:, PREFIX_LEN:]
        # with (mask, pos) = packed_mask_and_pos(qpi, S); see check_packing.py
        hint_w = hint_weight(step)
        addr_w = hint_w / args.hint * args.addr_hint if args.hint > 0 else 0.0
        out = model.forward_packed(cells, ids, args.qpi, S, origins if args.window else None,
                                   args.hint_layer if hint_w > 0 else None,
                                   [int(h) for h in args.hint_heads.split(",")],
                                   args.addr_layer if addr_w > 0 else None,
                                   [int(h) for h in args.addr_heads.split(",")])
        logits, probs, aprobs = out if isinstance(out, tuple) else (out, None, None)
        tok_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                   ignore_index=-100, reduction="none")
        valid = tgt.reshape(-1) != -100
        loss = tok_loss[valid].mean()
        if probs is not None:
            # cell hint: cross-entropy of the hinted heads' attention against
            # the cells that hold the answer, at the positions that predict
            # image-dependent answer tokens (never the last prompt position)
            hm = hint.sum(-1) > 0                                       # [B, K, S]
            per = -(hint[:, None] * torch.log(probs + 1e-9)).sum(-1)      # [B, heads, K, S]
            hl = (per * hm[:, None]).sum() / (hm.sum() * per.shape[1])
            run_hint += hl.item()
            loss = loss + hint_w * hl
        if aprobs is not None:
            # address hint: the same over the segment's own text tokens, one
            # target per address head (--addr_heads: first head row/colour,
            # second head col/shape)
            am = addr[:, 0].sum(-1) > 0                                  # [B, K, S]
            per = -(addr * torch.log(aprobs + 1e-9)).sum(-1)             # [B, 2, K, S]
            al = (per * am[:, None]).sum() / (am.sum() * 2)
            run_addr += al.item()
            loss = loss + addr_w * al
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run_loss += loss.item()
        run_n += 1
        with torch.no_grad():
            # teacher-forced "all answer tokens right" per segment == greedy exact match
            wrong = (logits.argmax(-1) != tgt) & (tgt != -100)          # [B, K*S]
            seg_wrong = wrong.view(wrong.shape[0], args.qpi, S).any(-1)  # [B, K]
            seg_fam = fam_idx.view(fam_idx.shape[0], args.qpi, S).max(-1).values
            for i in range(len(task.FAMILIES)):
                sel = seg_fam == i
                if sel.any():
                    em = 1.0 - seg_wrong[sel].float().mean().item()
                    key = (g, i)
                    run_em[key] = em if key not in run_em else 0.95 * run_em[key] + 0.05 * em
        if levels and level + 1 < len(levels):
            cur = levels[level]
            gated = [f for f in fw if not args.gate_families or f in args.gate_families.split(",")]
            ems = [run_em.get((cur, task.FAMILIES.index(f)), 0.0) for f in gated]
            if min(ems) >= args.gate:
                level += 1
                run_em = {k: v for k, v in run_em.items() if k[0] != levels[level]}
                log("# step %d: level up to %dx%d grids (running exact match on %dx%d: %s)" % (
                    step + 1, levels[level], levels[level], cur, cur,
                    " ".join("%s=%.3f" % (f, e) for f, e in zip(gated, ems))))
        fi = fam_idx.reshape(-1)[valid]
        fam_loss.index_add_(0, fi, tok_loss[valid].detach())
        fam_cnt.index_add_(0, fi, torch.ones_like(fi, dtype=torch.float))
        s1 = step + 1
        if s1 % 10 == 0 or s1 == args.steps:
            fl = " ".join("%s=%.4f" % (f, (fam_loss[i] / max(1, fam_cnt[i])).item())
                          for i, f in enumerate(task.FAMILIES) if f in fw)
            emtxt = " ".join("%d:%s" % (gg, "/".join("%.2f" % run_em.get((gg, task.FAMILIES.index(f)), 0)
                                                       for f in fw)) for gg in sorted({k[0] for k in run_em}))
            log("step %5d loss %.4f hint %.3f addr %.3f(w%.2f) lr %.2e gnorm %.2f | %s | em %s | g %s | %.0fs" % (
                s1, run_loss / run_n, run_hint / run_n, run_addr / run_n, hint_w, lr, gn.item(), fl, emtxt,
                ",".join("%d:%d" % kv for kv in sorted(gcount.items())), time.time() - t0))
            run_loss, run_n, run_hint, run_addr = 0.0, 0, 0.0, 0.0
            gcount.clear()
            fam_loss.zero_()
            fam_cnt.zero_()
        at_top = bool(levels) and level == len(levels) - 1
        if (s1 % args.eval_every == 0 and (s1 >= args.eval_start or at_top)) or s1 == args.steps:
            em, _ = evaluate_rows(model, dev)
            log("dev  %5d exact_match %s | %.0fs" % (
                s1, " ".join("%s=%.3f" % (k, v) for k, v in em.items()), time.time() - t0))
        stop = args.stop_after and s1 >= args.stop_after
        if s1 % args.ckpt_every == 0 or s1 == args.steps or stop:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                        "rng": pickle.dumps(batcher.rng.getstate()),
                        "torch_rng": torch.get_rng_state(), "step": s1,
                        "level": level, "run_em": run_em,
                        "elapsed": time.time() - t0}, args.ckpt)
            save_model(model, args.out, s1)
        if stop:
            log("# stop_after reached at step %d (%.0fs)" % (s1, time.time() - t0))
            return
    log("# done steps=%d wall=%.0fs" % (args.steps, time.time() - t0))


@torch.no_grad()
def warm_start(model, src_dir):
    """Copies the weights of the saved model in src_dir into `model` (see --init_from)."""
    W, _ = M.load_safetensors(os.path.join(src_dir, "model.safetensors"))
    src_vocab = json.load(open(os.path.join(src_dir, "vocab.json")))
    src_layers = 1 + max(int(k.split(".")[2]) for k in W if k.startswith("model.layers."))
    sd = model.state_dict()
    copied = []
    for k, v in W.items():
        if k == "vision_tower.pos_embed":
            # the exported table is pos_row[r] + pos_col[c]: recover the factors exactly
            P = v.view(task.G, task.G, -1)
            mean = P.mean((0, 1))
            sd["vision_tower.pos_row"].copy_(P.mean(1) - mean / 2)
            sd["vision_tower.pos_col"].copy_(P.mean(0) - mean / 2)
            err = (sd["vision_tower.pos_row"][:, None] + sd["vision_tower.pos_col"][None] - P).abs().max().item()
            assert err < 1e-4, "pos_embed of %s is not a row + col table (max error %g)" % (src_dir, err)
            copied.append(k)
        elif k in ("model.embed_tokens.weight", "lm_head.weight"):
            for i, t in enumerate(task.VOCAB):
                if t in src_vocab:
                    sd[k][i].copy_(v[src_vocab.index(t)])
            copied.append(k + " (rows of shared tokens)")
        elif k in sd:
            sd[k].copy_(v)
            copied.append(k)
    for i in range(src_layers, len(model.model.layers)):
        sd["model.layers.%d.self_attn.o_proj.weight" % i].zero_()
        sd["model.layers.%d.mlp.down_proj.weight" % i].zero_()
    model.load_state_dict(sd)
    shared = sum(1 for t in task.VOCAB if t in src_vocab)
    return "# warm start from %s: %d tensors, %d of %d tokens shared, layers %d..%d start as the identity" % (
        src_dir, len(copied), shared, len(task.VOCAB), src_layers, len(model.model.layers) - 1)


def save_model(model, out, steps):
    sd = model.export_state()
    M.save_safetensors(os.path.join(out, "model.safetensors"), sd,
                       {"format": "pt", "training_steps": steps})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(M.hf_config(model.cfg, steps), f, indent=2)
    with open(os.path.join(out, "vocab.json"), "w") as f:
        json.dump(task.VOCAB, f, indent=0)


if __name__ == "__main__":
    main()
