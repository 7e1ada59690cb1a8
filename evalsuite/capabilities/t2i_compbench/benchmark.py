"""T2I-CompBench (Huang et al., NeurIPS 2023): compositional text-to-image prompts in 8
categories, 300 validation prompts each, 10 images per prompt, scored per category.

Prompts: ``examples/dataset/<category>_val.txt`` of github Karine-Huang/T2I-CompBench at the
pinned commit below (fetched from raw.githubusercontent.com at run time, or ``--data-path``
a folder with the same file names). Metrics, re-implemented on current libraries from the
upstream scripts (formulas only; the upstream code needs LAVIS-era BLIP, OpenAI ``clip`` and
detectron2):

* color / shape / texture - **BLIP-VQA**, exactly as ``BLIPvqa_eval/BLIP_vqa.py`` (with
  ``BLIPvqa_eval/models/blip_vqa.py`` ``vqa_prob`` and ``BLIPvqa_eval/data/utils.py``
  ``pre_question``) at the pinned commit:

  - noun phrases: spaCy ``en_core_web_sm`` ``noun_chunks`` of the prompt, minus the chunks
    whose text is exactly one of :data:`DROPPED_CHUNKS` (``top``, ``the side``, ``the left``,
    ``the right``: case-sensitive, so ``"the left side"`` or ``"The left"`` stay); the first
    ``np_num`` (8) that remain are asked;
  - question: ``"<chunk>?"`` through ``pre_question``: lower-cased, ``.!"()*#:;~`` removed,
    trailing spaces stripped, cut to 50 words;
  - answer: P(yes) / (P(yes) + P(no)) from the softmax over the vocabulary of the decoder's
    first token after the decoder-start token, **rounded to 4 decimals** (``'{:.4f}'``);
  - per image: the answers as float32, multiplied left to right in float32 (an unasked
    phrase counts 1), the product **rounded to 4 decimals**;
  - category: the sum of the rounded per-image scores in image order (prompt order, then
    sample) divided by the number of images.
  Weights: transformers ``BlipForQuestionAnswering`` (``Salesforce/blip-vqa-capfilt-large``,
  the HF port of the ``model_base_vqa_capfilt_large.pth`` checkpoint upstream loads). The
  question attention mask is the padded one, as upstream (transformers' ``generate`` uses
  all-ones).
* non_spatial - **CLIPScore** (``CLIPScore_eval/CLIP_similarity.py``): plain cosine
  similarity of the L2-normalised ViT-B/32 image and text embeddings (no x100, no 2.5w
  rescaling, no clipping at 0); weights ``openai/clip-vit-base-patch32``.
* spatial / numeracy / 3d_spatial - **UniDet** (``UniDet_eval/2D_spatial_eval.py``,
  ``numeracy_eval.py``, ``3D_spatial_eval.py``): the detector re-implemented on current torch
  (:mod:`evalsuite.capabilities.t2i_compbench.unidet`; RS200 for spatial and complex, R50 for
  numeracy and 3d_spatial, as the scripts load them), DPT-Hybrid depth for 3d_spatial
  (:mod:`evalsuite.capabilities.t2i_compbench.depth`), and the per-image rules of the scripts
  (:mod:`evalsuite.capabilities.t2i_compbench.unidet_rules`: box-centre relations with the IoU /
  distance thresholds, mean box depths, the counting rule). The prompt's objects come from spaCy
  ``en_core_web_sm`` POS tags; numeracy's object names from ``new_objects.txt`` next to the
  prompt files. Category score: the mean over images (``np.mean`` for 3d_spatial, a running
  sum for the others, as the scripts). An image on which a script would crash is a per-item
  error. (The scripts read the prompt back from the image file name, up to its first ``_``;
  here it is the item's prompt, the same text for every prompt file at the pinned commit.)
* complex - **3-in-1** (``3_in_1_eval/3_in_1.py``): per image, (spatial + attribute) * 0.5 for
  prompts in ``complex_val_spatial.txt``, (action + attribute) * 0.5 for those in
  ``complex_val_action.txt``, (attribute + spatial + action) / 3 otherwise, where attribute =
  BLIP-VQA, spatial = the UniDet spatial score of ``2D_spatial_eval.py --complex True``, action
  = CLIPScore of the prompt with adjectives removed (spaCy POS).

Options (``--bench-option k=v``): ``categories`` (comma list), ``prompts_per_category``,
``np_num`` (8), ``np_backend`` (``spacy``, upstream; or ``split-and``: a documented
*substitute* splitting on "and"/"," - its metrics are renamed ``blip_vqa[np=split-and]``),
``scorer_path`` (a folder with ``blip-vqa/``, ``clip/``, ``dpt-hybrid-midas/`` and
``unidet/`` holding ``detection_features.pt`` and ``expert_weights/<checkpoint>.pth``, the
layout ``evalsuite prepare`` writes), ``blip_model``, ``clip_model``, ``unidet_rs200`` /
``unidet_r50`` (``.pth`` files; RS200 defaults to ``shikunl/prismer`` on the hub, R50 - on Google Drive only,
see the README - has no default), ``unidet_labels`` (``detection_features.pt``; default: the
file at the pinned commit), ``depth_model`` (default ``Intel/dpt-hybrid-midas``),
``detector_dtype`` (``float32``; UniDet and DPT run in it whatever the run's dtype).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.capabilities.sources import pinned_text
from evalsuite.policies.base import GenItem, GenUnit, PolicyBenchmark, metric
from evalsuite.types import ItemError, Score

REPO = "Karine-Huang/T2I-CompBench"
COMMIT = "1b7094991a57f3c22abdd4f6e8ba6c1a15517073"
RAW = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/examples/dataset/{{file}}"
CATEGORIES = ("color", "shape", "texture", "spatial", "non_spatial", "complex", "3d_spatial",
              "numeracy")
FILES = {c: f"{c}_val.txt" for c in CATEGORIES}
COMPLEX_LISTS = {"spatial": "complex_val_spatial.txt", "action": "complex_val_action.txt"}
ATTRIBUTE = ("color", "shape", "texture")
UNIDET = ("spatial", "numeracy", "3d_spatial")
NEEDS_SPACY = ("spatial", "numeracy", "3d_spatial", "complex")
OBJECTS_FILE = "new_objects.txt"  # numeracy_eval.py: singular - plural object names
# which UniDet checkpoint each category's script loads (model_bank.py / model_bank_3d.py)
DETECTOR = {"spatial": "rs200", "complex": "rs200", "numeracy": "r50", "3d_spatial": "r50"}


# --- formulas (unit-tested by hand) --------------------------------------------------------------

def yes_probability(logits_row, yes_id: int, no_id: int) -> float:
    """P(yes) / (P(yes) + P(no)) from one first-token logit row (softmax over the vocab)."""
    import torch
    p = torch.softmax(logits_row.float(), dim=-1)
    return float(p[yes_id] / (p[yes_id] + p[no_id]))


# BLIP_vqa.py Create_annotation_for_BLIP: noun chunks with exactly these texts are not asked.
DROPPED_CHUNKS = ("top", "the side", "the left", "the right")


def pre_question(question: str, max_words: int = 50) -> str:
    """BLIPvqa_eval/data/utils.py ``pre_question``: lower-case, drop ``.!"()*#:;~``, strip
    trailing spaces, keep the first ``max_words`` space-separated words."""
    question = re.sub(r"([.!\"()*#:;~])", "", question.lower()).rstrip(" ")
    words = question.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else question


def blip_questions(chunks: list[str], np_num: int = 8) -> list[str]:
    """The questions BLIP_vqa.py asks for a prompt's noun chunks (in order): the chunks not
    in :data:`DROPPED_CHUNKS`, the first ``np_num``, each as ``pre_question(chunk + "?")``."""
    kept = [c for c in chunks if c not in DROPPED_CHUNKS]
    return [pre_question(f"{c}?") for c in kept[:np_num]]


def round4(x: float) -> float:
    """Upstream's ``float('{:.4f}'.format(x))`` (answers and per-image scores)."""
    return float(f"{x:.4f}")


