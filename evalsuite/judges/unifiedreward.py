"""UnifiedReward (Wang et al. 2025): a VLM fine-tuned to judge image/video generation and
understanding, pairwise ("Image 1 is better.") and pointwise ("Final Score: X").

* ``UnifiedRewardQwen`` - Qwen2.5-VL checkpoints (``CodeGoat24/UnifiedReward-qwen-7b``,
  ``-3b``, ``-32b``, ``UnifiedReward-2.0-qwen-7b``, ``UnifiedReward-Think-qwen-7b``), loaded with
  ``Qwen2_5_VLForConditionalGeneration`` + ``AutoProcessor``. Video frames follow
  qwen-vl-utils (fps 2.0, 4..768 frames, even count, per-frame pixel budget), re-implemented
  in :func:`qwen_video_plan` (the package is not a dependency). Resizing follows it too:
  images by PIL ``Image.resize`` to ``smart_resize`` (4..16384 x 28 x 28 pixels,
  :func:`qwen_image_resize`), video frames by torchvision bicubic antialiased resize of the
  uint8 clip (:func:`qwen_video_resize`); the processor's own resize is then a no-op.
* ``UnifiedRewardLlava`` - LLaVA-OneVision checkpoints (``CodeGoat24/UnifiedReward-7b``,
  ``-0.5b``, ``-7b-v1.5``). **The hub repositories are original-LLaVA-format checkpoints
  (``llava_qwen``), which transformers cannot load**: convert them first with transformers'
  ``models/llava_onevision/convert_llava_onevision_weights_to_hf.py`` and pass the result with
  ``--model-path`` (plus ``--model CodeGoat24/UnifiedReward-7b`` to pick its settings).
  Loaded with ``LlavaOnevisionForConditionalGeneration``. Prompts use LLaVA's ``qwen_1_5``
  conversation and ``<image>`` prefixes exactly as the upstream LLaVA scripts; videos are
  8 uniformly sampled frames per video resized to 512x512, each frame one ``<image>``.
  Each sample's images are passed as its own list, so transformers applies anyres tiling to
  single-image samples only and encodes multi-image samples (pairs, video frames) at base
  resolution, as LLaVA-OneVision does; small differences from the original LLaVA code
  (e.g. the per-image newline token, frame indices of ``opencv_extract_frames``) remain.

Prompts: :mod:`evalsuite.judges.prompts`; parsing: :mod:`evalsuite.judges.parsing`.
Options (``--option k=v``): ``max_new_tokens``, ``backend=vllm`` (untested on CPU),
``device_map=auto`` (large checkpoints over several GPUs),
``prompt_family`` (e.g. ``unifiedreward-qwen-2.0``), ``video_fps``, ``video_max_frames``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.judges.generative import GenerativeJudge, ModelCard, Prepared, card_revisions
from evalsuite.judges.prompts import llava_conversation, llava_image_prefix, template_for
from evalsuite.types import FrameSpec

# max_new_tokens per mode from the upstream scripts (github CodeGoat24/UnifiedReward):
# Qwen GenAI-Bench image 512, video 1024, VL-RewardBench 4096; inference_qwen point_score
# image 512, video 1024, understanding 4096. Every LLaVA script uses 4096.
_QWEN_TOKENS = {"pair-image": 512, "pair-video": 1024, "pair-understanding": 4096,
                "point-image": 512, "point-video": 1024, "point-understanding": 4096,
                "default": 1024}
_LLAVA_TOKENS = {"default": 4096}

# No card has a revision yet: the hub pages seen show only 7-hex short SHAs for every
# CodeGoat24 repo, so these checkpoints stay unpinned (see models/README.md).
QWEN_CARDS: dict[str, ModelCard] = {
    m: ModelCard("unifiedreward-qwen", _QWEN_TOKENS)
    for m in ("CodeGoat24/UnifiedReward-qwen-7b", "CodeGoat24/UnifiedReward-qwen-3b",
              "CodeGoat24/UnifiedReward-qwen-32b")
}
QWEN_CARDS["CodeGoat24/UnifiedReward-2.0-qwen-7b"] = ModelCard(
    "unifiedreward-qwen-2.0", _QWEN_TOKENS,
    notes="pointwise image uses the 2.0 alignment/coherence/style prompt")
# UnifiedReward-Think/benchmark_evaluation/*/test_qwen25_cot_*.py: 512 / 1024 / 4096 tokens.
QWEN_CARDS["CodeGoat24/UnifiedReward-Think-qwen-7b"] = ModelCard(
    "unifiedreward-think-qwen", _QWEN_TOKENS, think=True,
    notes="pairwise chain-of-thought prompts only; verdict read from <answer>...</answer>")
LLAVA_CARDS: dict[str, ModelCard] = {
    m: ModelCard("unifiedreward-llava", _LLAVA_TOKENS, notes="original-LLaVA format on the "
                 "hub: convert to transformers LlavaOnevision and use --model-path")
    for m in ("CodeGoat24/UnifiedReward-7b", "CodeGoat24/UnifiedReward-0.5b",
              "CodeGoat24/UnifiedReward-7b-v1.5")
}

# qwen-vl-utils vision_process.py constants (github QwenLM/Qwen2.5-VL,
# qwen-vl-utils/src/qwen_vl_utils/vision_process.py).
IMAGE_FACTOR = 28
VIDEO_MIN_PIXELS = 128 * 28 * 28
VIDEO_MAX_PIXELS = 768 * 28 * 28
VIDEO_TOTAL_PIXELS = int(128000 * 28 * 28 * 0.9)
FRAME_FACTOR = 2
FPS = 2.0
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768
MAX_RATIO = 200
# Image pixel bounds of qwen-vl-utils fetch_image (vision_process.py MIN_PIXELS / MAX_PIXELS).
IMAGE_MIN_PIXELS = 4 * 28 * 28
IMAGE_MAX_PIXELS = 16384 * 28 * 28


def smart_resize(height: int, width: int, factor: int = IMAGE_FACTOR,
                 min_pixels: int = VIDEO_MIN_PIXELS, max_pixels: int = VIDEO_MAX_PIXELS
                 ) -> tuple[int, int]:
    """qwen-vl-utils' rule: sides multiples of ``factor``, area within [min, max] pixels,
    aspect ratio kept as closely as possible."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(f"aspect ratio above {MAX_RATIO}: {height}x{width}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def qwen_video_plan(total: int, video_fps: float, height: int, width: int,
                    fps: float = FPS, max_frames: int = FPS_MAX_FRAMES
                    ) -> tuple[int, tuple[int, int], float]:
    """(number of frames, (resized h, w), sampled fps) per qwen-vl-utils ``smart_nframes`` +
    ``fetch_video``: nframes = total / video_fps * fps, clamped to [4, min(768, total)] and
    floored to an even count; frames at linspace(0, total-1, n).round(); per-frame pixel
    budget max(min(768*28*28, total_pixels / n * 2), 128*28*28*1.05)."""
    min_f = math.ceil(FPS_MIN_FRAMES / FRAME_FACTOR) * FRAME_FACTOR
    max_f = math.floor(min(max_frames, total) / FRAME_FACTOR) * FRAME_FACTOR
    n = total / max(video_fps, 1e-6) * fps
    n = min(max(n, min_f), max_f)
    n = math.floor(n / FRAME_FACTOR) * FRAME_FACTOR
    if not (FRAME_FACTOR <= n <= total):
        raise ValueError(f"video too short for qwen-vl-utils sampling: {total} frames")
    max_pixels = max(min(VIDEO_MAX_PIXELS, VIDEO_TOTAL_PIXELS / n * FRAME_FACTOR),
                     int(VIDEO_MIN_PIXELS * 1.05))
    hw = smart_resize(height, width, IMAGE_FACTOR, VIDEO_MIN_PIXELS, int(max_pixels))
    return n, hw, n / max(total, 1e-6) * video_fps


