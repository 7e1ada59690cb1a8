"""UnifiedReward (Wang et al. 2025) and its successors: VLMs fine-tuned to judge image/video
generation, image understanding and image editing, pairwise and pointwise.

Reference: github CodeGoat24/UnifiedReward @ff6f520 (prompts, media handling and answer
formats per script, cited template by template in :mod:`evalsuite.judges.prompts`).

* ``UnifiedRewardQwen`` - every Qwen-based checkpoint the upstream README names
  (:data:`QWEN_CHECKPOINTS`): v1 (``UnifiedReward-qwen-3b/7b/32b``), 2.0 (Qwen2.5-VL
  3B-72B, Qwen3-VL 2B-32B), Think (``-Think-qwen-7b``, ``-Think-qwen3vl-*``), Edit
  (``-Edit-qwen-*``, ``-Edit-qwen3vl-*``) and Flex (``-Flex-qwen3vl-8b``). ``--model``
  picks the card, hence the prompt family; the architecture (``Qwen2_5_VL`` /
  ``Qwen3VL...ForConditionalGeneration``) follows the checkpoint's ``config.json``.
  Media follow each family's scripts:

  - v1 and Think-qwen (transformers scripts, qwen-vl-utils 0.0.8): images converted to RGB
    and PIL-resized to ``smart_resize`` (4..16384 x 28 x 28 pixels,
    :func:`qwen_image_resize`); the Think GenAI-Bench image script first resizes both
    images to 512x512; videos sampled at fps 2.0 (4..768 frames, even count, per-frame
    pixel budget, :func:`qwen_video_plan`) and resized by torchvision bicubic antialias
    (:func:`qwen_video_resize`); the processor's own resize is then a no-op.
  - 2.0, Think-qwen3vl, Edit, Flex (vLLM request scripts): each image ``convert("RGB")``
    and JPEG quality 95 (:func:`jpeg_roundtrip`), then the checkpoint's processor resizes
    as the server's does; a video is 8 frames per side (``linspace(...).astype(int)``) or,
    for 2.0 pointwise / pairwise scores, 16 / 8 frames at ``int(i * n / k)``
    (:func:`frame_indices`), each frame sent as an image.
* ``UnifiedRewardLlava`` - LLaVA-OneVision checkpoints (``CodeGoat24/UnifiedReward-7b``,
  ``-0.5b``, ``-7b-v1.5``, ``-Think-7b``). **The hub repositories are original-LLaVA-format
  checkpoints (``llava_qwen``), which transformers cannot load**: convert them first with
  transformers' ``models/llava_onevision/convert_llava_onevision_weights_to_hf.py`` and pass
  the result with ``--model-path`` (plus ``--model CodeGoat24/UnifiedReward-7b`` to pick its
  settings). Loaded with ``LlavaOnevisionForConditionalGeneration``. Prompts use LLaVA's
  ``qwen_1_5`` conversation and ``<image>`` prefixes exactly as the upstream LLaVA scripts;
  videos are 8 uniformly sampled frames per video resized to 512x512, each frame one
  ``<image>``. Each sample's images are passed as its own list, so transformers applies
  anyres tiling to single-image samples only and encodes multi-image samples (pairs, video
  frames) at base resolution, as LLaVA-OneVision does; small differences from the original
  LLaVA code (e.g. the per-image newline token, frame indices of ``opencv_extract_frames``)
  remain.

Deliberate differences from the upstream scripts: decoding is greedy everywhere (the vLLM
scripts send ``"do_sample": False``, a field the OpenAI-compatible server ignores, so the
served model samples with its generation_config defaults); a video's frames are JPEG-encoded
once (the 2.0 ``read_video_frames`` saves them with OpenCV and re-encodes with PIL); the
swap of presentation order is seeded (the scripts' is not).

Prompts: :mod:`evalsuite.judges.prompts`; parsing: :mod:`evalsuite.judges.parsing`.
Options (``--option k=v``): ``max_new_tokens``, ``backend=vllm`` (untested on CPU),
``device_map=auto`` (large checkpoints over several GPUs), ``prompt_family`` (e.g.
``unifiedreward-qwen-2.0-pair-score``), ``video_fps``, ``video_max_frames``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.judges.generative import GenerativeJudge, ModelCard, Prepared, card_revisions
from evalsuite.judges.prompts import (Template, llava_conversation, llava_image_prefix,
                                      template_for)
from evalsuite.media import open_image, to_rgb
from evalsuite.types import FrameSpec

# max_new_tokens per mode from the upstream scripts (github CodeGoat24/UnifiedReward):
# Qwen GenAI-Bench image 512, video 1024, VL-RewardBench 4096; inference_qwen point_score
# image 512, video 1024, understanding 4096. Every LLaVA script uses 4096.
_QWEN_TOKENS = {"pair-image": 512, "pair-video": 1024, "pair-understanding": 4096,
                "point-image": 512, "point-video": 1024, "point-understanding": 4096,
                "default": 1024}
_LLAVA_TOKENS = {"default": 4096}

# No card has a revision: the hub pages seen show only 7-hex short SHAs for the CodeGoat24
# repos, so these checkpoints stay unpinned (models/README.md). Every released Qwen-based
# checkpoint named in the upstream README (github CodeGoat24/UnifiedReward @ff6f520) has a
# card; its family picks the prompts, media handling and answer parsing (prompts.FAMILIES).
_HUB = "CodeGoat24/UnifiedReward-"
QWEN_CHECKPOINTS: dict[str, tuple[str, str]] = {  # hub id -> (family, architecture)
    **{f"{_HUB}qwen-{s}": ("unifiedreward-qwen", "Qwen2.5-VL") for s in ("3b", "7b", "32b")},
    **{f"{_HUB}2.0-qwen-{s}": ("unifiedreward-qwen-2.0", "Qwen2.5-VL")
       for s in ("3b", "7b", "32b", "72b")},
    **{f"{_HUB}2.0-qwen3vl-{s}": ("unifiedreward-qwen-2.0", "Qwen3-VL")
       for s in ("2b", "4b", "8b", "32b")},
    f"{_HUB}Think-qwen-7b": ("unifiedreward-think-qwen", "Qwen2.5-VL"),
    **{f"{_HUB}Think-qwen3vl-{s}": ("unifiedreward-think-qwen3", "Qwen3-VL")
       for s in ("2b", "4b", "8b", "32b")},
    **{f"{_HUB}Edit-qwen-{s}": ("unifiedreward-edit", "Qwen2.5-VL")
       for s in ("3b", "7b", "32b", "72b")},
    **{f"{_HUB}Edit-qwen3vl-{s}": ("unifiedreward-edit", "Qwen3-VL")
       for s in ("2b", "4b", "8b", "32b")},
    # the only Flex checkpoint the repository names (UnifiedReward-Flex/vllm_server.sh)
    f"{_HUB}Flex-qwen3vl-8b": ("unifiedreward-flex", "Qwen3-VL"),
}
QWEN_CARDS: dict[str, ModelCard] = {
    m: ModelCard(fam, _QWEN_TOKENS, think=fam.startswith("unifiedreward-think"),
                 notes=arch)
    for m, (fam, arch) in QWEN_CHECKPOINTS.items()
}
LLAVA_CARDS: dict[str, ModelCard] = {
    m: ModelCard("unifiedreward-llava", _LLAVA_TOKENS, notes="original-LLaVA format on the "
                 "hub: convert to transformers LlavaOnevision and use --model-path")
    for m in ("CodeGoat24/UnifiedReward-7b", "CodeGoat24/UnifiedReward-0.5b",
              "CodeGoat24/UnifiedReward-7b-v1.5")
}
LLAVA_CARDS["CodeGoat24/UnifiedReward-Think-7b"] = ModelCard(
    "unifiedreward-think-llava", _LLAVA_TOKENS, think=True, notes="original-LLaVA format on "
    "the hub: convert to transformers LlavaOnevision and use --model-path")

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


# config.json model_type -> transformers class (Qwen2.5-VL: UnifiedReward v1 / 2.0 / Think /
# Edit; Qwen3-VL: the *-qwen3vl-* checkpoints).
QWEN_ARCHS = {"qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
              "qwen3_vl": "Qwen3VLForConditionalGeneration"}


def jpeg_roundtrip(img):
    """vllm_qwen/vllm_request.py ``_encode_image``: ``img.convert("RGB")`` saved as JPEG
    quality 95 (sent base64; the server decodes it): the pixels the served model sees."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=95)
    out = Image.open(io.BytesIO(buf.getvalue()))
    return out.convert("RGB")