def blip_vqa_score(answers: list[float], np_num: int = 8) -> float:
    """One image: the 4-decimal answers as float32, multiplied left to right in float32 (the
    ``reward`` tensor of BLIP_vqa.py; phrases beyond the prompt's count are 1), then rounded
    to 4 decimals. ``answers`` are the already rounded answers of the asked questions."""
    import numpy as np

    product = np.float32(1.0)
    for a in answers[:np_num]:
        product = np.float32(product * np.float32(a))
    return round4(float(product))


def three_in_one(attribute: float, spatial: float | None, action: float | None,
                 kind: str) -> float | None:
    """3_in_1.py weighting; None when a needed term is unavailable."""
    if kind == "spatial":
        return None if spatial is None else (spatial + attribute) * 0.5
    if kind == "action":
        return None if action is None else (action + attribute) * 0.5
    if spatial is None or action is None:
        return None
    return (attribute + spatial + action) / 3


def split_and_noun_phrases(prompt: str) -> list[str]:
    """SUBSTITUTE for spaCy noun chunks (``np_backend=split-and``): the prompt split on
    'and' / ',' - right for the attribute prompts' "a <attr> <noun> and a <attr> <noun>"
    shape, not in general. Results using it are named apart."""
    parts = re.split(r",|\band\b", prompt.strip().rstrip("."))
    return [p.strip() for p in parts if p.strip()]


