"""UniDet (Zhou et al., "Simple multi-dataset detection", CVPR 2022) as T2I-CompBench runs it,
re-implemented on current torch / torchvision / timm.

Facts from github Karine-Huang/T2I-CompBench @ 1b7094991a57f3c22abdd4f6e8ba6c1a15517073
(``UniDet_eval/experts/model_bank.py``, ``model_bank_3d.py``, ``obj_detection/configs/*.yaml``,
``obj_detection/unidet/**``, ``obj_detection/generate_dataset.py``) and the detectron2 it pins
(github facebookresearch/detectron2 @ 5aeb252b194b93dc2879b4ac34bc51a31b5aee13: ``ResNet``,
``FPN``, ``RPN`` / ``find_top_rpn_proposals``, ``DefaultAnchorGenerator``,
``Box2BoxTransform``, ``ROIPooler``, ``CascadeROIHeads``, ``fast_rcnn_inference``,
``detector_postprocess``); no code copied:

* checkpoints - ``Unified_learned_OCIM_RS200_6x+2x.pth`` for spatial and complex
  (``2D_spatial_eval.py``: ``ckpt="RS200"``), ``Unified_learned_OCIM_R50_6x+2x.pth`` for
  numeracy (``ckpt="R50"``) and 3d_spatial (``model_bank_3d.py`` always loads R50);
* input - the PIL image resized by ``transforms.Resize(size=479, max_size=480)``, as BGR
  float 0..255 (``generate_dataset.py`` flips the channels for both models, although the
  RS200 config declares ``INPUT.FORMAT: RGB``: the eval scripts call the model directly,
  so the RS200 network sees BGR - kept), ``(x - PIXEL_MEAN) / PIXEL_STD`` of the config,
  zero-padded to a multiple of 32;
* backbone - R50: detectron2 ResNet-50 (stride in the 1x1 conv, FrozenBN); RS200: ResNeSt-200
  (deep stem of three 3x3 convs, radix-2 split attention - timm's ``SplitAttn``, whose
  parameter names and arithmetic are upstream's - average-pool downsampling in the 3x3 path
  and the shortcut, stride in the 3x3); FPN on res3-res5 (256 channels; norm in RS200) with
  P6 / P7 from P5 (``LastLevelP6P7_P5``; ReLU before P7);
* RPN - 3 sizes x 3 aspect ratios per level (32, 64, ..., 512 times 2^(0, 1/3, 2/3)), 1000
  top proposals per level before NMS 0.7 (per level), 1000 after;
* ROI heads - 3-stage Cascade R-CNN (box regression weights (10, 10, 5, 5), (20, 20, 10, 10),
  (30, 30, 15, 15), class-agnostic), ROIAlignV2 7x7 on P3-P5, R50: two FC layers, RS200: four
  3x3 convs with norm and one FC; class scores are the sigmoid of the 723 logits (722 unified
  classes + background) averaged over the stages; the eval copy of
  ``UnifiedCascadeROIHeads`` hard-codes the score threshold **0.1** (the configured 0.5
  is unused); class-wise NMS 0.5, at most 300 detections, sorted by score;
* output - boxes in the resized image's pixels (``height`` / ``width`` passed are the resized
  size), empty boxes dropped; class names from ``UniDet_eval/dataset/detection_features.pt``
  ``["labels"]`` (722 names, the unified label space ``learned_mAP+M``).

Differences: upstream runs under ``accelerate`` fp16 autocast on a GPU; here the dtype is
the run's (float32 by default). Checkpoints load with ``torch.load(weights_only=True)``;
every parameter and buffer is matched by name and shape (strict), and only bookkeeping
entries are checked and set aside: ``num_batches_tracked`` counters, and ``pixel_mean`` /
``pixel_std`` / ``anchor_generator.cell_anchors.*``, which must equal the config's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

COMMIT = "1b7094991a57f3c22abdd4f6e8ba6c1a15517073"
# the T2I-CompBench README's downloads; its scripts read experts/expert_weights/<file>
RS200_HUB = ("shikunl/prismer", "expert_weights/Unified_learned_OCIM_RS200_6x+2x.pth")
R50_FILE = "expert_weights/Unified_learned_OCIM_R50_6x+2x.pth"
R50_SOURCE = "https://docs.google.com/uc?id=1C4sgkirmgMumKXXiLOPmCKNTZAc3oVbq"  # README gdown
LABELS_URL = ("https://raw.githubusercontent.com/Karine-Huang/T2I-CompBench/"
              f"{COMMIT}/UniDet_eval/dataset/detection_features.pt")

RESIZE_SHORT, RESIZE_MAX = 479, 480  # transforms.Resize(size=479, max_size=480)
SIZE_DIVISIBILITY = 32  # FPN: stride of its last input level (res5)
ANCHOR_SIZES = tuple(tuple(x * 2 ** (k / 3.0) for k in range(3)) for x in (32, 64, 128, 256,
                                                                           512))
ASPECT_RATIOS = (0.5, 1.0, 2.0)
FEATURE_STRIDES = (8, 16, 32, 64, 128)  # p3..p7 (RPN); ROI heads pool p3..p5
RPN_PRE_NMS, RPN_POST_NMS, RPN_NMS = 1000, 1000, 0.7
CASCADE_WEIGHTS = ((10.0, 10.0, 5.0, 5.0), (20.0, 20.0, 10.0, 10.0), (30.0, 30.0, 15.0, 15.0))
SCORE_THRESH = 0.1  # unified_roi_heads.py in the T2I-CompBench copy (hard-coded)
NMS_THRESH, DETECTIONS_PER_IMAGE = 0.5, 300
POOLER_RESOLUTION, CANONICAL_BOX, CANONICAL_LEVEL = 7, 224, 4
BOX_CLAMP = math.log(1000.0 / 16)
# PIXEL_MEAN / PIXEL_STD: detectron2 defaults (R50 config) and the RS200 config
PIXELS = {"resnet": ((103.530, 116.280, 123.675), (1.0, 1.0, 1.0)),
          "resnest": ((123.68, 116.779, 103.939), (58.393, 57.12, 57.375))}


@dataclass(frozen=True)
class Detection:
    """One image's detections in the detector's order (score descending): boxes
    (x1, y1, x2, y2) in resized-input pixels, scores, class indices."""
    boxes: "torch.Tensor"
    scores: "torch.Tensor"
    classes: "torch.Tensor"


def resize_for_unidet(image):
    """``transforms.Resize(size=479, max_size=480)`` of a PIL image (generate_dataset.py)."""
    from torchvision import transforms
    return transforms.Resize(size=RESIZE_SHORT, max_size=RESIZE_MAX)(image)


def unidet_input(image) -> "torch.Tensor":
    """generate_dataset.py ``__getitem__``: resized RGB PIL image -> BGR float32 (3, H, W)."""
    import numpy as np
    import torch
    arr = np.array(resize_for_unidet(image.convert("RGB")))[:, :, ::-1]
    return torch.as_tensor(arr.astype("float32").transpose(2, 0, 1))


def generate_cell_anchors(sizes, aspect_ratios) -> "torch.Tensor":
    """DefaultAnchorGenerator.generate_cell_anchors: (x0, y0, x1, y1) centred at 0, sizes
    outer, aspect ratios (h / w) inner."""
    import torch
    out = []
    for size in sizes:
        area = size ** 2.0
        for ratio in aspect_ratios:
            w = math.sqrt(area / ratio)
            h = ratio * w
            out.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(out)


def grid_anchors(cell: "torch.Tensor", height: int, width: int, stride: int) -> "torch.Tensor":
    """All anchors of one level, location-major (row, then column), then cell anchor."""
    import torch
    xs = torch.arange(0, width * stride, step=stride, dtype=torch.float32, device=cell.device)
    ys = torch.arange(0, height * stride, step=stride, dtype=torch.float32, device=cell.device)
    sy, sx = torch.meshgrid(ys, xs, indexing="ij")
    sx, sy = sx.reshape(-1), sy.reshape(-1)
    shifts = torch.stack((sx, sy, sx, sy), dim=1)
    return (shifts.view(-1, 1, 4) + cell.view(1, -1, 4)).reshape(-1, 4)


def decode_boxes(deltas: "torch.Tensor", boxes: "torch.Tensor", weights) -> "torch.Tensor":
    """Box2BoxTransform.apply_deltas (float32 decoding, dw / dh clamped at log(1000 / 16)),
    via torchvision's BoxCoder, which has the same arithmetic."""
    from torchvision.models.detection._utils import BoxCoder
    deltas = deltas.float()
    return BoxCoder(weights, bbox_xform_clip=BOX_CLAMP).decode_single(deltas, boxes.float())


