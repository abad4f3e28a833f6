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
  what_at : "what is at row R col C"  -> "COLOUR SHAPE GLYPH <eos>"
                                         or "empty cell <eos>" (30% empty cells)
  where   : "where is the COLOUR SHAPE" -> "row R col C <eos>"
            (only asked for a (colour, shape) pair occurring exactly once)
  count   : "count COLOUR objects"    -> "N COLOUR objects <eos>"  (N = 0..14)
  read_row: "read row R"              -> glyphs of the objects in row R, left
            to right, then <eos>   (only asked for rows with >= 2 objects)

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
def sample_objects(rng):
    """List of objects [row, col, shape, colour, glyph] sorted row-major."""
    n = rng.randint(MIN_OBJECTS, MAX_OBJECTS)
    cells = rng.sample(range(NUM_CELLS), n)
    glyphs = rng.sample(range(1, NUM_GLYPH_IDS), n)
    objs = []
    for cell, gl in zip(cells, glyphs):
        objs.append([cell // G, cell % G, rng.randint(1, len(SHAPES)),
                     rng.randint(1, len(COLOURS)), gl])
    objs.sort(key=lambda o: (o[0], o[1]))
    return objs


def objects_to_grid(objs):
    """[256][3] list of (shape, colour, glyph), row-major."""
    grid = [[0, 0, 0] for _ in range(NUM_CELLS)]
    for r, c, s, col, gl in objs:
        grid[r * G + c] = [s, col, gl]
    return grid


def _q_what_at(rng, objs):
    occ = {(o[0], o[1]): o for o in objs}
    if rng.random() < 0.7:
        o = rng.choice(objs)
        r, c = o[0], o[1]
    else:
        while True:
            r, c = rng.randrange(G), rng.randrange(G)
            if (r, c) not in occ:
                break
    q = ["what", "is", "at", "row", str(r), "col", str(c)]
    if (r, c) in occ:
        _, _, s, col, gl = occ[(r, c)]
        a = [COLOURS[col - 1], SHAPES[s - 1], GLYPHS[gl - 1], EOS]
    else:
        a = ["empty", "cell", EOS]
    return q, a


def _q_where(rng, objs):
    cnt = {}
    for o in objs:
        cnt[(o[3], o[2])] = cnt.get((o[3], o[2]), 0) + 1
    uniq = [o for o in objs if cnt[(o[3], o[2])] == 1]
    if not uniq:
        return None
    o = rng.choice(uniq)
    q = ["where", "is", "the", COLOURS[o[3] - 1], SHAPES[o[2] - 1]]
    a = ["row", str(o[0]), "col", str(o[1]), EOS]
    return q, a


def _q_count(rng, objs):
    col = rng.randint(1, len(COLOURS))
    n = sum(1 for o in objs if o[3] == col)
    q = ["count", COLOURS[col - 1], "objects"]
    a = [str(n), COLOURS[col - 1], "objects", EOS]
    return q, a


def _q_read_row(rng, objs):
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


def make_question(rng, objs, family):
    """(question tokens, answer tokens) or None if the family is not
    applicable to this image (caller resamples the image)."""
    return _GEN[family](rng, objs)


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
EVAL_PER_FAMILY, DEV_PER_FAMILY = 300, 50


def make_split(seed, per_family, name):
    rng = random.Random(seed)
    out = []
    for fam in FAMILIES:
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