class T2ICompBench(PolicyBenchmark):
    name: ClassVar[str] = "t2i-compbench"
    fixture: ClassVar[str | None] = "t2i-compbench"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "categories": "comma-separated categories (default: all)",
        "prompts_per_category": "first N prompts of each category",
        "np_backend": "spacy (upstream) | split-and (substitute)",
        "np_num": "noun phrases per prompt (8)",
        "scorer_path": "folder with blip-vqa/ and clip/ (scoring only; not part of the run "
                       "identity)",
        "blip_model": "BLIP-VQA hub id or folder",
        "clip_model": "CLIP hub id or folder",
        "unidet_rs200": "UniDet RS200 checkpoint (spatial, complex): a .pth file or URL",
        "unidet_r50": "UniDet R50 checkpoint (numeracy, 3d_spatial; Google Drive only: no "
                      "default)",
        "unidet_labels": "UniDet's detection_features.pt (label names)",
        "depth_model": "DPT-Hybrid MiDaS depth model (3d_spatial): hub id or folder",
        "detector_dtype": "float32 (default) | float16 | bfloat16 for UniDet and the depth model",
    }
    kind: ClassVar[str] = "generation"
    policy_task: ClassVar[str] = "text-to-image"
    hub_id: ClassVar[str] = f"github.com/{REPO}@{COMMIT}"
    revision: ClassVar[str | None] = COMMIT
    splits: ClassVar[tuple[str, ...]] = ("val",)
    default_split: ClassVar[str] = "val"
    modality: ClassVar[str] = "image"
    samples_per_prompt: ClassVar[int] = 10  # 3_in_1.py: num = 10 images per prompt
    availability_note: ClassVar[str | None] = ("spaCy + en_core_web_sm needed for BLIP-VQA noun "
                                               "phrases and the UniDet categories")
    metric_notes: ClassVar[dict[str, str]] = {
        "<attr>/blip_vqa": "color/shape/texture: product over noun phrases of "
                           "P(yes)/(P(yes)+P(no)) (4-decimal answers, float32 product "
                           "rounded to 4 decimals), mean over images",
        "non_spatial/clipscore": "cosine of normalised CLIP ViT-B/32 embeddings, mean",
        "spatial|3d_spatial/unidet": "UniDet boxes (RS200 / R50 + DPT depth): 0.25 per "
                                     "detected object score + relation / 2, mean over images",
        "numeracy/unidet": "UniDet R50: per object 1/n for detected + count right, mean",
        "complex/3_in_1": "BLIP-VQA with UniDet spatial and/or CLIP action, by prompt type",
    }

    # -- data -----------------------------------------------------------------------------
    def _read(self, data_path: str | None, fname: str) -> list[str]:
        text = pinned_text(data_path, fname, RAW.format(file=fname),
                           missing="T2I-CompBench prompt file not found: {path}",
                           offline=f"clone {REPO} at {COMMIT} and pass "
                                   "--data-path <clone>/examples/dataset")
        return [ln.strip() for ln in text.splitlines() if ln.strip()]

    def categories(self) -> list[str]:
        cats = self.options.get("categories")
        if not cats:
            return list(CATEGORIES)
        cats = [c.strip() for c in (cats.split(",") if isinstance(cats, str) else cats)]
        bad = [c for c in cats if c not in CATEGORIES]
        if bad:
            raise ValueError(f"unknown T2I-CompBench categories {bad}; known: {CATEGORIES}")
        return cats

    def load_items(self, data_path: str | None, split: str | None
                   ) -> list[GenItem | ItemError]:
        if (split or "val") != "val":
            raise ValueError("t2i-compbench has one split: val")
        per = self.options.get("prompts_per_category")
        out: list[GenItem | ItemError] = []
        for cat in self.categories():
            prompts = self._read(data_path, FILES[cat])
            if per is not None:
                prompts = prompts[:int(per)]
            if cat == "complex":
                lists = {k: {p.split(".")[0].lower() for p in self._read(data_path, f)}
                         for k, f in COMPLEX_LISTS.items()}
            if cat == "numeracy":
                from evalsuite.capabilities.t2i_compbench.unidet_rules import read_objects
                self.numeracy_objects = read_objects("\n".join(self._read(data_path,
                                                                           OBJECTS_FILE)))
            for i, p in enumerate(prompts):
                meta: dict[str, Any] = {"line": i}
                if cat == "complex":
                    key = p.split(".")[0].lower()  # 3_in_1.py matches on this key
                    meta["complex_type"] = ("spatial" if key in lists["spatial"] else
                                            "action" if key in lists["action"] else
                                            "spatial+action")
                out.append(GenItem(f"{cat}:{i:03d}", p, cat, meta))
        return out

    # -- scoring --------------------------------------------------------------------------
    @property
    def np_backend(self) -> str:
        b = self.options.get("np_backend", "spacy")
        if b not in ("spacy", "split-and"):
            raise ValueError(f"np_backend must be spacy or split-and, got {b!r}")
        return b

    def preflight(self) -> None:
        """Fail before generating anything when a needed scorer dependency is missing."""
        from evalsuite.registry import missing_modules

        cats = set(self.categories())
        needed = (["torchvision"] if cats & set(DETECTOR) else []) + (
            ["timm"] if cats & {"spatial", "complex"} else []) + (
            ["word2number"] if "numeracy" in cats else [])
        if missing_modules(needed):
            raise ValueError(f"T2I-CompBench's UniDet categories need {', '.join(needed)} "
                             "(pip install 'evalsuite[policy]')")
        needs_spacy = cats & set(NEEDS_SPACY) or (self.np_backend == "spacy"
                                                    and cats & set(ATTRIBUTE))
        if needs_spacy:
            if missing_modules(["spacy", "en_core_web_sm"]):
                raise ValueError(
                    "T2I-CompBench BLIP-VQA noun phrases, the UniDet categories' objects and "
                    "the complex category's CLIPScore use spaCy en_core_web_sm (pip install "
                    "spacy && python -m spacy download en_core_web_sm); for color/shape/"
                    "texture you may instead pass --bench-option np_backend=split-and (a "
                    "documented substitute, reported under its own metric name)")

    def scorer(self, device: str, dtype: str) -> "CompBenchScorer":
        return CompBenchScorer(self, device, dtype)

    def metrics(self, items: list[GenItem], records: dict) -> dict[str, Any]:
        from collections import defaultdict

        suffix = "" if self.np_backend == "spacy" else f"[np={self.np_backend}]"
        vals: dict[str, dict[str, float]] = defaultdict(dict)  # metric -> sample -> score
        # BLIP_vqa.py sums the per-image scores in image order (prompt order, then sample)
        position = {it.item_id: n for n, it in enumerate(items)}

        def image_order(key):
            item_id, _, k = key[1].rpartition("#")
            return position.get(item_id, len(position)), int(k) if k.isdigit() else 0

        for key in sorted((k for k in records if k[0] == "eval"), key=image_order):
            rec = records[key]
            if rec.error is not None or rec.score is None:
                continue
            ex = rec.score.extras
            cat = ex.get("category")
            for name in ("blip_vqa", "clipscore", "3_in_1", "clipscore_no_adj", "unidet"):
                if ex.get(name) is not None:
                    vals[f"{cat}/{name}"][key[1]] = float(ex[name])
        cats = sorted({it.category for it in items}, key=CATEGORIES.index)
        m: dict[str, Any] = {}

        def mean(k):
            v = vals.get(k, {})
            return metric(sum(v.values()) / len(v) if v else None, len(v), per_item=v)

        def np_mean(k):  # 3D_spatial_eval.py averages with np.mean (pairwise summation)
            import numpy as np
            v = vals.get(k, {})
            return metric(float(np.mean(list(v.values()))) if v else None, len(v), per_item=v)

        for cat in cats:
            if cat in ATTRIBUTE:
                m[f"{cat}/blip_vqa{suffix}"] = mean(f"{cat}/blip_vqa")
            elif cat == "non_spatial":
                m["non_spatial/clipscore"] = mean("non_spatial/clipscore")
            elif cat in UNIDET:
                m[f"{cat}/unidet"] = (np_mean if cat == "3d_spatial" else mean)(f"{cat}/unidet")
            elif cat == "complex":
                m[f"complex/3_in_1{suffix}"] = mean("complex/3_in_1")
                m[f"complex/blip_vqa{suffix}"] = mean("complex/blip_vqa")
                m["complex/unidet_spatial"] = mean("complex/unidet")
                m["complex/clipscore_no_adj"] = mean("complex/clipscore_no_adj")
        return {"metrics": m, "breakdown": {}, "noun_phrases": self.np_backend}


