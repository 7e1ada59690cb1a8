"""Loading images and decoding videos, safely and with bounded memory.

* Paths from a dataset are resolved inside the dataset root; one that escapes it (``..``,
  an absolute path elsewhere, a symlink out) is refused with a clear error.
* Images come back as RGB ``PIL.Image`` (CMYK, 16-bit, palette and alpha images are
  converted the way the upstream judges' ``Image.open(..).convert("RGB")`` does, 16-bit
  scaled down to 8 bit first so it is not clipped to white).
* Videos: only the wanted frames are decoded and kept, so memory is O(frames kept), not
  O(video length). PyAV (the default) demuxes the packets once (no decoding) to list every
  frame's presentation time and the key frames, then for each wanted frame seeks to the key
  frame at or before it and decodes forward; frame *i* is the *i*-th frame in presentation
  order, which is the *i*-th frame a full decode yields, for constant and variable frame
  rates and B-frames alike. When a seek does not land where the index says (a broken index,
  frames without timestamps), the same frames are taken from one forward pass instead,
  still keeping only the wanted ones. decord (``get_batch``, the reader of lmms-eval and
  qwen-vl-utils) is the alternative: first with ``EVALSUITE_VIDEO_BACKEND=decord``, else the
  fallback when PyAV is missing or fails; it refuses what it gets wrong (rotated videos,
  several video streams) so PyAV handles those.
* Which frames: :class:`~evalsuite.types.FrameSpec` ``rule`` names the index formula of the
  reference each benchmark or judge follows (:data:`INDEX_RULES`, each with its source).
* What is decoded is checked by content, not by name: an image (PNG, JPEG, GIF, WebP, BMP,
  TIFF) named ``.mp4`` is an error saying which image it is; an audio-only file (cover art
  is not a video) is "no video stream"; with several video streams the default one (else
  the first) is read. Rotation metadata (the display matrix) is applied, so frames come back
  upright as a player shows them.
* Sampled clips are kept in a small LRU cache so a video shared by many pairs is decoded once
  per sampling spec; concurrent requests for the same clip wait for one decode.
* Every failure (missing, empty, corrupt, zero-frame, audio-only, image, path outside the
  dataset root) is a :class:`MediaError` with the reason: the runner records it as that
  item's error.
"""

from __future__ import annotations

import bisect
import io
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

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


# --- which frames: the reference index rules ------------------------------------------------
# Each rule maps (frame count, native fps, spec) to frame indices in presentation order,
# exactly as the named upstream code does; tests/test_media.py checks each against its
# reference (qwen-vl-utils imported, the others as test-only extracts in tests/reference/).

def _need(value: int | None, rule: str) -> int:
    if value is None or int(value) < 1:
        raise ValueError(f"frame rule {rule!r} needs num_frames >= 1")
    return int(value)


def _rule_uniform(total: int, native_fps: float, spec: FrameSpec) -> list[int]:
    """``uniform`` - the harness's own rule (no upstream): ``num_frames`` at
    ``np.linspace(0, total - 1, n).round()``; or one frame every ``native_fps / fps``
    (rounded); or every frame; then ``max_frames`` thins the list the same linspace way."""
    if spec.num_frames is not None:
        idx = np.linspace(0, total - 1, spec.num_frames).round().astype(int).tolist()
    elif spec.fps is not None and native_fps > 0:
        step = native_fps / spec.fps
        idx = [min(int(round(i * step)), total - 1) for i in range(max(1, int(total / step)))]
    else:
        idx = list(range(total))
    if spec.max_frames is not None and len(idx) > spec.max_frames:
        keep = np.linspace(0, len(idx) - 1, spec.max_frames).round().astype(int)
        idx = [idx[i] for i in keep]
    return idx


def _rule_decord_linspace(total: int, native_fps: float, spec: FrameSpec) -> list[int]:
    """``decord-linspace`` - lmms-eval ``load_video_decord`` (github EvolvingLMMs-Lab/
    lmms-eval, lmms_eval/models/model_utils/load_video.py @75571cfe0fa36ca5ec2e6aa2bb268f9d
    38295af3): ``np.linspace(0, total - 1, num_frames, dtype=int)`` (truncation, repeats kept
    when the video is shorter)."""
    n = _need(spec.num_frames, "decord-linspace")
    return np.linspace(0, total - 1, n, dtype=int).tolist()


