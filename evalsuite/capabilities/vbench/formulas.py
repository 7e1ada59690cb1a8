"""VBench dimension formulas, re-implemented on current libraries (pure functions).

Read from github Vchitect/VBench at commit 45e79ec14e69a2187202c675d2dbce1a71843d53 (facts
only: formulas, constants, preprocessing); each function names the upstream file it follows.
Frames are ``(T, H, W, 3)`` uint8 RGB arrays, all frames of the video (upstream reads every
frame with decord / cv2; only ``dynamic_degree`` subsamples).

Kept free of model loading so that every formula can be checked by hand on synthetic frames:
the models are passed in as callables (features in, features out).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

# vbench/utils.py dino_transform / clip_transform: normalisation constants
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
INPUT_SIZE = 224  # vbench/subject_consistency.py dino_transform(224); clip_transform(224)
RAFT_ITERS = 20  # vbench/dynamic_degree.py, static_filter.py: iters=20, test_mode=True


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (T, H, W, 3) frames, got shape {frames.shape}")
    if len(frames) < 2:
        raise ValueError(f"VBench temporal dimensions need at least 2 frames, got {len(frames)}")
    return frames


# --- temporal_flickering ---------------------------------------------------------------------

def mae_score(a: np.ndarray, b: np.ndarray, dtype=np.float32) -> float:
    """(255 - mean over frame pairs (a_i, b_i) of their mean absolute pixel difference) / 255,
    the difference taken in ``dtype`` as the upstream script does: 1.0 when a == b."""
    mae = np.abs(a.astype(dtype) - b.astype(dtype)).mean(axis=(1, 2, 3))
    return float((255.0 - float(np.mean(mae))) / 255.0)


def temporal_flickering(frames: np.ndarray) -> float:
    """:func:`mae_score` of consecutive frames in float32 (vbench/temporal_flickering.py
    ``cal_score`` / ``calculate_mae``): 1.0 for a static video."""
    f = _check(frames)
    return mae_score(f[1:], f[:-1])


# --- subject_consistency / background_consistency --------------------------------------------

def _tensor(frames: np.ndarray):
    import torch
    # vbench/utils.py load_video: torch.Tensor(frames).permute(0, 3, 1, 2), float 0..255
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()


def dino_preprocess(frames: np.ndarray):
    """vbench/utils.py ``dino_transform(224)``: shorter side to 224 (bilinear, no antialias,
    aspect kept, no crop) on 0..255 floats, then /255 and ImageNet normalisation."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    x = TF.resize(_tensor(frames), INPUT_SIZE, interpolation=InterpolationMode.BILINEAR,
                  antialias=False)
    return TF.normalize(x / 255.0, IMAGENET_MEAN, IMAGENET_STD)


def clip_preprocess(frames: np.ndarray, uint8: bool = False):
    """vbench/utils.py ``clip_transform(224)``: shorter side to 224 (bicubic, no antialias),
    centre crop 224, /255, OpenAI CLIP normalisation. ``load_video`` hands it 0..255 floats
    (no clamping); ``read_frames_decord_by_fps`` (ViCLIP dimensions) uint8 tensors, which
    torchvision's resize rounds and clamps back to uint8: ``uint8=True``."""
    import torch
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    x = (torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2) if uint8
         else _tensor(frames))
    x = TF.resize(x, INPUT_SIZE, interpolation=InterpolationMode.BICUBIC,
                  antialias=False).float()
    x = TF.center_crop(x, INPUT_SIZE)
    return TF.normalize(x / 255.0, CLIP_MEAN, CLIP_STD)


def clip_image_preprocess(frames: np.ndarray):
    """vbench/utils.py ``clip_transform_Image(224)`` (appearance_style), on PIL frames:
    shorter side to 224 with PIL bicubic (PIL always antialiases, so upstream's
    ``antialias=False`` has no effect here), centre crop 224, ToTensor, CLIP normalisation."""
    import torch
    import torchvision.transforms.functional as TF
    from PIL import Image
    from torchvision.transforms import InterpolationMode

    out = []
    for f in frames:
        im = TF.resize(Image.fromarray(f), INPUT_SIZE, interpolation=InterpolationMode.BICUBIC)
        out.append(TF.normalize(TF.to_tensor(TF.center_crop(im, INPUT_SIZE)), CLIP_MEAN,
                                CLIP_STD))
    return torch.stack(out)


