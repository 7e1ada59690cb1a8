"""T2I-CompBench spatial / 3d_spatial / numeracy / complex: the per-image rules against a
test-only extract of the official scripts (tests/reference/t2i_compbench_unidet.py) on many
generated detection results, adversarial ones included; UniDet and the depth model against
plain re-computations from their state dicts; the CLI end to end on all 8 categories."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from evalsuite.capabilities.t2i_compbench.unidet_rules import (Detections, Token,
                                                                UpstreamRaises, numeracy_score,
                                                                read_objects, relation_score,
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
    f32 = torch.tensor([boxes[i] for i in order], dtype=torch.float32).reshape(-1, 4)
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
    g = torch.Generator().manual_seed(0)
    rels = SPATIAL_REL + ("in front of", "behind", "hidden", None)
    seen = set()
    for n in range(1500):
        size = rng.choice([64, 200, 480])
        b1, b2 = _box(rng, size), _box(rng, size)
        if n % 7 == 0:
            b2 = b1
        elif n % 7 == 1:  # centres about 150 apart
            d = rng.choice([149.9, 150.0, 150.1])
            b2 = (b1[0] + d, b1[1] + rng.uniform(-200, 200), b1[2] + d, b1[3] + 1)
        h, w = rng.choice([(64, 64), (32, 64), (64, 21)]) if size == 64 else (size // 4, size)
        depth = torch.randint(0, 256, (h, w), generator=g).float() / 255.0
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
    g = torch.Generator().manual_seed(2)
    nlp = _NLP()
    rels = ("in front of", "behind", "hidden", "on the left of", "beside")
    outcomes = {"raises": 0, "zero": 0, "positive": 0}
    for n in range(3000):
        prompt = _spatial_prompt(rng, nlp, rels)
        size = rng.choice([64, 120])
        pool = CLASSES + ("catfish", "hot dog", "tablet") + tuple(t.text for t in nlp(prompt))
        det, sc = _detections(rng, size, pool)
        depth = torch.randint(0, 256, (size, size), generator=g).float() / 255.0
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
    from evalsuite.capabilities.t2i_compbench.benchmark import CompBenchScorer

    monkeypatch.setattr(evalsuite.registry, "missing_modules", lambda mods: [])
    monkeypatch.setattr(CompBenchScorer, "_spacy", lambda self: _spacy_standin)
    return _spacy_standin


def _cli(args):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    return CliRunner().invoke(app, ["eval-policy", "--no-progress", *args])


def _upstream_depth(model_dir, image_path, tmp_path):
    """3D_spatial_eval.py's depth map as the detection loop reads it back, written plainly:
    its transforms, the network, min-max, align_corners resize, an 8-bit PNG on disk,
    generate_dataset_3d.py's resize and / 255."""
    import numpy as np
    import torchvision.transforms as T
    from PIL import Image
    from transformers import DPTForDepthEstimation

    model = DPTForDepthEstimation.from_pretrained(model_dir).eval()
    image = Image.open(image_path).convert("RGB")
    x = T.Compose([T.Resize([480, 480]), T.ToTensor(), T.Normalize(mean=0.5, std=0.5)])(image)
    model.dpt.embeddings.image_size = (480, 480)
    with torch.no_grad():
        depth = model(pixel_values=x[None]).predicted_depth[0]
    depth = (depth - depth.min()) / (depth.max() - depth.min())
    depth = torch.nn.functional.interpolate(depth.unsqueeze(0).unsqueeze(1),
                                            size=(image.size[1], image.size[0]),
                                            mode="bilinear", align_corners=True)
    png = tmp_path / "depth.png"
    Image.fromarray(255 * depth[0, 0].detach().cpu().numpy()).convert("L").save(png)
    depth = T.Resize(size=479, max_size=480)(Image.open(png).convert("L"))
    return torch.tensor(np.array(depth)).float() / 255.