# qwen-vl-utils 0.0.14 (PyPI; github QwenLM/Qwen2.5-VL qwen-vl-utils/src/qwen_vl_utils/
# vision_process.py) constants of ``smart_nframes``.
QWEN_FRAME_FACTOR, QWEN_FPS, QWEN_FPS_MIN_FRAMES, QWEN_FPS_MAX_FRAMES = 2, 2.0, 4, 768


def qwen_nframes(total: int, native_fps: float, num_frames: int | None = None,
                 fps: float | None = None, max_frames: int | None = None) -> int:
    """qwen-vl-utils ``smart_nframes``: ``num_frames`` rounded to an even count; else
    ``total / native_fps * fps`` (fps 2.0 by default) clamped to [4, min(768, total)] (or
    ``max_frames``) and floored to an even count; must land in [2, total]."""
    f = QWEN_FRAME_FACTOR
    if num_frames is not None:
        n = round(num_frames / f) * f
    else:
        lo = math.ceil(QWEN_FPS_MIN_FRAMES / f) * f
        hi_src = max_frames if max_frames is not None else min(QWEN_FPS_MAX_FRAMES, total)
        hi = math.floor(hi_src / f) * f
        n = total / native_fps * (QWEN_FPS if fps is None else fps)
        n = min(min(max(n, lo), hi), total)
        n = math.floor(n / f) * f
    if not f <= n <= total:
        raise MediaError(f"qwen-vl-utils sampling needs between {f} and {total} frames "
                         f"(the video has {total}), got {n}")
    return int(n)


def _qwen_linspace(total: int, n: int) -> list[int]:
    import torch  # the reference's float32 torch.linspace: its rounding, not numpy's float64

    return torch.linspace(0, total - 1, n).round().long().tolist()


def _rule_qwen(total: int, native_fps: float, spec: FrameSpec) -> list[int]:
    """``qwen-vl-utils`` - qwen-vl-utils 0.0.14 ``fetch_video`` (``_read_video_decord`` /
    ``_read_video_torchvision``): :func:`qwen_nframes` frames (``num_frames`` = its
    ``nframes``; else ``fps`` / ``max_frames``), at
    ``torch.linspace(0, total - 1, n).round().long()``."""
    if spec.num_frames is not None and (spec.fps is not None or spec.max_frames is not None):
        raise ValueError("qwen-vl-utils takes either num_frames or fps (+ max_frames)")
    n = qwen_nframes(total, native_fps, spec.num_frames, spec.fps, spec.max_frames)
    return _qwen_linspace(total, n)


def _rule_lmms_eval_qwen(total: int, native_fps: float, spec: FrameSpec) -> list[int]:
    """``lmms-eval-qwen2.5-vl`` - lmms-eval's Qwen2.5-VL model (github EvolvingLMMs-Lab/
    lmms-eval, lmms_eval/models/simple/qwen2_5_vl.py @75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
    ``generate_until``): qwen-vl-utils first reads the video at its default fps (2.0, or
    ``fps``), then of those ``n`` frames keeps ``np.unique(np.linspace(0, n - 1,
    max_num_frames, dtype=int))`` (``num_frames`` = ``max_num_frames``, 32 by default there;
    the last frame is always among them)."""
    k = _need(spec.num_frames, "lmms-eval-qwen2.5-vl")
    first = _qwen_linspace(total, qwen_nframes(total, native_fps, fps=spec.fps,
                                               max_frames=spec.max_frames))
    keep = np.unique(np.linspace(0, len(first) - 1, k, dtype=int))
    if len(first) - 1 not in keep:
        keep = np.unique(np.append(keep, len(first) - 1))
    return [first[i] for i in keep]


def _rule_arange_trunc(total: int, native_fps: float, spec: FrameSpec) -> list[int]:
    """``arange-trunc`` - VideoScore (github TIGER-AI-Lab/VideoScore,
    examples/run_videoscore.py @8e449734bbeb4aba327b82f2269e7247633a7abc): when the video has
    more than ``num_frames`` (its ``MAX_NUM_FRAMES``) frames,
    ``np.arange(0, total, total / num_frames).astype(int)``, else every frame."""
    n = _need(spec.num_frames, "arange-trunc")
    if total > n:
        return np.arange(0, total, total / n).astype(int).tolist()
    return list(range(total))


