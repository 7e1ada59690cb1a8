"""VBench (Huang et al., CVPR 2024): the text-to-video prompt suite and its 16 dimensions.

Decision (documented in the README): the ``vbench`` wheel pins transformers 4.33 and numpy<2
(and needs detectron2 for some dimensions), so it cannot share this environment. The harness
owns the **prompt suite and generation** and **re-implements all 16 dimensions** from the
upstream scripts (github Vchitect/VBench @45e79ec, formulas and preprocessing only, see
:mod:`evalsuite.capabilities.vbench.formulas`) on current torch / transformers / torchvision:

* ``temporal_flickering`` (vbench/temporal_flickering.py): (255 - mean |frame_t+1 - frame_t|)
  / 255, mean over videos, **on static videos only**: upstream runs ``static_filter.py``
  (RAFT, top-2% flow) first and keeps at most 5 static videos per prompt. With RAFT this
  metric is that; ``temporal_flickering[no-static-filter]`` (every video of those prompts) is
  reported apart, and is the only number when RAFT cannot be loaded. Upstream samples 25
  videos for these prompts; run with ``--samples-per-prompt 25`` for that coverage.
* ``subject_consistency`` (vbench/subject_consistency.py): DINO ViT-B/16 CLS features
  (after the final norm) of every frame; per frame (max(0, cos to previous) + max(0, cos to
  first)) / 2; the dimension score is the sum over all frames of all videos / their count.
  Weights: transformers ``ViTModel`` ``facebook/dino-vitb16`` (the HF port of DINO's
  ``dino_vitb16``), LayerNorm eps 1e-6 and DINO's own position-embedding interpolation.
* ``background_consistency`` (vbench/background_consistency.py): the same formula on CLIP
  ViT-B/32 image embeddings (``openai/clip-vit-base-patch32``, the HF port of
  ``clip.load("ViT-B/32")``), preprocessing ``clip_transform(224)``.
* ``motion_smoothness`` (vbench/motion_smoothness.py): the AMT-S interpolator
  (:mod:`evalsuite.capabilities.vbench.networks.amt`, ``amt-s.pth``) predicts the frame between
  each pair of consecutive even frames; per video (255 - mean |odd frame - prediction|) / 255;
  mean over videos. Frames come from the harness's decoder (upstream reads this one with
  OpenCV).
* ``dynamic_degree`` (vbench/dynamic_degree.py): RAFT (torchvision ``raft_large``
  ``Raft_Large_Weights.C_T_V1`` = the original ``raft-things.pth``, 20 iterations) on
  consecutive frames (every round(fps/8)-th); a video moves when at least round(4 T / 16)
  pairs have a top-5% flow magnitude above 6 min(H, W) / 256; score = fraction of moving
  videos.
* ``aesthetic_quality`` (vbench/aesthetic_quality.py): LAION aesthetic linear head
  (``sa_0_4_vit_l_14_linear.pth``) on L2-normalised CLIP ViT-L/14 embeddings
  (``openai/clip-vit-large-patch14``), / 10, mean over frames then videos.
* ``imaging_quality`` (vbench/imaging_quality.py): pyiqa's MUSIQ trained on SPAQ
  (:mod:`evalsuite.capabilities.vbench.networks.musiq`, ``musiq_spaq_ckpt-358bb6af.pth``) on
  every frame (longer side capped at 512, option ``imaging_quality_preprocessing_mode``); the
  MOS, mean over frames then videos, / 100.
* ``appearance_style`` (vbench/appearance_style.py): per frame, CLIP ViT-B/32 (the same
  model as background consistency) ``logits_per_text / 100`` between the frame
  (``clip_transform_Image(224)``: PIL bicubic) and the prompt's style text
  (``auxiliary_info.appearance_style.appearance_style``, e.g. "Van Gogh style"); the
  dimension score is the sum over all frames of all videos / their count.
* ``human_action`` (vbench/human_action.py): the UMT ViT-L/16 Kinetics-400 classifier
  (:mod:`evalsuite.capabilities.vbench.networks.umt`,
  ``l16_ptk710_ftk710_ftk400_f16_res224.pth``) on 16 middle-sampled frames; a video is correct
  when the action in its file name is among the top-5 classes with sigmoid probability >= 0.85;
  score = fraction of correct videos.
* ``overall_consistency`` / ``temporal_style`` (vbench/overall_consistency.py,
  temporal_style.py): ViCLIP (:mod:`evalsuite.capabilities.vbench.networks.viclip`,
  ``ViClip-InternVid-10M-FLT.pth``) video-text cosine on 8 middle-sampled frames and the
  prompt; mean over videos.

* ``object_class`` / ``multiple_objects`` (vbench/object_class.py, multiple_objects.py): GRiT
  (:mod:`evalsuite.capabilities.vbench.networks.grit`, ``grit_b_densecap_objectdet.pth``,
  ObjectDet task) on 16 middle-sampled frames; a frame succeeds when the set of its box
  descriptions contains the object (both objects of "a and b"); score = successful frames /
  frames over all videos.
* ``color`` (vbench/color.py): GRiT with the DenseCap task; per frame, a box whose frame's
  first ObjectDet name equals the prompt's object (the prompt without "a " / "an " and the
  colour) counts when its dense caption has any of 12 colour words, and succeeds when it has
  the prompt's colour; per video successes / counted frames, videos without a counted frame
  left out (``videos_without_object``); score = mean over the other videos.
* ``spatial_relationship`` (vbench/spatial_relationship.py): GRiT ObjectDet boxes named
  exactly as either object; per frame the best pair score (left/right: horizontal centre
  distance above vertical, top/bottom: the reverse; 1 when IoU < 0.1, else 0.1 / IoU);
  score = mean over all frames of all videos.
* ``scene`` (vbench/scene.py): Tag2Text (:mod:`evalsuite.capabilities.vbench.networks.tag2text`,
  ``tag2text_swin_14m.pth``) captions of 16 frames at 384 x 384; a frame succeeds when its
  caption contains every word of the scene; score = successful frames / frames.

Frames of the GRiT dimensions keep their size (above 768 px on the shorter side they are
resized to 720 as upstream). A dimension whose model cannot be loaded is *unavailable* with
the load error, never a number.
All scorer models run in float32 (upstream: DINO and RAFT fp32, OpenAI CLIP fp16 on CUDA).
Every video is also linked under ``<run>/vbench_videos/<prompt_en>-<k>.mp4`` (VBench's
standard-mode names), so ``vbench evaluate`` can still be run in a separate environment.

Prompt suite: ``VBench_full_info.json`` (entries ``prompt_en``, ``dimension`` (list), optional
``auxiliary_info``), 946 prompts, shipped inside the ``vbench`` wheel (``vbench/`` package
folder) and in github Vchitect/VBench ``vbench/VBench_full_info.json``. Read from
``--data-path`` (the file or its folder), else from an installed ``vbench`` package (located
with importlib, not imported). 5 videos per prompt (VBench's sampling protocol).

Options (``--bench-option k=v``): ``dimensions`` (comma list: keeps the prompts of those
dimensions and reports only them), ``scorer_path`` (a folder in :data:`SCORER_LAYOUT`),
``dino_model``, ``clip_model`` (ViT-B/32), ``aesthetic_clip_model`` (ViT-L/14),
``aesthetic_head`` (a ``.pth`` state dict), ``raft_model`` (a torchvision ``raft_large``
state dict ``.pth``), ``umt_model`` (the UMT ``.pth``), ``viclip_model``, ``musiq_model``
(pyiqa's ``.pth``), ``amt_model`` (``amt-s.pth``), ``grit_model``
(``grit_b_densecap_objectdet.pth``), ``tag2text_model`` (``tag2text_swin_14m.pth``),
``bert_tokenizer`` (bert-base-uncased, GRiT's and Tag2Text's tokenizer): each a local path
or the hub id / URL used by default; and ``imaging_quality_preprocessing_mode``
(``longer`` (default), ``shorter``, ``shorter_centercrop`` or ``None``, as upstream's flag
of that name).
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.capabilities.vbench import formulas as D
from evalsuite.policies.base import GenItem, GenUnit, PolicyBenchmark, metric, unavailable
from evalsuite.types import ItemError, Score

log = logging.getLogger(__name__)

UPSTREAM = "github.com/Vchitect/VBench@45e79ec14e69a2187202c675d2dbce1a71843d53"
DIMENSIONS = ("subject_consistency", "background_consistency", "temporal_flickering",
              "motion_smoothness", "dynamic_degree", "aesthetic_quality", "imaging_quality",
              "object_class", "multiple_objects", "human_action", "color",
              "spatial_relationship", "scene", "temporal_style", "appearance_style",
              "overall_consistency")
IMPLEMENTED = ("subject_consistency", "background_consistency", "temporal_flickering",
               "motion_smoothness", "dynamic_degree", "aesthetic_quality", "imaging_quality",
               "appearance_style", "human_action", "overall_consistency", "temporal_style",
               "object_class", "multiple_objects", "color", "spatial_relationship", "scene")
UNAVAILABLE: dict[str, str] = {}  # every dimension is implemented
# GRiT runs: VBench's ObjectDet model (object_class.py, multiple_objects.py,
# spatial_relationship.py: initialize_model_det) and its DenseCap model (color.py:
# initialize_model), which also describes every box with ObjectDet (det_obj)
GRIT_MODE = {"object_class": "ObjectDet", "multiple_objects": "ObjectDet",
             "spatial_relationship": "ObjectDet", "color": "DenseCap"}
GRIT_TASKS = {"ObjectDet": ("ObjectDet",), "DenseCap": ("DenseCap", "ObjectDet")}
DEFAULTS = {
    "dino": "facebook/dino-vitb16",
    "clip": "openai/clip-vit-base-patch32",
    "aesthetic_clip": "openai/clip-vit-large-patch14",
    # vbench/aesthetic_quality.py get_aesthetic_model: the LAION-AI/aesthetic-predictor head
    "aesthetic_head": "https://raw.githubusercontent.com/LAION-AI/aesthetic-predictor/main/"
                      "sa_0_4_vit_l_14_linear.pth",
    "raft": "torchvision:Raft_Large_Weights.C_T_V1",
    # vbench/utils.py init_submodules('human_action')
    "umt": "https://huggingface.co/OpenGVLab/VBench_Used_Models/resolve/main/"
           "l16_ptk710_ftk710_ftk400_f16_res224.pth",
    # vbench/utils.py init_submodules('temporal_style' / 'overall_consistency')
    "viclip": "https://huggingface.co/OpenGVLab/VBench_Used_Models/resolve/main/"
              "ViClip-InternVid-10M-FLT.pth",
    # vbench/utils.py init_submodules('imaging_quality'): pyiqa's MUSIQ trained on SPAQ
    "musiq": "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/"
             "musiq_spaq_ckpt-358bb6af.pth",
    # vbench/utils.py init_submodules('motion_smoothness')
    "amt": "https://huggingface.co/lalala125/AMT/resolve/main/amt-s.pth",
    # vbench/utils.py init_submodules('object_class' ... 'color')
    "grit": "https://huggingface.co/OpenGVLab/VBench_Used_Models/resolve/main/"
            "grit_b_densecap_objectdet.pth",
    # grit_roi_heads.py: BertTokenizer.from_pretrained('bert-base-uncased')
    "bert": "google-bert/bert-base-uncased",
    # vbench/utils.py init_submodules('scene')
    "tag2text": "https://huggingface.co/spaces/xinyu1205/recognize-anything/resolve/main/"
                "tag2text_swin_14m.pth",
}
# hub repositories of which only some files are needed (prepare's allow_patterns)
HUB_FILES = {"bert": ("vocab.txt", "tokenizer_config.json", "config.json")}
OPTION = {"dino": "dino_model", "clip": "clip_model", "aesthetic_clip": "aesthetic_clip_model",
          "aesthetic_head": "aesthetic_head", "raft": "raft_model", "umt": "umt_model",
          "viclip": "viclip_model", "musiq": "musiq_model", "amt": "amt_model",
          "grit": "grit_model", "bert": "bert_tokenizer", "tag2text": "tag2text_model"}
SCORER_LAYOUT = {"dino": "dino", "clip": "clip-vit-b-32", "aesthetic_clip": "clip-vit-l-14",
                 "aesthetic_head": "aesthetic/sa_0_4_vit_l_14_linear.pth",
                 "raft": "raft/raft_large_C_T_V1.pth",
                 "umt": "umt/l16_ptk710_ftk710_ftk400_f16_res224.pth",
                 "viclip": "viclip/ViClip-InternVid-10M-FLT.pth",
                 "musiq": "pyiqa_model/musiq_spaq_ckpt-358bb6af.pth",
                 "amt": "amt_model/amt-s.pth",
                 "grit": "grit_model/grit_b_densecap_objectdet.pth",
                 "bert": "bert-base-uncased",
                 "tag2text": "caption_model/tag2text_swin_14m.pth"}
# the models re-implemented in evalsuite.capabilities.vbench.networks, each built from its
# upstream .pth by a loader
NETWORKS = "evalsuite.capabilities.vbench.networks"
REIMPLEMENTED = {"umt": ("umt", "load_classifier"), "viclip": ("viclip", "load_viclip"),
                 "musiq": ("musiq", "load_musiq"), "amt": ("amt", "load_amt"),
                 "grit": ("grit", "load_grit"), "tag2text": ("tag2text", "load_tag2text")}
# dimensions pooled over frames: sum of per-frame values / number of frames, all videos
POOLED = ("subject_consistency", "background_consistency", "appearance_style", "object_class",
          "multiple_objects", "spatial_relationship", "scene")
STATIC_PER_PROMPT = 5  # static_filter.py: at most 5 static videos kept per prompt
NO_FILTER = "temporal_flickering[no-static-filter]"
FRAME_BATCH = 32  # frames per forward pass (vbench/aesthetic_quality.py batch_size = 32)
MUSIQ_FRAME_BATCH = 8  # MUSIQ runs ~340 patches per 512 px frame through a ResNet root
AMT_PAIR_BATCH = 4  # AMT frame pairs per forward pass (upstream: one)
GRIT_FRAME_BATCH = 16  # same-size frames (of one or more videos) per GRiT pass (upstream: one)
TAG2TEXT_VIDEO_BATCH = 4  # videos (16 frames each) per Tag2Text pass (upstream: one)


def find_full_info(data_path: str | None) -> Path:
    if data_path:
        p = Path(data_path)
        p = p / "VBench_full_info.json" if p.is_dir() else p
        if not p.is_file():
            raise FileNotFoundError(f"VBench prompt suite not found: {p}")
        return p
    import importlib.util
    spec = importlib.util.find_spec("vbench")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "VBench_full_info.json: pass --data-path (the file from github Vchitect/VBench "
            "vbench/VBench_full_info.json) or install the vbench wheel (e.g. in another venv "
            "and point --data-path at its vbench/ folder)")
    p = Path(list(spec.submodule_search_locations)[0]) / "VBench_full_info.json"
    if not p.is_file():
        raise FileNotFoundError(f"the installed vbench package has no {p.name}")
    return p


class VBench(PolicyBenchmark):
    name: ClassVar[str] = "vbench"
    fixture: ClassVar[str | None] = "vbench"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "dimensions": "comma-separated dimensions (default: all available)",
        "imaging_quality_preprocessing_mode": "VBench's MUSIQ resize mode (default longer, "
                                              "as upstream)",
        "scorer_path": "folder with the scorer weights in VBench's layout (scoring only; not "
                       "part of the run identity)",
        "dino_model": "dino weights (file, folder or hub id)",
        "clip_model": "clip weights (file, folder or hub id)",
        "aesthetic_clip_model": "aesthetic clip weights (file, folder or hub id)",
        "aesthetic_head": "aesthetic head weights (file, folder or hub id)",
        "raft_model": "raft weights (file, folder or hub id)",
        "umt_model": "umt weights (file, folder or hub id)",
        "viclip_model": "viclip weights (file, folder or hub id)",
        "musiq_model": "musiq weights (file, folder or hub id)",
        "amt_model": "amt weights (file, folder or hub id)",
    }
    kind: ClassVar[str] = "generation"
    policy_task: ClassVar[str] = "text-to-video"
    hub_id: ClassVar[str] = "github.com/Vchitect/VBench vbench/VBench_full_info.json"
    splits: ClassVar[tuple[str, ...]] = ("full",)
    default_split: ClassVar[str] = "full"
    modality: ClassVar[str] = "video"
    samples_per_prompt: ClassVar[int] = 5
    availability_note: ClassVar[str | None] = None  # all 16 dimensions reimplemented
    metric_notes: ClassVar[dict[str, str]] = {
        "subject_consistency": "DINO ViT-B/16 CLS: mean over frames of (cos prev + cos first)/2",
        "background_consistency": "CLIP ViT-B/32: the same formula",
        "temporal_flickering": "(255 - mean abs frame difference) / 255 on RAFT-static videos",
        "motion_smoothness": "AMT-S: (255 - mean |odd frame - its interpolation|) / 255",
        "dynamic_degree": "fraction of videos whose RAFT top-5% flow exceeds the threshold",
        "aesthetic_quality": "LAION linear head on CLIP ViT-L/14 / 10, mean",
        "imaging_quality": "MUSIQ (SPAQ) MOS / 100, mean over frames then videos",
        "appearance_style": "CLIP ViT-B/32 frame-vs-style-text logit / 100, mean over frames",
        "human_action": "UMT Kinetics-400: prompt's action in the top-5 with p >= 0.85",
        "overall_consistency": "ViCLIP video-prompt cosine, mean over videos",
        "temporal_style": "ViCLIP video-prompt cosine, mean over videos",
        "object_class": "GRiT ObjectDet: frames whose box names include the object",
        "multiple_objects": "GRiT ObjectDet: frames whose box names include both objects",
        "color": "GRiT DenseCap: per video, coloured object frames with the prompt's colour",
        "spatial_relationship": "GRiT ObjectDet: best box-pair position score per frame",
        "scene": "Tag2Text: frames whose caption has every word of the scene",
        **UNAVAILABLE,
    }

    def wanted(self) -> list[str] | None:
        want = self.options.get("dimensions")
        if not want:
            return None
        want = [d.strip() for d in (want.split(",") if isinstance(want, str) else want)
                if d.strip()]
        bad = [d for d in want if d not in DIMENSIONS]
        if bad:
            raise ValueError(f"unknown VBench dimensions {bad}; known: {DIMENSIONS}")
        return want

    def musiq_mode(self) -> str:
        """imaging_quality's ``--imaging_quality_preprocessing_mode`` (upstream default)."""
        from evalsuite.capabilities.vbench.networks.musiq import check_mode

        return check_mode(self.options.get("imaging_quality_preprocessing_mode", "longer"))

    def scored_dims(self, item: GenItem) -> list[str]:
        """The implemented dimensions this prompt is scored on (its own, within the filter)."""
        want = self.wanted()
        return [d for d in item.meta["dimension"] if d in IMPLEMENTED
                and (want is None or d in want)]

    def load_items(self, data_path: str | None, split: str | None
                   ) -> list[GenItem | ItemError]:
        rows = json.loads(find_full_info(data_path).read_text(encoding="utf-8"))
        want = set(self.wanted() or [])
        out: list[GenItem | ItemError] = []
        for i, r in enumerate(rows):
            iid = f"vbench:{i:04d}"
            prompt, dims = r.get("prompt_en"), r.get("dimension")
            if not prompt or not isinstance(dims, list):
                out.append(ItemError(iid, "entry lacks prompt_en or a dimension list", {}))
                continue
            unknown = [d for d in dims if d not in DIMENSIONS]
            if unknown:
                out.append(ItemError(iid, f"unknown dimensions {unknown}", {}))
                continue
            if want and not want & set(dims):
                continue
            out.append(GenItem(iid, prompt, dims[0], {
                "dimension": dims, "auxiliary_info": r.get("auxiliary_info")}))
        return out

    def scorer(self, device: str, dtype: str) -> "VBenchScorer":
        return VBenchScorer(self, device)

    def sources(self) -> dict[str, str]:
        base = self.options.get("scorer_path")
        out = {k: self.options.get(OPTION[k]) or (str(Path(base) / SCORER_LAYOUT[k]) if base
                                                  else DEFAULTS[k]) for k in DEFAULTS}
        # The ViT-B/32 checkpoint carries its tokenizer: OpenAI CLIP's BPE, which ViCLIP
        # (bpe_simple_vocab_16e6) shares.
        out["clip_tokenizer"] = out["clip"]
        out["tag2text_tokenizer"] = out["bert"]  # plus [DEC] and [ENC]
        return out

    # -- aggregation ------------------------------------------------------------------------
    def metrics(self, items: list[GenItem], records: dict) -> dict[str, Any]:
        want = self.wanted()
        dims = sorted({d for it in items for d in it.meta["dimension"]
                       if want is None or d in want}, key=DIMENSIONS.index)
        ok = {k[1]: r.score.extras for k, r in records.items()
              if k[0] == "eval" and r.error is None and r.score is not None}
        m: dict[str, Any] = {"videos_decodable": metric(None if not ok else 1.0, len(ok),
                                                        per_item=dict.fromkeys(ok, 1.0))}
        by_dim: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for uid, ex in ok.items():
            for d in ex.get("scored", []):
                by_dim[d].append({**ex, "unit_id": uid})
        for d in dims:
            if d not in IMPLEMENTED:
                m[d] = unavailable(UNAVAILABLE[d])
                continue
            exs = by_dim.get(d, [])
            if d == "temporal_flickering":
                m.update(_flickering(exs))
                continue
            vals = [ex for ex in exs if ex.get(d) is not None]
            errs = sum(1 for ex in exs if d in ex.get("errors", {}))
            reasons = [ex["unavailable"][d] for ex in exs if d in ex.get("unavailable", {})]
            if not vals and reasons:
                m[d] = unavailable(reasons[0])
                continue
            if d in POOLED:
                value = D.pooled([(ex[f"{d}_sum"], ex[f"{d}_frames"]) for ex in vals])
                units = {ex["unit_id"]: (ex[f"{d}_sum"], ex[f"{d}_frames"]) for ex in vals}
            else:  # dynamic_degree (bool per video), the others: mean over videos
                value = sum(float(ex[d]) for ex in vals) / len(vals) if vals else None
                units = {ex["unit_id"]: float(ex[d]) for ex in vals}
            extra = {}
            if d == "color":  # color.py averages over the videos showing the object only
                extra["videos_without_object"] = sum(
                    1 for ex in exs if d not in ex.get("errors", {})
                    and d not in ex.get("unavailable", {}) and ex.get(d) is None)
            m[d] = metric(value, len(vals), per_item=units, errors=errs, **extra)
        values = {d: (m[d] or {}).get("value") if d in m else None for d in DIMENSIONS}
        return {"metrics": m, "breakdown": {}, "vbench_upstream": UPSTREAM,
                "normalised_scores": final_scores(values)}