def clip_boxes(boxes: "torch.Tensor", height: int, width: int) -> "torch.Tensor":
    """Boxes.clip: x to [0, width], y to [0, height]."""
    import torch
    return torch.stack((boxes[:, 0].clamp(min=0, max=width), boxes[:, 1].clamp(min=0, max=height),
                        boxes[:, 2].clamp(min=0, max=width), boxes[:, 3].clamp(min=0, max=height)),
                       dim=-1)


def nonempty(boxes: "torch.Tensor") -> "torch.Tensor":
    return (boxes[:, 2] - boxes[:, 0] > 0) & (boxes[:, 3] - boxes[:, 1] > 0)


def roi_levels(boxes: "torch.Tensor", min_level: int = 3, max_level: int = 5) -> "torch.Tensor":
    """poolers.assign_boxes_to_levels: floor(4 + log2(sqrt(area) / 224 + 1e-8)), clamped;
    0-based from ``min_level``. (torchvision's MultiScaleRoIAlign adds its epsilon outside
    the log and pools with ``aligned=False``, so it is not used.)"""
    import torch
    size = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    lvl = torch.floor(CANONICAL_LEVEL + torch.log2(size / CANONICAL_BOX + 1e-8))
    return torch.clamp(lvl, min=min_level, max=max_level).to(torch.int64) - min_level