def qwen_image_resize(img):
    """qwen-vl-utils ``fetch_image``: ``img.resize((w, h))`` (PIL's default filter, bicubic)
    to ``smart_resize(h, w, 28, 4*28*28, 16384*28*28)``."""
    rh, rw = smart_resize(img.height, img.width, IMAGE_FACTOR, IMAGE_MIN_PIXELS,
                          IMAGE_MAX_PIXELS)
    return img if (rw, rh) == img.size else img.resize((rw, rh))


def qwen_video_resize(frames, height: int, width: int):
    """qwen-vl-utils ``fetch_video``: torchvision ``resize`` of the uint8 (T, C, H, W) clip,
    bicubic, ``antialias=True`` (then ``.float()``, which keeps the rounded uint8 values).
    ``frames``: (T, H, W, 3) uint8 array -> same layout at (height, width)."""
    import numpy as np
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    if frames.shape[1:3] == (height, width):
        return frames
    t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    t = TF.resize(t, [height, width], interpolation=InterpolationMode.BICUBIC, antialias=True)
    return t.permute(0, 2, 3, 1).contiguous().numpy()


def video_header(ref) -> tuple[int, float, int, int]:
    """(frame count, fps, height, width) from the container, decoding frames only when the
    container does not state its frame count."""
    import io

    import av

    from evalsuite.media import MediaError, _open_bytes

    try:
        with av.open(io.BytesIO(_open_bytes(ref))) as c:
            if not c.streams.video:
                raise MediaError("no video stream")
            s = c.streams.video[0]
            fps = float(s.average_rate or s.guessed_rate or 0)
            total = s.frames or sum(1 for _ in c.decode(s))
            return int(total), fps, int(s.codec_context.height), int(s.codec_context.width)
    except MediaError:
        raise
    except Exception as e:  # PyAV raises many error types
        raise MediaError(f"undecodable video: {type(e).__name__}: {e}") from e


