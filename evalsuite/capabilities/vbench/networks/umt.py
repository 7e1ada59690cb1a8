"""VBench ``human_action``: the UMT ViT-L/16 Kinetics-400 classifier, re-implemented.

Facts from github Vchitect/VBench @45e79ec (no code copied):

* model - ``vbench/third_party/umt/models/modeling_finetune.py`` ``vit_large_patch16_224``
  with ``all_frames=16, tubelet_size=1, use_mean_pooling=True, num_classes=400``: a Conv3d
  patch embedding (1 x 16 x 16), a sine-cosine position table built for 8 x 14 x 14 positions
  and linearly interpolated to 16 frames, pre-norm blocks (LayerNorm eps 1e-6, ``qkv``
  without bias plus separate ``q_bias`` / ``v_bias``, exact GELU MLP), mean pooling,
  ``fc_norm``, linear head. Parameter names are the checkpoint's
  (``l16_ptk710_ftk710_ftk400_f16_res224.pth``, a flat state dict);
* preprocessing - ``vbench/human_action.py`` + ``vbench/utils.py load_video(num_frames=16)``:
  16 frames at the middle of 16 equal intervals (``get_frame_indices(sample="middle")``,
  padded with the last frame), shorter side to 256 with ``cv2.resize(INTER_LINEAR)``, centre
  crop 224 (offsets with Python's ``round``), /255, ImageNet mean/std, shape (1, 3, 16, H, W);
* decision - sigmoid of the logits, top 5, classes whose probability rounded to 4 decimals is
  >= 0.85; the video is correct when one of them equals the action in its file name
  (``<prompt>-<k>.mp4``: ``lower().split('-')[0].split('person is ')[-1].split('_')[0]``).
  The dimension score is the fraction of correct videos.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from evalsuite.capabilities.vbench.formulas import middle_frame_indices

NUM_FRAMES = 16  # human_action.py: load_video(..., num_frames=16); all_frames=16
RESIZE = 256  # human_action.py: Resize(256, interpolation='bilinear')
CROP = 224  # CenterCrop(size=(224, 224))
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # human_action.py Normalize
IMAGENET_STD = (0.229, 0.224, 0.225)
TOP_K, THRESHOLD = 5, 0.85  # human_action.py: torch.topk(logits, 5); results[i] >= 0.85
PRETRAIN_FRAMES, PRETRAIN_SIDE = 8, 14  # modeling_finetune.py: checkpoint table 8 x 14 x 14
HEAD_DIM = 64  # ViT-L/16: 1024 wide, 16 heads (the state dict does not record heads)


@lru_cache(maxsize=1)
def kinetics_classes() -> dict[int, str]:
    """Class index -> lower-cased Kinetics-400 name (vbench/third_party/umt/
    kinetics_400_categories.txt, ``name<TAB>index`` per line; shipped in evalsuite/data)."""
    path = Path(__file__).resolve().parents[3] / "data" / "kinetics_400_categories.txt"
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            name, idx = line.strip().split("\t")
            out[int(idx)] = name.lower()
    return out


def action_label(video_file_name: str) -> str:
    """The action a human_action video should show, from its VBench file name."""
    return video_file_name.lower().split("-")[0].split("person is ")[-1].split("_")[0]


def resize_size(h: int, w: int, size: int = RESIZE) -> tuple[int, int]:
    """umt functional.py ``get_resize_sizes``: (new_h, new_w), shorter side to ``size``."""
    if w < h:
        return int(size * h / w), size
    return size, int(size * w / h)


def preprocess(frames: np.ndarray):
    """(T, H, W, 3) uint8 -> (1, 3, 16, 224, 224) float32, as upstream's transform chain."""
    import cv2
    import torch

    clip = np.asarray(frames)[middle_frame_indices(NUM_FRAMES, len(frames))]
    h, w = clip.shape[1:3]
    if min(h, w) != RESIZE:  # resize_clip returns the clip untouched at the target size
        nh, nw = resize_size(h, w)
        clip = np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_LINEAR)
                         for f in clip])
        h, w = nh, nw
    y, x = int(round((h - CROP) / 2.0)), int(round((w - CROP) / 2.0))
    clip = clip[:, y:y + CROP, x:x + CROP]
    t = torch.from_numpy(np.ascontiguousarray(clip.transpose(3, 0, 1, 2))).float() / 255
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None, None]
    return ((t - mean) / std).unsqueeze(0)


