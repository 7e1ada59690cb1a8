"""T2I-CompBench spatial / 3d_spatial / numeracy / complex: the per-image rules against a
test-only extract of the official scripts (tests/reference/t2i_compbench_unidet.py) on many
generated detection results, adversarial ones included; UniDet and the depth model against
plain re-computations from their state dicts; the CLI end to end on all 8 categories."""

from __future__ import annotations

import math
import random

import pytest
import torch

from evalsuite.policies.t2i_unidet_rules import (Detections, Token, UpstreamRaises,
                                                 numeracy_score, read_objects, relation_score,
                                                 spatial_3d_score, spatial_score)

# --- a stand-in for spaCy (CI has no en_core_web_sm): tokens and POS fixed by the test ----------


class _Tok:
    def __init__(self, text, pos):
        self.text, self.pos_ = text, pos


class _Span:
    def __init__(self, text):
        self.text = text


class _Doc:
    """Indexing gives tokens; slicing gives a span whose text is the prompt between the
    first token's start and the last token's end (spaCy's definition)."""

    def __init__(self, words):  # words: [(text, pos, whitespace)]
        self.text, self.starts, self.toks = "", [], []
        for text, pos, ws in words:
            self.starts.append(len(self.text))
            self.text += text + ws
            self.toks.append(_Tok(text, pos))

    def __len__(self):
        return len(self.toks)

    def __iter__(self):
        return iter(self.toks)

    def __getitem__(self, k):
        if isinstance(k, slice):
            idx = range(len(self.toks))[k]
            if not idx:
                return _Span("")
            a, b = idx[0], idx[-1]
            return _Span(self.text[self.starts[a]:self.starts[b] + len(self.toks[b].text)])
        return self.toks[k]


class _NLP:
    def __init__(self):
        self.table = {}

    def add(self, words) -> str:
        doc = _Doc(words)
        self.table[doc.text] = doc
        return doc.text

    def __call__(self, text):
        return self.table[text]


def _tokens(doc: _Doc) -> list[Token]:
    out = []
    for n, t in enumerate(doc.toks):
        end = doc.starts[n] + len(t.text)
        nxt = doc.starts[n + 1] if n + 1 < len(doc.toks) else len(doc.text)
        out.append(Token(t.text, t.pos_, doc.text[end:nxt]))
    return out


# --- generated detections ---------------------------------------------------------------------

CLASSES = ("person", "cat", "dog", "car", "dining table", "wild bird", "bird", "chair", "tv",
           "boat", "fish", "picture", "cup", "hot dog", "table", "apple")
NOUNS = ("cat", "dog", "car", "table", "bird", "chair", "girl", "man", "woman", "boy", "cup",
         "apple", "painting", "ship", "tv")


def _box(rng, size):
    kind = rng.random()
    if kind < 0.15:  # tiny box
        x, y = rng.uniform(0, size - 2), rng.uniform(0, size - 2)
        return (x, y, x + rng.uniform(0.01, 2), y + rng.uniform(0.01, 2))
    x1, y1 = rng.uniform(0, size * 0.9), rng.uniform(0, size * 0.9)
    return (x1, y1, rng.uniform(x1 + 0.5, size), rng.uniform(y1 + 0.5, size))


def _detections(rng, size, names_pool, n_max=8):
    n = rng.randint(0, n_max)
    names, boxes, scores = [], [], []
    for _ in range(n):
        names.append(rng.choice(names_pool))
        if boxes and rng.random() < 0.25:  # a near duplicate or the very same box
            b = rng.choice(boxes)
            d = 0 if rng.random() < 0.4 else rng.uniform(-3, 3)
            boxes.append((max(0.0, b[0] + d), max(0.0, b[1] + d), b[2] + abs(d) + 0.1,
                          b[3] + abs(d) + 0.1))
        else:
            boxes.append(_box(rng, size))
        scores.append(rng.choice([rng.uniform(0.1, 1.0), 0.5, 1.0, 0.25]))
    order = sorted(range(n), key=lambda i: -scores[i])  # the detector's order
    f32 = torch.tensor([boxes[i] for i in order] or torch.zeros(0, 4), dtype=torch.float32)
    sc = torch.tensor([scores[i] for i in order], dtype=torch.float32)
    det = Detections([names[i] for i in order], [tuple(b) for b in f32.tolist()], sc.tolist())
    return det, sc


