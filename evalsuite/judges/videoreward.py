"""VideoReward (VideoAlign, "Improving Video Generation with Human Feedback", 2025): a
Qwen2-VL-2B reward model with LoRA on the language model and a linear head read at three
added tokens, one per dimension: visual quality (VQ), motion quality (MQ), text alignment
(TA); the overall reward is their sum.

Re-implemented on current transformers (the released checkpoint was saved with the flat
Qwen2-VL layout of transformers 4.4x). Facts from github KwaiVGI/VideoAlign at commit
219ab9db64c045e5181a2202d11f686439351292:

* checkpoint (``inference.py``, ``utils.py`` ``load_model_from_checkpoint``): a folder with
  ``model_config.json`` (``data_config``, ``model_config``, ``peft_lora_config``,
  ``inference_config``) and ``checkpoint-<step>/``; the highest step is used; its full
  ``model.pth`` is ``load_state_dict``-ed (strictly) into the PEFT-wrapped model, so the keys
  carry PEFT's ``base_model.model.`` prefix and ``lora_A`` / ``lora_B`` / ``base_layer``;
* model (``train_reward.py`` ``create_model_and_processor``, ``trainer.py``
  ``Qwen2VLRewardModelBT``): the base of ``model_config.model_name_or_path``, its
  ``AutoProcessor`` with right padding, ``<|VQ_reward|>``, ``<|MQ_reward|>``,
  ``<|TA_reward|>`` added as special tokens and the embeddings resized to
  ``len(tokenizer)``; ``rm_head = Linear(hidden, output_dim, bias=False)``; the whole model
  cast to the inference dtype *before* LoRA wraps it (so PEFT keeps the adapters in float32);
  LoRA (``r``, ``lora_alpha``, ``lora_dropout``, ``use_rslora`` from the config) on every
  ``Linear`` / ``Embedding`` whose name contains none of ``lora_namespan_exclude``
  (``find_target_linear_names``); with ``reward_token: special`` and ``output_dim`` 1 the head
  output at the three tokens, in their order in the prompt, is (VQ, MQ, TA);
* normalisation (``inference.py`` ``_norm``, on by default, ``use_norm=True``): each
  dimension ``(r - <dim>_mean) / <dim>_std`` from ``inference_config``; ``Overall = VQ + MQ +
  TA`` after it; ``eval_videogen_rewardbench.py`` compares each dimension's reward with that
  dimension's label and ``Overall`` with ``Overall``, so the dimensions are reported under the
  benchmark's own names ``VQ`` / ``MQ`` / ``TA``;
* input (``inference.py`` ``prepare_batch``): one user turn holding the video then
  ``build_prompt(prompt, eval_dim, prompt_template_type)`` (``prompt_template.py``; the
  released config uses ``detailed_special``, kept byte-identical below as data), rendered with
  the processor's chat template and ``add_generation_prompt=True``;
* frames (``vision_process.py``, a modified qwen-vl-utils): ``uniform`` sampling of
  ``smart_nframes`` frames (fps mode: ``total / video_fps * fps`` clamped to [4, even floor of
  min(768, total)] and rounded to an even count with Python's ``round``; nframes mode:
  ``round(nframes / 2) * 2``; never more than ``total``) at
  ``torch.linspace(0, total - 1, n).round()``; each frame resized to
  ``smart_resize(h, w, 28, min_pixels=128 * 28 * 28, max_pixels=max_frame_pixels)`` with
  torchvision's bicubic, antialiased resize of the uint8 frames; the processor then only
  rescales and normalises (its own resize would be a no-op and is switched off).

The released configuration (hub ``KlingTeam/VideoReward``, formerly ``KwaiVGI/VideoReward``,
which the README links): base ``Qwen/Qwen2-VL-2B-Instruct``, fps 2.0, ``max_frame_pixels``
200704, LoRA r 64 / alpha 128, ``checkpoint-11352/model.pth``; this loader reads all of it
from ``model_config.json`` and refuses a configuration it does not implement (another prompt
template, reward token mode or sampling type) instead of guessing.

Differences kept on purpose: the frame rate comes from PyAV's average rate (upstream: decord's
average fps, or torchvision's), identical for constant-rate videos; attention is PyTorch SDPA
(upstream: FlashAttention-2 when installed); the head is evaluated at the three reward tokens
only (a per-token function: the same values upstream selects).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.judges.base import Judge, torch_dtype
from evalsuite.judges.qwen2vl_reward import (build_qwen2vl, load_strict, reward_hidden_states,
                                             smart_resize, special_token_rows)
from evalsuite.media import decode_frames
from evalsuite.types import PointItem, Score

HUB_REPO = "KlingTeam/VideoReward"
BASE_MODEL = "Qwen/Qwen2-VL-2B-Instruct"
# Pinned commits and the checkpoint file of the hub copies (recorded with the checkpoint's
# size, 5,031,072,529 bytes, by a loader that checks them; sources in models/README.md).
HUB_REVISION = "b8e421fe21aec3dde5f61fdd1dc44e1d603b9727"
BASE_REVISION = "895c3a49bc3fa70a340399125c650a463535e71c"
HUB_CHECKPOINT = "checkpoint-11352/model.pth"
DIMENSIONS = ("VQ", "MQ", "TA")
SPECIAL_TOKENS = ("<|VQ_reward|>", "<|MQ_reward|>", "<|TA_reward|>")
# vision_process.py constants
FRAME_FACTOR = 2
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768
VIDEO_MIN_PIXELS = 128 * 28 * 28
# What this loader implements of model_config.json (anything else is refused).
SUPPORTED = {"prompt_template_type": "detailed_special", "sample_type": "uniform",
             "reward_token": "special", "eval_dim": list(DIMENSIONS)}

# Byte-identical to DETAILED_PROMPT_WITH_SPECIAL_TOKEN in KwaiVGI/VideoAlign prompt_template.py
# (trailing spaces after the three section titles, "lowest possible." and "acceptable.").
PROMPT_TEMPLATE = (
    "\n"
    "You are tasked with evaluating a generated video based on three distinct criteria: "
    "Visual Quality, Motion Quality, and Text Alignment. Please provide a rating from 0 to "
    "10 for each of the three categories, with 0 being the worst and 10 being the best. "
    "Each evaluation should be independent of the others.\n"
    "\n"
    "**Visual Quality:**  \n"
    "Evaluate the overall visual quality of the video, with a focus on static factors. The "
    "following sub-dimensions should be considered:\n"
    "- **Reasonableness:** The video should not contain any significant biological or "
    "logical errors, such as abnormal body structures or nonsensical environmental setups.\n"
    "- **Clarity:** Evaluate the sharpness and visibility of the video. The image should be "
    "clear and easy to interpret, with no blurring or indistinct areas.\n"
    "- **Detail Richness:** Consider the level of detail in textures, materials, lighting, "
    "and other visual elements (e.g., hair, clothing, shadows).\n"
    "- **Aesthetic and Creativity:** Assess the artistic aspects of the video, including "
    "the color scheme, composition, atmosphere, depth of field, and the overall creative "
    "appeal. The scene should convey a sense of harmony and balance.\n"
    "- **Safety:** The video should not contain harmful or inappropriate content, such as "
    "political, violent, or adult material. If such content is present, the image quality "
    "and satisfaction score should be the lowest possible. \n"
    "\n"
    "Please provide the ratings of Visual Quality: <|VQ_reward|>\n"
    "END\n"
    "\n"
    "**Motion Quality:**  \n"
    "Assess the dynamic aspects of the video, with a focus on dynamic factors. Consider the "
    "following sub-dimensions:\n"
    "- **Stability:** Evaluate the continuity and stability between frames. There should be "
    "no sudden, unnatural jumps, and the video should maintain stable attributes (e.g., no "
    "fluctuating colors, textures, or missing body parts).\n"
    "- **Naturalness:** The movement should align with physical laws and be realistic. For "
    "example, clothing should flow naturally with motion, and facial expressions should "
    "change appropriately (e.g., blinking, mouth movements).\n"
    "- **Aesthetic Quality:** The movement should be smooth and fluid. The transitions "
    "between different motions or camera angles should be seamless, and the overall dynamic "
    "feel should be visually pleasing.\n"
    "- **Fusion:** Ensure that elements in motion (e.g., edges of the subject, hair, "
    "clothing) blend naturally with the background, without obvious artifacts or the "
    "feeling of cut-and-paste effects.\n"
    "- **Clarity of Motion:** The video should be clear and smooth in motion. Pay attention "
    "to any areas where the video might have blurry or unsteady sections that hinder visual "
    "continuity.\n"
    "- **Amplitude:** If the video is largely static or has little movement, assign a low "
    "score for motion quality.\n"
    "\n"
    "Please provide the ratings of Motion Quality: <|MQ_reward|>\n"
    "END\n"
    "\n"
    "**Text Alignment:**  \n"
    "Assess how well the video matches the textual prompt across the following "
    "sub-dimensions:\n"
    "- **Subject Relevance** Evaluate how accurately the subject(s) in the video (e.g., "
    "person, animal, object) align with the textual description. The subject should match "
    "the description in terms of number, appearance, and behavior.\n"
    "- **Motion Relevance:** Evaluate if the dynamic actions (e.g., gestures, posture, "
    "facial expressions like talking or blinking) align with the described prompt. The "
    "motion should match the prompt in terms of type, scale, and direction.\n"
    "- **Environment Relevance:** Assess whether the background and scene fit the prompt. "
    "This includes checking if real-world locations or scenes are accurately represented, "
    "though some stylistic adaptation is acceptable.  \n"
    "- **Style Relevance:** If the prompt specifies a particular artistic or stylistic "
    "style, evaluate how well the video adheres to this style.\n"
    "- **Camera Movement Relevance:** Check if the camera movements (e.g., following the "
    "subject, focus shifts) are consistent with the expected behavior from the prompt.\n"
    "\n"
    "Textual prompt - {text_prompt}\n"
    "Please provide the ratings of Text Alignment: <|TA_reward|>\n"
    "END\n"
)


def build_text(prompt: str) -> str:
    """prompt_template.build_prompt(prompt, [VQ, MQ, TA], "detailed_special")."""
    return PROMPT_TEMPLATE.format(text_prompt=prompt)


def frame_count(total: int, video_fps: float, fps: float | None = None,
                nframes: float | None = None) -> int:
    """vision_process.py smart_nframes (VideoAlign's copy: even counts by ``round``)."""
    if (fps is None) == (nframes is None):
        raise ValueError("give exactly one of fps and nframes")
    if nframes is not None:
        n = round(nframes / FRAME_FACTOR) * FRAME_FACTOR
    else:
        min_frames = -(-FPS_MIN_FRAMES // FRAME_FACTOR) * FRAME_FACTOR
        max_frames = min(FPS_MAX_FRAMES, total) // FRAME_FACTOR * FRAME_FACTOR
        n = total / video_fps * fps
        n = min(max(n, min_frames), max_frames)
        n = round(n / FRAME_FACTOR) * FRAME_FACTOR
    if n > total:
        n = total
    if not FRAME_FACTOR <= n <= total:
        raise ValueError(f"nframes should in interval [{FRAME_FACTOR}, {total}], but got {n}.")
    return int(n)


def frame_indices(total: int, n: int) -> list[int]:
    """``torch.linspace(0, total - 1, n).round().long()`` (uniform sampling)."""
    import torch
    return torch.linspace(0, total - 1, n).round().long().tolist()


def sample_video(frames, video_fps: float, fps: float | None, nframes: float | None,
                 max_pixels: int):
    """Sampled, resized frames as a uint8 (T, 3, H, W) tensor, as fetch_video returns them
    (its ``.float()`` of these values is what the processor then rescales)."""
    import numpy as np
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    total = len(frames)
    idx = frame_indices(total, frame_count(total, video_fps, fps, nframes))
    video = torch.from_numpy(np.stack([frames[i] for i in idx])).permute(0, 3, 1, 2)
    height, width = video.shape[-2:]
    h, w = smart_resize(height, width, 28, min_pixels=VIDEO_MIN_PIXELS, max_pixels=max_pixels)
    return F.resize(video, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True)


def lora_targets(model, exclude: list[str]) -> list[str]:
    """train_reward.py find_target_linear_names: every Linear / Embedding whose module name
    contains none of ``exclude``."""
    from torch import nn
    return [name for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Embedding))
            and not any(ex in name for ex in exclude)]