def pool_rois(features: list, boxes: list, strides=(8, 16, 32)) -> "torch.Tensor":
    """ROIPooler with ROIAlignV2 (torchvision ``roi_align``, ``aligned=True``, adaptive
    sampling) over P3-P5: each box pooled on its level, in the boxes' order."""
    import torch
    from torchvision.ops import roi_align
    rois = torch.cat([torch.cat([torch.full((len(b), 1), i, dtype=b.dtype, device=b.device), b],
                                dim=1) for i, b in enumerate(boxes)])
    levels = roi_levels(rois[:, 1:])
    out = rois.new_zeros((len(rois), features[0].shape[1], POOLER_RESOLUTION,
                          POOLER_RESOLUTION), dtype=features[0].dtype)
    for lvl, (feat, stride) in enumerate(zip(features, strides)):
        idx = torch.nonzero(levels == lvl).squeeze(1)
        if len(idx):
            out[idx] = roi_align(feat, rois[idx].to(feat.dtype), POOLER_RESOLUTION,
                                 spatial_scale=1.0 / stride, sampling_ratio=0, aligned=True)
    return out


def build_unidet(state: dict[str, Any]) -> "UniDet":
    """The UniDet network sized from a checkpoint's state dict (module names = the
    checkpoint's parameter names), random weights. The family (ResNet / ResNeSt) follows
    from the keys; each block's widths from its weights."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    resnest = any(".conv2.fc1.weight" in k for k in state)
    family = "resnest" if resnest else "resnet"

    class FrozenBN(nn.Module):
        """Inference batch norm with detectron2's buffers (weight, bias, running stats)."""

        def __init__(self, n, **_):
            super().__init__()
            for name, init in (("weight", torch.ones), ("bias", torch.zeros),
                               ("running_mean", torch.zeros), ("running_var", torch.ones)):
                self.register_buffer(name, init(n))

        def forward(self, x):
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                training=False, eps=1e-5)

    class Conv(nn.Conv2d):
        """detectron2 ``Conv2d``: the norm lives inside the conv (``<conv>.norm.*``)."""

        def __init__(self, cin, cout, k, stride=1, norm=False, bias=None, groups=1):
            super().__init__(cin, cout, k, stride, k // 2, groups=groups,
                             bias=(not norm) if bias is None else bias)
            self.norm = FrozenBN(cout) if norm else None

        def forward(self, x):
            x = super().forward(x)
            return self.norm(x) if self.norm is not None else x

    def shape(key):
        return state[key].shape

    class Block(nn.Module):
        def __init__(self, prefix, stride):
            super().__init__()
            bott, cin = shape(f"{prefix}.conv1.weight")[:2]
            cout = shape(f"{prefix}.conv3.weight")[0]
            self.stride = stride
            if f"{prefix}.shortcut.weight" in state:
                self.shortcut = Conv(cin, cout, 1, 1 if resnest else stride, norm=True)
            else:
                self.shortcut = None
            if resnest:  # stride in the 3x3 path, by average pooling after split attention
                from timm.layers import SplitAttn
                self.conv1 = Conv(cin, bott, 1, norm=True)
                attn = shape(f"{prefix}.conv2.fc1.weight")[0]
                self.conv2 = SplitAttn(bott, bott, kernel_size=3, stride=1, padding=1,
                                       radix=2, rd_channels=attn // 2, norm_layer=FrozenBN)
                self.avd = stride > 1
            else:  # MSRA ResNet: stride in the first 1x1
                self.conv1 = Conv(cin, bott, 1, stride, norm=True)
                self.conv2 = Conv(bott, bott, 3, norm=True)
                self.avd = False
            self.conv3 = Conv(bott, cout, 1, norm=True)

        def forward(self, x):
            out = F.relu(self.conv1(x))
            out = self.conv2(out)
            if not resnest:
                out = F.relu(out)
            if self.avd:
                out = F.avg_pool2d(out, 3, self.stride, padding=1)
            out = self.conv3(out)
            if self.shortcut is not None:
                if resnest:
                    x = F.avg_pool2d(x, self.stride, self.stride, ceil_mode=True,
                                     count_include_pad=False)
                x = self.shortcut(x)
            return F.relu(out + x)

    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            if resnest:
                w = shape("backbone.bottom_up.stem.conv1_1.weight")[0]
                self.conv1_1 = Conv(3, w, 3, 2, norm=True)
                self.conv1_2 = Conv(w, w, 3, norm=True)
                self.conv1_3 = Conv(w, shape("backbone.bottom_up.stem.conv1_3.weight")[0], 3,
                                    norm=True)
            else:
                self.conv1 = Conv(3, shape("backbone.bottom_up.stem.conv1.weight")[0], 7, 2,
                                  norm=True)

        def forward(self, x):
            convs = (self.conv1_1, self.conv1_2, self.conv1_3) if resnest else (self.conv1,)
            for c in convs:
                x = F.relu(c(x))
            return F.max_pool2d(x, kernel_size=3, stride=2, padding=1)

    def n_blocks(stage):
        pat = re.compile(rf"backbone\.bottom_up\.{stage}\.(\d+)\.")
        return 1 + max(int(m.group(1)) for k in state if (m := pat.match(k)))

    class BottomUp(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = Stem()
            for s, stage in enumerate(("res2", "res3", "res4", "res5")):
                self.add_module(stage, nn.Sequential(*[
                    Block(f"backbone.bottom_up.{stage}.{i}", 2 if i == 0 and s > 0 else 1)
                    for i in range(n_blocks(stage))]))

        def forward(self, x):
            x = self.stem(x)
            out = {}
            for stage in ("res2", "res3", "res4", "res5"):
                x = out[stage] = getattr(self, stage)(x)
            return out

    class TopBlock(nn.Module):  # LastLevelP6P7_P5
        def __init__(self, ch):
            super().__init__()
            self.p6 = nn.Conv2d(ch, ch, 3, 2, 1)
            self.p7 = nn.Conv2d(ch, ch, 3, 2, 1)

        def forward(self, p5):
            p6 = self.p6(p5)
            return [p6, self.p7(F.relu(p6))]

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.bottom_up = BottomUp()
            ch = shape("backbone.fpn_lateral3.weight")[0]
            fpn_norm = "backbone.fpn_lateral3.norm.weight" in state
            for lvl in (3, 4, 5):
                cin = shape(f"backbone.fpn_lateral{lvl}.weight")[1]
                self.add_module(f"fpn_lateral{lvl}", Conv(cin, ch, 1, norm=fpn_norm))
                self.add_module(f"fpn_output{lvl}", Conv(ch, ch, 3, norm=fpn_norm))
            self.top_block = TopBlock(ch)

        def forward(self, x):
            c = self.bottom_up(x)
            prev = self.fpn_lateral5(c["res5"])
            outs = [self.fpn_output5(prev)]
            for lvl in (4, 3):
                prev = getattr(self, f"fpn_lateral{lvl}")(c[f"res{lvl}"]) + F.interpolate(
                    prev, scale_factor=2.0, mode="nearest")
                outs.insert(0, getattr(self, f"fpn_output{lvl}")(prev))
            return outs + self.top_block(outs[-1])  # p3, p4, p5, p6, p7

    class RPNHead(nn.Module):
        def __init__(self):
            super().__init__()
            ch = shape("proposal_generator.rpn_head.conv.weight")[0]
            a = shape("proposal_generator.rpn_head.objectness_logits.weight")[0]
            self.conv = nn.Conv2d(ch, ch, 3, 1, 1)
            self.objectness_logits = nn.Conv2d(ch, a, 1)
            self.anchor_deltas = nn.Conv2d(ch, a * 4, 1)

    class RPN(nn.Module):
        def __init__(self):
            super().__init__()
            self.rpn_head = RPNHead()

    class BoxHead(nn.Module):
        def __init__(self, prefix, in_ch):
            super().__init__()
            layers = []
            k = 1
            while f"{prefix}.conv{k}.weight" in state:
                cout = shape(f"{prefix}.conv{k}.weight")[0]
                norm = f"{prefix}.conv{k}.norm.weight" in state
                conv = Conv(in_ch, cout, 3, norm=norm)
                self.add_module(f"conv{k}", conv)
                layers.append(conv)
                in_ch, k = cout, k + 1
            self.convs = layers
            k = 1
            self.fcs = []
            while f"{prefix}.fc{k}.weight" in state:
                out_f, in_f = shape(f"{prefix}.fc{k}.weight")
                fc = nn.Linear(in_f, out_f)
                self.add_module(f"fc{k}", fc)
                self.fcs.append(fc)
                k += 1

        def forward(self, x):
            for c in self.convs:
                x = F.relu(c(x))
            x = torch.flatten(x, 1)
            for fc in self.fcs:
                x = F.relu(fc(x))
            return x

    class Predictor(nn.Module):
        def __init__(self, prefix):
            super().__init__()
            out_c, in_f = shape(f"{prefix}.cls_score.weight")
            self.cls_score = nn.Linear(in_f, out_c)
            self.bbox_pred = nn.Linear(in_f, shape(f"{prefix}.bbox_pred.weight")[0])

    class ROIHeads(nn.Module):
        def __init__(self, ch):
            super().__init__()
            self.box_head = nn.ModuleList([BoxHead(f"roi_heads.box_head.{k}", ch)
                                           for k in range(3)])
            self.box_predictor = nn.ModuleList([Predictor(f"roi_heads.box_predictor.{k}")
                                                for k in range(3)])

    net = nn.Module()
    net.backbone = Backbone()
    net.proposal_generator = RPN()
    net.roi_heads = ROIHeads(shape("backbone.fpn_lateral3.weight")[0])
    return UniDet(net, family)


class UniDet:
    """Inference-only UniDet around ``net`` (an ``nn.Module`` whose parameter names are the
    checkpoint's): ``detect(list of BGR float (3, H, W)) -> list[Detection]``."""

    def __init__(self, net, family: str):
        import torch
        self.net, self.family = net, family
        mean, std = PIXELS[family]
        self.pixel_mean = torch.tensor(mean).view(-1, 1, 1)
        self.pixel_std = torch.tensor(std).view(-1, 1, 1)

    def to(self, device: str, dtype) -> "UniDet":
        self.net.to(device=device, dtype=dtype).eval()
        self.pixel_mean = self.pixel_mean.to(device=device, dtype=dtype)
        self.pixel_std = self.pixel_std.to(device=device, dtype=dtype)
        return self

    def preprocess(self, images: list) -> tuple["torch.Tensor", list[tuple[int, int]]]:
        """Normalise, then zero-pad to the batch's largest size rounded up to 32."""
        sizes = [(int(x.shape[1]), int(x.shape[2])) for x in images]
        h = -(-max(s[0] for s in sizes) // SIZE_DIVISIBILITY) * SIZE_DIVISIBILITY
        w = -(-max(s[1] for s in sizes) // SIZE_DIVISIBILITY) * SIZE_DIVISIBILITY
        mean, std = self.pixel_mean, self.pixel_std
        batch = mean.new_zeros((len(images), 3, h, w))
        for i, x in enumerate(images):
            batch[i, :, :sizes[i][0], :sizes[i][1]] = (x.to(mean) - mean) / std
        return batch, sizes

    def proposals(self, features: list, sizes: list[tuple[int, int]]) -> list["torch.Tensor"]:
        """RPN inference: per-level top 1000, decode, clip, drop empty boxes, NMS 0.7 per
        level, top 1000 (find_top_rpn_proposals)."""
        import torch
        from torchvision.ops import batched_nms

        head = self.net.proposal_generator.rpn_head
        n = features[0].shape[0]
        scores, boxes, levels = [], [], []
        for lvl, (feat, stride, sizes_l) in enumerate(zip(features, FEATURE_STRIDES,
                                                          ANCHOR_SIZES)):
            t = torch.relu(head.conv(feat))
            logits = head.objectness_logits(t)  # N, A, H, W
            deltas = head.anchor_deltas(t)
            a, hh, ww = logits.shape[1:]
            logits = logits.permute(0, 2, 3, 1).flatten(1)  # N, H*W*A
            deltas = deltas.view(n, a, 4, hh, ww).permute(0, 3, 4, 1, 2).flatten(1, -2)
            cell = generate_cell_anchors(sizes_l, ASPECT_RATIOS).to(feat.device)
            anchors = grid_anchors(cell, hh, ww, stride)
            props = decode_boxes(deltas.reshape(-1, 4), anchors.repeat(n, 1),
                                 (1.0, 1.0, 1.0, 1.0)).view(n, -1, 4)
            k = min(logits.shape[1], RPN_PRE_NMS)
            top, idx = logits.topk(k, dim=1)
            boxes.append(props[torch.arange(n, device=idx.device)[:, None], idx])
            scores.append(top)
            levels.append(torch.full((k,), lvl, dtype=torch.int64, device=idx.device))
        scores, boxes, levels = torch.cat(scores, 1), torch.cat(boxes, 1), torch.cat(levels)
        out = []
        for i, (h, w) in enumerate(sizes):
            b, s, lv = boxes[i], scores[i], levels
            ok = torch.isfinite(b).all(dim=1) & torch.isfinite(s)
            b, s, lv = b[ok], s[ok], lv[ok]
            b = clip_boxes(b, h, w)
            keep = nonempty(b)
            b, s, lv = b[keep], s[keep], lv[keep]
            keep = batched_nms(b.float(), s, lv, RPN_NMS)[:RPN_POST_NMS]
            out.append(b[keep])
        return out

    def cascade(self, features: list, proposals: list, sizes: list[tuple[int, int]]
                ) -> list[Detection]:
        """Three stages; each refines the previous stage's (clipped) boxes; scores are the
        mean of the stages' sigmoid probabilities; fast_rcnn_inference on the last boxes,
        then detector_postprocess (scale 1: clip, drop empty boxes)."""
        import torch
        from torchvision.ops import batched_nms

        heads = self.net.roi_heads
        counts = [len(p) for p in proposals]
        probs = []
        boxes = proposals
        for k in range(3):
            if k > 0:
                boxes = [clip_boxes(b.detach(), h, w) for b, (h, w) in zip(boxes, sizes)]
            x = heads.box_head[k](pool_rois(features[:3], boxes))
            logits = heads.box_predictor[k].cls_score(x)
            deltas = heads.box_predictor[k].bbox_pred(x)
            probs.append(logits.float().sigmoid())
            boxes = list(decode_boxes(deltas, torch.cat(boxes), CASCADE_WEIGHTS[k]
                                      ).split(counts))
        scores = ((probs[0] + probs[1] + probs[2]) * (1.0 / 3)).split(counts)
        out = []
        for b, s, (h, w) in zip(boxes, scores, sizes):
            ok = torch.isfinite(b).all(dim=1) & torch.isfinite(s).all(dim=1)
            b, s = b[ok], s[ok][:, :-1]  # background column dropped
            b = clip_boxes(b, h, w)
            mask = s > SCORE_THRESH
            idx = mask.nonzero()
            b, s = b[idx[:, 0]], s[mask]
            keep = batched_nms(b.float(), s, idx[:, 1], NMS_THRESH)[:DETECTIONS_PER_IMAGE]
            b, s, c = clip_boxes(b[keep], h, w), s[keep], idx[keep, 1]
            ok = nonempty(b)
            out.append(Detection(b[ok], s[ok], c[ok]))
        return out

    def detect(self, images: list) -> list[Detection]:
        import torch
        with torch.inference_mode():
            batch, sizes = self.preprocess(images)
            features = self.net.backbone(batch)
            return self.cascade(features, self.proposals(features, sizes), sizes)


BOOKKEEPING = re.compile(r"(^|\.)num_batches_tracked$|^pixel_(mean|std)$|"
                         r"^proposal_generator\.anchor_generator\.cell_anchors\.\d+$")


def load_unidet(path: str, device: str = "cpu", dtype: str = "float32") -> UniDet:
    """A released UniDet ``.pth`` (``{"model": state dict, ...}`` as detectron2 saves it, or a
    flat state dict), loaded with ``weights_only=True`` and matched strictly."""
    import torch

    from evalsuite.judges.base import torch_dtype

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - say which file and why
        raise ValueError(f"cannot load UniDet checkpoint {path} with weights_only=True: {e}"
                         ) from e
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or "backbone.fpn_lateral3.weight" not in state:
        raise ValueError(f"{path} is not a UniDet checkpoint (no backbone.fpn_lateral3.weight)")
    state = {k: (torch.as_tensor(v) if not isinstance(v, torch.Tensor) else v)
             for k, v in state.items()}
    model = build_unidet(state)
    _check_bookkeeping(state, model, path)
    weights = {k: v for k, v in state.items() if not BOOKKEEPING.search(k)}
    model.net.load_state_dict(weights, strict=True)
    return model.to(device, torch_dtype(dtype))


def _check_bookkeeping(state: dict, model: UniDet, path: str) -> None:
    import torch
    expected = {"pixel_mean": model.pixel_mean, "pixel_std": model.pixel_std}
    for i, sizes in enumerate(ANCHOR_SIZES):
        expected[f"proposal_generator.anchor_generator.cell_anchors.{i}"] = \
            generate_cell_anchors(sizes, ASPECT_RATIOS)
    for k, want in expected.items():
        if k in state and not torch.allclose(state[k].float().reshape(want.shape), want.float(),
                                             rtol=1e-6, atol=1e-4):
            raise ValueError(f"{path}: {k} is {state[k].flatten().tolist()}, but the "
                             f"{model.family} config gives {want.flatten().tolist()}")
    a = state["proposal_generator.rpn_head.objectness_logits.weight"].shape[0]
    if a != len(ASPECT_RATIOS) * len(ANCHOR_SIZES[0]):
        raise ValueError(f"{path}: RPN predicts {a} anchors per location, the config has 9")


def load_labels(path: str) -> list[str]:
    """``detection_features.pt`` ``["labels"]``: the class names the eval scripts print."""
    import torch
    d = torch.load(path, map_location="cpu", weights_only=True)
    labels = d.get("labels") if isinstance(d, dict) else None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{path}: no list of class names under 'labels'")
    return labels