# --- the leaderboard's Quality / Semantic / Total ------------------------------------------------
# scripts/constant.py + scripts/cal_final_score.py (github Vchitect/VBench @45e79ec): each
# dimension is min-max normalised with NORMALIZE_DIC, times DIM_WEIGHT (dynamic degree 0.5);
# Quality / Semantic = sum over QUALITY_LIST / SEMANTIC_LIST / sum of their weights; Total =
# (4 Quality + 1 Semantic) / 5. Upstream fills a missing dimension with 0 (which normalises
# to a made-up number); here a score missing a dimension is reported only as partial.
NORMALIZE = {  # dimension: (Min, Max)
    "subject_consistency": (0.1462, 1.0), "background_consistency": (0.2615, 1.0),
    "temporal_flickering": (0.6293, 1.0), "motion_smoothness": (0.706, 0.9975),
    "dynamic_degree": (0.0, 1.0), "aesthetic_quality": (0.0, 1.0),
    "imaging_quality": (0.0, 1.0), "object_class": (0.0, 1.0), "multiple_objects": (0.0, 1.0),
    "human_action": (0.0, 1.0), "color": (0.0, 1.0), "spatial_relationship": (0.0, 1.0),
    "scene": (0.0, 0.8222), "appearance_style": (0.0009, 0.2855),
    "temporal_style": (0.0, 0.364), "overall_consistency": (0.0, 0.364),
}
DIM_WEIGHT = {d: 0.5 if d == "dynamic_degree" else 1.0 for d in NORMALIZE}
QUALITY_LIST = ("subject_consistency", "background_consistency", "temporal_flickering",
                "motion_smoothness", "aesthetic_quality", "imaging_quality", "dynamic_degree")
