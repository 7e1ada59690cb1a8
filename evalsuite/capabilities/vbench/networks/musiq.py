"""VBench ``imaging_quality``: MUSIQ (Ke et al., ICCV 2021) as pyiqa runs it, re-implemented.

Facts from github Vchitect/VBench @45e79ec ``vbench/imaging_quality.py`` and
github chaofengc/IQA-PyTorch @01ae427 (``pyiqa/archs/musiq_arch.py``,
``pyiqa/data/multiscale_trans_util.py``, ``pyiqa/matlab_utils/padding.py``); no code copied:

* preprocessing - every frame of the video (uint8, (T, 3, H, W)); mode ``longer`` (VBench's
  default): when max(H, W) > 512, torchvision ``Resize((int(s H), int(s W)),
  antialias=False)`` (bilinear on uint8) with s = 512 / max(H, W); then / 255;
* model input - pixels mapped to [-1, 1]; a multi-scale patch sequence of 32 x 32 patches
  (TensorFlow ``SAME`` zero padding, ``F.unfold`` order) at longer side 224 and 384 (bicubic
  ``F.interpolate``, no antialias, sizes ``round(h r)``, zero-padded / cut to
  ceil(L / 32) ** 2 patches) and all patches of the frame as given; each patch carries its
  hashed spatial index (10 x 10 grid, nearest-neighbour hash), its scale index (0, 1, 2) and
  a mask (0 for padding);
* model - ``MUSIQ(pretrained_model_path=musiq_spaq_ckpt-358bb6af.pth)`` with pyiqa's
  defaults: a weight-standardised ResNet root (7 x 7 / 2 conv, GroupNorm(32, eps 1e-6),
  ReLU, SAME 3 x 3 / 2 max-pool) and one bottleneck (GroupNorm eps 1e-4) per patch, the
  8 x 8 x 256 map flattened channels-last into a 384-wide token, hashed-position and scale
  embeddings, a class token, 14 pre-norm blocks (6 heads, LayerNorm eps 1e-6, exact GELU,
  masked logits filled with -1e3), final LayerNorm, ``Linear(384, 1)`` on the class token:
  the MOS. Parameter names are the checkpoint's (a flat state dict);
* score - the mean MOS over the frames of a video; the dimension is the mean over videos
  divided by 100.
"""

from __future__ import annotations

import math

PATCH = 32  # MUSIQ(patch_size=32)
LONGER_SIDES = (224, 384)  # MUSIQ(longer_side_lengths=[224, 384])
HASH_GRID = 10  # MUSIQ(spatial_pos_grid_size=10)
HEADS = 6  # MUSIQ(num_heads=6); the state dict does not record it
ROOT_DIM = 64  # MUSIQ: resnet_token_dim = 64
MAX_SIDE = 512  # imaging_quality.py transform(): the 512 px bound
MODES = ("longer", "shorter", "shorter_centercrop", "None")  # imaging_quality_preprocessing_mode


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"imaging_quality_preprocessing_mode must be one of {MODES}, "
                         f"not {mode!r}")
    return mode


def preprocess(frames, mode: str = "longer"):
    """(T, H, W, 3) uint8 -> (T, 3, H', W') uint8: VBench's ``transform`` before its / 255
    (kept uint8 until scoring; the division is exact either way)."""
    import numpy as np
    import torch
    import torchvision.transforms.functional as TF

    check_mode(mode)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    h, w = x.shape[-2:]
    side = {"longer": max(h, w), "None": 0}.get(mode, min(h, w))
    if side > MAX_SIDE:
        s = MAX_SIDE / side
        x = TF.resize(x, [int(s * h), int(s * w)], antialias=False)
        if mode == "shorter_centercrop":
            x = TF.center_crop(x, [MAX_SIDE, MAX_SIDE])
    return x