class CompBenchScorer:
    """BLIP-VQA and CLIP, batched over (image, question) pairs / images; UniDet batched per
    checkpoint and input size; DPT batched over the 3d_spatial images."""

    def __init__(self, bench: T2ICompBench, device: str, dtype: str):
        self.bench, self.device, self.dtype = bench, device, dtype
        o = bench.options
        base = o.get("scorer_path")
        self.blip_src = o.get("blip_model") or (f"{base}/blip-vqa" if base else
                                                "Salesforce/blip-vqa-capfilt-large")
        self.clip_src = o.get("clip_model") or (f"{base}/clip" if base else
                                                "openai/clip-vit-base-patch32")
        self.np_num = int(o.get("np_num", 8))
        self._nlp = None
        from evalsuite.capabilities.t2i_compbench.depth import HUB_ID
        from evalsuite.capabilities.t2i_compbench.unidet import R50_FILE, RS200_HUB
        unidet = f"{base}/unidet" if base else None
        self.unidet_src = {  # scorer_path layout: unidet/expert_weights/<file>, as upstream
            "rs200": o.get("unidet_rs200") or (f"{unidet}/{RS200_HUB[1]}" if unidet else None),
            "r50": o.get("unidet_r50") or (f"{unidet}/{R50_FILE}" if unidet else None)}
        self.labels_src = o.get("unidet_labels") or (f"{unidet}/detection_features.pt"
                                                     if unidet else None)
        self.depth_src = o.get("depth_model") or (f"{base}/dpt-hybrid-midas" if base else HUB_ID)
        self.detector_dtype = str(o.get("detector_dtype", "float32"))

    def load(self) -> None:
        import torch
        from transformers import (BlipForQuestionAnswering, BlipProcessor, CLIPModel,
                                  CLIPProcessor)

        from evalsuite.judges.base import torch_dtype

        self.torch = torch
        cats = set(self.bench.categories())
        dt = torch_dtype(self.dtype)
        if cats & {"color", "shape", "texture", "complex"}:
            if self.bench.np_backend == "spacy" or "complex" in cats:
                self._spacy()
            self.blip_proc = BlipProcessor.from_pretrained(self.blip_src)
            self.blip = BlipForQuestionAnswering.from_pretrained(self.blip_src, dtype=dt
                                                                 ).to(self.device).eval()
            tok = self.blip_proc.tokenizer
            self.yes_id = tok.convert_tokens_to_ids("yes")  # 2748 in bert-base-uncased
            self.no_id = tok.convert_tokens_to_ids("no")  # 2053
            self.dec_start = self.blip.decoder_start_token_id  # [DEC], 30522 upstream
        if cats & {"non_spatial", "complex"}:
            self.clip_proc = CLIPProcessor.from_pretrained(self.clip_src)
            self.clip = CLIPModel.from_pretrained(self.clip_src, dtype=dt).to(self.device).eval()
        self._load_detectors(cats)

    def _load_detectors(self, cats: set[str]) -> None:
        from evalsuite.capabilities.t2i_compbench.depth import load_depth_model
        from evalsuite.capabilities.t2i_compbench.unidet import load_labels, load_unidet

        families = {DETECTOR[c] for c in cats if c in DETECTOR}
        self.detectors = {f: load_unidet(self._unidet_path(f), self.device, self.detector_dtype)
                          for f in sorted(families)}
        if families:
            self._spacy()
            self.labels = load_labels(self._labels_path())
            for f, det in self.detectors.items():
                n = det.net.roi_heads.box_predictor[0].cls_score.out_features - 1
                if n != len(self.labels):
                    raise ValueError(f"UniDet {f} predicts {n} classes but the label file has "
                                     f"{len(self.labels)} names")
        if "3d_spatial" in cats:
            self.depth = load_depth_model(self.depth_src, self.device, self.detector_dtype)

    def _unidet_path(self, family: str) -> str:
        from evalsuite.capabilities.t2i_compbench.unidet import R50_FILE, R50_SOURCE, RS200_HUB
        if self.unidet_src[family]:
            return self.unidet_src[family]
        if family == "rs200":
            from huggingface_hub import hf_hub_download
            return hf_hub_download(*RS200_HUB)
        raise ValueError(f"T2I-CompBench numeracy / 3d_spatial use UniDet's {Path(R50_FILE).name}, "
                         f"which is published on Google Drive only ({R50_SOURCE}, e.g. `gdown` "
                         "it); pass --bench-option unidet_r50=<path>")

    def _labels_path(self) -> str:
        if self.labels_src:
            return self.labels_src
        import os
        import urllib.request

        from evalsuite.capabilities.t2i_compbench.unidet import LABELS_URL
        cache = Path(os.environ.get("EVALSUITE_CACHE", Path.home() / ".cache" / "evalsuite"))
        dest = cache / "t2i-compbench" / COMMIT / "detection_features.pt"
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(".partial")
            try:
                urllib.request.urlretrieve(LABELS_URL, tmp)
            except OSError as e:
                raise ConnectionError(f"cannot fetch {LABELS_URL} ({e}); pass --bench-option "
                                      "unidet_labels=<detection_features.pt>") from e
            tmp.rename(dest)
        return str(dest)

    def _spacy(self):
        if self._nlp is None:
            try:
                import spacy
                self._nlp = spacy.load("en_core_web_sm")
            except (ImportError, OSError) as e:
                raise RuntimeError(
                    "T2I-CompBench BLIP-VQA and complex CLIPScore use spaCy en_core_web_sm "
                    "(pip install spacy && python -m spacy download en_core_web_sm); or pass "
                    "--bench-option np_backend=split-and for the documented substitute "
                    f"(attribute categories only): {e}") from e
        return self._nlp

    def noun_phrases(self, prompt: str) -> list[str]:
        """The prompt's noun chunks (all of them; :func:`blip_questions` filters)."""
        if self.bench.np_backend == "split-and":
            return split_and_noun_phrases(prompt)
        return [c.text for c in self._spacy()(prompt).noun_chunks]

    def prepare(self, unit: GenUnit, path: Path) -> dict[str, Any]:
        from evalsuite.media import load_image
        from evalsuite.types import MediaRef

        img = load_image(MediaRef(kind="image", path=str(path)))
        cat = unit.item.category
        p: dict[str, Any] = {"category": cat, "image": img, "questions": [], "clip_text": None,
                             "complex_type": unit.item.meta.get("complex_type")}
        if cat in ATTRIBUTE or cat == "complex":
            p["questions"] = blip_questions(self.noun_phrases(unit.item.prompt), self.np_num)
        if cat == "non_spatial":
            p["clip_text"] = unit.item.prompt
        if cat == "complex":
            doc = self._spacy()(unit.item.prompt)  # CLIP_similarity.py --complex: drop ADJ
            p["clip_text"] = " ".join(t.text for t in doc if t.pos_ != "ADJ")
        if cat in DETECTOR:
            from evalsuite.capabilities.t2i_compbench import unidet_rules as rules
            from evalsuite.capabilities.t2i_compbench.unidet import unidet_input

            p["prompt"] = unit.item.prompt
            p["tokens"] = [rules.Token(t.text, t.pos_, t.whitespace_)
                           for t in self._spacy()(unit.item.prompt)]
            p["det_input"] = unidet_input(img)
            # where the script fails whatever the detections, fail before detecting
            if cat in ("spatial", "3d_spatial"):
                rules.simple_objects(p["tokens"])
            if cat == "numeracy" and not rules.counted_objects(
                    p["tokens"], *self.bench.numeracy_objects)[0]:
                raise rules.UpstreamRaises("no counted object in the prompt (upstream: "
                                           "ZeroDivisionError)")
        return p

    def detect(self, prepared: list[dict[str, Any]]) -> dict[int, Any]:
        """UniDet on every image that needs it, batched per checkpoint and input size (one
        forward pass per group, so an image's boxes do not depend on its batch mates)."""
        from collections import defaultdict

        from evalsuite.capabilities.t2i_compbench.unidet_rules import Detections

        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, p in enumerate(prepared):
            if p["category"] in DETECTOR:
                groups[(DETECTOR[p["category"]], tuple(p["det_input"].shape))].append(i)
        out = {}
        for (family, _), idx in groups.items():
            found = self.detectors[family].detect([prepared[i]["det_input"] for i in idx])
            for i, d in zip(idx, found):
                out[i] = Detections([self.labels[c] for c in d.classes.tolist()],
                                    [tuple(b) for b in d.boxes.float().tolist()],
                                    d.scores.float().tolist())
        return out

    def depth_maps(self, prepared: list[dict[str, Any]]) -> dict[int, Any]:
        from evalsuite.capabilities.t2i_compbench.depth import depth_as_read_back, raw_depth

        idx = [i for i, p in enumerate(prepared) if p["category"] == "3d_spatial"]
        if not idx:
            return {}
        raw = raw_depth(self.depth, [prepared[i]["image"] for i in idx])
        return {i: depth_as_read_back(r, *prepared[i]["image"].size) for i, r in zip(idx, raw)}

    def unidet_score(self, p: dict[str, Any], det, depth) -> float:
        from evalsuite.capabilities.t2i_compbench import unidet_rules as rules

        cat = p["category"]
        if cat == "spatial":
            return rules.spatial_score(p["prompt"], p["tokens"], det)
        if cat == "complex":
            return rules.spatial_score(p["prompt"], p["tokens"], det, complex_prompt=True)
        if cat == "3d_spatial":
            return rules.spatial_3d_score(p["prompt"], p["tokens"], det, depth)
        return rules.numeracy_score(p["tokens"], det, *self.bench.numeracy_objects)

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        torch = self.torch
        pairs = [(i, q) for i, p in enumerate(prepared) for q in p["questions"]]
        p_yes: dict[int, list[float]] = {i: [] for i in range(len(prepared))}
        if pairs:
            inputs = self.blip_proc(images=[prepared[i]["image"] for i, _ in pairs],
                                    text=[q for _, q in pairs], return_tensors="pt",
                                    padding=True, truncation=True, max_length=35
                                    ).to(self.device)
            with torch.inference_mode():
                img = self.blip.vision_model(
                    pixel_values=inputs["pixel_values"].to(self.blip.dtype))[0]
                img_mask = torch.ones(img.shape[:-1], dtype=torch.long, device=img.device)
                q = self.blip.text_encoder(input_ids=inputs["input_ids"],
                                           attention_mask=inputs["attention_mask"],
                                           encoder_hidden_states=img,
                                           encoder_attention_mask=img_mask)[0]
                start = torch.full((q.shape[0], 1), self.dec_start, device=q.device)
                logits = self.blip.text_decoder(input_ids=start, encoder_hidden_states=q,
                                                encoder_attention_mask=inputs["attention_mask"]
                                                ).logits[:, 0, :]
            for (i, _), row in zip(pairs, logits):
                p_yes[i].append(round4(yes_probability(row, self.yes_id, self.no_id)))
        clip_idx = [i for i, p in enumerate(prepared) if p["clip_text"] is not None]
        cos: dict[int, float] = {}
        if clip_idx:
            ci = self.clip_proc(text=[prepared[i]["clip_text"] for i in clip_idx],
                                images=[prepared[i]["image"] for i in clip_idx],
                                return_tensors="pt", padding=True, truncation=True,
                                max_length=77).to(self.device)
            with torch.inference_mode():
                out = self.clip(input_ids=ci["input_ids"], attention_mask=ci["attention_mask"],
                                pixel_values=ci["pixel_values"].to(self.clip.dtype))
                ie = out.image_embeds / out.image_embeds.norm(dim=-1, keepdim=True)
                te = out.text_embeds / out.text_embeds.norm(dim=-1, keepdim=True)
                sims = (ie * te).sum(-1).float().tolist()
            cos = dict(zip(clip_idx, sims))
        detections = self.detect(prepared)
        depths = self.depth_maps(prepared)
        scores = []
        for i, p in enumerate(prepared):
            cat = p["category"]
            ex: dict[str, Any] = {"category": cat}
            value = None
            if i in detections:
                d = detections[i]
                ex["detections"] = [[n, s, *b] for n, s, b in zip(d.names, d.scores, d.boxes)]
                ex["unidet"] = value = self.unidet_score(p, d, depths.get(i))
            if p["questions"] or cat in ATTRIBUTE or cat == "complex":
                ex["questions"], ex["p_yes"] = p["questions"], p_yes[i]
                ex["blip_vqa"] = blip_vqa_score(p_yes[i], self.np_num)
                value = ex["blip_vqa"]
            if cat == "non_spatial":
                ex["clipscore"] = value = cos[i]
            if cat == "complex":
                ex["complex_type"] = p["complex_type"]
                ex["clipscore_no_adj"] = cos.get(i)
                ex["3_in_1"] = value = three_in_one(ex["blip_vqa"], ex["unidet"], cos.get(i),
                                                    p["complex_type"])
            scores.append(Score(value=value, extras=ex))
        return scores