SEMANTIC_LIST = ("object_class", "multiple_objects", "human_action", "color",
                 "spatial_relationship", "scene", "appearance_style", "temporal_style",
                 "overall_consistency")
QUALITY_WEIGHT, SEMANTIC_WEIGHT = 4, 1


def final_scores(values: dict[str, float | None]) -> dict[str, Any]:
    """The leaderboard's normalised scores from per-dimension values (upstream scale, 0..1).

    ``quality_score`` / ``semantic_score`` / ``total_score`` carry a number only when every
    dimension they need has one; otherwise they are unavailable naming what is missing, and
    ``<name>[partial]`` holds the same formula over the available dimensions (weights
    renormalised), with the missing ones listed (absent when nothing is available): never
    to be read as the official score.
    """
    norm = {d: (values[d] - lo) / (hi - lo) * DIM_WEIGHT[d]
            for d, (lo, hi) in NORMALIZE.items() if values.get(d) is not None}
    out: dict[str, Any] = {"reference": f"{UPSTREAM} scripts/cal_final_score.py",
                           "normalised": norm}
    parts: dict[str, tuple[float | None, list[str]]] = {}
    for name, dims in (("quality_score", QUALITY_LIST), ("semantic_score", SEMANTIC_LIST)):
        have = [d for d in dims if d in norm]
        missing = [d for d in dims if d not in norm]
        value = (sum(norm[d] for d in have) / sum(DIM_WEIGHT[d] for d in have)) if have else None
        parts[name] = (value, missing)
    q, s = parts["quality_score"], parts["semantic_score"]
    both = None if q[0] is None or s[0] is None else \
        (q[0] * QUALITY_WEIGHT + s[0] * SEMANTIC_WEIGHT) / (QUALITY_WEIGHT + SEMANTIC_WEIGHT)
    parts["total_score"] = (both, q[1] + s[1])
    for name, (value, missing) in parts.items():
        n = len(QUALITY_LIST) + len(SEMANTIC_LIST) if name == "total_score" else \
            len(QUALITY_LIST if name == "quality_score" else SEMANTIC_LIST)
        if not missing:
            out[name] = metric(value, n)
            continue
        out[name] = unavailable(f"partial: missing {', '.join(missing)}")
        if value is not None:
            out[f"{name}[partial]"] = metric(value, n - len(missing), missing=missing,
                                             note="over the available dimensions only; not "
                                                  "the official score")
    return out