def test_all_eight_categories_end_to_end(fx, tmp_path, standin_spacy):
    """eval-policy on every category: each UniDet-based image score equals the upstream
    extract applied to the detections the run recorded (3d_spatial with a depth map
    recomputed the script's way), 3-in-1 is 3_in_1.py's weighting, and each category score
    is the mean of its images."""
    from reference.t2i_compbench_unidet import (numeracy_dedup, numeracy_image,
                                                spatial_2d_image, spatial_3d_image)

    det = fx("t2i-compbench-detectors")
    data = fx("t2i-compbench")
    unidet = det / "unidet" / "expert_weights"
    r = _cli(["--policy", str(fx("policy-t2i")), "--bench", "t2i-compbench", "--data-path",
              str(data), "--bench-option", "prompts_per_category=1",
              "--bench-option", f"scorer_path={fx('t2i-compbench-scorers')}",
              "--bench-option", f"unidet_rs200={unidet / 'Unified_learned_OCIM_RS200_6x+2x.pth'}",
              "--bench-option", f"unidet_r50={unidet / 'Unified_learned_OCIM_R50_6x+2x.pth'}",
              "--bench-option", f"unidet_labels={det / 'unidet/detection_features.pt'}",
              "--bench-option", f"depth_model={det / 'dpt-hybrid-midas'}",
              "--samples-per-prompt", "1", "-o", "num_inference_steps=2", "-B", "4",
              "--out", str(tmp_path), "--run-name", "all"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "all"
    res = json.loads((run / "results.json").read_text())
    assert res["counts"]["errors"] == 0 and res["counts"]["scored"] == 8
    m = res["metrics"]
    assert set(m) == {"color/blip_vqa", "shape/blip_vqa", "texture/blip_vqa",
                      "non_spatial/clipscore", "spatial/unidet", "3d_spatial/unidet",
                      "numeracy/unidet", "complex/3_in_1", "complex/blip_vqa",
                      "complex/unidet_spatial", "complex/clipscore_no_adj"}
    assert all(isinstance(v["value"], float) for v in m.values()), m
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    objects = read_objects((data / "new_objects.txt").read_text())
    per_cat: dict[str, list[float]] = {}
    for x in rows:
        s, cat, prompt = x["scores"], x["category"], x["prompt"]
        if cat in ("spatial", "complex", "3d_spatial", "numeracy"):
            names = [d[0] for d in s["detections"]]
            scores = torch.tensor([d[1] for d in s["detections"]], dtype=torch.float32)
            boxes = [d[2:] for d in s["detections"]]
            assert names and scores.tolist() == [d[1] for d in s["detections"]]
            if cat == "3d_spatial":
                depth = _upstream_depth(det / "dpt-hybrid-midas", run / x["path"], tmp_path)
                want = spatial_3d_image(prompt, standin_spacy, names, boxes, scores, depth)
            elif cat == "numeracy":
                want = numeracy_image(prompt, standin_spacy, numeracy_dedup(names, boxes),
                                      *objects)
            else:
                want = spatial_2d_image(prompt, standin_spacy, names, boxes, scores,
                                        complex=cat == "complex")
            assert s["unidet"] == want, (cat, s["unidet"], want)
        if cat == "complex":
            a, sp, ac = s["blip_vqa"], s["unidet"], s["clipscore_no_adj"]
            want = {"spatial": (sp + a) * 0.5, "action": (ac + a) * 0.5}.get(
                s["complex_type"], (a + sp + ac) / 3)
            assert s["3_in_1"] == want
        per_cat.setdefault(cat, []).append(x["values"])
    assert [x["scores"]["complex_type"] for x in rows if x["category"] == "complex"] == [
        "spatial"]
    assert any(x["scores"].get("unidet") for x in rows)  # not all zero
    for name, metric_ in m.items():
        cat = name.split("/")[0]
        vals = [v[name] for v in per_cat[cat] if name in v]
        if name == "3d_spatial/unidet":
            import numpy as np
            assert metric_["value"] == float(np.mean(vals))
        else:
            assert metric_["value"] == pytest.approx(sum(vals) / len(vals), rel=1e-15)


# --- UniDet against a plain re-computation from the state dict ----------------------------------

def _bn(x, st, p):
    return torch.nn.functional.batch_norm(x, st[f"{p}.running_mean"], st[f"{p}.running_var"],
                                          st[f"{p}.weight"], st[f"{p}.bias"], False, 0.0, 1e-5)


def _conv(x, st, p, stride=1, pad=None, groups=1, norm=True):
    w = st[f"{p}.weight"]
    x = torch.nn.functional.conv2d(x, w, st.get(f"{p}.bias"), stride,
                                   w.shape[-1] // 2 if pad is None else pad, groups=groups)
    return _bn(x, st, f"{p}.norm") if norm else x


def _splat(x, st, p):
    """SplAtConv2d.forward of UniDet's splat.py (radix 2, one group), as written there."""
    F = torch.nn.functional
    x = F.relu(_bn(_conv(x, st, f"{p}.conv", groups=2, norm=False), st, f"{p}.bn0"))
    b, c = x.shape[:2]
    splits = torch.split(x, c // 2, dim=1)
    gap = F.adaptive_avg_pool2d(sum(splits), 1)
    gap = F.relu(_bn(_conv(gap, st, f"{p}.fc1", norm=False), st, f"{p}.bn1"))
    att = F.softmax(_conv(gap, st, f"{p}.fc2", norm=False).view(b, 2, c // 2), dim=1)
    att = torch.split(att.view(b, -1, 1, 1), c // 2, dim=1)
    return sum(a * s for a, s in zip(att, splits))


def _plain_features(st, x, resnest):
    F = torch.nn.functional
    bu = "backbone.bottom_up"
    if resnest:
        for c in ("conv1_1", "conv1_2", "conv1_3"):
            x = F.relu(_conv(x, st, f"{bu}.stem.{c}", stride=2 if c == "conv1_1" else 1))
    else:
        x = F.relu(_conv(x, st, f"{bu}.stem.conv1", stride=2))
    x = F.max_pool2d(x, 3, 2, 1)
    res = {}
    for s in range(2, 6):
        i = 0
        while f"{bu}.res{s}.{i}.conv1.weight" in st:
            p, stride = f"{bu}.res{s}.{i}", 2 if i == 0 and s > 2 else 1
            if resnest:
                out = F.relu(_conv(x, st, f"{p}.conv1"))
                out = _splat(out, st, f"{p}.conv2")
                if stride > 1:
                    out = F.avg_pool2d(out, 3, stride, 1)
                short = x
                if f"{p}.shortcut.weight" in st:
                    short = _conv(F.avg_pool2d(x, stride, stride, ceil_mode=True,
                                               count_include_pad=False), st, f"{p}.shortcut")
            else:
                out = F.relu(_conv(x, st, f"{p}.conv1", stride=stride))
                out = F.relu(_conv(out, st, f"{p}.conv2"))
                short = _conv(x, st, f"{p}.shortcut", stride) if f"{p}.shortcut.weight" in st \
                    else x
            x = F.relu(_conv(out, st, f"{p}.conv3") + short)
            i += 1
        res[s] = x
    norm = resnest
    lat = {s: _conv(res[s], st, f"backbone.fpn_lateral{s}", norm=norm) for s in (3, 4, 5)}
    p5 = lat[5]
    p4 = lat[4] + F.interpolate(p5, scale_factor=2.0, mode="nearest")
    p3 = lat[3] + F.interpolate(p4, scale_factor=2.0, mode="nearest")
    outs = [_conv(t, st, f"backbone.fpn_output{s}", norm=norm)
            for s, t in ((3, p3), (4, p4), (5, p5))]
    p6 = _conv(outs[2], st, "backbone.top_block.p6", stride=2, norm=False)
    p7 = _conv(F.relu(p6), st, "backbone.top_block.p7", stride=2, norm=False)
    return outs + [p6, p7]


def _plain_decode(deltas, boxes, weights):
    """Box2BoxTransform.apply_deltas, written out."""
    wx, wy, ww, wh = weights
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx, cy = boxes[:, 0] + 0.5 * w, boxes[:, 1] + 0.5 * h
    clamp = math.log(1000.0 / 16)
    dw = torch.clamp(deltas[:, 2] / ww, max=clamp)
    dh = torch.clamp(deltas[:, 3] / wh, max=clamp)
    px, py = deltas[:, 0] / wx * w + cx, deltas[:, 1] / wy * h + cy
    pw, ph = torch.exp(dw) * w, torch.exp(dh) * h
    return torch.stack([px - 0.5 * pw, py - 0.5 * ph, px + 0.5 * pw, py + 0.5 * ph], dim=1)


def _clip(b, h, w):
    return torch.stack([b[:, 0].clamp(0, w), b[:, 1].clamp(0, h), b[:, 2].clamp(0, w),
                        b[:, 3].clamp(0, h)], 1)


def _nms_by_group(boxes, scores, groups, thresh):
    """Class-/level-wise NMS as a loop over groups of plain nms, merged by score."""
    from torchvision.ops import nms
    keep = []
    for g in groups.unique():
        idx = torch.nonzero(groups == g).squeeze(1)
        keep.append(idx[nms(boxes[idx], scores[idx], thresh)])
    keep = torch.cat(keep) if keep else torch.zeros(0, dtype=torch.long)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]


def _plain_detect(st, image_bgr, resnest):
    """The whole detector for one image, from the state dict."""
    from torchvision.ops import roi_align
    F = torch.nn.functional
    mean, std = ((123.68, 116.779, 103.939), (58.393, 57.12, 57.375)) if resnest else (
        (103.530, 116.280, 123.675), (1.0, 1.0, 1.0))
    h, w = image_bgr.shape[1:]
    x = (image_bgr - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    x = F.pad(x, (0, -w % 32, 0, -h % 32))[None]
    feats = _plain_features(st, x, resnest)
    rpn = "proposal_generator.rpn_head"
    boxes, scores, levels = [], [], []
    for lvl, (f, stride, base) in enumerate(zip(feats, (8, 16, 32, 64, 128),
                                               (32, 64, 128, 256, 512))):
        t = F.relu(_conv(f, st, f"{rpn}.conv", norm=False))
        logit = _conv(t, st, f"{rpn}.objectness_logits", norm=False)[0]  # A, H, W
        delta = _conv(t, st, f"{rpn}.anchor_deltas", norm=False)[0]  # A*4, H, W
        cells = []
        for size in (base, base * 2 ** (1 / 3), base * 2 ** (2 / 3)):
            for ratio in (0.5, 1.0, 2.0):
                aw = math.sqrt(size * size / ratio)
                cells.append((-aw / 2, -ratio * aw / 2, aw / 2, ratio * aw / 2))
        a_n, gh, gw = logit.shape  # order: row, column, cell anchor
        ys = (torch.arange(gh, dtype=torch.float32) * stride).view(gh, 1, 1, 1)
        xs = (torch.arange(gw, dtype=torch.float32) * stride).view(1, gw, 1, 1)
        cell = torch.tensor(cells, dtype=torch.float32).view(1, 1, a_n, 4)
        shift = torch.cat([xs + 0 * ys, ys + 0 * xs, xs + 0 * ys, ys + 0 * xs], dim=-1)
        anchors = (cell + shift).reshape(-1, 4)
        ls = logit.permute(1, 2, 0).reshape(-1)
        ds = delta.view(a_n, 4, gh, gw).permute(2, 3, 0, 1).reshape(-1, 4)
        props = _plain_decode(ds, anchors, (1.0, 1.0, 1.0, 1.0))
        top, idx = ls.topk(min(1000, len(ls)))
        boxes.append(props[idx])
        scores.append(top)
        levels.append(torch.full((len(idx),), lvl))
    b, s, lv = _clip(torch.cat(boxes), h, w), torch.cat(scores), torch.cat(levels)
    ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    b, s, lv = b[ok], s[ok], lv[ok]
    props = b[_nms_by_group(b, s, lv, 0.7)[:1000]]
    probs = []
    for k, weights in enumerate(((10, 10, 5, 5), (20, 20, 10, 10), (30, 30, 15, 15))):
        if k:
            props = _clip(props, h, w)
        area = (props[:, 2] - props[:, 0]) * (props[:, 3] - props[:, 1])
        lvl = torch.clamp(torch.floor(4 + torch.log2(torch.sqrt(area) / 224 + 1e-8)), 3, 5)
        pooled = torch.zeros(len(props), feats[0].shape[1], 7, 7)
        for L in (3, 4, 5):
            on = lvl == L
            pooled[on] = roi_align(feats[L - 3], [props[on]], 7, 1.0 / 2 ** L, 0, True)
        hp = f"roi_heads.box_head.{k}"
        y = pooled
        c = 1
        while f"{hp}.conv{c}.weight" in st:
            y = F.relu(_conv(y, st, f"{hp}.conv{c}"))
            c += 1
        y = y.flatten(1)
        c = 1
        while f"{hp}.fc{c}.weight" in st:
            y = F.relu(F.linear(y, st[f"{hp}.fc{c}.weight"], st[f"{hp}.fc{c}.bias"]))
            c += 1
        pp = f"roi_heads.box_predictor.{k}"
        probs.append(torch.sigmoid(F.linear(y, st[f"{pp}.cls_score.weight"],
                                            st[f"{pp}.cls_score.bias"])))
        props = _plain_decode(F.linear(y, st[f"{pp}.bbox_pred.weight"],
                                       st[f"{pp}.bbox_pred.bias"]), props, weights)
    score = (probs[0] + probs[1] + probs[2]) / 3
    props = _clip(props, h, w)
    r, c = torch.nonzero(score[:, :-1] > 0.1, as_tuple=True)
    b, s = props[r], score[r, c]
    keep = _nms_by_group(b, s, c, 0.5)[:300]
    b, s, c = b[keep], s[keep], c[keep]
    ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    return b[ok], s[ok], c[ok]


@pytest.mark.parametrize("name,resnest,sizes", [
    ("Unified_learned_OCIM_RS200_6x+2x.pth", True, ((512, 512), (70, 41))),
    ("Unified_learned_OCIM_R50_6x+2x.pth", False, ((200, 330),))])
def test_unidet_equals_plain_recomputation(fx, name, resnest, sizes):
    """Backbone (ResNet / ResNeSt split attention), FPN + P6/P7, anchors, RPN top-k / NMS,
    ROIAlignV2 level assignment, the three cascade stages, box decoding, the stage-averaged
    sigmoid scores, threshold 0.1 and class-wise NMS: the module against a plain
    re-computation from the checkpoint's tensors, on images of several sizes, one batch."""
    import numpy as np
    from PIL import Image

    from evalsuite.capabilities.t2i_compbench.unidet import load_unidet, unidet_input

    path = fx("t2i-compbench-detectors") / "unidet" / "expert_weights" / name
    st = torch.load(path, weights_only=True)["model"]
    model = load_unidet(str(path))
    rng = np.random.default_rng(5)
    images = [unidet_input(Image.fromarray(rng.integers(0, 256, (hh, ww, 3), dtype=np.uint8)))
              for hh, ww in sizes]
    resized = {(512, 512): (479, 479), (70, 41): (480, 281), (200, 330): (291, 480)}
    assert [tuple(x.shape[1:]) for x in images] == [resized[s] for s in sizes]
    got = [model.detect([x])[0] for x in images]
    for x, g in zip(images, got):
        b, s, c = _plain_detect(st, x, resnest)
        _assert_same_detections((g.boxes, g.scores, g.classes), (b, s, c))
    if len(images) > 1:
        first = model.detect(images)[0]  # the batch is padded to the largest image: this one
        _assert_same_detections((first.boxes, first.scores, first.classes),
                                (got[0].boxes, got[0].scores, got[0].classes))


def _assert_same_detections(got, want):
    """Same number, scores in the same descending order, and a one-to-one match of (class,
    score, box); detections with equal scores may come in either order (float32: the two
    computations sum a few reductions in different orders, so values agree to ~1e-6
    relative; boxes are hundreds of pixels, 1e-3 absolute)."""
    (gb, gs, gc), (wb, ws, wc) = got, want
    assert len(gb) == len(wb) > 0
    torch.testing.assert_close(gs, ws, rtol=1e-5, atol=1e-6)
    free = set(range(len(wb)))
    for i in range(len(gb)):
        j = next((j for j in sorted(free, key=lambda j: abs(j - i))
                  if wc[j] == gc[i] and abs(ws[j] - gs[i]) <= 1e-5
                  and (wb[j] - gb[i]).abs().max() <= 1e-3), None)
        assert j is not None, (i, gb[i], gs[i], gc[i])
        free.discard(j)


def test_unidet_checkpoint_loading_is_strict(fx, tmp_path):
    """weights_only loading; every tensor matched by name and shape; the bookkeeping entries
    (num_batches_tracked, pixel_mean / pixel_std, cell anchors) checked, not ignored."""
    from evalsuite.capabilities.t2i_compbench.unidet import load_labels, load_unidet

    src = fx("t2i-compbench-detectors") / "unidet"
    r50 = src / "expert_weights" / "Unified_learned_OCIM_R50_6x+2x.pth"
    ckpt = torch.load(r50, weights_only=True)
    assert "pixel_mean" in ckpt["model"]
    assert load_unidet(str(r50)).family == "resnet"
    rs = torch.load(src / "expert_weights" / "Unified_learned_OCIM_RS200_6x+2x.pth",
                    weights_only=True)["model"]
    assert any(k.endswith("num_batches_tracked") for k in rs)

    def fails(state, match):
        path = tmp_path / "x.pth"
        torch.save({"model": state}, path)
        with pytest.raises((ValueError, RuntimeError), match=match):
            load_unidet(str(path))

    st = dict(ckpt["model"])
    fails({**st, "roi_heads.extra.weight": torch.zeros(1)}, "Unexpected key")
    fails({k: v for k, v in st.items() if k != "roi_heads.box_head.1.fc2.bias"}, "Missing key")
    fails({**st, "pixel_mean": torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)},
          "pixel_mean")  # an RGB mean in a BGR-config checkpoint
    fails({**st, "proposal_generator.anchor_generator.cell_anchors.0": torch.zeros(9, 4)},
          "cell_anchors")
    fails({**st, "roi_heads.box_head.0.fc1.weight": torch.zeros(3, 3)}, "size mismatch")
    path = tmp_path / "pickle.pth"
    import argparse
    torch.save({"model": st, "cfg": argparse.Namespace(x=1)}, path)  # an arbitrary object
    with pytest.raises(ValueError, match="weights_only"):
        load_unidet(str(path))
    assert load_labels(str(src / "detection_features.pt"))[:3] == ["person", "ball", "bird"]


def test_real_prompts_survive_the_file_name_round_trip():
    """The scripts read the prompt back from '<prompt>_<n>.png' up to the first '_': no
    official prompt contains one, so the item's prompt is the text they see."""
    from pathlib import Path
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "t2i-compbench"
    prompts = [p for f in shared.glob("*_val.txt") for p in f.read_text().splitlines()]
    assert len(prompts) >= 2400 and not [p for p in prompts if "_" in p]


def test_midas_names_map_onto_transformers():
    """The released .pt's names: timm's fused qkv rows are (query, key, value) in thirds; the
    ViT's ImageNet classifier is dropped; refinenet4 (coarsest) is fusion layer 0; an
    unknown name is refused. (scripts/check_unidet_against_upstream.py --dpt compares the
    whole converted model with the upstream module.)"""
    from evalsuite.capabilities.t2i_compbench.depth import midas_to_transformers

    qkv = torch.arange(12.0).view(6, 2)
    out = midas_to_transformers({
        "pretrained.model.blocks.3.attn.qkv.weight": qkv,
        "pretrained.model.head.weight": torch.zeros(1000, 2),
        "scratch.refinenet4.resConfUnit2.conv1.bias": torch.ones(1),
        "pretrained.act_postprocess4.4.weight": torch.ones(1),
        "pretrained.model.patch_embed.backbone.stages.2.blocks.5.norm3.weight": torch.ones(1)})
    att = "dpt.encoder.layer.3.attention.attention"
    assert torch.equal(out[f"{att}.query.weight"], qkv[:2])
    assert torch.equal(out[f"{att}.value.weight"], qkv[4:])
    assert set(out) == {f"{att}.query.weight", f"{att}.key.weight", f"{att}.value.weight",
                        "neck.fusion_stage.layers.0.residual_layer2.convolution1.bias",
                        "neck.reassemble_stage.layers.3.resize.weight",
                        "dpt.embeddings.backbone.bit.encoder.stages.2.layers.5.norm3.weight"}
    with pytest.raises(ValueError, match="unexpected"):
        midas_to_transformers({"pretrained.model.fc_norm.weight": torch.ones(1)})
