"""HPSv2 / HPSv2.1 (Wu et al. 2023): an open_clip ViT-H-14 fine-tuned on human preferences.

Faithful to upstream (github tgxs002/HPSv2) without its pip package, which pins an old
open_clip fork and lacks its tokenizer vocab file:

* model: open_clip ``ViT-H-14`` built with ``pretrained=None`` (the LAION weights are never
  downloaded: the HPS checkpoint replaces every tensor), then the HPS checkpoint's
  ``checkpoint["state_dict"]`` is loaded with a strict key check
  (upstream ``hpsv2/img_score.py``: ``model.load_state_dict(checkpoint['state_dict'])``);
* checkpoints: hub ``xswu/HPSv2``, ``HPS_v2_compressed.pt`` (v2) and
  ``HPS_v2.1_compressed.pt`` (v2.1) (upstream ``hpsv2/utils.py`` ``hps_version_map``).
  The two versions' scores are not comparable, so they are two judge names;
* preprocessing: upstream's ``preprocess_val`` (``hpsv2/src/open_clip/factory.py``
  ``light_augmentation=True`` -> ``image_transform(..., resize_longest_max=True)``, and
  ``hpsv2/src/open_clip/transform.py``): RGB -> ToTensor -> ``ResizeMaxSize(224)``
  (bicubic resize on the *tensor* so the longest side is 224, then zero padding split evenly,
  left/top get ``pad // 2``, right/bottom the rest; fill 0 = black before normalisation)
  -> Normalize(OpenAI CLIP mean/std) (``hpsv2/src/open_clip/constants.py``);
* score: ``image_features @ text_features.T`` with both L2-normalised, i.e. the plain cosine;
  upstream does not multiply by ``logit_scale`` (``hpsv2/img_score.py``).

One deliberate deviation: upstream's ``ResizeMaxSize`` skips resizing *and padding* when the
longest side is already 224, which leaves a non-square tensor that the ViT cannot take; we
still pad such images to 224 x 224 (identical to upstream for every input upstream accepts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.judges.base import Judge, torch_dtype
from evalsuite.media import load_image
from evalsuite.types import PointItem, Score

HUB_REPO = "xswu/HPSv2"
# Adds both compressed checkpoints; main's head when seen:
# https://huggingface.co/xswu/HPSv2/commit/697403c78157020a1ae59d23f111aa58ced35b0a
HUB_REVISION = "697403c78157020a1ae59d23f111aa58ced35b0a"
CHECKPOINTS = {"v2": "HPS_v2_compressed.pt", "v2.1": "HPS_v2.1_compressed.pt"}
ARCH = "ViT-H-14"
IMAGE_SIZE = 224
# OpenAI CLIP normalisation (hpsv2/src/open_clip/constants.py OPENAI_DATASET_MEAN/STD).
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
# A checkpoint folder may carry open_clip's own config file (the open_clip hub format,
# {"model_cfg": {...}}) to describe a different architecture; the official HPS repo has none,
# so ViT-H-14 is used. The tiny test checkpoints use it.
CONFIG_FILE = "open_clip_config.json"


def hps_preprocess(image, size: int = IMAGE_SIZE):
    """HPS's ``preprocess_val`` for an RGB PIL image -> float tensor (3, size, size)."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    t = TF.to_tensor(image)  # [0, 1], (C, H, W)
    h, w = t.shape[1:]
    scale = size / float(max(h, w))
    if scale != 1.0:
        new_size = [round(h * scale), round(w * scale)]  # Python round, as upstream
        t = TF.resize(t, new_size, interpolation=InterpolationMode.BICUBIC, antialias=True)
    pad_h, pad_w = size - t.shape[1], size - t.shape[2]
    if pad_h or pad_w:
        t = TF.pad(t, [pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2], fill=0)
    return TF.normalize(t, MEAN, STD)


def load_hps_state_dict(path: str | Path) -> dict[str, Any]:
    """The tensors of an HPS checkpoint (a dict with 'state_dict'), loaded safely."""
    from evalsuite.checkpoint import read_checkpoint

    return read_checkpoint(path, require="state_dict")["state_dict"]