SPATIAL_REL = ("on the left of", "on the right of", "on the top of", "on top of",
               "on the bottom of", "next to", "near", "on side of", "beside", "above")


def _rel_words(rng, rel):
    pos = {"on": "ADP", "the": "DET", "of": "ADP", "to": "ADP", "next": "ADJ", "near": "ADP",
           "in": "ADP", "front": "NOUN", "behind": "ADP", "hidden": "VERB"}
    return [(w, pos.get(w, rng.choice(["NOUN", "ADP", "ADJ"])), " ") for w in rel.split()]


def _spatial_prompt(rng, nlp, rels):
    n1, n2 = rng.choice(NOUNS), rng.choice(NOUNS)
    words = [("a", "DET", " "), (n1, "NOUN", " ")] + _rel_words(rng, rng.choice(rels)) + [
        ("a", "DET", " "), (n2, rng.choice(["NOUN", "NOUN", "PROPN"]), "")]
    r = rng.random()
    if r < 0.1:
        words = [(w, "ADJ" if p == "NOUN" else p, s) for w, p, s in words]  # no noun at all
    elif r < 0.2:
        words[-1] = (words[-1][0], words[-1][1], "")
        words.append((".", "PUNCT", ""))
    elif r < 0.3:
        words.insert(2, ("and", "CCONJ", " "))
        words.insert(3, (rng.choice(NOUNS), "NOUN", " "))
    return nlp.add(words)


def _compare(ours, upstream):
    """Both raise, or both give the very same number."""
    try:
        want = upstream()
    except (IndexError, ValueError, ZeroDivisionError, TypeError):  # the script crashes
        with pytest.raises(UpstreamRaises):
            ours()
        return "raises"
    got = ours()
    assert got == want or (math.isnan(got) and math.isnan(want)), (got, want)
    return want