def sinusoid_table(dim: int, frames: int = NUM_FRAMES):
    """modeling_finetune.py ``get_sinusoid_encoding_table``: sin/cos table for the
    8 x 14 x 14 pretraining positions, linearly interpolated along time to ``frames``."""
    import torch
    import torch.nn.functional as F

    n = PRETRAIN_FRAMES * PRETRAIN_SIDE ** 2
    pos = np.arange(n, dtype=np.float64)[:, None]
    angle = pos / np.power(10000, 2 * (np.arange(dim) // 2) / dim)[None, :]
    angle[:, 0::2], angle[:, 1::2] = np.sin(angle[:, 0::2]), np.cos(angle[:, 1::2])
    table = torch.tensor(angle, dtype=torch.float32).unsqueeze(0)
    if frames == PRETRAIN_FRAMES:
        return table
    p = PRETRAIN_SIDE
    t = table.reshape(1, PRETRAIN_FRAMES, p, p, dim).permute(0, 2, 3, 4, 1)
    t = F.interpolate(t.reshape(-1, dim, PRETRAIN_FRAMES), size=frames, mode="linear")
    return t.reshape(1, p, p, dim, frames).permute(0, 4, 1, 2, 3).flatten(1, 3)


def build_classifier(embed_dim: int = 1024, depth: int = 24, num_classes: int = 400,
                     mlp_dim: int | None = None):
    """The UMT video ViT with the checkpoint's module names (random weights)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    heads = max(1, embed_dim // HEAD_DIM)
    mlp_dim = mlp_dim or 4 * embed_dim

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=False)
            self.q_bias = nn.Parameter(torch.zeros(embed_dim))
            self.v_bias = nn.Parameter(torch.zeros(embed_dim))
            self.proj = nn.Linear(embed_dim, embed_dim)

        def forward(self, x):
            b, n, _ = x.shape
            bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
            q, k, v = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, heads, -1).permute(
                2, 0, 3, 1, 4)
            out = F.scaled_dot_product_attention(q, k, v)  # scale head_dim ** -0.5 as upstream
            return self.proj(out.transpose(1, 2).reshape(b, n, embed_dim))

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(embed_dim, mlp_dim), nn.Linear(mlp_dim, embed_dim)

        def forward(self, x):
            return self.fc2(F.gelu(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(embed_dim, eps=1e-6)
            self.attn = Attention()
            self.norm2 = nn.LayerNorm(embed_dim, eps=1e-6)
            self.mlp = Mlp()

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class PatchEmbed(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Conv3d(3, embed_dim, (1, 16, 16), stride=(1, 16, 16))

    class UMTClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch_embed = PatchEmbed()
            self.pos_embed = nn.Parameter(sinusoid_table(embed_dim))
            self.blocks = nn.ModuleList(Block() for _ in range(depth))
            self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6)
            self.head = nn.Linear(embed_dim, num_classes)

        def forward(self, video):  # (B, 3, T, 224, 224) -> (B, num_classes) logits
            x = self.patch_embed.proj(video).flatten(2).transpose(1, 2)
            if x.shape[1] != self.pos_embed.shape[1]:
                raise ValueError(f"UMT expects {NUM_FRAMES} frames of {CROP} px "
                                 f"({self.pos_embed.shape[1]} patches), got {x.shape[1]}")
            x = x + self.pos_embed.to(x.dtype)
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.fc_norm(x.mean(1)))

    return UMTClassifier()


def load_classifier(state: dict):
    """A classifier sized from the state dict and loaded from it. Upstream loads with
    ``strict=False``; here only ``pos_embed`` may be absent (then the sinusoid table is used,
    as upstream would), anything else missing is an error rather than random weights."""
    dim = state["patch_embed.proj.weight"].shape[0]
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    model = build_classifier(dim, depth, state["head.weight"].shape[0],
                             state["blocks.0.mlp.fc1.weight"].shape[0])
    missing, _unexpected = model.load_state_dict(state, strict=False)
    if set(missing) - {"pos_embed"}:
        raise KeyError(f"UMT checkpoint lacks {sorted(set(missing) - {'pos_embed'})[:5]}")
    return model.eval()


def top_classes(logits) -> list[tuple[str, float]]:
    """The top-5 (class, sigmoid probability rounded to 4 decimals) kept by upstream
    (probability >= 0.85)."""
    import torch

    probs, idx = torch.topk(torch.sigmoid(logits.float().reshape(-1)), TOP_K)
    names = kinetics_classes()
    return [(names[int(i)], round(float(p), 4)) for p, i in zip(probs, idx)
            if round(float(p), 4) >= THRESHOLD]


def is_correct(logits, video_file_name: str) -> bool:
    label = action_label(video_file_name)
    return any(name == label for name, _ in top_classes(logits))


__all__ = ["action_label", "build_classifier", "is_correct", "kinetics_classes",
           "load_classifier", "preprocess", "resize_size",
           "sinusoid_table", "top_classes"]