def _flickering(exs: list[dict[str, Any]]) -> dict[str, Any]:
    d = "temporal_flickering"
    vals = [ex for ex in exs if ex.get(d) is not None]
    errs = sum(1 for ex in exs if d in ex.get("errors", {}))
    out: dict[str, Any] = {d: None}  # keeps temporal_flickering ahead of its substitute
    out[NO_FILTER] = metric(sum(ex[d] for ex in vals) / len(vals) if vals else None, len(vals),
                            per_item={ex["unit_id"]: ex[d] for ex in vals},
                            note="every video of the prompts, no static filter (substitute)")
    reasons = [ex["unavailable"][d] for ex in vals if d in ex.get("unavailable", {})]
    if reasons:  # RAFT could not be loaded: no static filter, so no faithful number
        out[d] = unavailable(f"needs the RAFT static filter: {reasons[0]}")
        return out
    vals = [ex for ex in vals if ex.get("static") is not None]  # RAFT errors: counted below
    by_prompt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in vals:
        if ex["static"]:
            by_prompt[ex["prompt"]].append(ex)
    kept = []
    for prompt, group in by_prompt.items():  # static_filter.py: sorted paths, first 5 static
        group.sort(key=lambda ex: f"{prompt}-{ex['k']}.mp4")
        kept.extend(group[:STATIC_PER_PROMPT])
    out[d] = metric(sum(ex[d] for ex in kept) / len(kept) if kept else None, len(kept),
                    per_item={ex["unit_id"]: ex[d] for ex in kept}, errors=errs, static_videos=len(kept), filtered_videos=len(vals))
    return out