def build_open_clip(model_cfg: dict[str, Any] | None = None):
    """An open_clip CLIP of the given config (default ViT-H-14), random init, no download."""
    import open_clip
    from open_clip.model import CLIP

    cfg = model_cfg or open_clip.get_model_config(ARCH)
    # HPSv2 builds it with force_quick_gelu=False, force_custom_text=False (img_score.py).
    return CLIP(**cfg, output_dict=True)


def load_strict(model, state_dict: dict[str, Any], what: str) -> None:
    """load_state_dict that fails on any missing or unexpected key (and on shape mismatch)."""
    from evalsuite.checkpoint import load_weights

    load_weights(model, state_dict, what)


class HPSv2(Judge):
    name: ClassVar[str] = "hpsv2"
    pointwise: ClassVar[bool] = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation", "edit"})
    requires: ClassVar[tuple[str, ...]] = ("torch", "open_clip", "torchvision")
    default_model: ClassVar[str] = HUB_REPO
    default_revision: ClassVar[str | None] = HUB_REVISION  # both versions' files
    default_batch_size: ClassVar[int] = 32
    fixture: ClassVar[str | None] = "hpsv2"

    @classmethod
    def fixture_for(cls, version: str = "v2", **preset: Any) -> str | None:
        return "hpsv2.1" if version == "v2.1" else "hpsv2"

    def __init__(self, version: str = "v2", **kw: Any):
        if version not in CHECKPOINTS:
            raise ValueError(f"unknown HPS version {version!r}; one of {list(CHECKPOINTS)}")
        super().__init__(**kw)
        self.version = version
        self.name = "hpsv2" if version == "v2" else "hpsv2.1"  # type: ignore[misc]

    def info(self) -> dict[str, Any]:
        return {**super().info(), "version": self.version, "checkpoint": CHECKPOINTS[self.version]}

    def checkpoint_file(self) -> Path:
        """--model-path: the .pt file, or a folder holding it under its official name."""
        if self.model_path:
            p = Path(self.model_path)
            if p.is_dir():
                p = p / CHECKPOINTS[self.version]
            if not p.is_file():
                raise FileNotFoundError(f"HPS checkpoint not found: {p}")
            return p
        from huggingface_hub import hf_hub_download
        return Path(hf_hub_download(self.model_id, CHECKPOINTS[self.version],
                                    revision=self.revision))

    def load(self) -> None:
        if getattr(self, "model", None) is not None:
            return
        import open_clip
        import torch

        ckpt = self.checkpoint_file()
        cfg_file = ckpt.parent / CONFIG_FILE
        model_cfg = json.loads(cfg_file.read_text())["model_cfg"] if cfg_file.is_file() else None
        state_dict = load_hps_state_dict(ckpt)  # read once; a wrong file fails before building
        model = build_open_clip(model_cfg)
        load_strict(model, state_dict, str(ckpt))
        del state_dict
        self.model = model.to(self.device, torch_dtype(self.dtype)).eval()
        self.tokenizer = open_clip.get_tokenizer(ARCH)  # open_clip's bundled CLIP BPE, 77 ctx
        self._torch = torch

    def prepare_point(self, item: PointItem) -> dict[str, Any]:
        if item.candidate.media is None:
            raise ValueError("HPSv2 scores images; this candidate has none")
        image = load_image(item.candidate.media)
        return {"pixel_values": hps_preprocess(image), "text": item.prompt}

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        torch = self._torch
        dtype = next(self.model.parameters()).dtype
        pix = torch.stack([p["pixel_values"] for p in prepared]).to(self.device, dtype)
        text = self.tokenizer([p["text"] for p in prepared]).to(self.device)
        with torch.inference_mode():
            img = self.model.encode_image(pix, normalize=True)
            txt = self.model.encode_text(text, normalize=True)
            scores = (img * txt).sum(-1)  # diag(image @ text.T): the cosine, no logit scale
        return [Score(value=float(s)) for s in scores.float().cpu()]
