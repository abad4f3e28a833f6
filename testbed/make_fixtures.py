#!/usr/bin/python3
"""Reference numbers for the Java/ONNX re-implementation.

    /usr/bin/python3 testbed/make_fixtures.py   -> testbed/fixtures/reference.json

For 3 eval examples (one per family what_at / where / row): the input
attribute grid, prompt token ids, vision-tower output and projector output
(full [256, H] for example 0, first rows + checksums for all), per-layer
hidden state at the last prompt position, the last-prompt-position logits
(float32 and float64 runs of the same weights) and the greedy continuation.
Floats are written with 9 significant digits (round-trips float32).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gridvqa import task                # noqa: E402
from gridvqa import model as M          # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IDS = ["eval-what_at-002", "eval-where-000", "eval-row-000"]


def f9(t):
    if isinstance(t, torch.Tensor):
        t = t.tolist()
    if isinstance(t, list):
        return [f9(x) for x in t]
    return float("%.9g" % t)


def f17(t):
    if isinstance(t, torch.Tensor):
        t = t.tolist()
    if isinstance(t, list):
        return [f17(x) for x in t]
    return float(repr(float(t)))


def checksum(t):
    t = t.double()
    return {"sum": float(t.sum()), "abs_sum": float(t.abs().sum()),
            "sum_sq": float((t * t).sum()), "shape": list(t.shape)}


@torch.no_grad()
def run(model, r, dtype):
    cells = torch.tensor([task.objects_to_grid(r["objects"])])
    q = torch.tensor([task.encode(task.after_image(r["question"]))])
    vt = model.vision_tower(cells)
    proj = model.multi_modal_projector(vt)
    x = model.embed_prompt(cells, q)
    T = x.shape[1]
    cos, sin = M.rope_cos_sin(torch.arange(T), model.cfg["head_dim"], model.cfg["rope_theta"], dtype)
    mask = M.causal_mask(T, dtype)
    h = x
    hidden = [h[0, -1].clone()]
    for layer in model.model.layers:
        h, _ = layer(h, cos, sin, mask)
        hidden.append(h[0, -1].clone())
    logits = model.lm_head(model.model.norm(h))[0, -1]
    greedy = M.greedy_decode(model, cells, q)[0]
    return dict(cells=cells, q=q, vt=vt[0], proj=proj[0], T=T, hidden=hidden,
                logits=logits, greedy=greedy, embeds=x[0])


def main():
    torch.set_num_threads(2)
    m32 = M.load_model(os.path.join(HERE, "model"))
    m64 = M.load_model(os.path.join(HERE, "model")).double()
    rows = {r["id"]: r for r in task.read_jsonl(os.path.join(HERE, "data", "eval.jsonl"))}
    out = {
        "description": "GridVQA reference activations; see testbed/README.md for the math. "
                       "Sequence = [<bos>, system tokens, 256 visual embeddings (replacing the one "
                       "<image> id in prompt_ids), question tokens, answer:]; position ids 0..T-1.",
        "model_config": "testbed/model/config.json",
        "float_format": "float32 values printed with 9 significant digits; *_f64 with 17",
        "examples": [],
    }
    for n, eid in enumerate(IDS):
        r = rows[eid]
        a = run(m32, r, torch.float32)
        b = run(m64, r, torch.float64)
        grid = a["cells"][0]                      # [256, 3]
        prompt = task.prompt_tokens(r["question"])
        ex = {
            "id": eid, "family": r["family"], "objects": r["objects"],
            "question": r["question"], "reference_answer": r["answer"],
            "grid_shape": grid[:, 0].reshape(task.G, task.G).tolist(),
            "grid_colour": grid[:, 1].reshape(task.G, task.G).tolist(),
            "grid_glyph": grid[:, 2].reshape(task.G, task.G).tolist(),
            "prompt_tokens": prompt,
            "prompt_ids": task.encode(prompt),
            "image_placeholder_index": prompt.index(task.IMAGE),
            "sequence_length": a["T"],
            "vision_tower_out_first_rows": f9(a["vt"][:4, :8]),
            "vision_tower_out_checksum": checksum(a["vt"]),
            "projector_out_first8_token0": f9(a["proj"][0, :8]),
            "projector_out_first_rows": f9(a["proj"][:4, :8]),
            "projector_out_checksum": checksum(a["proj"]),
            "inputs_embeds_checksum": checksum(a["embeds"]),
            "hidden_last_pos": {
                "note": "residual stream at the last prompt position: index 0 = input embedding, "
                        "i = output of decoder layer i-1 (before the final norm)",
                "first8": [f9(h[:8]) for h in a["hidden"]],
                "checksums": [checksum(h) for h in a["hidden"]],
            },
            "last_position_logits": f9(a["logits"]),
            "last_position_logits_f64": f17(b["logits"]),
            "max_abs_diff_f32_vs_f64": float((a["logits"].double() - b["logits"]).abs().max()),
            "greedy_ids": a["greedy"],
            "greedy_tokens": [task.VOCAB[i] for i in a["greedy"]],
            "greedy_ids_f64": b["greedy"],
        }
        if n == 0:
            ex["projector_out_full"] = f9(a["proj"])        # [256, H]
        out["examples"].append(ex)
    os.makedirs(os.path.join(HERE, "fixtures"), exist_ok=True)
    p = os.path.join(HERE, "fixtures", "reference.json")
    with open(p, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", p, os.path.getsize(p), "bytes")
    for e in out["examples"]:
        print(e["id"], e["greedy_tokens"], "ref", e["reference_answer"],
              "f32-f64 logits maxdiff %.2e" % e["max_abs_diff_f32_vs_f64"])


if __name__ == "__main__":
    main()
