#!/usr/bin/python3
"""Write the fixed-seed held-out sets testbed/data/{eval,dev}.jsonl and the
vocabulary testbed/model/vocab.json.  Deterministic (seeds in gridvqa/task.py).

Each line: {"id", "family", "objects": [[row, col, shape, colour, glyph], ...]
(row-major sorted; every other cell is background (0,0,0)), "question": [tokens],
"answer": [tokens, ..., "<eos>"]}.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gridvqa import task  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    os.makedirs(os.path.join(HERE, "data"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "model"), exist_ok=True)
    ev = task.make_split(task.EVAL_SEED, task.EVAL_PER_FAMILY, "eval")
    dev = task.make_split(task.DEV_SEED, task.DEV_PER_FAMILY, "dev")
    task.write_jsonl(os.path.join(HERE, "data", "eval.jsonl"), ev)
    task.write_jsonl(os.path.join(HERE, "data", "dev.jsonl"), dev)
    with open(os.path.join(HERE, "model", "vocab.json"), "w") as f:
        json.dump(task.VOCAB, f, indent=0)
    print("eval", len(ev), "dev", len(dev), "vocab", len(task.VOCAB))
