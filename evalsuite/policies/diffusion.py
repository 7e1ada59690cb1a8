"""Generative policies through diffusers: text-to-image and text-to-video pipelines.

Batched: one pipeline call per batch of prompts. Reproducible: every sample has its own
``torch.Generator`` seeded with :func:`evalsuite.policies.base.sample_seed` (run seed, prompt
id, sample number), so a sample is the same image whichever batch it lands in and however
often the run is resumed (the pipeline draws each sample's initial latents from its own
generator when given a list of generators).

Options (``--option k=v``): ``num_inference_steps``, ``guidance_scale``, ``height``,
``width``, ``num_frames`` (video), ``negative_prompt``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.policies.base import GenUnit, Policy


class _DiffusersPolicy(Policy):
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "num_inference_steps": "denoising steps",
        "guidance_scale": "classifier-free guidance",
        "height": "pixels",
        "width": "pixels",
        "num_frames": "frames (text-to-video)",
        "negative_prompt": "negative prompt",
    }
    requires: ClassVar[tuple[str, ...]] = ("torch", "diffusers", "transformers")
    extra: ClassVar[str | None] = "diffusion"
    default_batch_size: ClassVar[int] = 4
    pipeline_class: ClassVar[str] = "DiffusionPipeline"

    def load(self) -> None:
        if getattr(self, "pipe", None) is not None:
            return
        import diffusers
        import torch

        from evalsuite.judges.base import torch_dtype

        self._torch = torch
        cls = getattr(diffusers, self.pipeline_class)
        self.pipe = cls.from_pretrained(self.source, revision=self._revision(),
                                        dtype=torch_dtype(self.dtype))
        self.pipe = self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)

    def _call_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        for k, cast in (("num_inference_steps", int), ("guidance_scale", float),
                        ("height", int), ("width", int), ("num_frames", int)):
            if k in self.options:
                kw[k] = cast(self.options[k])
        if "negative_prompt" in self.options:
            kw["negative_prompt"] = str(self.options["negative_prompt"])
        return kw

    def _generators(self, units: list[GenUnit]):
        torch = self._torch
        dev = "cpu" if not str(self.device).startswith("cuda") else self.device
        return [torch.Generator(device=dev).manual_seed(u.seed) for u in units]


class DiffusersTextToImage(_DiffusersPolicy):
    name: ClassVar[str] = "sd-t2i"
    fixture: ClassVar[str | None] = "policy-t2i"
    task: ClassVar[str] = "text-to-image"
    default_model: ClassVar[str] = "stabilityai/stable-diffusion-2-1-base"

    def generate_batch(self, units: list[GenUnit]) -> list[Any]:
        kw = self._call_kwargs()
        if "negative_prompt" in kw:
            kw["negative_prompt"] = [kw["negative_prompt"]] * len(units)
        out = self.pipe(prompt=[u.item.prompt for u in units],
                        generator=self._generators(units), output_type="pil", **kw)
        return list(out.images)


class DiffusersTextToVideo(_DiffusersPolicy):
    name: ClassVar[str] = "diffusers-t2v"
    fixture: ClassVar[str | None] = "policy-t2v"
    task: ClassVar[str] = "text-to-video"
    modalities: ClassVar[frozenset[str]] = frozenset({"video"})
    default_model: ClassVar[str] = "ali-vilab/text-to-video-ms-1.7b"
    default_batch_size: ClassVar[int] = 2

    def generate_batch(self, units: list[GenUnit]) -> list[Any]:
        import numpy as np

        out = self.pipe(prompt=[u.item.prompt for u in units],
                        generator=self._generators(units), output_type="np",
                        **self._call_kwargs())
        frames = np.asarray(out.frames)  # (B, T, H, W, 3) floats in [0, 1]
        return [(np.clip(f, 0, 1) * 255).round().astype(np.uint8) for f in frames]


def is_video_pipeline(class_name: str) -> bool:
    """Whether a diffusers pipeline class (``model_index.json`` ``_class_name``) makes videos."""
    return "Video" in class_name


def policy_for_path(path: str) -> str:
    """The policy name for a local checkpoint folder (``--policy <path>``)."""
    p = Path(path)
    mi = p / "model_index.json"
    if mi.is_file():
        cls = json.loads(mi.read_text()).get("_class_name", "")
        return "diffusers-t2v" if is_video_pipeline(cls) else "sd-t2i"
    cfg = p / "config.json"
    if cfg.is_file() and "qwen2_5_vl" in json.loads(cfg.read_text()).get("model_type", ""):
        return "qwen2.5-vl"
    raise ValueError(f"cannot tell what policy {path} is (no diffusers model_index.json, no "
                     "Qwen2.5-VL config.json); pass --policy <name> --model-path {path}")
