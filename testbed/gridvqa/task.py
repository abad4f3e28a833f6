"""GridVQA v2: the synthetic visual-QA task.  This file is the ONE definition
of the task: vocabulary, attribute codes, grid sampling, question families,
prompt layout and the eval/dev set generation.

Image
-----
A G x G grid (G = 16, 256 cells, row-major cell index = 16*row + col).
Every cell has three integer attributes (shape, colour, glyph):
  * background cell: (0, 0, 0)
  * object cell:     shape in 1..6, colour in 1..6, glyph in 1..16
6..14 objects per image on distinct random cells; shape and colour uniform
(independent); glyphs are drawn WITHOUT replacement (a distractor attribute:
no answer names a glyph).

Prompt (ChatML-style, like LLaVA-OneVision's)
---------------------------------------------
  <bos> <|im_start|> user <image> Q_1 .. Q_n <|im_end|> <|im_start|> assistant
then the answer.  <image> (one placeholder id) is replaced by the 256 visual
token embeddings:
  [<bos>, <|im_start|>, user, V_0 .. V_255, Q_1 .. Q_n, <|im_end|>, <|im_start|>, assistant, A_1 ..]
The last prompt position (`assistant`) has seen the whole question and
predicts A_1, which depends on the image.  Loss on every position that
predicts an answer token, the last prompt position included.

Question families (answers never echo the question; every answer has >= 3
image-dependent tokens, so at least two of them are decoded on the
compressed cache; answers end with <eos>)
-------------------------------------------------------------------------
  what_at : "what is at row R1 col C1 and row R2 col C2"
            -> "COLOUR1 SHAPE1 COLOUR2 SHAPE2 <eos>"; an empty cell reads
            "empty cell"; two distinct cells, at least one occupied
            (compare two regions: two cells at once).
  where   : "where are the COLOUR1 SHAPE1 and the COLOUR2 SHAPE2"
            -> "R1 C1 R2 C2 <eos>" (two objects whose (colour, shape) pair
            occurs exactly once in the image).
  row     : "list row R" -> "C COLOUR SHAPE" for every object of row R,
            left to right, then <eos> (rows with 2..3 objects): the
            many-token family (6-9 image-dependent tokens from 2-3 cells,
            which must all survive compression).
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
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SYSTEM = [IM_START, "user"]                      # text between <bos> and the image
SUFFIX = [IM_END, IM_START, "assistant"]        # text after the question: the assistant header
FAMILIES = ["what_at", "where", "row"]
ACTIVE_FAMILIES = list(FAMILIES)
ROW_OBJECTS = (2, 3)                             # objects in a listed row


def build_vocab():
    v = [PAD, BOS, EOS, IMAGE, IM_START, IM_END, "user", "assistant"]
    v += [str(i) for i in range(max(G, MAX_OBJECTS + 1))]   # "0".."15" (also glyph digits)
    v += ["A", "B", "C", "D", "E", "F"]                     # glyph letters
    v += SHAPES + COLOURS
    v += ["what", "is", "at", "row", "col", "where", "are", "the", "and", "list",
          "empty", "cell"]
    assert len(v) == len(set(v))
    return v


VOCAB = build_vocab()
TOK2ID = {t: i for i, t in enumerate(VOCAB)}
PAD_ID, BOS_ID, EOS_ID, IMAGE_ID = (TOK2ID[t] for t in (PAD, BOS, EOS, IMAGE))
SYSTEM_IDS = [TOK2ID[t] for t in SYSTEM]
SUFFIX_IDS = [TOK2ID[t] for t in SUFFIX]
PREFIX_LEN = 1 + len(SYSTEM) + NUM_CELLS     # tokens before the question (259)
IMAGE_START = 1 + len(SYSTEM)                # sequence position of visual token 0 (3)
MAX_ANSWER_TOKENS = 3 * ROW_OBJECTS[1] + 1   # longest possible answer (row) incl <eos>


def encode(tokens):
    return [TOK2ID[t] for t in tokens]


def after_image(question):
    """The prompt tokens after the image: the question and the assistant header."""
    return list(question) + SUFFIX


def prompt_tokens(question):
    """Token list of the prompt with ONE <image> placeholder."""
    return [BOS] + SYSTEM + [IMAGE] + after_image(question)


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


def _cell_words(occ, r, c):
    if (r, c) in occ:
        _, _, s, col, _ = occ[(r, c)]
        return [COLOURS[col - 1], SHAPES[s - 1]]
    return ["empty", "cell"]


def _q_what_at(rng, objs, g=G, origin=(0, 0)):
    occ = {(o[0], o[1]): o for o in objs}

    def pick():
        if rng.random() < 0.7:
            o = rng.choice(objs)
            return o[0], o[1]
        return origin[0] + rng.randrange(g), origin[1] + rng.randrange(g)
    while True:
        a, b = pick(), pick()
        if a != b and (a in occ or b in occ):
            break
    q = ["what", "is", "at", "row", str(a[0]), "col", str(a[1]), "and", "row", str(b[0]), "col", str(b[1])]
    return q, _cell_words(occ, *a) + _cell_words(occ, *b) + [EOS]


def _q_where(rng, objs, g=G, origin=(0, 0)):
    cnt = {}
    for o in objs:
        cnt[(o[3], o[2])] = cnt.get((o[3], o[2]), 0) + 1
    uniq = [o for o in objs if cnt[(o[3], o[2])] == 1]
    if len(uniq) < 2:
        return None
    o1, o2 = rng.sample(uniq, 2)
    q = ["where", "are", "the", COLOURS[o1[3] - 1], SHAPES[o1[2] - 1], "and", "the", COLOURS[o2[3] - 1], SHAPES[o2[2] - 1]]
    return q, [str(o1[0]), str(o1[1]), str(o2[0]), str(o2[1]), EOS]


def _q_row(rng, objs, g=G, origin=(0, 0)):
    rows = {}
    for o in objs:
        rows.setdefault(o[0], []).append(o)
    cand = sorted(r for r, l in rows.items() if ROW_OBJECTS[0] <= len(l) <= ROW_OBJECTS[1])
    if not cand:
        return None
    r = rng.choice(cand)
    a = []
    for o in sorted(rows[r], key=lambda o: o[1]):
        a += [str(o[1]), COLOURS[o[3] - 1], SHAPES[o[2] - 1]]
    return ["list", "row", str(r)], a + [EOS]


def answer_cells(family, question, answer, objs):
    """[(answer index j, (row, col))]: the cell that holds answer token j, for
    every image-dependent answer token (the training-time attention hint)."""
    if family == "what_at":
        c1, c2 = (int(question[4]), int(question[6])), (int(question[9]), int(question[11]))
        return [(0, c1), (1, c1), (2, c2), (3, c2)]
    if family == "where":
        out = []
        for k in range(2):
            col, shp = question[3 + 4 * k], question[4 + 4 * k]
            o = [o for o in objs if COLOURS[o[3] - 1] == col and SHAPES[o[2] - 1] == shp][0]
            out += [(2 * k, (o[0], o[1])), (2 * k + 1, (o[0], o[1]))]
        return out
    if family == "row":
        r = int(question[2])
        return [(j, (r, int(answer[j - j % 3]))) for j in range(len(answer) - 1)]
    raise ValueError(family)


_GEN = {"what_at": _q_what_at, "where": _q_where, "row": _q_row}


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
