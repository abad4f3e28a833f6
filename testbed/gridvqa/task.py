"""GridVQA: the synthetic visual-QA task.  This file is the ONE definition of
the task: vocabulary, attribute codes, grid sampling, question families,
prompt layout and the eval/dev set generation.

Image
-----
A G x G grid (G = 16, 256 cells, row-major cell index = 16*row + col).
Every cell has three integer attributes (shape, colour, glyph):
  * background cell: (0, 0, 0)
  * object cell:     shape in 1..6, colour in 1..6, glyph in 1..16
6..14 objects per image on distinct random cells; shape and colour uniform
(independent); glyphs are drawn WITHOUT replacement, so every glyph occurs at
most once per image (a glyph identifies an object).

Question families (answers always end with <eos>, >= 3 tokens incl. <eos>)
-------------------------------------------------------------------------
Answers start by echoing part of the question (the first answer token is
produced before KV compression and is trivial; the image-dependent tokens
follow, one attention hop away from the echoed words).
  what_at : "what is at row R col C"    -> "row R col C COLOUR SHAPE <eos>"
                                           or "row R col C empty cell <eos>" (30% empty)
  where   : "where is the COLOUR SHAPE" -> "COLOUR SHAPE R C <eos>"
            (only asked for a (colour, shape) pair occurring exactly once)
  count   : "count COLOUR objects"      -> "COLOUR N <eos>"  (N = 0..14)
  read_row: "read row R"                -> glyphs of the objects in row R, left
            to right, then <eos> (rows with >= 2 objects).  DEFINED BUT NOT
            USED: not in ACTIVE_FAMILIES (not trained, not in eval/dev).

Prompt layout (token positions; the model sees embeddings):
  <bos> you see the grid <image> Q_1 .. Q_n answer:   then answer tokens.
  <image> (one placeholder id in the token list) is replaced by the 256 visual
  token embeddings, so the model sequence is
  [<bos>, you, see, the, grid, V_0 .. V_255, Q_1 .. Q_n, answer:, A_1 ..]
  with position ids 0..T-1.  Loss only on answer tokens.
"""
import json
import random

G = 16
NUM_CELLS = G * G
MIN_OBJECTS, MAX_OBJECTS = 6, 14

SHAPES = ["circle", "square", "triangle", "star", "heart", "diamond"]      # ids 1..6
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]          # ids 1..6
GLYPHS = [str(d) for d in range(10)] + ["A", "B", "C", "D", "E", "F"]      # ids 1..16
NUM_SHAPE_IDS = len(SHAPES) + 1      # incl. 0 = background
NUM_COLOUR_IDS = len(COLOURS) + 1    # incl. 0 = none
NUM_GLYPH_IDS = len(GLYPHS) + 1      # incl. 0 = none

PAD, BOS, EOS, IMAGE = "<pad>", "<bos>", "<eos>", "<image>"
SEP = "answer:"
SYSTEM = ["you", "see", "the", "grid"]
FAMILIES = ["what_at", "where", "count", "read_row"]
# what_at answers name colour and shape only.  The first 2,200 steps of the
# shipped training run also asked for the glyph (True); see testbed/README.md.
WHAT_AT_ANSWER_GLYPH = False
ACTIVE_FAMILIES = ["what_at", "where", "count"]   # read_row: defined, not trained/evaluated (see README)


def build_vocab():
    v = [PAD, BOS, EOS, IMAGE, SEP]
    v += SYSTEM
    v += [str(i) for i in range(max(G, MAX_OBJECTS + 1))]   # "0".."15" (also glyph digits)
    v += ["A", "B", "C", "D", "E", "F"]                     # glyph letters
    v += SHAPES + COLOURS
    v += ["what", "is", "at", "row", "col", "where", "count", "objects",
          "read", "empty", "cell"]
    assert len(v) == len(set(v))
    return v


VOCAB = build_vocab()
TOK2ID = {t: i for i, t in enumerate(VOCAB)}
PAD_ID, BOS_ID, EOS_ID, IMAGE_ID, SEP_ID = (TOK2ID[t] for t in (PAD, BOS, EOS, IMAGE, SEP))
SYSTEM_IDS = [TOK2ID[t] for t in SYSTEM]
PREFIX_LEN = 1 + len(SYSTEM) + NUM_CELLS     # tokens before the question (261)
IMAGE_START = 1 + len(SYSTEM)                # sequence position of visual token 0 (5)
MAX_ANSWER_TOKENS = MAX_OBJECTS + 1          # longest possible answer (read_row) incl <eos>


def encode(tokens):
    return [TOK2ID[t] for t in tokens]


def prompt_tokens(question):
    """Token list of the prompt with ONE <image> placeholder."""
    return [BOS] + SYSTEM + [IMAGE] + list(question) + [SEP]


