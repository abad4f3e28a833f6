#!/usr/bin/env python3
"""Markdown tables for docs/results.md from the files `bin/kvpolicy eval --ablations` writes.

    python3 docs/results/tables.py out/eval          # reads results.csv and ablations.csv there

Standard library only.  Prints: exact match (per-token accuracy) per policy and retention, agreement with the
uncompressed answer, exact match per family at 10% and 1%, cost per run, and the AirCache ablations.
"""
import csv
import os
import sys


def load(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def table(rows, policies, cols, cell, head):
    out = ["| policy | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for p in policies:
        out.append("| %s | %s |" % (p, " | ".join(cell(rows, p, c) for c in cols)))
    return "\n".join(out)


def get(rows, policy, ret, fam="all"):
    for r in rows:
        if r["policy"] == policy and int(r["retention_percent"]) == ret and r["family"] == fam:
            return r
    return None


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "out/eval"
    res = load(os.path.join(d, "results.csv"))
    policies = list(dict.fromkeys(r["policy"] for r in res))
    rets = sorted({int(r["retention_percent"]) for r in res}, reverse=True)
    fams = [f for f in dict.fromkeys(r["family"] for r in res) if f != "all"]
    n = get(res, policies[0], rets[0])["n"]
    print("### Exact match (per-token accuracy), all %s examples\n" % n)
    print(table(res, policies, rets, lambda rs, p, c: "%.3f (%.3f)" % (
        float(get(rs, p, c)["exact_match"]), float(get(rs, p, c)["token_accuracy"])), ["%d%%" % r for r in rets]))
    print("\n### Agreement with the uncompressed answer (share of examples whose whole answer is unchanged)\n")
    print(table(res, policies, rets, lambda rs, p, c: "%.3f" % float(get(rs, p, c)["agreement_with_full"]),
                ["%d%%" % r for r in rets]))
    sel = [(f, r) for r in (10, 1) for f in fams if r in rets]
    print("\n### Exact match per family at 10% and 1%\n")
    print(table(res, policies, sel, lambda rs, p, c: "%.3f" % float(get(rs, p, c[1], c[0])["exact_match"]),
                ["%s %d%%" % c for c in sel]))
    if 10 in rets:
        print("\n### Cost per run (medians over the examples)\n")
        lines = ["| policy | policy ms at 10% (probe + scoring + validation) | decode ms/token at 10% | decode ms/token at 100% |",
                 "|---|---:|---:|---:|"]
        for p in policies:
            a, b = get(res, p, 10), get(res, p, rets[0])
            lines.append("| %s | %.2f | %.3f | %.3f |" % (p, float(a["median_policy_ms"]), float(a["median_decode_ms"]),
                                                      float(b["median_decode_ms"])))
        print("\n".join(lines))
    abl_path = os.path.join(d, "ablations.csv")
    if os.path.exists(abl_path):
        abl = load(abl_path)
        variants = list(dict.fromkeys(r["policy"] for r in abl))
        print("\n### AirCache ablations (10% and 1%)\n")
        lines = ["| variant | exact 10% | exact 1% | agreement 10% | agreement 1% |", "|---|---:|---:|---:|---:|"]
        for v in variants:
            a, b = get(abl, v, 10), get(abl, v, 1)
            lines.append("| %s | %.3f | %.3f | %.3f | %.3f |" % (v, float(a["exact_match"]), float(b["exact_match"]),
                                                              float(a["agreement_with_full"]),
                                                              float(b["agreement_with_full"])))
        print("\n".join(lines))


if __name__ == "__main__":
    main()
