#!/usr/bin/python3
"""Full-cache evaluation of the trained GridVQA model.

    /usr/bin/python3 testbed/evaluate.py [--split eval|dev] [--out testbed/logs/eval_full.json]

Metrics per family and overall:
  exact_match      greedy decoding (KV cache, no compression) from the prompt
                   until <eos> (max 15 new tokens); the generated ids incl.
                   <eos> must equal the reference answer exactly.
  token_accuracy   teacher-forced: fraction of answer tokens (incl. <eos>) where
                   argmax(logits) == reference token, given the reference prefix.
  greedy_token_accuracy  position-wise agreement of the greedy output with the
                   reference (over max(len(pred), len(ref)) positions).
The greedy predictions (token strings) are stored per example id.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gridvqa import task                # noqa: E402
from gridvqa import model as M          # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


@torch.no_grad()
def teacher_forced(model, rows):
    """Return {id: (n_correct, n_tokens)}."""
    out = {}
    by = {}
    for r in rows:
        by.setdefault((len(r["question"]), len(r["answer"])), []).append(r)
    for (_, _), lst in sorted(by.items()):
        for i in range(0, len(lst), 100):
            chunk = lst[i:i + 100]
            cells = torch.tensor([task.objects_to_grid(r["objects"]) for r in chunk])
            ids = torch.tensor([task.encode(task.after_image(r["question"]) + r["answer"][:-1]) for r in chunk])
            logits = model(cells, ids)
            na = len(chunk[0]["answer"])
            pred = logits[:, -na:].argmax(-1)
            ref = torch.tensor([task.encode(r["answer"]) for r in chunk])
            ok = (pred == ref).sum(1)
            for r, k in zip(chunk, ok.tolist()):
                out[r["id"]] = (k, na)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "model"))
    ap.add_argument("--split", default="eval")
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out_path = args.out or os.path.join(HERE, "logs", "eval_full.json" if args.split == "eval"
                                        else "eval_full_%s.json" % args.split)
    rows = task.read_jsonl(os.path.join(HERE, "data", "%s.jsonl" % args.split))
    model = M.load_model(args.model)
    with open(os.path.join(args.model, "config.json")) as f:
        conf = json.load(f)
    t0 = time.time()
    # greedy, grouped by question length (one batch = one prompt length)
    preds = {}
    by = {}
    for r in rows:
        by.setdefault(len(r["question"]), []).append(r)
    for _, lst in sorted(by.items()):
        for i in range(0, len(lst), 100):
            chunk = lst[i:i + 100]
            cells = torch.tensor([task.objects_to_grid(r["objects"]) for r in chunk])
            q = torch.tensor([task.encode(task.after_image(r["question"])) for r in chunk])
            for r, o in zip(chunk, M.greedy_decode(model, cells, q)):
                preds[r["id"]] = o
    tf = teacher_forced(model, rows)
    stats = {}
    for r in rows:
        ref = task.encode(r["answer"])
        p = preds[r["id"]]
        n = max(len(p), len(ref))
        g = sum(1 for a, b in zip(p, ref) if a == b)
        for key in (r["family"], "all"):
            s = stats.setdefault(key, {"n": 0, "em": 0, "tok_ok": 0, "tok_n": 0, "g_ok": 0, "g_n": 0})
            s["n"] += 1
            s["em"] += int(p == ref)
            s["tok_ok"] += tf[r["id"]][0]
            s["tok_n"] += tf[r["id"]][1]
            s["g_ok"] += g
            s["g_n"] += n
    res = {}
    for key in task.ACTIVE_FAMILIES + ["all"]:
        s = stats[key]
        res[key] = {"n": s["n"], "exact_match": round(s["em"] / s["n"], 4),
                    "token_accuracy": round(s["tok_ok"] / s["tok_n"], 4),
                    "greedy_token_accuracy": round(s["g_ok"] / s["g_n"], 4)}
    report = {
        "split": args.split,
        "n_examples": len(rows),
        "cache": "full (no compression)",
        "decoding": "greedy, max_new_tokens=%d, stop at <eos>" % task.MAX_ANSWER_TOKENS,
        "model_training_steps": conf.get("training_steps"),
        "metrics": res,
        "seconds": round(time.time() - t0, 1),
        "errors": {r["id"]: [task.VOCAB[i] for i in preds[r["id"]]]
                   for r in rows if preds[r["id"]] != task.encode(r["answer"])},
        "predictions": {r["id"]: " ".join(task.VOCAB[i] for i in preds[r["id"]]) for r in rows},
    }
    with open(out_path, "w") as f:
        json.dump(report, f, indent=1)
    for key in task.ACTIVE_FAMILIES + ["all"]:
        print("%-9s n=%4d exact_match=%.4f token_acc=%.4f greedy_token_acc=%.4f" % (
            key, res[key]["n"], res[key]["exact_match"], res[key]["token_accuracy"],
            res[key]["greedy_token_accuracy"]))
    print("wrote", out_path, "(%.0fs)" % (time.time() - t0))


if __name__ == "__main__":
    main()