class UnifiedRewardQwen(GenerativeJudge):
    name: ClassVar[str] = "unifiedreward"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "video_fps": "frames per second sampled from videos (Qwen2.5-VL default 2)",
        "video_max_frames": "cap on sampled video frames",
    }
    default_model: ClassVar[str] = "CodeGoat24/UnifiedReward-qwen-7b"
    cards: ClassVar[dict[str, ModelCard]] = QWEN_CARDS
    default_card: ClassVar[ModelCard] = QWEN_CARDS["CodeGoat24/UnifiedReward-qwen-7b"]
    pinned_revisions: ClassVar[dict[str, str]] = card_revisions(QWEN_CARDS)

    def _load_hf(self, dtype) -> None:
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        self.processor = AutoProcessor.from_pretrained(self.source, revision=self._revision())
        self.model = self._from_pretrained(Qwen2_5_VLForConditionalGeneration, dtype)

    def load_image(self, ref):
        # qwen-vl-utils fetch_image (what the upstream scripts' process_vision_info calls):
        # PIL ``Image.resize`` (default filter, bicubic) to smart_resize(h, w) before the
        # processor, whose own resize is then a no-op.
        img = super().load_image(ref)
        return qwen_image_resize(img)

    def load_video(self, ref):
        from evalsuite.media import load_video

        total, vfps, h, w = video_header(ref)
        n, (rh, rw), sample_fps = qwen_video_plan(
            total, vfps, h, w, fps=float(self.options.get("video_fps", FPS)),
            max_frames=int(self.options.get("video_max_frames", FPS_MAX_FRAMES)))
        frames = load_video(ref, FrameSpec(num_frames=n))  # native size
        return qwen_video_resize(frames, rh, rw), sample_fps

    def render(self, messages, mode, images, videos) -> str:
        chat = [{"role": m["role"], "content": [
            {"type": p["type"]} if p["type"] in ("image", "video") else p
            for p in m["content"]]} for m in messages]
        return self.processor.apply_chat_template(chat, tokenize=False,
                                                  add_generation_prompt=True)

    def _processor_inputs(self, prepared: list[Prepared]):
        images = [im for p in prepared for im in p.images]
        videos = [v for p in prepared for v in p.videos]
        kw: dict[str, Any] = {}
        if videos:
            kw["videos"] = videos
            # Frames are already sampled (qwen-vl-utils rule); the metadata carries the
            # sampled fps so second_per_grid_ts = temporal_patch_size / fps as upstream.
            kw["video_metadata"] = [{"total_num_frames": len(v), "fps": f}
                                    for p in prepared for v, f in zip(p.videos, p.video_fps)]
            kw["do_sample_frames"] = False
            kw["cap_pixels_per_frame"] = True  # the qwen-vl-utils budget (already applied)
        return self.processor(text=[p.text for p in prepared], images=images or None,
                              padding=True, return_tensors="pt", **kw)