def frame_indices(total: int, k: int, rule: str) -> list[int]:
    """The frames the upstream scripts send: ``linspace`` = ``np.linspace(0, total - 1,
    k).astype(int)`` (decord / OpenCV ``extract_frames``); ``stride`` = ``int(i * total /
    k)`` (UnifiedReward-2.0 ``read_video_frames``)."""
    import numpy as np

    if total <= 0 or k <= 0:
        raise ValueError(f"cannot take {k} frames of a {total}-frame video")
    if rule == "linspace":
        return np.linspace(0, total - 1, k).astype(np.int32).tolist()
    if rule == "stride":
        return sorted({int(i * total / k) for i in range(k)})
    raise ValueError(f"unknown frame rule {rule!r}")


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
    tasks: ClassVar[frozenset[str]] = frozenset({"generation", "understanding", "edit"})
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "video_fps": "frames per second sampled from videos (Qwen2.5-VL default 2)",
        "video_max_frames": "cap on sampled video frames",
    }
    default_model: ClassVar[str] = "CodeGoat24/UnifiedReward-qwen-7b"
    fixture: ClassVar[str | None] = "unifiedreward-qwen"

    @classmethod
    def fixture_for(cls, model: str | None = None, **preset: Any) -> str | None:
        """The tiny Qwen3-VL for a Qwen3-VL checkpoint, else the tiny Qwen2.5-VL."""
        arch = QWEN_CHECKPOINTS.get(model or cls.default_model, ("", ""))[1]
        return "unifiedreward-qwen3vl" if arch == "Qwen3-VL" else "unifiedreward-qwen"
    cards: ClassVar[dict[str, ModelCard]] = QWEN_CARDS
    default_card: ClassVar[ModelCard] = QWEN_CARDS["CodeGoat24/UnifiedReward-qwen-7b"]
    pinned_revisions: ClassVar[dict[str, str]] = card_revisions(QWEN_CARDS)

    def _load_hf(self, dtype) -> None:
        import transformers
        from transformers import AutoConfig, AutoProcessor

        # The architecture is the checkpoint's own (config.json model_type), so a local
        # --model-path of either generation loads with the right class.
        kind = AutoConfig.from_pretrained(self.source, revision=self._revision()).model_type
        if kind not in QWEN_ARCHS:
            raise ValueError(f"{self.source}: model_type {kind!r} is not a Qwen-VL "
                             f"architecture this judge loads ({sorted(QWEN_ARCHS)})")
        self.processor = AutoProcessor.from_pretrained(self.source, revision=self._revision())
        self.model = self._from_pretrained(getattr(transformers, QWEN_ARCHS[kind]), dtype)

    def load_image(self, ref, tpl: Template | None = None):
        img = open_image(ref)
        if tpl is not None and tpl.image_size is not None:
            # Think GenAI-Bench image: ``data['left_image'].resize((512, 512))`` on the image
            # as stored, before process_vision_info converts it
            img = img.resize(tpl.image_size)
        if tpl is not None and tpl.media == "jpeg":
            return jpeg_roundtrip(img)
        # qwen-vl-utils fetch_image (what the transformers scripts' process_vision_info
        # calls): RGB, then PIL ``Image.resize`` (default filter, bicubic) to
        # smart_resize(h, w) before the processor, whose own resize is then a no-op.
        return qwen_image_resize(to_rgb(img))

    def video_frames(self, ref, tpl: Template) -> list[Any]:
        from PIL import Image

        from evalsuite.media import decode_frames

        frames, _fps, _backend = decode_frames(ref)
        idx = frame_indices(len(frames), tpl.frames or 0, tpl.frame_rule)
        return [jpeg_roundtrip(Image.fromarray(frames[i])) for i in idx]

    def load_video(self, ref):
        from evalsuite.media import load_video

        total, vfps, h, w = video_header(ref)
        n, (rh, rw), sample_fps = qwen_video_plan(
            total, vfps, h, w, fps=float(self.options.get("video_fps", FPS)),
            max_frames=int(self.options.get("video_max_frames", FPS_MAX_FRAMES)))
        frames = load_video(ref, FrameSpec(num_frames=n, rule="qwen-vl-utils"))  # native size
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
    fixture: ClassVar[str | None] = "unifiedreward-llava"
    cards: ClassVar[dict[str, ModelCard]] = LLAVA_CARDS
    default_card: ClassVar[ModelCard] = LLAVA_CARDS["CodeGoat24/UnifiedReward-7b"]
    pinned_revisions: ClassVar[dict[str, str]] = card_revisions(LLAVA_CARDS)
    # test_llava_genAI_bench_image.py resizes both images to 512x512 before processing.
    pair_image_size: ClassVar[tuple[int, int] | None] = (512, 512)
