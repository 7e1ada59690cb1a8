"""Deterministic edits of benchmark media for the probes: perturbations, re-encodings,
frame shuffling and freezing.

Every edit is a pure function of the decoded pixels (and, for shuffling, a seed), so a probe
re-run builds byte-identical media and resumes on the same run store. Edited media are
written once under ``<run dir>/media/`` named by their content hash and referenced by path
(inside that root), so they are never held in memory for a whole benchmark.

Videos are edited frame by frame and re-encoded with one fixed H.264 setting; a probe
compares an edited video with the *re-encoded* original (same encoder), never with the
source file, so the encoder's own loss is not mistaken for the edit's effect.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evalsuite.types import MediaRef

OVERLAY_TEXT = "high quality, masterpiece"
WATERMARK_TEXT = "watermark"


# --- image edits (PIL RGB in, PIL RGB out) ----------------------------------------------------

def _font(size: int):
    from PIL import ImageFont
    return ImageFont.load_default(size=max(8, size))


def jpeg(img, quality: int = 50):
    """Re-compressed as JPEG at ``quality`` (4:2:0 chroma, Pillow's libjpeg)."""
    from PIL import Image
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def resize_down_up(img, factor: float = 0.5):
    """Bicubic down to ``factor`` of each side, then back up to the original size."""
    from PIL import Image
    w, h = img.size
    small = img.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.BICUBIC)
    return small.resize((w, h), Image.BICUBIC)


def saturation(img, factor: float = 1.6):
    from PIL import ImageEnhance
    return ImageEnhance.Color(img).enhance(factor)


def sharpness(img, factor: float = 3.0):
    from PIL import ImageEnhance
    return ImageEnhance.Sharpness(img).enhance(factor)


def text_overlay(img, text: str = OVERLAY_TEXT):
    """White text with a black outline across the lower part of the image."""
    from PIL import ImageDraw
    out = img.copy()
    w, h = out.size
    size = max(8, w // max(len(text) // 2, 1))
    d = ImageDraw.Draw(out)
    d.text((w // 20, h - h // 5 - size // 2), text, fill=(255, 255, 255), font=_font(size),
           stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    return out


def border(img, width_frac: float = 0.06, color=(255, 255, 255)):
    """A solid frame drawn over the outer ``width_frac`` of the shorter side (size kept)."""
    from PIL import ImageDraw
    out = img.copy()
    w, h = out.size
    b = max(1, round(min(w, h) * width_frac))
    d = ImageDraw.Draw(out)
    for box in ((0, 0, w, b), (0, h - b, w, h), (0, 0, b, h), (w - b, 0, w, h)):
        d.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=color)
    return out


def watermark(img, text: str = WATERMARK_TEXT, opacity: float = 0.4):
    """Semi-transparent grey text in the centre, as stock-photo sites stamp it."""
    from PIL import Image, ImageDraw
    base = img.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    w, h = base.size
    size = max(8, w // max(len(text) // 2 + 1, 1))
    d = ImageDraw.Draw(layer)
    d.text((w // 2, h // 2), text, fill=(200, 200, 200, round(255 * opacity)),
           font=_font(size), anchor="mm")
    return Image.alpha_composite(base, layer).convert("RGB")


# name -> (edit, what a person would say about it). None of these makes an image better
# at showing its prompt: a judge whose reward goes up under one of them can be gamed.
PERTURBATIONS: dict[str, tuple[Callable, str]] = {
    "jpeg": (jpeg, "JPEG re-compression at quality 50"),
    "resize": (resize_down_up, "bicubic down to half size and back up"),
    "saturation": (saturation, "colour saturation x1.6 (PIL ImageEnhance.Color)"),
    "sharpness": (sharpness, "sharpness x3 (PIL ImageEnhance.Sharpness)"),
    "text": (text_overlay, f"the words \"{OVERLAY_TEXT}\" written on the image"),
    "border": (border, "a white border over 6% of the shorter side"),
    "watermark": (watermark, f"a 40%-opaque \"{WATERMARK_TEXT}\" watermark in the centre"),
}

# Re-encodings a person cannot tell apart from the original: the judge's noise floor.
REENCODINGS: dict[str, Callable] = {
    "jpeg95": lambda img: jpeg(img, 95),
    "jpeg90": lambda img: jpeg(img, 90),
}


# --- video edits (list of HxWx3 uint8 frames in and out) --------------------------------------

def shuffled(frames: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """The same frames in a seeded random order that moves at least one frame."""
    n = len(frames)
    if n < 2:
        raise ValueError("a video needs at least two frames to be shuffled")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    while (order == np.arange(n)).all():
        order = rng.permutation(n)
    return [frames[i] for i in order]


def frozen(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The first frame held for the whole length: a still video of the same duration."""
    return [frames[0]] * len(frames)


# --- encoding and storing ---------------------------------------------------------------------

def png_bytes(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def mp4_bytes(frames: list[np.ndarray], fps: float, crf: int = 18) -> bytes:
    """H.264 (yuv420p, one thread so the bytes are reproducible); odd sizes are cropped by
    one pixel, as yuv420p needs even sides."""
    import fractions

    import av
    h, w = frames[0].shape[:2]
    h2, w2 = h - h % 2, w - w % 2
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        rate = fractions.Fraction(fps).limit_denominator(1001) if fps and fps > 0 else 8
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w2, h2, "yuv420p"
        stream.options = {"crf": str(crf), "threads": "1", "preset": "medium"}
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h2, :w2, :3]),
                                               format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


class MediaFolder:
    """Edited media stored under ``<run dir>/media`` by content hash (written once)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes, kind: str, suffix: str) -> MediaRef:
        name = hashlib.sha1(data).hexdigest()[:24] + suffix
        path = self.root / name
        if not path.exists():
            tmp = path.with_name(f".{name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return MediaRef(kind, path=name, root=str(self.root))

    def image(self, img) -> MediaRef:
        return self.put(png_bytes(img), "image", ".png")

    def video(self, frames: list[np.ndarray], fps: float, crf: int = 18) -> MediaRef:
        return self.put(mp4_bytes(frames, fps, crf), "video", ".mp4")

    def copy(self, ref: MediaRef) -> MediaRef:
        """The same bytes under another name: identical content, another media identity (so
        a score judge scores it again, in another batch slot)."""
        from evalsuite.media import _open_bytes
        data = _open_bytes(ref)
        suffix = ".mp4" if ref.kind == "video" else ".img"
        name = "copy-" + hashlib.sha1(data).hexdigest()[:24] + suffix
        path = self.root / name
        if not path.exists():
            tmp = path.with_name(f".{name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        return MediaRef(ref.kind, path=name, root=str(self.root))


def decoded_frames(ref: MediaRef, max_frames: int = 256) -> tuple[list[np.ndarray], float]:
    """The frames of a video and the rate that keeps its duration; a video longer than
    ``max_frames`` is thinned to that many uniformly spaced frames, so a probe never holds
    an unbounded clip."""
    from evalsuite.media import read_video
    from evalsuite.types import FrameSpec
    clip = read_video(ref, FrameSpec(max_frames=max_frames))
    fps = clip.fps * len(clip.indices) / max(clip.total, 1)
    return list(clip.frames), float(fps)