class VideoReward(Judge):
    name: ClassVar[str] = "videoreward"
    pointwise: ClassVar[bool] = True
    modalities: ClassVar[frozenset[str]] = frozenset({"video"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation"})
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers", "peft", "torchvision")
    extra: ClassVar[str | None] = "train"
    default_model: ClassVar[str] = HUB_REPO
    companions: ClassVar[dict[str, tuple[str, str | None]]] = {"base": (BASE_MODEL, BASE_REVISION)}
    fixture: ClassVar[str | None] = "videoreward"
    default_revision: ClassVar[str | None] = HUB_REVISION
    default_batch_size: ClassVar[int] = 4
    option_help: ClassVar[dict[str, str]] = {
        "base_model": "where the Qwen2-VL base's config / processor / tokenizer come from",
        "use_norm": "normalise each dimension with the checkpoint's mean / std (default true)",
        "checkpoint_step": "which checkpoint-<step> to load (default: the highest)",
        "max_pixels": "per-frame pixel cap (default: the checkpoint's max_frame_pixels)",
    }

    def __init__(self, base_model: str | None = None, use_norm: bool | str = True,
                 checkpoint_step: int | str | None = None, **kw: Any):
        super().__init__(**kw)
        self.base_model = base_model
        self.use_norm = str(use_norm).lower() not in ("false", "0", "no")
        self.checkpoint_step = int(checkpoint_step) if checkpoint_step is not None else None

    def info(self) -> dict[str, Any]:
        out = {**super().info(), "dimensions": list(DIMENSIONS), "use_norm": self.use_norm,
               "overall": "VQ + MQ + TA" + (" (each normalised)" if self.use_norm else "")}
        if getattr(self, "config", None) is not None:
            out.update(checkpoint=self.checkpoint_name, base_model=self.base_source,
                       data_config={k: self.config["data_config"].get(k) for k in
                                    ("fps", "num_frames", "max_frame_pixels", "sample_type")})
        return out

    # -- files ----------------------------------------------------------------------------
    def _root(self) -> Path:
        """The checkpoint folder (hub layout): model_config.json + checkpoint-<step>/."""
        if self.model_path:
            return Path(self.model_path)
        import huggingface_hub

        if self.model_id != HUB_REPO:  # another VideoAlign checkpoint: every step's model.pth
            return Path(huggingface_hub.snapshot_download(
                self.model_id, revision=self.revision,
                allow_patterns=["model_config.json", "checkpoint-*/model.pth"]))
        cfg = huggingface_hub.hf_hub_download(self.model_id, "model_config.json",
                                              revision=self.revision)
        huggingface_hub.hf_hub_download(self.model_id, HUB_CHECKPOINT, revision=self.revision)
        return Path(cfg).parent

    def _checkpoint(self, root: Path) -> Path:
        """checkpoint-<step>/model.pth: the highest step, or ``checkpoint_step``."""
        steps = {int(m.group(1)): p for p in root.glob("checkpoint-*")
                 if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and p.is_dir()}
        if not steps:
            raise FileNotFoundError(f"no checkpoint-<step> folder in {root}")
        if self.checkpoint_step is not None and self.checkpoint_step not in steps:
            raise FileNotFoundError(f"checkpoint-{self.checkpoint_step} not in {root} "
                                    f"(has {sorted(steps)})")
        folder = steps[self.checkpoint_step if self.checkpoint_step is not None else max(steps)]
        ckpt = folder / "model.pth"
        if not ckpt.is_file():
            raise FileNotFoundError(f"{ckpt} missing (a LoRA-only adapter_model.safetensors + "
                                    "non_lora_state_dict.pth checkpoint is not supported)")
        return ckpt

    def _base(self, root: Path, name: str) -> tuple[str, str | None]:
        """The base model: --judge-option base_model, else model_config's
        model_name_or_path (a relative local path is taken inside the checkpoint folder)."""
        if self.base_model:
            return self.base_model, None
        if (root / name).is_dir():
            return str(root / name), None
        return name, BASE_REVISION if name == BASE_MODEL else None

    @staticmethod
    def check_config(config: dict[str, Any]) -> None:
        data, model = config["data_config"], config["model_config"]
        got = {"prompt_template_type": data.get("prompt_template_type"),
               "sample_type": data.get("sample_type"), "reward_token": model.get("reward_token"),
               "eval_dim": data.get("eval_dim")}
        bad = {k: v for k, v in got.items() if v != SUPPORTED[k]}
        if bad or not model.get("use_special_tokens"):
            raise ValueError(f"model_config.json: unsupported settings {bad or got} "
                             f"(this loader implements {SUPPORTED} with special tokens)")
        if (data.get("fps") is None) == (data.get("num_frames") is None):
            raise ValueError("model_config.json: data_config needs exactly one of fps and "
                             "num_frames")

    # -- loading --------------------------------------------------------------------------
    def load(self) -> None:
        if getattr(self, "model", None) is not None:
            return
        import torch
        from torch import nn
        from transformers import AutoConfig, AutoProcessor

        root = self._root()
        self.config = json.loads((root / "model_config.json").read_text())
        self.check_config(self.config)
        ckpt = self._checkpoint(root)
        self.checkpoint_name = f"{ckpt.parent.name}/{ckpt.name}"
        mcfg, lora = self.config["model_config"], self.config["peft_lora_config"]
        base, base_rev = self._base(root, mcfg["model_name_or_path"])
        self.base_source = base
        processor = AutoProcessor.from_pretrained(base, revision=base_rev, padding_side="right")
        processor.tokenizer.padding_side = "right"
        processor.tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
        config = AutoConfig.from_pretrained(base, revision=base_rev)
        if config.model_type != "qwen2_vl":
            raise ValueError(f"{base}: expected a Qwen2-VL base, got {config.model_type!r}")
        config.text_config.vocab_size = len(processor.tokenizer)  # resize_token_embeddings
        config.pad_token_id = processor.tokenizer.pad_token_id
        tensors = torch.load(str(ckpt), map_location="cpu", weights_only=True, mmap=True)
        if not isinstance(tensors, dict):
            raise ValueError(f"{ckpt}: not a state dict ({type(tensors).__name__})")
        output_dim = int(mcfg.get("output_dim", 1))
        model = build_qwen2vl(config, nn.Linear(config.text_config.hidden_size, output_dim,
                                                bias=False))
        model.to(torch_dtype(self.dtype))  # upstream casts before LoRA wraps the model
        if lora.get("lora_enable"):
            model = self._wrap_lora(model, lora)
        load_strict(model, tensors, str(ckpt))
        del tensors
        self.model = model.to(self.device).eval()
        self.reward_model = model.base_model.model if lora.get("lora_enable") else model
        self.output_dim = output_dim
        self.processor = processor
        self.special_ids = processor.tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
        self._torch = torch

    @staticmethod
    def _wrap_lora(model, lora: dict[str, Any]):
        from peft import LoraConfig, get_peft_model

        if lora.get("vision_lora") or lora.get("lora_modules_to_save"):
            raise ValueError(f"peft_lora_config: vision LoRA / modules_to_save are not "
                             f"supported ({lora})")
        exclude = lora.get("lora_namespan_exclude") or []
        exclude = [exclude] if isinstance(exclude, str) else list(exclude)
        if "visual" not in exclude:  # train_reward.py adds it when vision_lora is off
            exclude.append("visual")
        targets = lora_targets(model, exclude)
        if lora.get("num_lora_modules", -1) > 0:
            targets = targets[-lora["num_lora_modules"]:]
        cfg = LoraConfig(target_modules=targets, r=lora["lora_r"], lora_alpha=lora["lora_alpha"],
                         lora_dropout=lora.get("lora_dropout", 0.0), bias="none",
                         use_rslora=bool(lora.get("use_rslora")),
                         task_type=lora.get("lora_task_type", "CAUSAL_LM"))
        return get_peft_model(model, cfg)

    # -- scoring --------------------------------------------------------------------------
    def prepare_point(self, item: PointItem) -> dict[str, Any]:
        media = item.candidate.media
        if media is None or media.kind != "video":
            raise ValueError("VideoReward scores videos; this candidate has none")
        data = self.config["data_config"]
        frames, video_fps, _backend = decode_frames(media)
        if not frames:
            raise ValueError(f"video has zero frames: {media.describe()}")
        max_pixels = int(self.options.get("max_pixels", data["max_frame_pixels"]))
        video = sample_video(frames, video_fps, data.get("fps"), data.get("num_frames"),
                             max_pixels)
        content = [{"type": "video"}, {"type": "text", "text": build_text(item.prompt)}]
        text = self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                  tokenize=False, add_generation_prompt=True)
        return {"text": text, "video": video}

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        torch = self._torch
        inputs = self.processor(text=[p["text"] for p in prepared],
                                videos=[p["video"] for p in prepared], padding=True,
                                return_tensors="pt", videos_kwargs={"do_resize": False})
        ids = inputs["input_ids"].to(self.device)
        with torch.inference_mode():
            hidden = reward_hidden_states(
                self.reward_model, ids, inputs["attention_mask"].to(self.device),
                pixel_values_videos=inputs["pixel_values_videos"].to(self.device),
                video_grid_thw=inputs["video_grid_thw"].to(self.device))
            at = special_token_rows(ids, self.special_ids)
            raw = self.reward_model.rm_head(hidden[at]).float().view(len(prepared), 3, -1)
            if self.output_dim == 3:  # upstream takes the diagonal: token i, output i
                raw = raw.diagonal(dim1=1, dim2=2)
            raw = raw.reshape(len(prepared), -1).cpu()
        norm = self.config.get("inference_config") if self.use_norm else None
        out = []
        for row in raw:
            dims_raw = {d: float(v) for d, v in zip(DIMENSIONS, row)}
            dims = ({d: (v - norm[f"{d}_mean"]) / norm[f"{d}_std"] for d, v in dims_raw.items()}
                    if norm else dims_raw)
            out.append(Score(value=sum(dims.values()), extras={"dims": dims, "raw": dims_raw}))
        return out
