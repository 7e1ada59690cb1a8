"""GenEval (Ghosh et al., NeurIPS 2023 D&B): 553 object-focused prompts in 6 tasks, 4 images
per prompt, each image checked by an object detector (+ a CLIP colour classifier).

Reference: github djghosh13/geneval at commit af4902f24d3ca90ebbb446dd9891a59e0f82725f.

* Prompts: ``prompts/evaluation_metadata.jsonl`` (one JSON object per prompt: ``tag``,
  ``prompt``, ``include`` / ``exclude`` clauses with ``class``, ``count`` and optional
  ``color`` / ``position``), class names ``prompts/object_names.txt``; fetched from
  raw.githubusercontent.com at the pinned commit, or ``--data-path`` a folder holding both
  files (a clone's ``prompts/``).
* Generation: 4 images per prompt (``generation/diffusers_generate.py --n_samples 4``), each
  with its own seed (:func:`evalsuite.policies.base.sample_seed`), written in GenEval's output
  layout ``<run>/geneval/<index:05d>/samples/<k:04d>.png`` with
  ``<run>/geneval/<index:05d>/metadata.jsonl`` (the prompt's JSON, as upstream writes it), so
  upstream's ``evaluation/evaluate_images.py <run>/geneval`` reads the same folder.
* Scoring (``evaluation/evaluate_images.py``): Mask2Former Swin-S COCO instance segmentation
  (mmdetection 2.x checkpoint, run on transformers -
  :mod:`evalsuite.capabilities.geneval.detector`); per class, detections above ``threshold`` 0.3
  (``counting_threshold`` 0.9 for the counting tag), highest score first, at most
  ``max_objects`` 16, NMS only when ``max_overlap`` < 1 (default 1.0: none); then
  :func:`evaluate` - counts, colours (CLIP ViT-L/14 ``openai`` zero-shot over 10 colours with
  upstream's 3 templates, on the object's mask pasted over a ``#999`` background and cropped to
  its box) and relative positions (``position_threshold`` 0.1). An image is correct or not;
  :func:`summarize` is ``evaluation/summary_scores.py``: per tag the fraction of correct images,
  ``overall`` the mean over tags, plus the fractions of correct images and of prompts with at
  least one correct image.

Options (``--bench-option k=v``): upstream's ``--options`` ``threshold``,
``counting_threshold``, ``max_objects``, ``max_overlap``, ``position_threshold``, ``bgcolor``,
``crop``; ``tags`` (comma list); ``detector_path`` (a folder with
``mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.pth``, as ``download_models.sh`` writes it;
default: downloaded once into ``~/.cache/evalsuite/geneval``); ``clip_model`` (open_clip
architecture, ``ViT-L-14``), ``clip_pretrained`` (``openai``) or ``clip_path`` (an open_clip
``local-dir:`` folder).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

from evalsuite.capabilities.sources import pinned_text
from evalsuite.policies.base import GenItem, GenUnit, PolicyBenchmark, metric
from evalsuite.types import ItemError, Score

REPO = "djghosh13/geneval"
COMMIT = "af4902f24d3ca90ebbb446dd9891a59e0f82725f"
RAW = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/prompts/{{file}}"
METADATA_FILE = "evaluation_metadata.jsonl"
CLASSES_FILE = "object_names.txt"
TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white"]
COLOR_TEMPLATES = ("a photo of a {{c}} {classname}", "a photo of a {{c}}-colored {classname}",
                   "a photo of a {{c}} object")
OUTPUT_DIR = "geneval"


@dataclass(frozen=True)
class Thresholds:
    """``evaluate_images.py``'s ``--options`` and their defaults."""

    threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = 16
    max_overlap: float = 1.0
    position_threshold: float = 0.1


# --- the scoring rules (evaluate_images.py) ---------------------------------------------------