class VBenchScorer:
    """Decodes each video (all frames), links it under VBench's file name, and computes the
    implemented dimensions of its prompt. Models load on first use; one that cannot be
    loaded makes its dimensions unavailable (with the error), never a number."""

    def __init__(self, bench: VBench, device: str):
        self.bench, self.device = bench, device
        self.src = bench.sources()
        self.musiq_mode = bench.musiq_mode()
        self._models: dict[str, Any] = {}
        self._failed: dict[str, str] = {}

    def load(self) -> None:
        import torch
        self.torch = torch

    # -- models -----------------------------------------------------------------------------
    def model(self, key: str):
        if key in self._models:
            return self._models[key]
        if key in self._failed:
            raise _Unavailable(self._failed[key])
        try:
            if key in REIMPLEMENTED:  # <networks module>.<loader>(state dict)
                import importlib
                mod, fn = REIMPLEMENTED[key]
                load = getattr(importlib.import_module(f"{NETWORKS}.{mod}"), fn)
                self._models[key] = load(self._state_dict(self.src[key])).to(self.device)
            else:
                self._models[key] = getattr(self, f"_load_{key}")(self.src[key])
        except Exception as e:  # noqa: BLE001 - reported as the dimension's unavailability
            self._failed[key] = f"{key} model not loaded from {self.src[key]}: " \
                                f"{type(e).__name__}: {e}"
            log.warning("VBench: %s", self._failed[key])
            raise _Unavailable(self._failed[key]) from e
        return self._models[key]

    def _load_dino(self, src: str):
        import types

        from transformers import ViTModel

        # DINO's vit_base uses LayerNorm(eps=1e-6) (facebookresearch/dino vision_transformer.py)
        m = ViTModel.from_pretrained(src, add_pooling_layer=False, layer_norm_eps=1e-6
                                     ).to(self.device).eval()
        emb = m.embeddings

        def interp(self_, embeddings, height, width):
            return D.dino_interpolate_pos_encoding(self_.position_embeddings, height, width,
                                                   self_.patch_size)
        emb.interpolate_pos_encoding = types.MethodType(interp, emb)
        return m

    def _load_clip_model(self, src: str):
        from transformers import CLIPModel
        return CLIPModel.from_pretrained(src, dtype=self.torch.float32).to(self.device).eval()

    def _load_clip(self, src: str):
        return self._load_clip_model(src)

    def _load_clip_tokenizer(self, src: str):
        # HF's CLIPTokenizer = clip.tokenize's BPE (lower-cased, <|startoftext|> ...
        # <|endoftext|>); padding differs but the causal text tower never attends to it.
        from transformers import CLIPTokenizer
        return CLIPTokenizer.from_pretrained(src)

    def _load_bert(self, src: str):
        from transformers import BertTokenizer
        return BertTokenizer.from_pretrained(src)

    def _load_tag2text_tokenizer(self, src: str):
        from evalsuite.capabilities.vbench.networks.tag2text import load_tokenizer
        return load_tokenizer(src)

    def _load_aesthetic_clip(self, src: str):
        return self._load_clip_model(src)

    def _state_dict(self, src: str):
        """A ``.pth`` from a URL (torch hub cache) or a local path, tensors only."""
        torch = self.torch
        if src.startswith(("http://", "https://")):
            return torch.hub.load_state_dict_from_url(src, map_location="cpu",
                                                      weights_only=True)
        from evalsuite.checkpoint import read_checkpoint
        return read_checkpoint(src)

    def _load_aesthetic_head(self, src: str):
        torch = self.torch
        state = self._state_dict(src)
        w = state["weight"]
        head = torch.nn.Linear(w.shape[1], w.shape[0])
        head.load_state_dict(state)
        return head.to(self.device).eval()

    def _load_raft(self, src: str):
        from torchvision.models.optical_flow import Raft_Large_Weights, raft_large

        if src == DEFAULTS["raft"]:  # torchvision's port of princeton-vl RAFT raft-things.pth
            m = raft_large(weights=Raft_Large_Weights.C_T_V1)
        else:
            m = raft_large(weights=None)
            m.load_state_dict(self._state_dict(src))
        return m.to(self.device).eval()

    # -- features ---------------------------------------------------------------------------
    def _image_embeds(self, clip, pixels):
        torch = self.torch
        outs = []
        with torch.inference_mode():
            for x in pixels.split(FRAME_BATCH):
                pooled = clip.vision_model(pixel_values=x.to(self.device)).pooler_output
                outs.append(clip.visual_projection(pooled).float().cpu())  # encode_image
        return torch.cat(outs)

    def _dino_feats(self, dino, pixels):
        torch = self.torch
        outs = []
        with torch.inference_mode():
            for x in pixels.split(FRAME_BATCH):
                out = dino(pixel_values=x.to(self.device), interpolate_pos_encoding=True)
                outs.append(out.last_hidden_state[:, 0].float().cpu())  # CLS after final norm
        return torch.cat(outs)

    def _raft_scores(self, frames, pairs, fraction: float) -> list[float]:
        raft = self.model("raft")
        return D.raft_pair_scores(lambda a, b: raft(a, b, num_flow_updates=D.RAFT_ITERS)[-1],
                                  frames, pairs, fraction, device=self.device)

    # -- the scorer protocol ----------------------------------------------------------------
    def prepare(self, unit: GenUnit, path: Path) -> dict[str, Any]:
        import numpy as np

        from evalsuite.media import MediaError, decode_frames
        from evalsuite.types import MediaRef

        frames, fps, _backend = decode_frames(MediaRef(kind="video", path=str(path)))
        if len(frames) < 2:
            raise MediaError(f"VBench needs at least 2 frames, the video has {len(frames)}")
        run_dir = path.parents[2]  # <run>/samples/<category>/<file>
        link = run_dir / "vbench_videos" / f"{unit.item.prompt}-{unit.k}.mp4"
        link.parent.mkdir(exist_ok=True)
        if not link.exists():
            os.symlink(os.path.relpath(path, link.parent), link)
        frames = np.stack(frames)
        dims = self.bench.scored_dims(unit.item)
        p: dict[str, Any] = {"frames": frames, "fps": fps, "dims": dims, "k": unit.k,
                             "prompt": unit.item.prompt, "link": link.name}
        if "subject_consistency" in dims:
            p["dino_pixels"] = D.dino_preprocess(frames)
        if "background_consistency" in dims or "aesthetic_quality" in dims:
            p["clip_pixels"] = D.clip_preprocess(frames)
        if "human_action" in dims:
            from evalsuite.capabilities.vbench.networks import umt as U
            try:
                p["umt_video"] = U.preprocess(frames)
            except ImportError as e:  # cv2: upstream's resize; no silent substitute
                p["umt_video"] = _Unavailable(f"human_action needs opencv-python-headless "
                                              f"(pip install 'evalsuite[policy]'): {e}")
        if {"overall_consistency", "temporal_style"} & set(dims):
            from evalsuite.capabilities.vbench.networks.viclip import NUM_FRAMES
            p["viclip_pixels"] = D.clip_preprocess(
                frames[D.middle_frame_indices(NUM_FRAMES, len(frames))], uint8=True)
        if "imaging_quality" in dims:
            from evalsuite.capabilities.vbench.networks.musiq import preprocess
            p["musiq_frames"] = preprocess(frames, self.musiq_mode)
        modes = {GRIT_MODE[d] for d in dims if d in GRIT_MODE}
        sixteen = frames[D.middle_frame_indices(D.GRIT_FRAMES, len(frames))]
        p["aux"] = unit.item.meta.get("auxiliary_info") or {}
        if modes:  # object_class.py etc.: load_video(num_frames=16)
            p["grit_frames"] = {m: _grit_input(sixteen, m) for m in sorted(modes)}
        if "scene" in dims:  # scene.py: load_video(num_frames=16, width=384, height=384)
            from evalsuite.capabilities.vbench.networks.tag2text import \
                preprocess as tag2text_preprocess
            p["scene_pixels"] = tag2text_preprocess(sixteen)
        if "appearance_style" in dims:
            p["style_pixels"] = D.clip_image_preprocess(frames)
            p["style"] = ((unit.item.meta.get("auxiliary_info") or {}).get(
                "appearance_style") or {}).get("appearance_style")
        return p

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        self._run_grit(prepared)
        self._run_tag2text(prepared)
        return [self._score(p) for p in prepared]

    def _run_videos(self, group: list[dict[str, Any]], inputs, store, keys, run) -> None:
        """``run`` (frames -> per-frame outputs) on the frames of all videos of ``group``
        at once, each video's slice stored with ``store(p, outputs)``; when the models
        cannot be loaded each video gets the reason, and when the joint run fails each
        video runs alone (its own error, if any)."""
        torch = self.torch
        try:
            models = [self.model(k) for k in keys]
        except _Unavailable as e:
            for p in group:
                store(p, e)
            return
        try:
            outs = run(*models, torch.cat([inputs(p) for p in group]))
        except Exception:  # noqa: BLE001 - isolate: each video on its own
            for p in group:
                try:
                    store(p, run(*models, inputs(p)))
                except Exception as e:  # noqa: BLE001 - that video's error
                    store(p, e)
            return
        i = 0
        for p in group:
            n = len(inputs(p))
            store(p, outs[i:i + n])
            i += n

    def _run_grit(self, prepared: list[dict[str, Any]]) -> None:
        """GRiT on the 16 frames of every video of the batch, same-size frames of one mode
        together (:data:`GRIT_FRAME_BATCH` per pass); each video gets ``p["grit"][mode]``
        (its frames' outputs) or an error."""
        groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
        for p in prepared:
            p["grit"] = {}
            for mode, x in p.get("grit_frames", {}).items():
                if isinstance(x, Exception):
                    p["grit"][mode] = x
                else:
                    groups[(mode, *x.shape[-2:])].append(p)
        for (mode, *_), group in groups.items():
            def detect(model, tok, x, mode=mode):
                out = []
                for chunk in x.split(GRIT_FRAME_BATCH):
                    out += model.detect(chunk.to(self.device), tok, GRIT_TASKS[mode])
                return out

            self._run_videos(group, lambda p, m=mode: p["grit_frames"][m],
                             lambda p, out, m=mode: p["grit"].__setitem__(m, out),
                             ("grit", "bert"), detect)

    def _run_tag2text(self, prepared: list[dict[str, Any]]) -> None:
        """Tag2Text captions of the 16 frames of every scene video of the batch; each
        video's frames are one upstream ``generate`` call (the tag conditioning of a frame
        depends on its place among them), :data:`TAG2TEXT_VIDEO_BATCH` videos per pass."""
        from evalsuite.capabilities.vbench.formulas import GRIT_FRAMES

        group = [p for p in prepared if "scene_pixels" in p]

        def caption(model, tok, x):
            out = []
            for chunk in x.split(GRIT_FRAMES * TAG2TEXT_VIDEO_BATCH):
                out += model.caption(chunk.to(self.device), tok, call_size=GRIT_FRAMES)[0]
            return out

        def store(p, out):
            p["scene_captions"] = out
        self._run_videos(group, lambda p: p["scene_pixels"], store,
                         ("tag2text", "tag2text_tokenizer"), caption)

    def _score(self, p: dict[str, Any]) -> Score:
        frames = p["frames"]
        ex: dict[str, Any] = {"frames": len(frames), "fps": p["fps"], "link": p["link"],
                              "prompt": p["prompt"], "k": p["k"], "scored": p["dims"],
                              "unavailable": {}, "errors": {}}
        for d in p["dims"]:
            try:
                getattr(self, f"_dim_{d}")(p, ex)
            except _Unavailable as e:
                ex["unavailable"][d] = str(e)
            except Exception as e:  # noqa: BLE001 - this video's error on this dimension
                ex["errors"][d] = f"{type(e).__name__}: {e}"
        return Score(value=None, extras=ex)

    def _dim_temporal_flickering(self, p, ex):
        ex["temporal_flickering"] = D.temporal_flickering(p["frames"])
        ex["static"] = None
        f = p["frames"]
        thres, count_num = D.static_params(f.shape[1], f.shape[2], len(f))
        scores = self._raft_scores(f, D.static_pairs(len(f)), 0.02)
        ex["static_flow"] = scores
        ex["static"] = D.is_static(scores, thres, count_num)

    def _consistency(self, d: str, feats, ex):
        s, n = D.consistency_sum(feats)
        ex[f"{d}_sum"], ex[f"{d}_frames"], ex[d] = s, n, s / n

    def _dim_subject_consistency(self, p, ex):
        self._consistency("subject_consistency",
                          self._dino_feats(self.model("dino"), p["dino_pixels"]), ex)

    def _dim_background_consistency(self, p, ex):
        self._consistency("background_consistency",
                          self._image_embeds(self.model("clip"), p["clip_pixels"]), ex)

    def _dim_aesthetic_quality(self, p, ex):
        torch = self.torch
        head = self.model("aesthetic_head")
        emb = self._image_embeds(self.model("aesthetic_clip"), p["clip_pixels"])
        emb = torch.nn.functional.normalize(emb, dim=-1, p=2)
        with torch.inference_mode():
            s = head(emb.to(self.device)).squeeze(-1).float().cpu()
        ex["aesthetic_frame_scores"] = [round(float(v), 6) for v in s]
        ex["aesthetic_quality"] = D.aesthetic_video_score(s)

    def _dim_motion_smoothness(self, p, ex):
        from evalsuite.capabilities.vbench.networks import amt as A

        pred = A.predict_inbetweens(self.model("amt"), p["frames"], self.device,
                                    batch=AMT_PAIR_BATCH)
        ex["motion_smoothness"] = A.smoothness_from_predictions(p["frames"], pred)

    def _dim_imaging_quality(self, p, ex):
        torch = self.torch
        musiq = self.model("musiq")
        with torch.inference_mode():  # upstream: one frame per call; same numbers in batches
            s = torch.cat([musiq.score(x.to(self.device).float() / 255.).float().cpu()
                           for x in p["musiq_frames"].split(MUSIQ_FRAME_BATCH)])
        ex["imaging_quality_frame_scores"] = [round(float(v), 6) for v in s]
        ex["imaging_quality_mos"] = float(s.mean())
        ex["imaging_quality"] = ex["imaging_quality_mos"] / 100  # imaging_quality.py: / 100.

    def _dim_appearance_style(self, p, ex):
        torch = self.torch
        if not p.get("style"):  # upstream raises too: the suite's entry must name the style
            raise ValueError("no auxiliary_info.appearance_style.appearance_style")
        clip, tok = self.model("clip"), self.model("clip_tokenizer")
        ids = tok([p["style"]], padding=True, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            txt = clip.text_projection(clip.text_model(**ids).pooler_output).float().cpu()
        s = D.style_frame_scores(self._image_embeds(clip, p["style_pixels"]), txt[0],
                                 float(clip.logit_scale.detach()))
        ex["appearance_style_frame_scores"] = [round(v, 6) for v in s]
        ex["appearance_style_sum"], ex["appearance_style_frames"] = sum(s), len(s)
        ex["appearance_style"] = sum(s) / len(s)

    def _dim_human_action(self, p, ex):
        from evalsuite.capabilities.vbench.networks import umt as U

        if isinstance(p["umt_video"], Exception):
            raise p["umt_video"]
        umt = self.model("umt")
        with self.torch.inference_mode():
            logits = umt(p["umt_video"].to(self.device)).float().cpu()[0]
        ex["human_action_label"] = U.action_label(p["link"])
        ex["human_action_top"] = U.top_classes(logits)
        ex["human_action"] = U.is_correct(logits, p["link"])

    def _viclip(self, d: str, p, ex):
        from evalsuite.capabilities.vbench.networks import viclip as V

        if "viclip_similarity" not in ex:  # both dimensions score the same pair
            model, tok = self.model("viclip"), self.model("clip_tokenizer")
            with self.torch.inference_mode():
                video = model.encode_video(p["viclip_pixels"].unsqueeze(0).to(self.device))
                text = model.text_encoder(V.token_ids(tok, p["prompt"]).to(self.device))
            ex["viclip_similarity"] = V.video_text_similarity(video.cpu(), text.cpu())
        ex[d] = ex["viclip_similarity"]

    def _dim_overall_consistency(self, p, ex):
        self._viclip("overall_consistency", p, ex)

    def _dim_temporal_style(self, p, ex):
        self._viclip("temporal_style", p, ex)

    def _dim_object_class(self, p, ex):
        sets = [D.frame_objects(f) for f in _grit_boxes(p, "object_class")]
        ex["object_class_detected"] = [sorted(s) for s in sets]
        _pooled_rate(ex, "object_class",
                     D.object_class_count(_aux(p, "object_class")["object"], sets), len(sets))

    def _dim_multiple_objects(self, p, ex):
        sets = [D.frame_objects(f) for f in _grit_boxes(p, "multiple_objects")]
        ex["multiple_objects_detected"] = [sorted(s) for s in sets]
        key = _aux(p, "multiple_objects")["object"]
        _pooled_rate(ex, "multiple_objects", D.multiple_objects_count(key, sets), len(sets))

    def _dim_color(self, p, ex):
        color = _aux(p, "color")["color"]
        obj = D.color_object(p["prompt"], color)
        frames = [D.color_frame_pairs(f) for f in _grit_boxes(p, "color")]
        with_object, with_color = D.color_counts(color, obj, frames)
        ex.update(color_object=obj, color_object_frames=with_object,
                  color_color_frames=with_color)
        # color.py: a video without a coloured box of the object is left out of the mean
        ex["color"] = with_color / with_object if with_object else None

    def _dim_spatial_relationship(self, p, ex):
        d = "spatial_relationship"
        s = D.spatial_frame_scores(_aux(p, d)[d], _grit_boxes(p, d))
        ex["spatial_relationship_frame_scores"] = s
        _pooled_rate(ex, d, float(sum(s)), len(s))

    def _dim_scene(self, p, ex):
        captions = p["scene_captions"]
        if isinstance(captions, Exception):
            raise captions
        ex["scene_captions"] = captions
        scene = _aux(p, "scene")["scene"]["scene"]  # scene.py: info['scene']['scene']
        _pooled_rate(ex, "scene", D.scene_count(scene, captions), len(captions))

    def _dim_dynamic_degree(self, p, ex):
        f = p["frames"][::D.dynamic_frame_interval(p["fps"])]
        thres, count_num = D.dynamic_params(f.shape[1], f.shape[2], len(f))
        scores = self._raft_scores(f, [(i, i + 1) for i in range(len(f) - 1)], 0.05)
        ex["dynamic_flow"] = scores
        ex["dynamic_degree"] = D.is_moving(scores, thres, count_num)


def _grit_input(frames, mode: str):
    """The 16 frames as GRiT reads them: float RGB 0..255, (T, 3, H, W). Above 768 px on the
    shorter side upstream resizes to 720: color.py with ``cv2.resize(INTER_LINEAR)`` on the
    uint8 frames, the ObjectDet dimensions with torchvision ``Resize`` on the float tensor
    (bilinear; torchvision's current antialiasing default)."""
    import torchvision.transforms.functional as TF

    from evalsuite.capabilities.vbench.networks.grit import frames_to_tensor

    size = D.grit_resize_size(*frames.shape[1:3])
    if size is None:
        return frames_to_tensor(frames)
    if mode == "DenseCap":
        try:
            import cv2
        except ImportError as e:
            return _Unavailable(f"color needs opencv-python-headless for frames above 768 px "
                                f"(pip install 'evalsuite[policy]'): {e}")
        import numpy as np
        return frames_to_tensor(np.stack([cv2.resize(f, (size[1], size[0]),
                                                     interpolation=cv2.INTER_LINEAR)
                                          for f in frames]))
    return TF.resize(frames_to_tensor(frames), list(size), antialias=True)


def _grit_boxes(p: dict[str, Any], d: str) -> list[list[tuple]]:
    """Per frame, per box ``(description, int box, det_obj)`` as ``run_caption_tensor``."""
    mode = GRIT_MODE[d]
    out = p["grit"][mode]
    if isinstance(out, Exception):
        raise out
    task = GRIT_TASKS[mode][0]
    return [[(desc, box, o["ObjectDet"]) for desc, box in zip(o[task], o["int_boxes"])]
            for o in out]


def _aux(p: dict[str, Any], d: str) -> dict[str, Any]:
    info = p["aux"].get(d)
    if not isinstance(info, dict):  # upstream raises too
        raise ValueError(f"the prompt has no auxiliary_info.{d}")
    return info


def _pooled_rate(ex: dict[str, Any], d: str, total: float, frames: int) -> None:
    ex[f"{d}_sum"], ex[f"{d}_frames"], ex[d] = total, frames, total / frames


class _Unavailable(Exception):
    """A dimension's model could not be loaded."""