def test_relation_score_equals_determine_position():
    """Both determine_position functions (2D and 3D scripts) on generated box pairs: every
    relation, distances around 150, IoU around 0.1 and 0.5, the depth branches with empty
    slices (x beyond the map's rows) and equal means."""
    from reference.t2i_compbench_unidet import determine_position_2d, determine_position_3d

    rng = random.Random(0)
    rels = SPATIAL_REL + ("in front of", "behind", "hidden", None)
    seen = set()
    for n in range(2000):
        size = rng.choice([64, 200, 480])
        b1, b2 = _box(rng, size), _box(rng, size)
        if n % 7 == 0:
            b2 = b1
        elif n % 7 == 1:  # centres about 150 apart
            d = rng.choice([149.9, 150.0, 150.1])
            b2 = (b1[0] + d, b1[1] + rng.uniform(-200, 200), b1[2] + d, b1[3] + 1)
        h, w = rng.choice([(64, 64), (32, 64), (64, 21)]) if size == 64 else (size // 4, size)
        depth = (torch.randint(0, 256, (h, w)).float() / 255.0)
        if n % 11 == 0:
            depth = torch.full((h, w), 0.5)  # equal means: depth_diff == 0
        rel = rng.choice(rels)
        d1 = dict(x_min=b1[0], y_min=b1[1], x_max=b1[2], y_max=b1[3])
        d2 = dict(x_min=b2[0], y_min=b2[1], x_max=b2[2], y_max=b2[3])
        want = determine_position_3d(rel, d1, d2, depth_map=depth)
        assert relation_score(rel, b1, b2, depth) == want, (rel, b1, b2)
        if rel not in ("in front of", "behind", "hidden"):
            assert relation_score(rel, b1, b2) == determine_position_2d(rel, d1, d2)
        seen.add((rel, want if want in (0, 1) else "soft"))
    soft = {r for r, k in seen if k == "soft"}  # every relation with a soft score reached it
    assert soft == set(rels) - {"on top of", "beside", "above", None}, soft


def test_spatial_score_equals_2d_spatial_eval():
    """Simple and --complex prompts, generated detections: the image score (with its 0.5
    floor) equals the script's, and where the script crashes (no noun) ours refuses."""
    from reference.t2i_compbench_unidet import spatial_2d_image

    rng = random.Random(1)
    nlp = _NLP()
    outcomes = {"raises": 0, "zero": 0, "positive": 0}
    for n in range(3000):
        complex_prompt = n % 3 == 0
        prompt = _spatial_prompt(rng, nlp, SPATIAL_REL)
        if complex_prompt and rng.random() < 0.5:  # prepositions at the start / end, PROPNs
            words = [("on", "ADP", " "), ("the", "DET", " "), ("left", "NOUN", " "),
                     ("Paris", "PROPN", " "), ("next", "ADJ", " "), ("to", "ADP", " "),
                     ("New", "PROPN", " "), ("York", "PROPN", " "), ("near", "ADP", "")]
            rng.shuffle(words)
            prompt = nlp.add([(w, p, " ") for w, p, _ in words[:-1]] + [words[-1][:2] + ("",)])
        pool = CLASSES + tuple(t.text for t in nlp(prompt))
        det, sc = _detections(rng, rng.choice([64, 479]), pool)
        toks = _tokens(nlp(prompt))
        got = _compare(lambda: spatial_score(prompt, toks, det, complex_prompt),
                       lambda: spatial_2d_image(prompt, nlp, det.names, det.boxes, sc,
                                                complex=complex_prompt))
        outcomes["raises" if got == "raises" else "zero" if got == 0 else "positive"] += 1
    assert min(outcomes.values()) > 100, outcomes


def test_spatial_3d_score_equals_3d_spatial_eval():
    from reference.t2i_compbench_unidet import spatial_3d_image

    rng = random.Random(2)
    nlp = _NLP()
    rels = ("in front of", "behind", "hidden", "on the left of", "beside")
    outcomes = {"raises": 0, "zero": 0, "positive": 0}
    for n in range(3000):
        prompt = _spatial_prompt(rng, nlp, rels)
        size = rng.choice([64, 120])
        pool = CLASSES + ("catfish", "hot dog", "tablet") + tuple(t.text for t in nlp(prompt))
        det, sc = _detections(rng, size, pool)
        depth = torch.randint(0, 256, (size, size)).float() / 255.0
        toks = _tokens(nlp(prompt))
        got = _compare(lambda: spatial_3d_score(prompt, toks, det, depth),
                       lambda: spatial_3d_image(prompt, nlp, det.names, det.boxes, sc, depth))
        outcomes["raises" if got == "raises" else "zero" if got == 0 else "positive"] += 1
    assert min(outcomes.values()) > 100, outcomes


OBJECTS_TXT = "\n".join([
    "cat - cats", "dog - dogs", "apple - apples", "dining table - dining tables",
    "sheep - sheep", "goldfish - goldfish", "ship - ships", "painting - paintings",
    "man - men", "woman - women", "telivision - telivisions", "car - cars", "hot dog - hot dogs",
    "Bird - Birds ", "cup - cups"])


def _numeracy_prompt(rng, nlp):
    numbers = ("a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight", "A",
               "nine", "Two")
    s, p = read_objects(OBJECTS_TXT)
    words = []
    for _ in range(rng.randint(1, 3)):
        num = rng.choice(numbers)
        word = rng.choice(s + p + ["chair", "red", "hot"])
        if rng.random() < 0.3:
            words.append((num, "NUM", " "))
            words.append(("red", "ADJ", " "))
        words.append((num, "NUM", " "))
        words += [(w, "NOUN", " ") for w in word.split()]
        words.append(("and", "CCONJ", " "))
    words.pop()
    if rng.random() < 0.05:
        words.append(("two", "NUM", " "))  # a number word as the last token
    words[-1] = words[-1][:2] + ("",)
    return nlp.add(words)


def test_numeracy_score_equals_numeracy_eval():
    """Counts, plurals, two-word objects, renamed objects (ship -> boat), substring renames,
    duplicate boxes merged by the +1-pixel IoU rule, and the count list falling out of step
    with the object list ('a cats'), all as the script; its crashes refused."""
    from reference.t2i_compbench_unidet import numeracy_dedup, numeracy_image

    rng = random.Random(3)
    nlp = _NLP()
    s, p = read_objects(OBJECTS_TXT)
    outcomes = {"raises": 0, "zero": 0, "partial": 0, "one": 0}
    for _ in range(4000):
        prompt = _numeracy_prompt(rng, nlp)
        pool = ("person", "boat", "fish", "picture", "tv", "cat", "dog", "apple", "sheep",
                "dining table", "hot dog", "wild cat", "cup", "car")
        det, sc = _detections(rng, 100, pool, n_max=10)
        toks = _tokens(nlp(prompt))
        got = _compare(lambda: numeracy_score(toks, det, s, p),
                       lambda: numeracy_image(prompt, nlp, numeracy_dedup(det.names, det.boxes),
                                              s, p))
        key = ("raises" if got == "raises" else "zero" if got == 0 else "one" if got == 1
               else "partial")
        outcomes[key] += 1
    assert min(outcomes.values()) > 50, outcomes


# --- end to end: all 8 categories -------------------------------------------------------------

E2E_TAGS = {  # prompt -> [(text, POS, whitespace)], noun chunks (hand-tagged as en_core_web_sm)
    "a green bench and a blue bowl": (
        "a/DET green/ADJ bench/NOUN and/CCONJ a/DET blue/ADJ bowl/NOUN",
        ["a green bench", "a blue bowl"]),
    "a red book and a yellow vase": (
        "a/DET red/ADJ book/NOUN and/CCONJ a/DET yellow/ADJ vase/NOUN",
        ["a red book", "a yellow vase"]),
    "a round bagel and a rectangular cutting board": (
        "a/DET round/ADJ bagel/NOUN and/CCONJ a/DET rectangular/ADJ cutting/NOUN board/NOUN",
        ["a round bagel", "a rectangular cutting board"]),
    "a fluffy towel and a glass cup": (
        "a/DET fluffy/ADJ towel/NOUN and/CCONJ a/DET glass/NOUN cup/NOUN",
        ["a fluffy towel", "a glass cup"]),
    "a dog on the left of a cat": (
        "a/DET dog/NOUN on/ADP the/DET left/NOUN of/ADP a/DET cat/NOUN",
        ["a dog", "the left", "a cat"]),
    "a man is reading a book in the park": (
        "a/DET man/NOUN is/AUX reading/VERB a/DET book/NOUN in/ADP the/DET park/NOUN",
        ["a man", "a book", "the park"]),
    "The red hat was on top of the brown coat rack.": (
        "The/DET red/ADJ hat/NOUN was/AUX on/ADP top/NOUN of/ADP the/DET brown/ADJ coat/NOUN "
        "rack/NOUN/ ./PUNCT", ["The red hat", "top", "the brown coat rack"]),
    "The fluffy cat is playing with a green ball.": (
        "The/DET fluffy/ADJ cat/NOUN is/AUX playing/VERB with/ADP a/DET green/ADJ ball/NOUN/ "
        "./PUNCT", ["The fluffy cat", "a green ball"]),
    "a bird in front of a tree": (
        "a/DET bird/NOUN in/ADP front/NOUN of/ADP a/DET tree/NOUN", ["a bird", "a tree"]),
    "two cats and three dogs": (
        "two/NUM cats/NOUN and/CCONJ three/NUM dogs/NOUN", ["two cats", "three dogs"]),
}


class _SpacyDoc(_Doc):
    def __init__(self, words, chunks):
        super().__init__(words)
        for n, t in enumerate(self.toks):
            t.whitespace_ = words[n][2]
        self.noun_chunks = [_Span(c) for c in chunks]


def _spacy_standin(text):
    tagged, chunks = E2E_TAGS[text]
    words = []
    for piece in tagged.split(" "):
        parts = piece.split("/")
        words.append((parts[0], parts[1], "" if len(parts) > 2 else " "))
    words[-1] = words[-1][:2] + ("",)
    doc = _SpacyDoc(words, chunks)
    assert doc.text == text, (doc.text, text)
    return doc


@pytest.fixture
def standin_spacy(monkeypatch):
    """en_core_web_sm cannot be installed offline: a hand-tagged stand-in for the fixture
    prompts, seen by the scorer and by the upstream extract alike."""
    import evalsuite.registry
    from evalsuite.policies.t2i_compbench import CompBenchScorer

    monkeypatch.setattr(evalsuite.registry, "missing_modules", lambda mods: [])
    monkeypatch.setattr(CompBenchScorer, "_spacy", lambda self: _spacy_standin)
    return _spacy_standin