def style_frame_scores(image_embeds, text_embed, logit_scale: float) -> list[float]:
    """Per frame ``logits_per_text / 100`` of CLIP(frame, style text), i.e.
    exp(logit_scale) * cos(image, text) / 100 (vbench/appearance_style.py ``cur_sim``; OpenAI
    ViT-B/32's exp(logit_scale) is 100, so this is the cosine)."""
    import torch
    import torch.nn.functional as F

    img = F.normalize(torch.as_tensor(image_embeds).float(), dim=-1, p=2)
    txt = F.normalize(torch.as_tensor(text_embed).float().reshape(1, -1), dim=-1, p=2)
    return [float(v) for v in math.exp(logit_scale) * (img @ txt.T).squeeze(-1) / 100.0]


def middle_frame_indices(num_frames: int, vlen: int) -> list[int]:
    """vbench/utils.py ``get_frame_indices(sample="middle")``: the middle frame of each of
    ``num_frames`` equal intervals, padded with the last index when the video is shorter."""
    n = min(num_frames, vlen)
    edges = np.linspace(0, vlen, n + 1).astype(int)
    idx = [int((a + b - 1) // 2) for a, b in zip(edges[:-1], edges[1:])]
    return idx + [idx[-1]] * (num_frames - len(idx))


def consistency_sum(features) -> tuple[float, int]:
    """Per frame i >= 1: (max(0, cos(f_i, f_{i-1})) + max(0, cos(f_i, f_0))) / 2 on
    L2-normalised features (vbench/subject_consistency.py, background_consistency.py).
    Returns (sum over frames, number of frames summed): the per-video score is their ratio,
    the dimension score pools sums and counts over all videos (``sim / cnt`` upstream)."""
    import torch
    import torch.nn.functional as F

    f = F.normalize(torch.as_tensor(features).float(), dim=-1, p=2)
    if len(f) < 2:
        raise ValueError("consistency needs at least 2 frames")
    prev = F.cosine_similarity(f[1:], f[:-1], dim=-1).clamp(min=0.0)
    first = F.cosine_similarity(f[1:], f[:1].expand_as(f[1:]), dim=-1).clamp(min=0.0)
    return float(((prev + first) / 2).sum()), len(f) - 1


def pooled(sums_counts: Sequence[tuple[float, int]]) -> float | None:
    """sum of per-frame similarities / number of frames, over all videos (upstream
    ``sim_per_frame = sim / cnt``)."""
    n = sum(c for _, c in sums_counts)
    return None if n == 0 else sum(s for s, _ in sums_counts) / n


def dino_interpolate_pos_encoding(pos_embed, height: int, width: int, patch_size: int):
    """Position embeddings for a ``height x width`` input exactly as DINO's
    ``VisionTransformer.interpolate_pos_encoding`` (facebookresearch/dino
    vision_transformer.py, the torch hub model upstream loads): unchanged for a square input
    with the trained patch count, else bicubic with ``scale_factor = (n + 0.1) / sqrt(N)``
    (transformers' ViT uses ``size=`` instead, which samples slightly differently)."""
    import torch
    import torch.nn.functional as F

    n_pos = pos_embed.shape[1] - 1
    h0, w0 = height // patch_size, width // patch_size
    if h0 * w0 == n_pos and height == width:
        return pos_embed
    dim = pos_embed.shape[-1]
    side = int(math.sqrt(n_pos))
    grid = pos_embed[:, 1:].reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((h0 + 0.1) / math.sqrt(n_pos),
                                             (w0 + 0.1) / math.sqrt(n_pos)), mode="bicubic")
    if grid.shape[-2:] != (h0, w0):
        raise ValueError(f"position grid {tuple(grid.shape[-2:])} != {(h0, w0)}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((pos_embed[:, :1], grid), dim=1)


# --- aesthetic_quality -----------------------------------------------------------------------

def aesthetic_video_score(head_outputs) -> float:
    """Mean over frames of the LAION linear head's output / 10 (vbench/aesthetic_quality.py
    ``normalized_aesthetic_scores = aesthetic_scores / 10``); the head reads L2-normalised
    float32 CLIP ViT-L/14 image embeddings."""
    import torch
    s = torch.as_tensor(head_outputs).float().reshape(-1)
    return float((s / 10).mean())


# --- dynamic_degree / static filter (RAFT) ---------------------------------------------------

def dynamic_frame_interval(fps: float) -> int:
    """vbench/dynamic_degree.py ``get_frames``: every round(fps / 8)-th frame (at least 1)."""
    return max(1, round(fps / 8)) if fps and fps > 0 else 1


def pad_to_8(x):
    """RAFT's ``InputPadder`` (mode 'sintel', vbench/third_party/RAFT/core/utils_core/utils.py):
    replicate-pad H and W up to a multiple of 8, split evenly (extra pixel after)."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ph, pw = (((h // 8) + 1) * 8 - h) % 8, (((w // 8) + 1) * 8 - w) % 8
    return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2], mode="replicate")


def top_flow_mean(flow, fraction: float) -> float:
    """Mean of the largest ``int(h * w * fraction)`` flow magnitudes sqrt(u^2 + v^2) of one
    (2, h, w) flow at the padded size (``get_score``: 0.05 in vbench/dynamic_degree.py, 0.02
    in static_filter.py)."""
    f = np.asarray(flow, dtype=np.float32)
    rad = np.sqrt(np.square(f[0]) + np.square(f[1])).reshape(-1)
    cut = int(rad.size * fraction)
    if cut < 1:
        raise ValueError(f"flow of {rad.size} pixels has no top {fraction:.0%}")
    return float(np.mean(np.sort(rad)[::-1][:cut]))


def dynamic_params(height: int, width: int, count: int) -> tuple[float, int]:
    """vbench/dynamic_degree.py ``set_params``: threshold 6 * min(H, W) / 256 px on the
    unpadded frame; needed count round(4 * frames / 16) (Python's round)."""
    return 6.0 * (min(height, width) / 256.0), round(4 * (count / 16.0))


def is_moving(scores: Sequence[float], thres: float, count_num: int) -> bool:
    """vbench/dynamic_degree.py ``check_move``: True once ``count_num`` pair scores exceed
    the threshold (checked after each pair, so count_num 0 is True for any pair)."""
    count = 0
    for s in scores:
        if s > thres:
            count += 1
        if count >= count_num:
            return True
    return False


def static_params(height: int, width: int, count: int) -> tuple[float, int]:
    """static_filter.py ``set_params``: threshold 3 * min(H, W) / 256; count round(2 * T/16)."""
    return 3.0 * (min(height, width) / 256.0), round(2 * (count / 16.0))


def static_pairs(n: int) -> list[tuple[int, int]]:
    """static_filter.py ``infer``: consecutive pairs, then (first, last) and (last, first)."""
    return [(i, i + 1) for i in range(n - 1)] + [(0, n - 1), (n - 1, 0)]


def is_static(scores: Sequence[float], thres: float, count_num: int) -> bool:
    """static_filter.py ``check_static``: not static once more than ``count_num`` consecutive
    pairs exceed ``thres``, or when a first/last pair (the last two scores) exceeds
    ``thres * count_num * 2``."""
    count = 0
    for s in scores[:-2]:
        if s > thres:
            count += 1
        if count > count_num:
            return False
    return all(not s > thres * count_num * 2 for s in scores[-2:])


def raft_pair_scores(flow_fn: Callable, frames: np.ndarray, pairs: Sequence[tuple[int, int]],
                     fraction: float, batch: int = 8, device: str = "cpu") -> list[float]:
    """Top-``fraction`` flow magnitude of each (i, j) frame pair. ``flow_fn(a, b)`` takes two
    padded (B, 3, H, W) batches in RAFT's input range [-1, 1] (the original RAFT maps 0..255
    with 2 * x / 255 - 1 inside its forward) and returns (B, 2, H, W) flow."""
    import torch

    x = _tensor(frames)
    out: list[float] = []
    for k in range(0, len(pairs), batch):
        chunk = pairs[k:k + batch]
        a = pad_to_8(torch.stack([x[i] for i, _ in chunk])).to(device)
        b = pad_to_8(torch.stack([x[j] for _, j in chunk])).to(device)
        with torch.inference_mode():
            flow = flow_fn(2 * (a / 255.0) - 1.0, 2 * (b / 255.0) - 1.0).float().cpu()
        out.extend(top_flow_mean(f.numpy(), fraction) for f in flow)
    return out


# --- object_class / multiple_objects / color / spatial_relationship (GRiT), scene ------------
# A frame's GRiT output is a list of boxes, each ``(description, [x0, y0, x1, y1] ints,
# det_obj)`` with ``det_obj`` the ObjectDet descriptions of all boxes of the frame
# (vbench/third_party/grit_src/image_dense_captions.py ``dense_pred_to_caption_tuple``).

GRIT_FRAMES = 16  # object_class.py etc.: load_video(video_path, num_frames=16)
GRIT_MAX_SIDE, GRIT_RESIZE_TO = 768, 720.0  # if min(h, w) > 768: scale = 720 / min(h, w)
COLOR_WORDS = ("white", "red", "pink", "blue", "silver", "purple", "orange", "green", "gray",
               "yellow", "black", "grey")  # color.py check_generate
SPATIAL_IOU = 0.1  # spatial_relationship.py get_position_score(iou_threshold=0.1)


def grit_resize_size(h: int, w: int) -> tuple[int, int] | None:
    """(new_h, new_w) = int(720 / min(h, w) * side) when min(h, w) > 768, else None."""
    if min(h, w) <= GRIT_MAX_SIDE:
        return None
    scale = GRIT_RESIZE_TO / min(h, w)
    return int(scale * h), int(scale * w)


def frame_objects(boxes: Sequence[tuple]) -> set[str]:
    """object_class.py / multiple_objects.py ``get_dect_from_grit``: the set of the first
    box's ``det_obj`` (the ObjectDet descriptions of every box), empty without boxes."""
    return set(boxes[0][2]) if boxes else set()


def object_class_count(obj: str, frames: Sequence[set[str]]) -> int:
    """object_class.py ``check_generate``: frames whose descriptions include ``obj``."""
    return sum(1 for f in frames if obj in f)


def multiple_objects_count(key: str, frames: Sequence[set[str]]) -> int:
    """multiple_objects.py ``check_generate``: ``key`` is "a and b" (exactly one " and "),
    frames whose descriptions include both."""
    a, b = key.split(" and ")
    a, b = a.strip(), b.strip()
    return sum(1 for f in frames if a in f and b in f)


def color_object(prompt: str, color: str) -> str:
    """color.py: the prompt without every "a " / "an " and the colour word, stripped."""
    return prompt.replace("a ", "").replace("an ", "").replace(color, "").strip()


def color_frame_pairs(boxes: Sequence[tuple]) -> list[tuple[str, str]]:
    """color.py ``get_dect_from_grit`` (DenseCap run): per box (dense description, the
    frame's *first* ObjectDet description), or one ("", "") without boxes."""
    return [(b[0], b[2][0]) for b in boxes] if boxes else [("", "")]


def color_counts(color: str, obj: str, frames: Sequence[Sequence[tuple[str, str]]]
                 ) -> tuple[int, int]:
    """color.py ``check_generate``: (frames where a box named ``obj`` has any colour word in
    its description, frames where a box named ``obj`` has ``color`` in it)."""
    with_object = with_color = 0
    for pairs in frames:
        object_flag = color_flag = False
        for desc, name in pairs:
            if obj == name:
                if any(q in desc for q in COLOR_WORDS):
                    object_flag = True
                if color in desc:
                    color_flag = True
        with_color += color_flag
        with_object += object_flag
    return with_object, with_color


def position_score(locality: str, b1: Sequence[float], b2: Sequence[float],
                   iou_threshold: float = SPATIAL_IOU) -> float:
    """spatial_relationship.py ``get_position_score`` for boxes [x0, y0, x1, y1]: left/right
    relations need a larger horizontal than vertical centre distance, top/bottom the
    reverse; 1 when the IoU is below the threshold, else threshold / IoU; 0 otherwise."""
    dx = (b2[0] + b2[2]) / 2 - (b1[0] + b1[2]) / 2
    dy = (b2[1] + b2[3]) / 2 - (b1[1] + b1[3]) / 2
    inter = max(0, min(b1[2], b2[2]) - max(b1[0], b2[0])) * \
        max(0, min(b1[3], b2[3]) - max(b1[1], b2[1]))
    union = (b1[2] - b1[0]) * (b1[3] - b1[1]) + (b2[2] - b2[0]) * (b2[3] - b2[1]) - inter
    iou = inter / union  # upstream divides unguarded (ZeroDivisionError for empty boxes)
    if locality in "on the right of" or locality in "on the left of":
        along = abs(dx) > abs(dy)
    elif locality in "on the bottom of" or locality in "on the top of":
        along = abs(dy) > abs(dx)
    else:
        return 0
    if not along:
        return 0
    return 1 if iou < iou_threshold else iou_threshold / iou


def spatial_frame_scores(key: dict, frames: Sequence[Sequence[tuple]]) -> list[float]:
    """spatial_relationship.py ``check_generate``: per frame, the best
    :func:`position_score` over pairs (earlier, later) of boxes described exactly as
    ``object_a`` or ``object_b``; 0 without such a pair."""
    a, b, rel = key["object_a"], key["object_b"], key["relationship"]
    out = []
    for boxes in frames:
        locs = [box for desc, box, *_ in boxes if desc == a or desc == b]
        best = 0
        for i in range(len(locs) - 1):
            for j in range(i + 1, len(locs)):
                best = max(best, position_score(rel, locs[i], locs[j]))
        out.append(best)
    return out


def scene_count(scene: str, captions: Sequence[str]) -> int:
    """scene.py ``check_generate``: captions containing every space-separated word of the
    scene (as substrings)."""
    words = scene.split(" ")
    return sum(1 for c in captions if all(w in c for w in words))