def compute_iou(box_a, box_b) -> float:
    """Inclusive-pixel IoU (``+ 1`` on each side), as upstream."""
    def area(b):
        return max(b[2] - b[0] + 1, 0) * max(b[3] - b[1] + 1, 0)
    inter = area([max(box_a[0], box_b[0]), max(box_a[1], box_b[1]),
                  min(box_a[2], box_b[2]), min(box_a[3], box_b[3])])
    union = area(box_a) + area(box_b) - inter
    return inter / union if union else 0


def relative_position(box_a, box_b, position_threshold: float = 0.1) -> set[str]:
    """Where A lies relative to B: centre offset shrunk by ``position_threshold`` x the summed
    box sizes per axis, then each axis component of the (shrunk offset / full offset length)
    beyond +-0.5 names a relation; image y grows downwards."""
    import numpy as np

    boxes = np.array([box_a, box_b])[:, :4].reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - position_threshold * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    rel = set()
    if dx < -0.5:
        rel.add("left of")
    if dx > 0.5:
        rel.add("right of")
    if dy < -0.5:
        rel.add("above")
    if dy > 0.5:
        rel.add("below")
    return rel


def select_detections(bboxes: list, masks: list | None, classnames: list[str], tag: str,
                      t: Thresholds) -> dict[str, list[tuple[Any, Any]]]:
    """Per class name, the kept (box, mask) pairs, most confident first (``evaluate_image``)."""
    import numpy as np

    conf = t.counting_threshold if tag == "counting" else t.threshold
    detected: dict[str, list[tuple[Any, Any]]] = {}
    for index, name in enumerate(classnames):
        b = bboxes[index]
        order = np.argsort(b[:, 4])[::-1]
        order = order[b[order, 4] > conf]
        order = order[:t.max_objects].tolist()
        kept = []
        while order:
            top = order.pop(0)
            kept.append((b[top], None if masks is None else masks[index][top]))
            order = [o for o in order
                     if t.max_overlap == 1 or compute_iou(b[top], b[o]) < t.max_overlap]
        if kept:
            detected[name] = kept
    return detected