def same_pad(x, kernel: int, stride: int):
    """TensorFlow ``SAME`` zero padding of an (N, C, H, W) tensor (extra pixel at the end)."""
    import torch.nn.functional as F

    pads = []
    for n in (x.shape[-1], x.shape[-2]):
        total = (math.ceil(n / stride) - 1) * stride + kernel - n  # < 0 crops, as upstream
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def hashed_positions(count_h: int, count_w: int, grid: int = HASH_GRID):
    """Row-major hashed spatial index of a count_h x count_w patch grid: each axis mapped onto
    ``grid`` cells by nearest-neighbour resampling of ``arange(grid)``."""
    import torch
    import torch.nn.functional as F

    cells = torch.arange(grid, dtype=torch.float32).reshape(1, 1, grid)
    rows = F.interpolate(cells, size=count_h, mode="nearest").reshape(-1, 1)
    cols = F.interpolate(cells, size=count_w, mode="nearest").reshape(1, -1)
    return (rows * grid + cols).reshape(-1)


def _scale_tokens(x, scale_id: int, max_len: int | None):
    """(N, 3, H, W) -> (N, L, 3 * 32 * 32 + 3): patches, hashed position, scale, mask."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    p = F.unfold(same_pad(x, PATCH, PATCH), PATCH, stride=PATCH).transpose(1, 2)
    pos = hashed_positions(math.ceil(h / PATCH), math.ceil(w / PATCH)).to(p)
    extra = torch.stack([pos, torch.full_like(pos, scale_id), torch.ones_like(pos)], -1)
    out = torch.cat([p, extra.expand(n, -1, -1)], -1)
    if max_len is not None:  # zero rows: mask 0
        out = F.pad(out, (0, 0, 0, max(max_len - out.shape[1], 0)))[:, :max_len]
    return out


def multiscale_tokens(x):
    """(N, 3, H, W) in [-1, 1] -> (N, L, 3075): the two resized scales (sorted longer side),
    then every patch at the input resolution (scale index 2)."""
    import torch
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    seqs = []
    for i, side in enumerate(sorted(LONGER_SIDES)):
        r = side / max(h, w)
        xr = F.interpolate(x, (round(h * r), round(w * r)), mode="bicubic",
                           align_corners=False)
        seqs.append(_scale_tokens(xr, i, math.ceil(side / PATCH) ** 2))
    seqs.append(_scale_tokens(x, len(LONGER_SIDES), None))
    return torch.cat(seqs, 1)


def build_musiq(hidden: int = 384, layers: int = 14, mlp_dim: int = 1152,
                num_scales: int = len(LONGER_SIDES) + 1, grid: int = HASH_GRID):
    """MUSIQ with the checkpoint's module names (random weights); ``score`` maps
    (N, 3, H, W) pixels in [0, 1] to (N,) MOS."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class StdConv(nn.Conv2d):
        def forward(self, x):  # weight standardisation, SAME padding
            wt = self.weight - self.weight.mean((1, 2, 3), keepdim=True)
            wt = wt / (wt.std((1, 2, 3), keepdim=True) + 1e-5)
            return F.conv2d(same_pad(x, self.kernel_size[0], self.stride[0]), wt, None,
                            self.stride)

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, cout: int):
            super().__init__()
            self.conv1, self.gn1 = StdConv(cin, cin, 1, bias=False), nn.GroupNorm(32, cin, 1e-4)
            self.conv2, self.gn2 = StdConv(cin, cin, 3, bias=False), nn.GroupNorm(32, cin, 1e-4)
            self.conv3 = StdConv(cin, cout, 1, bias=False)
            self.gn3 = nn.GroupNorm(32, cout, 1e-4)
            self.conv_proj = StdConv(cin, cout, 1, bias=False)
            self.gn_proj = nn.GroupNorm(32, cout, 1e-4)

        def forward(self, x):
            y = F.relu(self.gn1(self.conv1(x)))
            y = self.gn3(self.conv3(F.relu(self.gn2(self.conv2(y)))))
            return F.relu(y + self.gn_proj(self.conv_proj(x)))

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
            self.value, self.out = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)

        def forward(self, x, mask):
            b, n, _ = x.shape
            q, k, v = (f(x).reshape(b, n, HEADS, -1).transpose(1, 2)
                       for f in (self.query, self.key, self.value))
            logits = q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5
            pair = mask[:, None, :, None] & mask[:, None, None, :]
            attn = logits.masked_fill(~pair, -1e3).softmax(-1)  # -1e3, not -inf, as upstream
            return self.out((attn @ v).transpose(1, 2).reshape(b, n, hidden))

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(hidden, mlp_dim), nn.Linear(mlp_dim, hidden)

        def forward(self, x):
            return self.fc2(F.gelu(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.attention = nn.LayerNorm(hidden, eps=1e-6), Attention()
            self.norm2, self.mlp = nn.LayerNorm(hidden, eps=1e-6), Mlp()

        def forward(self, x, mask):
            x = x + self.attention(self.norm1(x), mask)
            return x + self.mlp(self.norm2(x))

    class Embedding(nn.Module):
        def __init__(self, attr: str, shape):
            super().__init__()
            setattr(self, attr, nn.Parameter(torch.randn(*shape) * 0.02))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.posembed_input = Embedding("position_emb", (1, grid * grid, hidden))
            self.scaleembed_input = Embedding("scale_emb", (num_scales, hidden))
            self.cls = nn.Parameter(torch.zeros(1, 1, hidden))
            self.encoder_norm = nn.LayerNorm(hidden, eps=1e-6)
            self.transformer = nn.ModuleDict({f"encoderblock_{i}": Block()
                                              for i in range(layers)})

        def forward(self, x, pos, scale, mask):
            x = x + self.posembed_input.position_emb[0][pos] \
                + self.scaleembed_input.scale_emb[scale]
            x = torch.cat([self.cls.expand(len(x), -1, -1), x], 1)
            mask = torch.cat([mask.new_ones(len(x), 1), mask], 1)
            for blk in self.transformer.values():
                x = blk(x, mask)
            return self.encoder_norm(x)

    class MUSIQ(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_root = StdConv(3, ROOT_DIM, 7, stride=2, bias=False)
            self.gn_root = nn.GroupNorm(32, ROOT_DIM, eps=1e-6)
            self.block1 = Bottleneck(ROOT_DIM, 4 * ROOT_DIM)
            self.embedding = nn.Linear(4 * ROOT_DIM * (PATCH // 4) ** 2, hidden)
            self.transformer_encoder = Encoder()
            self.head = nn.Linear(hidden, 1)  # SPAQ: one MOS (num_class=1, no softmax)

        def forward(self, tokens):  # (N, L, 3075) from multiscale_tokens -> (N,)
            b, n, _ = tokens.shape
            pos, scale = tokens[..., -3].long(), tokens[..., -2].long()
            mask = tokens[..., -1].bool()
            x = tokens[..., :-3].reshape(b * n, 3, PATCH, PATCH)
            x = F.relu(self.gn_root(self.conv_root(x)))
            x = self.block1(F.max_pool2d(same_pad(x, 3, 2), 3, 2))
            x = self.embedding(x.permute(0, 2, 3, 1).reshape(b, n, -1))  # channels-last (TF)
            x = self.transformer_encoder(x, pos, scale, mask)
            return self.head(x[:, 0]).squeeze(-1)

        def score(self, pixels):
            return self(multiscale_tokens((pixels - 0.5) * 2))

    return MUSIQ()


def load_musiq(state: dict):
    """A MUSIQ sized from the state dict (pyiqa strips a ``module.`` prefix) and loaded from
    it strictly, as pyiqa does."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    layers = 1 + max(int(k.split(".")[2].rsplit("_", 1)[1]) for k in state
                     if k.startswith("transformer_encoder.transformer.encoderblock_"))
    pfx = "transformer_encoder.transformer.encoderblock_0.mlp.fc1.weight"
    grid = math.isqrt(state["transformer_encoder.posembed_input.position_emb"].shape[1])
    model = build_musiq(state["embedding.weight"].shape[0], layers, state[pfx].shape[0],
                        state["transformer_encoder.scaleembed_input.scale_emb"].shape[0], grid)
    model.load_state_dict(state)
    return model.eval()


__all__ = ["build_musiq", "check_mode", "hashed_positions", "load_musiq", "multiscale_tokens",
           "preprocess", "same_pad"]
