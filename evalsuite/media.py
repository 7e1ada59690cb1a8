"""Loading images and decoding videos, safely.

* Paths from a dataset are resolved inside the dataset root; one that escapes it (``..``,
  an absolute path elsewhere, a symlink out) is refused with a clear error.
* Images come back as RGB ``PIL.Image`` (CMYK, 16-bit, palette and alpha images are
  converted the way the upstream judges' ``Image.open(..).convert("RGB")`` does, 16-bit
  scaled down to 8 bit first so it is not clipped to white).
* Videos are decoded with PyAV (the default). decord is the fallback: used when PyAV is not
  installed or cannot decode a file (and decord is installed), or first when
  ``EVALSUITE_VIDEO_BACKEND=decord``. Frames are sampled by count or by fps, and kept in a
  small LRU cache so a video shared by many pairs is decoded once per sampling spec.
* Every failure (missing, empty, corrupt, zero-frame file, path outside the dataset root)
  is a :class:`MediaError` with the reason: the runner records it as that item's error.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.types import FrameSpec, MediaRef


class MediaError(Exception):
    """Bad media for one item: becomes that item's recorded error."""


def resolve(ref: MediaRef) -> Path:
    """The file a MediaRef points to, refusing any path that leaves its dataset root."""
    if ref.path is None:
        raise MediaError("media has no path")
    p = Path(ref.path)
    if ref.root is None:
        return p
    root = Path(ref.root).resolve()
    full = (root / p).resolve()  # resolves '..' and symlinks
    if full != root and root not in full.parents:
        raise MediaError(f"path {ref.path!r} escapes the dataset root {str(root)!r}")
    return full


def _open_bytes(ref: MediaRef) -> bytes:
    if ref.data is not None:
        return ref.data
    path = resolve(ref)
    if not path.is_file():
        raise MediaError(f"missing file: {path}")
    data = path.read_bytes()
    if not data:
        raise MediaError(f"empty file: {path}")
    return data


def load_image(ref: MediaRef):
    """An RGB PIL image, or MediaError with the reason."""
    return to_rgb(open_image(ref))


def open_image(ref: MediaRef):
    """The PIL image as stored (palette, RGBA, 16-bit kept), for judges whose reference
    code transforms before converting to RGB; MediaError with the reason."""
    from PIL import Image, UnidentifiedImageError

    if ref.kind != "image":
        raise MediaError(f"expected an image, got a {ref.kind}")
    data = _open_bytes(ref)
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"unreadable image {ref.describe()}: {e}") from e
    return img