def _rule_vbench_middle(total: int, native_fps: float, spec: FrameSpec) -> list[int]:
    """``vbench-middle`` - VBench ``get_frame_indices(num_frames, vlen, sample="middle")``
    (github Vchitect/VBench, vbench/utils.py @45e79ec14e69a2187202c675d2dbce1a71843d53):
    ``min(num_frames, total)`` equal intervals from ``np.linspace(0, total, n + 1)
    .astype(int)``, the middle ``(start + end) // 2`` of each, padded with the last index to
    ``num_frames``."""
    k = _need(spec.num_frames, "vbench-middle")
    n = min(k, total)
    edges = np.linspace(0, total, n + 1).astype(int)
    idx = [int((a + b - 1) // 2) for a, b in zip(edges[:-1], edges[1:])]
    return idx + [idx[-1]] * (k - n)


IndexRule = Callable[[int, float, FrameSpec], list[int]]
INDEX_RULES: dict[str, IndexRule] = {
    "uniform": _rule_uniform,
    "decord-linspace": _rule_decord_linspace,
    "qwen-vl-utils": _rule_qwen,
    "lmms-eval-qwen2.5-vl": _rule_lmms_eval_qwen,
    "arange-trunc": _rule_arange_trunc,
    "vbench-middle": _rule_vbench_middle,
}


def sample_indices(total: int, native_fps: float, spec: FrameSpec) -> list[int]:
    """Frame indices (presentation order, repeats allowed) the spec's rule picks from a
    video of ``total`` frames at ``native_fps``."""
    if spec.rule not in INDEX_RULES:
        raise ValueError(f"unknown frame rule {spec.rule!r}; known: {sorted(INDEX_RULES)}")
    if total <= 0:
        return []
    return INDEX_RULES[spec.rule](total, native_fps, spec)


# --- what a file is: checked by content --------------------------------------------------------

_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"),
                (b"GIF89a", "GIF"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
                (b"BM", "BMP"))


def image_format(head: bytes) -> str | None:
    """The image format the first bytes of a file announce (None: not an image we know)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _IMAGE_MAGIC if head.startswith(magic)), None)


@dataclass
class VideoSource:
    """An opened video reference: a path on disk or in-memory bytes (never read whole from
    disk: PyAV and decord stream from the file)."""

    ref: MediaRef
    path: Path | None
    data: bytes | None

    def stream(self) -> Any:
        return str(self.path) if self.path is not None else io.BytesIO(self.data)


def _video_source(ref: MediaRef) -> VideoSource:
    if ref.kind != "video":
        raise MediaError(f"expected a video, got a {ref.kind}")
    if ref.data is not None:
        head, path = ref.data[:16], None
    else:
        path = resolve(ref)
        if not path.is_file():
            raise MediaError(f"missing file: {path}")
        with path.open("rb") as fh:
            head = fh.read(16)
    if not head:
        raise MediaError(f"empty file: {path if path is not None else ref.describe()}")
    kind = image_format(head)
    if kind is not None:
        raise MediaError(f"not a video: {ref.describe()} is a {kind} image")
    return VideoSource(ref, path, ref.data)


# --- decoding ----------------------------------------------------------------------------------

@dataclass
class Clip:
    """Decoded frames (T, H, W, 3) uint8 in the order asked, and where they came from."""

    frames: np.ndarray
    indices: list[int]
    total: int  # frames in the video
    fps: float  # the container's average frame rate
    backend: str


def _upright(arr: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display rotation (degrees counter-clockwise, as ffmpeg's display matrix and
    PyAV's ``VideoFrame.rotation`` state it) so the frame looks as a player shows it."""
    if rotation % 90:
        raise MediaError(f"display rotation of {rotation} degrees is not a multiple of 90")
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(arr, k)) if k else arr


def _pick_stream(container) -> Any:
    """The video stream to read: cover art (an attached picture) is not one; of several,
    the one marked default, else the first."""
    import av

    attached = av.stream.Disposition.attached_pic
    video = [s for s in container.streams.video if not s.disposition & attached]
    if not video:
        others = [s.type for s in container.streams if s.type != "video"]
        what = f" (only {', '.join(sorted(set(others)))})" if others else ""
        raise MediaError(f"no video stream{what}")
    default = [s for s in video if s.disposition & av.stream.Disposition.default]
    return (default or video)[0]


class _SeekMiss(Exception):
    """A seek did not reach the frame the packet index promised."""


@contextmanager
def _open_av(src: VideoSource) -> Iterator[Any]:
    import av

    try:
        container = av.open(src.stream())
    except Exception as e:  # PyAV raises many error types (InvalidDataError, EOFError, ...)
        raise MediaError(f"undecodable video: {type(e).__name__}: {e}") from e
    try:
        yield container
    finally:
        container.close()


def _frame_index(container, stream) -> tuple[list[int], list[int]] | None:
    """(every frame's pts in presentation order, key frames' pts) from the packets alone;
    None when some packet has no timestamp (then frames are counted by a forward pass)."""
    pts, keys = [], []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:  # flush packets, edit-list-dropped frames
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
    pts.sort()
    keys.sort()
    return pts, keys


def _to_rgb(frame) -> np.ndarray:
    return _upright(frame.to_ndarray(format="rgb24"), int(frame.rotation or 0))


class _Kept:
    """The output clip, filled in place as the wanted frames are decoded (memory: the frames
    kept, once); an index asked twice fills both places."""

    def __init__(self, idx: list[int]):
        self.idx = list(idx)
        self.slots: dict[int, list[int]] = {}
        for pos, i in enumerate(self.idx):
            self.slots.setdefault(i, []).append(pos)
        self.frames: np.ndarray | None = None
        self.done: set[int] = set()

    def wants(self, i: int) -> bool:
        return i in self.slots and i not in self.done

    def put(self, i: int, frame) -> None:
        arr = _to_rgb(frame)
        if self.frames is None:
            self.frames = np.empty((len(self.idx), *arr.shape), np.uint8)
        elif arr.shape != self.frames.shape[1:]:
            raise MediaError(f"frame size changes within the video ({self.frames.shape[1:3]} "
                             f"then {arr.shape[:2]})")
        self.frames[self.slots[i]] = arr
        self.done.add(i)

    def clip(self, total: int, fps: float, backend: str) -> Clip:
        if total == 0:
            raise MediaError("video has zero frames")
        frames = self.frames if self.frames is not None else np.zeros((0, 0, 0, 3), np.uint8)
        return Clip(frames, self.idx, total, fps, backend)


def _seek_decode(container, stream, pts: list[int], keys: list[int], kept: _Kept) -> None:
    """Fill ``kept``: per wanted frame, seek to the key frame at or before it (unless
    decoding forward from where we are gets there first) and decode up to it."""
    index_of = {pts[i]: i for i in kept.slots}
    frames = None
    position = None  # pts of the last decoded frame
    for i in sorted(kept.slots):
        if not kept.wants(i):
            continue
        target = pts[i]
        k = bisect.bisect_right(keys, target) - 1
        key = keys[k] if k >= 0 else pts[0]
        if frames is None or position is None or position >= target or key > position:
            container.seek(key, stream=stream, backward=True, any_frame=False)
            frames = container.decode(stream)
            position = None
        for frame in frames:
            if frame.pts is None:
                raise _SeekMiss("a decoded frame has no timestamp")
            position = frame.pts
            if position >= target:
                if position in index_of and kept.wants(index_of[position]):
                    kept.put(index_of[position], frame)
                break
        if kept.wants(i):
            raise _SeekMiss(f"frame {i} (pts {target}) not reached after seeking to {key}")


def _forward_decode(container, stream, kept: _Kept) -> int:
    """One pass over the whole video filling ``kept``; returns the number of frames."""
    n = 0
    for n, frame in enumerate(container.decode(stream), start=1):
        if kept.wants(n - 1):
            kept.put(n - 1, frame)
    return n


def _read_pyav(src: VideoSource, spec: FrameSpec) -> Clip:
    try:
        with _open_av(src) as container:
            stream = _pick_stream(container)
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            index = _frame_index(container, stream)
            if index is not None and index[0]:
                pts, keys = index
                kept = _Kept(sample_indices(len(pts), fps, spec))
                try:
                    _seek_decode(container, stream, pts, keys, kept)
                    return kept.clip(len(pts), fps, "pyav")
                except _SeekMiss:
                    pass  # the same frames from one forward pass below
        if index is None:  # a packet without timestamp: count the frames by decoding
            with _open_av(src) as container:
                total = _forward_decode(container, _pick_stream(container), _Kept([]))
        else:
            total = len(index[0])
        kept = _Kept(sample_indices(total, fps, spec))
        with _open_av(src) as container:
            decoded = _forward_decode(container, _pick_stream(container), kept)
        if decoded != total:
            raise MediaError(f"the packets promise {total} frames, the decoder gave {decoded}")
        return kept.clip(total, fps, "pyav")
    except MediaError:
        raise
    except Exception as e:  # PyAV raises many error types mid-stream
        raise MediaError(f"undecodable video: {type(e).__name__}: {e}") from e


def _pyav_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("av") is not None


def _decord_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("decord") is not None


def _decord_refusal(src: VideoSource) -> str | None:
    """What decord would get wrong in this file (it ignores the display rotation and picks
    its own stream among several), read with PyAV's demuxer; None when PyAV is missing."""
    if not _pyav_available():
        return None
    with _open_av(src) as container:
        stream = _pick_stream(container)
        if len(container.streams.video) > 1:
            return f"{len(container.streams.video)} video streams (decord picks its own)"
        frame = next(container.decode(stream), None)
        if frame is not None and frame.rotation:
            return f"display rotation {frame.rotation} degrees (decord ignores it)"
    return None


def _read_decord(src: VideoSource, spec: FrameSpec) -> Clip:
    import decord

    reason = _decord_refusal(src)
    if reason is not None:
        raise MediaError(f"not read with decord: {reason}")
    try:
        if src.path is not None:
            return _decord_clip(decord.VideoReader(str(src.path), ctx=decord.cpu(0)), spec)
        import tempfile  # decord reads files: in-memory bytes go through a temporary one
        with tempfile.NamedTemporaryFile(suffix=".video") as fh:
            fh.write(src.data)
            fh.flush()
            return _decord_clip(decord.VideoReader(fh.name, ctx=decord.cpu(0)), spec)
    except MediaError:
        raise
    except Exception as e:  # decord raises DECORDError / RuntimeError
        raise MediaError(f"undecodable video: {type(e).__name__}: {e}") from e


def _decord_clip(vr, spec: FrameSpec) -> Clip:
    total, fps = len(vr), float(vr.get_avg_fps())
    if total == 0:
        raise MediaError("video has zero frames")
    idx = sample_indices(total, fps, spec)
    frames = vr.get_batch(idx).asnumpy() if idx else np.zeros((0, 0, 0, 3), np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise MediaError(f"decord returned frames of shape {frames.shape}")
    return Clip(frames, list(idx), total, fps, "decord")


def read_video(ref: MediaRef, spec: FrameSpec) -> Clip:
    """The frames a spec picks, decoded without decoding the rest (memory O(frames kept)).

    PyAV first (decord first with ``EVALSUITE_VIDEO_BACKEND=decord``); the other backend is
    tried when the first is not installed or fails, and only when installed. A missing,
    empty or non-video file fails before any decoder runs.
    """
    if spec.rule not in INDEX_RULES:
        raise ValueError(f"unknown frame rule {spec.rule!r}; known: {sorted(INDEX_RULES)}")
    src = _video_source(ref)
    order = ["pyav", "decord"]
    if os.environ.get("EVALSUITE_VIDEO_BACKEND", "pyav") == "decord":
        order.reverse()
    readers = {"pyav": (_pyav_available, _read_pyav), "decord": (_decord_available, _read_decord)}
    errors: list[str] = []
    for backend in order:
        available, read = readers[backend]
        if not available():
            errors.append(f"{backend}: not installed")
            continue
        try:
            return read(src, spec)
        except MediaError as e:
            errors.append(f"{backend}: {e}")
    tried = [e for e in errors if not e.endswith("not installed")]
    raise MediaError("; ".join(tried or errors) + f" ({ref.describe()})")


def decode_frames(ref: MediaRef) -> tuple[list[np.ndarray], float, str]:
    """Every frame of a video (memory O(video length): for the short clips the VBench
    dimensions read whole), its fps and the backend that decoded it."""
    clip = read_video(ref, FrameSpec())
    return list(clip.frames), clip.fps, clip.backend


class VideoCache:
    """LRU of decoded+sampled clips keyed by (media identity, frame spec), bounded by count
    and by bytes (the newest clip is always kept).

    Concurrent requests for the same key (prefetch threads working on two pairs that share a
    video) wait for one decode instead of decoding twice. Failures are not cached: every
    item that needs a broken video gets the error.
    """

    def __init__(self, capacity: int = 64, max_bytes: int = 2 << 30):
        self.capacity, self.max_bytes = capacity, max_bytes
        self._data: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._bytes = 0
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
                self._bytes += clip.nbytes
                self._inflight.pop(key, None)
                while len(self._data) > 1 and (len(self._data) > self.capacity
                                               or self._bytes > self.max_bytes):
                    _, old = self._data.popitem(last=False)
                    self._bytes -= old.nbytes
        return clip


def _load_video(ref: MediaRef, spec: FrameSpec) -> np.ndarray:
    clip = read_video(ref, spec).frames
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
    """Frame count, fps and backend, without keeping any frame."""
    clip = read_video(ref, FrameSpec(num_frames=1, rule="decord-linspace"))
    return {"frames": clip.total, "fps": clip.fps, "backend": clip.backend}