class LlavaOnevisionJudge(GenerativeJudge):
    """Shared LLaVA-OneVision path (UnifiedReward-llava, LLaVA-Critic)."""

    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "video_frames": "frames sampled per video (default 8)",
    }
    frames_per_video: ClassVar[int] = 8
    frame_size: ClassVar[tuple[int, int]] = (512, 512)
    pair_image_size: ClassVar[tuple[int, int] | None] = None

    def _load_hf(self, dtype) -> None:
        from transformers import AutoProcessor, LlavaOnevisionForConditionalGeneration

        _refuse_original_llava(self.source)
        try:
            self.processor = AutoProcessor.from_pretrained(self.source,
                                                           revision=self._revision())
            self.model = self._from_pretrained(LlavaOnevisionForConditionalGeneration, dtype)
        except (ValueError, KeyError, OSError) as e:
            raise type(e)(f"{e}\n{CONVERT_HINT.format(src=self.source)}") from e

    def load_video(self, ref):
        from evalsuite.media import load_video

        # Upstream: 8 frames per video (opencv_extract_frames), each resized to 512x512.
        n = int(self.options.get("video_frames", self.frames_per_video))
        return load_video(ref, FrameSpec(num_frames=n, size=self.frame_size)), 0.0

    def _prepare(self, item, mode, kind) -> Prepared:
        from PIL import Image

        p = super()._prepare(item, mode, kind)
        # Upstream LLaVA scripts feed video frames as images, one <image> each.
        frames = [Image.fromarray(f) for v in p.videos for f in v]
        images = p.images
        if mode == "pair-image" and self.pair_image_size is not None:
            images = [im.resize(self.pair_image_size) for im in images]
        p.images, p.videos, p.video_fps = images + frames, [], []
        return p

    def render(self, messages, mode, images, videos) -> str:
        tpl = template_for(self.prompt_family, mode)
        n = len(images) + sum(len(v) for v in videos)
        text = messages[0]["content"][-1]["text"]
        return llava_conversation(text, llava_image_prefix(tpl, n))

    def _processor_inputs(self, prepared: list[Prepared]):
        return self.processor(text=[p.text for p in prepared],
                              images=[p.images for p in prepared], padding=True,
                              return_tensors="pt")


CONVERT_HINT = (
    "{src}: LLaVA-format judges (UnifiedReward-7b/-0.5b, llava-critic-7b/-72b) are published "
    "in the original LLaVA-NeXT format, which transformers cannot load. Convert the checkpoint "
    "with transformers' models/llava_onevision/convert_llava_onevision_weights_to_hf.py and "
    "pass the converted folder with --model-path (keep --model <hub id> for its settings).")


def _refuse_original_llava(source: str) -> None:
    cfg = Path(source) / "config.json"
    if not cfg.is_file():
        return  # a hub id: from_pretrained decides (and its error gets CONVERT_HINT)
    data = json.loads(cfg.read_text())
    if data.get("model_type") != "llava_onevision":
        raise ValueError(f"config model_type is {data.get('model_type')!r}, not "
                         f"'llava_onevision'.\n{CONVERT_HINT.format(src=source)}")


class UnifiedRewardLlava(LlavaOnevisionJudge):
    name: ClassVar[str] = "unifiedreward-llava"
    default_model: ClassVar[str] = "CodeGoat24/UnifiedReward-7b"
    cards: ClassVar[dict[str, ModelCard]] = LLAVA_CARDS
    default_card: ClassVar[ModelCard] = LLAVA_CARDS["CodeGoat24/UnifiedReward-7b"]
    pinned_revisions: ClassVar[dict[str, str]] = card_revisions(LLAVA_CARDS)
    # test_llava_genAI_bench_image.py resizes both images to 512x512 before processing.
    pair_image_size: ClassVar[tuple[int, int] | None] = (512, 512)