def to_rgb(img):
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.uint32)
        top = 65535 if img.mode.startswith("I;16") or arr.max() > 255 else 255
        img = Image.fromarray((arr * 255 // max(top, 1)).astype(np.uint8), mode="L")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img


# --- video ---------------------------------------------------------------------------------

def sample_indices(total: int, native_fps: float, spec: FrameSpec) -> list[int]:
    """Frame indices for a spec: ``num_frames`` uniform over the clip, or every 1/fps s."""
    if total <= 0:
        return []
    if spec.num_frames is not None:
        n = spec.num_frames
        idx = np.linspace(0, total - 1, n).round().astype(int).tolist()
    elif spec.fps is not None and native_fps > 0:
        step = native_fps / spec.fps
        idx = [min(int(round(i * step)), total - 1) for i in range(max(1, int(total / step)))]
    else:
        idx = list(range(total))
    if spec.max_frames is not None and len(idx) > spec.max_frames:
        keep = np.linspace(0, len(idx) - 1, spec.max_frames).round().astype(int)
        idx = [idx[i] for i in keep]
    return idx


def _decode_pyav(data: bytes) -> tuple[list[np.ndarray], float]:
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.video:
                raise MediaError("no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except MediaError:
        raise
    except Exception as e:  # PyAV raises many error types (InvalidDataError, EOFError, ...)
        raise MediaError(f"undecodable video: {type(e).__name__}: {e}") from e
    return frames, fps


def _decode_decord(path: Path) -> tuple[list[np.ndarray], float]:
    import decord

    try:
        vr = decord.VideoReader(str(path))
        return [vr[i].asnumpy() for i in range(len(vr))], float(vr.get_avg_fps())
    except Exception as e:  # decord raises DECORDError / RuntimeError
        raise MediaError(f"undecodable video: {e}") from e


class VideoCache:
    """LRU of decoded+sampled clips keyed by (media identity, frame spec).

    Concurrent requests for the same key (prefetch threads working on two pairs that share a
    video) wait for one decode instead of decoding twice. Failures are not cached: every
    item that needs a broken video gets the error.
    """

    def __init__(self, capacity: int = 64):
        self.capacity = capacity
        self._data: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._inflight: dict[tuple[str, str], threading.Lock] = {}
        self.decodes = 0  # how many real decodes happened (tests assert on it)

    def get(self, ref: MediaRef, spec: FrameSpec) -> np.ndarray:
        key = (ref.identity(), spec.key())
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            key_lock = self._inflight.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._data:
                    self._data.move_to_end(key)
                    return self._data[key]
            try:
                clip = _load_video(ref, spec)
            except BaseException:
                with self._lock:
                    self._inflight.pop(key, None)
                raise
            with self._lock:
                self.decodes += 1
                self._data[key] = clip
                self._inflight.pop(key, None)
                while len(self._data) > self.capacity:
                    self._data.popitem(last=False)
        return clip


def _decord_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("decord") is not None


def _decode_decord_ref(ref: MediaRef) -> tuple[list[np.ndarray], float]:
    """decord reads files, so in-memory bytes go through a temporary file."""
    if ref.data is None:
        path = resolve(ref)
        if not path.is_file():
            raise MediaError(f"missing file: {path}")
        return _decode_decord(path)
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".mp4") as fh:
        fh.write(ref.data)
        fh.flush()
        return _decode_decord(Path(fh.name))


def decode_frames(ref: MediaRef) -> tuple[list[np.ndarray], float, str]:
    """All frames of a video, its fps and the backend that decoded it.

    PyAV first (decord first with ``EVALSUITE_VIDEO_BACKEND=decord``); the other backend is
    tried when the first is not installed or fails to decode, and only when installed. A
    missing or empty file fails before any decoder runs.
    """
    if ref.kind != "video":
        raise MediaError(f"expected a video, got a {ref.kind}")
    data = _open_bytes(ref)  # missing / empty / escaping path: the reason is the file's
    order = ["pyav", "decord"]
    if os.environ.get("EVALSUITE_VIDEO_BACKEND", "pyav") == "decord":
        order.reverse()
    errors: list[str] = []
    for backend in order:
        try:
            if backend == "pyav":
                try:
                    import av  # noqa: F401
                except ImportError:
                    errors.append("pyav: not installed")
                    continue
                frames, fps = _decode_pyav(data)
            else:
                if not _decord_available():
                    errors.append("decord: not installed")
                    continue
                frames, fps = _decode_decord_ref(ref)
        except MediaError as e:
            errors.append(f"{backend}: {e}")
            continue
        return frames, fps, backend
    tried = [e for e in errors if not e.endswith("not installed")]
    raise MediaError("; ".join(tried or errors) + f" ({ref.describe()})")


def _load_video(ref: MediaRef, spec: FrameSpec) -> np.ndarray:
    frames, fps, _backend = decode_frames(ref)
    if not frames:
        raise MediaError(f"video has zero frames: {ref.describe()}")
    idx = sample_indices(len(frames), fps, spec)
    clip = np.stack([frames[i] for i in idx])
    if spec.size is not None:
        from PIL import Image
        clip = np.stack([np.asarray(Image.fromarray(f).resize(spec.size, Image.BICUBIC))
                         for f in clip])
    return clip  # (T, H, W, 3) uint8


VIDEO_CACHE = VideoCache()


def load_video(ref: MediaRef, spec: FrameSpec) -> np.ndarray:
    """Sampled frames (T, H, W, 3) uint8, decoded once per (video, spec)."""
    return VIDEO_CACHE.get(ref, spec)


def video_info(ref: MediaRef) -> dict[str, Any]:
    frames, fps, backend = decode_frames(ref)
    return {"frames": len(frames), "fps": fps, "backend": backend}