def evaluate(objects: dict[str, list], metadata: dict[str, Any],
             classify_colors: Callable[[str, list], list[str]],
             position_threshold: float = 0.1) -> tuple[bool, str]:
    """(correct, reason) of one image: ``include`` clauses AND-ed, ``exclude`` OR-ed; colour and
    position are checked on the ``count`` most confident objects of the class; a position
    refers to an earlier include clause (its matched objects, or a failure if it failed)."""
    correct = True
    reason = []
    matched_groups: list[list | None] = []
    for req in metadata.get("include", []):
        classname = req["class"]
        matched = True
        found = objects.get(classname, [])[:req["count"]]
        if len(found) < req["count"]:
            correct = matched = False
            reason.append(f"expected {classname}>={req['count']}, found {len(found)}")
        else:
            if "color" in req:
                colors = classify_colors(classname, found)
                if colors.count(req["color"]) < req["count"]:
                    correct = matched = False
                    reason.append(
                        f"expected {req['color']} {classname}>={req['count']}, found "
                        f"{colors.count(req['color'])} {req['color']}; and "
                        + ", ".join(f"{colors.count(c)} {c}" for c in COLORS if c in colors))
            if "position" in req and matched:
                expected_rel, target_group = req["position"]
                if matched_groups[target_group] is None:
                    correct = matched = False
                    reason.append(f"no target for {classname} to be {expected_rel}")
                else:
                    for obj in found:
                        for target in matched_groups[target_group]:
                            true_rels = relative_position(obj[0], target[0], position_threshold)
                            if expected_rel not in true_rels:
                                correct = matched = False
                                reason.append(f"expected {classname} {expected_rel} target, "
                                              f"found {' and '.join(true_rels)} target")
                                break
                        if not matched:
                            break
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        classname = req["class"]
        if len(objects.get(classname, [])) >= req["count"]:
            correct = False
            reason.append(f"expected {classname}<{req['count']}, found "
                          f"{len(objects[classname])}")
    return correct, "\n".join(reason)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``summary_scores.py`` on rows with ``tag``, ``correct`` and ``prompt`` (the prompt's
    metadata identity): per-tag fraction of correct images, ``overall`` = their mean,
    ``correct_images``, ``correct_prompts`` (any image of the prompt correct)."""
    by_tag: dict[str, list[bool]] = {}
    by_prompt: dict[str, bool] = {}
    for r in rows:
        by_tag.setdefault(r["tag"], []).append(bool(r["correct"]))
        by_prompt[r["prompt"]] = by_prompt.get(r["prompt"], False) or bool(r["correct"])
    tags = {t: (sum(v) / len(v), len(v)) for t, v in by_tag.items()}
    n = len(rows)
    return {"tags": tags,
            "overall": sum(v for v, _ in tags.values()) / len(tags) if tags else None,
            "correct_images": sum(bool(r["correct"]) for r in rows) / n if n else None,
            "correct_prompts": sum(by_prompt.values()) / len(by_prompt) if by_prompt else None,
            "images": n, "prompts": len(by_prompt)}


# --- the benchmark ------------------------------------------------------------------------------

def _read_text(data_path: str | None, fname: str) -> str:
    return pinned_text(
        data_path, fname, RAW.format(file=fname),
        missing=f"GenEval file not found: {{path}} (--data-path is a folder with {METADATA_FILE} "
                f"and {CLASSES_FILE}, e.g. a clone's prompts/)",
        offline=f"clone {REPO} at {COMMIT} and pass --data-path <clone>/prompts")


def read_classnames(data_path: str | None) -> list[str]:
    return [ln.strip() for ln in _read_text(data_path, CLASSES_FILE).splitlines()]


class GenEval(PolicyBenchmark):
    name: ClassVar[str] = "geneval"
    fixture: ClassVar[str | None] = "geneval"
    kind: ClassVar[str] = "generation"
    policy_task: ClassVar[str] = "text-to-image"
    hub_id: ClassVar[str] = f"github.com/{REPO}@{COMMIT}"
    revision: ClassVar[str | None] = COMMIT
    splits: ClassVar[tuple[str, ...]] = ("test",)
    default_split: ClassVar[str] = "test"
    modality: ClassVar[str] = "image"
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers", "open_clip", "cv2", "scipy")
    extra: ClassVar[str | None] = "geneval"
    samples_per_prompt: ClassVar[int] = 4  # diffusers_generate.py --n_samples 4
    option_help: ClassVar[dict[str, str]] = {  # upstream evaluate_images.py --options
        "threshold": "detection score threshold (0.3)",
        "counting_threshold": "detection score threshold for counting prompts (0.9)",
        "max_objects": "detections kept per class (16)",
        "max_overlap": "IoU above which a detection is dropped as a duplicate (1.0: none)",
        "position_threshold": "relative-position margin (0.1)",
        "bgcolor": "background for colour crops (#999)",
        "crop": "1: colour on the masked box crop, as upstream (default 1)",
        "tags": "comma list of tags to score (default all six)",
        "detector_path": "folder holding the Mask2Former checkpoint (default: download once)",
        "clip_path": "local open_clip ViT-L-14 folder (default: the openai weights)",
    }
    metric_notes: ClassVar[dict[str, str]] = {
        "overall": "mean over the 6 tags of the fraction of correct images (summary_scores.py)",
        "<tag>": "fraction of correct images of prompts with that tag",
        "correct_images / correct_prompts": "all images; prompts with >= 1 correct image",
    }

    classnames: list[str] = []  # object_names.txt, read by load_items

    def thresholds(self) -> Thresholds:
        o = self.options
        d = Thresholds()
        return Thresholds(float(o.get("threshold", d.threshold)),
                          float(o.get("counting_threshold", d.counting_threshold)),
                          int(o.get("max_objects", d.max_objects)),
                          float(o.get("max_overlap", d.max_overlap)),
                          float(o.get("position_threshold", d.position_threshold)))

    def tags(self) -> list[str]:
        tags = self.options.get("tags")
        if not tags:
            return list(TAGS)
        tags = [t.strip() for t in (tags.split(",") if isinstance(tags, str) else tags)]
        bad = [t for t in tags if t not in TAGS]
        if bad:
            raise ValueError(f"unknown GenEval tags {bad}; known: {TAGS}")
        return tags

    def load_items(self, data_path: str | None, split: str | None
                   ) -> list[GenItem | ItemError]:
        if (split or "test") != "test":
            raise ValueError("geneval has one split: test")
        wanted = set(self.tags())
        self.classnames = read_classnames(data_path)
        classes = set(self.classnames)
        out: list[GenItem | ItemError] = []
        for index, line in enumerate(_read_text(data_path, METADATA_FILE).splitlines()):
            if not line.strip():
                continue
            item_id = f"{index:05d}"
            try:
                meta = json.loads(line)
                tag, prompt = meta["tag"], meta["prompt"]
                clauses = meta.get("include", []) + meta.get("exclude", [])
                unknown = [c["class"] for c in clauses if c["class"] not in classes]
                if unknown:
                    raise ValueError(f"classes not in {CLASSES_FILE}: {unknown}")
            except (ValueError, KeyError, TypeError) as e:
                out.append(ItemError(item_id, f"line {index + 1}: {e}", {"line": line[:200]}))
                continue
            if tag not in wanted:
                continue
            out.append(GenItem(item_id, prompt, tag, {
                "index": index, "metadata": meta,
                # GenEval's output layout; the runner writes sample k there
                "sample_path": f"{OUTPUT_DIR}/{item_id}/samples/{{k:04d}}.{{ext}}"}))
        return out

    def scorer(self, device: str, dtype: str) -> "GenEvalScorer":
        return GenEvalScorer(self, device, dtype)

    def metrics(self, items: list[GenItem], records: dict) -> dict[str, Any]:
        rows = []
        for key, rec in records.items():
            if key[0] != "eval" or rec.error is not None or rec.score is None:
                continue
            ex = rec.score.extras
            rows.append({"tag": ex["tag"], "correct": ex["correct"], "prompt": ex["prompt_id"]})
        s = summarize(rows)
        m: dict[str, Any] = {"overall": metric(s["overall"], s["prompts"])}
        for tag in [t for t in TAGS if t in {it.category for it in items}]:
            v, n = s["tags"].get(tag, (None, 0))
            m[tag] = metric(v, n)
        m["correct_images"] = metric(s["correct_images"], s["images"])
        m["correct_prompts"] = metric(s["correct_prompts"], s["prompts"])
        return {"metrics": m, "breakdown": {},
                "geneval": {"thresholds": vars(self.thresholds()), "output_dir": OUTPUT_DIR}}


class GenEvalScorer:
    """Mask2Former detections + CLIP colour classification, batched over images."""

    def __init__(self, bench: GenEval, device: str, dtype: str):
        self.bench, self.device, self.dtype = bench, device, dtype
        self.t = bench.thresholds()
        o = bench.options
        self.bgcolor = o.get("bgcolor", "#999")
        self.crop = str(o.get("crop", "1"))
        self._classifiers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def load(self) -> None:
        import torch

        from evalsuite.capabilities.geneval import detector as det

        self.torch = torch
        o = self.bench.options
        folder = o.get("detector_path")
        if not folder:
            folder = Path.home() / ".cache" / "evalsuite" / "geneval"
            det.download_checkpoint(Path(folder))
        self.detector, _meta = det.load_detector(folder, self.device)
        # class index -> name: upstream's object_names.txt (mmdet's CLASSES spell some
        # COCO names differently), read with the prompts
        self.classnames = self.bench.classnames
        if len(self.classnames) != self.detector.config.num_labels:
            raise ValueError(f"{len(self.classnames)} class names for a detector of "
                             f"{self.detector.config.num_labels} classes")
        import open_clip
        src = o.get("clip_path")
        if src:
            name, pretrained = f"local-dir:{src}", None
        else:
            name, pretrained = o.get("clip_model", "ViT-L-14"), o.get("clip_pretrained", "openai")
        self.clip, _, self.transform = open_clip.create_model_and_transforms(
            name, pretrained=pretrained, device=self.device)
        self.clip.eval()
        self.tokenizer = open_clip.get_tokenizer(name)

    def _autocast(self):
        """clip_benchmark's zero-shot helpers run under CUDA fp16 autocast (amp=True)."""
        import contextlib
        if self.device.startswith("cuda"):
            return self.torch.autocast("cuda", dtype=self.torch.float16)
        return contextlib.nullcontext()

    def color_classifier(self, classname: str):
        """``clip_benchmark`` ``zero_shot_classifier``: per colour, the mean of the
        normalised template embeddings, renormalised; columns = colours."""
        torch = self.torch
        with self._lock:
            if classname not in self._classifiers:
                weights = []
                with torch.no_grad(), self._autocast():
                    for c in COLORS:
                        texts = [t.format(classname=classname).format(c=c)
                                 for t in COLOR_TEMPLATES]
                        emb = self.clip.encode_text(self.tokenizer(texts).to(self.device))
                        emb = torch.nn.functional.normalize(emb, dim=-1).mean(dim=0)
                        weights.append(emb / emb.norm())
                self._classifiers[classname] = torch.stack(weights, dim=1)
            return self._classifiers[classname]

    def crops(self, image, objects: list) -> list:
        """``ImageCrops``: the object's mask pasted over ``bgcolor`` (or the original image),
        cropped to its box."""
        from PIL import Image

        image = image.convert("RGB")
        blank = image.copy() if self.bgcolor == "original" else Image.new(
            "RGB", image.size, color=self.bgcolor)
        out = []
        for box, mask in objects:
            im = image
            if mask is not None:
                if tuple(image.size[::-1]) != tuple(mask.shape):
                    raise ValueError(f"mask {mask.shape} does not match image {image.size}")
                im = Image.composite(image, blank, Image.fromarray(mask))
            if self.crop == "1":
                im = im.crop(tuple(float(v) for v in box[:4]))
            out.append(self.transform(im))
        return out

    def classify_colors(self, image, classname: str, objects: list) -> list[str]:
        torch = self.torch
        clf = self.color_classifier(classname)
        x = torch.stack(self.crops(image, objects)).to(self.device)
        with torch.no_grad(), self._autocast():
            feats = torch.nn.functional.normalize(self.clip.encode_image(x), dim=-1)
            logits = 100.0 * feats @ clf
        return [COLORS[i] for i in logits.float().argmax(1).tolist()]

    def prepare(self, unit: GenUnit, path: Path) -> dict[str, Any]:
        import numpy as np
        from PIL import Image, ImageOps

        write_metadata(path.parent.parent, unit.item.meta["metadata"])
        with Image.open(path) as im:
            image = ImageOps.exif_transpose(im).convert("RGB")
        return {"unit": unit, "image": image, "rgb": np.asarray(image)}

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        from evalsuite.capabilities.geneval.detector import detect

        names = self.classnames
        dets = detect(self.detector, [p["rgb"] for p in prepared], self.device)
        scores = []
        for p, (bboxes, masks) in zip(prepared, dets):
            unit: GenUnit = p["unit"]
            meta = unit.item.meta["metadata"]
            objects = select_detections(bboxes, masks, names, meta["tag"], self.t)
            correct, reason = evaluate(
                objects, meta, lambda c, objs: self.classify_colors(p["image"], c, objs),
                self.t.position_threshold)
            scores.append(Score(value=float(correct), extras={
                "tag": meta["tag"], "prompt_id": unit.item.item_id, "correct": correct,
                "reason": reason,
                "details": {k: [[float(x) for x in b] for b, _ in v] for k, v in objects.items()}}))
        return scores


def write_metadata(folder: Path, metadata: dict[str, Any]) -> None:
    """``<index>/metadata.jsonl`` as ``diffusers_generate.py`` writes it (``json.dump``)."""
    dest = folder / "metadata.jsonl"
    if dest.is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".metadata.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(metadata), encoding="utf-8")
    tmp.replace(dest)