# ---------------------------------------------------------------- sampling
# Training curriculum only: smaller grids g in {4, 8} (same factorised
# position code, rows/cols < g).  The eval/dev sets and the shipped prompt
# layout always use g = G = 16.
OBJECT_RANGE = {4: (2, 6), 6: (3, 8), 8: (4, 10), 12: (5, 12), 16: (MIN_OBJECTS, MAX_OBJECTS)}


def sample_objects(rng, g=G, origin=(0, 0)):
    """List of objects [row, col, shape, colour, glyph] sorted row-major.
    Training curriculum only: g < G samples a g x g window of the 16 x 16 grid
    whose top-left cell is `origin` (rows/cols are grid coordinates)."""
    lo, hi = OBJECT_RANGE[g]
    n = rng.randint(lo, hi)
    cells = rng.sample(range(g * g), n)
    glyphs = rng.sample(range(1, NUM_GLYPH_IDS), n)
    objs = []
    for cell, gl in zip(cells, glyphs):
        objs.append([origin[0] + cell // g, origin[1] + cell % g, rng.randint(1, len(SHAPES)),
                     rng.randint(1, len(COLOURS)), gl])
    objs.sort(key=lambda o: (o[0], o[1]))
    return objs


def objects_to_grid(objs, g=G, origin=(0, 0)):
    """[g*g][3] list of (shape, colour, glyph), row-major (g = 16: 256 cells)."""
    grid = [[0, 0, 0] for _ in range(g * g)]
    for r, c, s, col, gl in objs:
        grid[(r - origin[0]) * g + (c - origin[1])] = [s, col, gl]
    return grid


def _q_what_at(rng, objs, g=G, origin=(0, 0)):
    occ = {(o[0], o[1]): o for o in objs}
    if rng.random() < 0.7:
        o = rng.choice(objs)
        r, c = o[0], o[1]
    else:
        while True:
            r, c = origin[0] + rng.randrange(g), origin[1] + rng.randrange(g)
            if (r, c) not in occ:
                break
    q = ["what", "is", "at", "row", str(r), "col", str(c)]
    if (r, c) in occ:
        _, _, s, col, gl = occ[(r, c)]
        a = ["row", str(r), "col", str(c), COLOURS[col - 1], SHAPES[s - 1]]
        a += ([GLYPHS[gl - 1]] if WHAT_AT_ANSWER_GLYPH else []) + [EOS]
    else:
        a = ["row", str(r), "col", str(c), "empty", "cell", EOS]
    return q, a


def _q_where(rng, objs, g=G, origin=(0, 0)):
    cnt = {}
    for o in objs:
        cnt[(o[3], o[2])] = cnt.get((o[3], o[2]), 0) + 1
    uniq = [o for o in objs if cnt[(o[3], o[2])] == 1]
    if not uniq:
        return None
    o = rng.choice(uniq)
    q = ["where", "is", "the", COLOURS[o[3] - 1], SHAPES[o[2] - 1]]
    a = [COLOURS[o[3] - 1], SHAPES[o[2] - 1], str(o[0]), str(o[1]), EOS]
    return q, a


def _q_count(rng, objs, g=G, origin=(0, 0)):
    col = rng.randint(1, len(COLOURS))
    n = sum(1 for o in objs if o[3] == col)
    q = ["count", COLOURS[col - 1], "objects"]
    a = [COLOURS[col - 1], str(n), EOS]
    return q, a


def _q_read_row(rng, objs, g=G, origin=(0, 0)):
    rows = {}
    for o in objs:
        rows.setdefault(o[0], []).append(o)
    cand = sorted(r for r, l in rows.items() if len(l) >= 2)
    if not cand:
        return None
    r = rng.choice(cand)
    q = ["read", "row", str(r)]
    a = [GLYPHS[o[4] - 1] for o in sorted(rows[r], key=lambda o: o[1])] + [EOS]
    return q, a


_GEN = {"what_at": _q_what_at, "where": _q_where, "count": _q_count,
        "read_row": _q_read_row}


def make_question(rng, objs, family, g=G, origin=(0, 0)):
    """(question tokens, answer tokens) or None if the family is not
    applicable to this image (caller resamples the image)."""
    return _GEN[family](rng, objs, g, origin)


def sample_example(rng, family):
    while True:
        objs = sample_objects(rng)
        qa = make_question(rng, objs, family)
        if qa is not None:
            return objs, qa[0], qa[1]


def objects_key(objs):
    return tuple(tuple(o) for o in objs)


# ---------------------------------------------------------------- datasets
EVAL_SEED, DEV_SEED = 20240917, 777
EVAL_PER_FAMILY, DEV_PER_FAMILY = 350, 50


def make_split(seed, per_family, name):
    rng = random.Random(seed)
    out = []
    for fam in ACTIVE_FAMILIES:
        for i in range(per_family):
            objs, q, a = sample_example(rng, fam)
            out.append({"id": "%s-%s-%03d" % (name, fam, i), "family": fam,
                        "objects": objs, "question": q, "answer": a})
    return out


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]
