#!/usr/bin/env python3
"""Independent reference for AirCache's analysis (elite window, visual importance, strength, skewness, layer weights,
per-layer targets and per-head rankings) on one seeded random scenario, in float64 with NumPy.

Writes policy-aircache/src/test/resources/aircache-reference.txt, read by AirCacheReferenceTest. Run with the NumPy
interpreter: /usr/bin/python3 policy-aircache/src/test/python/aircache_reference.py
"""
import os
import numpy as np

L, HQ, HKV, D = 3, 4, 2, 8
SYSTEM, VISUAL, INSTR = 3, 24, 6
N = SYSTEM + VISUAL + INSTR
ALPHA, BUDGET, MIN_RATIO = 0.3, 6, 0.1  # a low alpha so that elite sets hold several tokens
SEED = 20250311

rng = np.random.default_rng(SEED)
# visual keys get a per-token salience so importance is skewed, as in real models
salience = np.where(rng.random(N) < 0.15, 2.5, 0.7)
K = (rng.standard_normal((L, HKV, N, D)) * salience[None, None, :, None]).astype(np.float32)
Q = rng.standard_normal((L, HQ, N, D)).astype(np.float32)
Q[1] *= 2.0  # a sharper layer

visual = np.arange(SYSTEM, SYSTEM + VISUAL)
text = np.arange(SYSTEM + VISUAL, N)
G = HQ // HKV


def attention(l, qh, queries, keys):
    """softmax over keys (causal: key <= query) of q.k/sqrt(D), one row per query, float64."""
    q = Q[l, qh, queries].astype(np.float64)
    k = K[l, qh // G, keys].astype(np.float64)
    logits = q @ k.T / np.sqrt(D)
    mask = keys[None, :] > queries[:, None]
    logits = np.where(mask, -np.inf, logits)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def skewness(x):
    # a different route from the Java code: G1 = g1 * sqrt(n(n-1)) / (n-2), g1 = m3 / m2^1.5 (population moments)
    n = len(x)
    d = x - x.mean()
    m2, m3 = (d ** 2).mean(), (d ** 3).mean()
    return m3 / m2 ** 1.5 * np.sqrt(n * (n - 1)) / (n - 2)


lines = [f"shape {L} {HQ} {HKV} {D}", f"layout {SYSTEM} {VISUAL} {INSTR}", f"alpha {ALPHA}", f"budget {BUDGET}", f"min {MIN_RATIO}"]
for l in range(L):
    for h in range(HQ):
        lines.append(f"q {l} {h} " + " ".join(repr(float(v)) for v in Q[l, h].reshape(-1)))
    for h in range(HKV):
        lines.append(f"k {l} {h} " + " ".join(repr(float(v)) for v in K[l, h].reshape(-1)))

strength, skew, kv_imp, layer_imp = [], [], [], []
for l in range(L):
    att = np.mean([attention(l, qh, text[-1:], text)[0] for qh in range(HQ)], axis=0)
    elite = text[att >= ALPHA * att.max()]
    keys = np.union1d(visual, elite)
    vi = np.searchsorted(keys, visual)
    per_head = np.array([attention(l, qh, elite, keys).mean(axis=0)[vi] for qh in range(HQ)])  # [HQ, VISUAL]
    layer_imp.append(per_head.mean(axis=0))
    kv_imp.append(per_head.reshape(HKV, G, VISUAL).mean(axis=1))
    strength.append(layer_imp[-1].sum())
    skew.append(skewness(layer_imp[-1]))
    lines.append(f"elite {l} " + " ".join(str(int(p)) for p in elite))
    lines.append(f"layer_importance {l} " + " ".join(repr(float(v)) for v in layer_imp[-1]))
    for h in range(HKV):
        lines.append(f"kv_importance {l} {h} " + " ".join(repr(float(v)) for v in kv_imp[-1][h]))
        order = sorted(range(VISUAL), key=lambda i: (-kv_imp[-1][h][i], i))
        lines.append(f"rank {l} {h} " + " ".join(str(int(visual[i])) for i in order))

strength, skew = np.array(strength), np.clip(np.nan_to_num(np.array(skew)), 0, None)
w = 0.5 * (strength / strength.mean() + (skew / skew.mean() if skew.mean() > 0 else 1.0))
for l in range(L):
    lines.append(f"strength {l} {repr(float(strength[l]))}")
    lines.append(f"skewness {l} {repr(float(skewness(layer_imp[l])))}")
    lines.append(f"weight {l} {repr(float(w[l]))}")

# real-valued per-head layer targets: water-filling of L*B over weights within [min, VISUAL]
lo = np.full(L, float(round(MIN_RATIO * BUDGET + 1e-9)))
hi = np.full(L, float(VISUAL))
fixed = np.zeros(L, bool)
t = np.zeros(L)
for _ in range(L + 1):
    free = ~fixed
    rem = L * BUDGET - t[fixed].sum()
    t[free] = rem * w[free] / w[free].sum()
    low, high = free & (t < lo), free & (t > hi)
    if low.any():
        t[low], fixed[low] = lo[low], True
    elif high.any():
        t[high], fixed[high] = hi[high], True
    else:
        break
for l in range(L):
    lines.append(f"target {l} {repr(float(t[l]))}")

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "aircache-reference.txt")
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("weights", w, "targets", t, "skewness", [skewness(x) for x in layer_imp])
