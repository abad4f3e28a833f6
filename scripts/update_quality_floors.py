#!/usr/bin/env python3
"""Re-measures nothing: reads the results.csv of
    bin/kvpolicy eval --limit 8 --retentions 25,10 --out DIR
(the conformance suite's quality slice: the first 8 held-out GridVQA examples of each family) and rewrites the
qualityFloors() of every shipped provider at two retentions (default 25% and 10%): floor = (examples answered
exactly - 2) / slice size, rounded down to two decimals (two examples of margin for platform rounding), and the
measured figures in the Javadoc above it.

    python3 scripts/update_quality_floors.py DIR [--date YYYY-MM-DD] [--retentions 25,10]
"""
import csv
import datetime
import glob
import math
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    d = sys.argv[1]
    date = sys.argv[sys.argv.index("--date") + 1] if "--date" in sys.argv else datetime.date.today().isoformat()
    hi, lo = (int(x) for x in (sys.argv[sys.argv.index("--retentions") + 1] if "--retentions" in sys.argv else "25,10").split(","))
    rows = [r for r in csv.DictReader(open(os.path.join(d, "results.csv"))) if r["family"] == "all"]
    files = {}
    for f in glob.glob(os.path.join(ROOT, "policy-*/src/main/java/**/*PolicyProvider.java"), recursive=True):
        m = re.search(r'super\("([^"]+)"', open(f).read())
        if m:
            files[m.group(1)] = f
    done = []
    for policy in dict.fromkeys(r["policy"] for r in rows):
        if policy not in files:
            continue
        get = {int(r["retention_percent"]): r for r in rows if r["policy"] == policy}
        n = int(get[hi]["n"])
        em = {k: float(get[k]["exact_match"]) for k in (hi, lo)}
        floor = {k: math.floor(max(0, round(em[k] * n) - 2) / n * 100) / 100 for k in (hi, lo)}
        src = open(files[policy]).read()
        src2 = re.sub(r"measured \d{4}-\d{2}-\d{2}: [0-9.]+ at \d+% and [0-9.]+ at \d+%",
                      "measured %s: %.3f at %d%% and %.3f at %d%%" % (date, em[hi], hi, em[lo], lo), src)
        call = "Map.of(%.2f, %.2f, %.2f, %.2f)" % (hi / 100, floor[hi], lo / 100, floor[lo])
        src2 = re.sub(r"Map\.of\(0\.\d+, [0-9.]+, 0\.\d+, [0-9.]+\)", call, src2)
        if src2 == src and call not in src:
            sys.exit("%s: no qualityFloors() of the expected form" % files[policy])
        open(files[policy], "w").write(src2)
        done.append("%-14s exact %.3f / %.3f (n=%d) -> floors %.2f / %.2f" % (policy, em[hi], em[lo], n, floor[hi], floor[lo]))
    print("\n".join(done))
    missing = sorted(set(files) - {r["policy"] for r in rows})
    if missing:
        print("not in the results (floors unchanged):", ", ".join(missing))


if __name__ == "__main__":
    main()
