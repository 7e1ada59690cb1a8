"""GenEval's object detector - mmdetection 2.x Mask2Former (Swin-S, COCO instance
segmentation) - run on transformers' ``Mask2FormerForUniversalSegmentation``.

Upstream (github djghosh13/geneval, ``evaluation/evaluate_images.py`` at commit
af4902f24d3ca90ebbb446dd9891a59e0f82725f) calls ``mmdet.apis.inference_detector`` with the
config ``mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.py`` of mmdetection 2.x (2.28.2 is the
last 2.x release) and the released checkpoint fetched by ``evaluation/download_models.sh``.
mmdetection 2.x needs ``mmcv-full`` 1.x, which ships no wheels for current torch and does not
build here, so this module re-creates that inference path:

* :func:`convert_mmdet_state_dict` maps the released checkpoint's keys (mmdet 2.x names:
  ``backbone.stages.*.blocks.*.attn.w_msa.qkv``, ``panoptic_head.pixel_decoder.*``,
  ``panoptic_head.transformer_decoder.layers.*.attentions.{0,1}.attn``, ...) onto
  transformers' names, splitting fused q/k/v projections and re-ordering the Swin
  patch-merging channels (mmdet's ``nn.Unfold`` order ``c*4 + kh*2 + kw`` vs transformers'
  ``[x(0,0), x(1,0), x(0,1), x(1,1)]`` concatenation). Every checkpoint tensor must be used
  and every model tensor filled (strict), else it raises.
* :func:`preprocess` is the config's test pipeline: keep-ratio resize to (1333, 800) with
  OpenCV bilinear (``mmcv.imrescale``), pad to a multiple of 32 with value 128, normalise
  with the ImageNet mean/std in RGB.
* :func:`instance_postprocess` is ``MaskFormerFusionHead.instance_postprocess`` after
  ``Mask2FormerHead.simple_test`` / ``MaskFormerFusionHead.simple_test``: mask logits
  upsampled (bilinear, ``align_corners=False``) to the padded input, cropped to the resized
  image, resized to the original size; softmax over classes without the no-object column,
  top-100 (query, class) pairs, mask = logit > 0, score = class prob x mean sigmoid inside the
  mask, box = the mask's extent (``mmdet.core.mask.mask2bbox``); then ``bbox2result``'s
  per-class split. GenEval's own score thresholds are applied afterwards
  (:mod:`evalsuite.capabilities.geneval.benchmark`).

``scripts/check_geneval_detector.py`` compares this against mmdetection's own model on
random weights, where mmdetection 2.x and mmcv-full can be installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

CHECKPOINT_NAME = "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.pth"  # download_models.sh
CHECKPOINT_URL = ("https://download.openmmlab.com/mmdetection/v2.0/mask2former/"
                  "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco/"
                  "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco_20220504_001756-743b7d99.pth")
CHECKPOINT_SHA256_PREFIX = "743b7d99"  # openmmlab names files by their sha256 prefix

# mmdet 2.x test pipeline of the config (mask2former_r50_lsj_8x2_50e_coco.py base).
TEST_SCALE = (1333, 800)
SIZE_DIVISOR = 32
PAD_VALUE = 128
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
MAX_PER_IMAGE = 100


def swin_s_config(num_labels: int = 80):
    """The architecture of ``mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.py`` as a
    transformers config (Swin-S: 96 dims, depths 2-2-18-2, heads 3-6-12-24, window 7;
    256-dim pixel decoder with 6 deformable layers over 3 levels; 9 decoder layers, 8 heads,
    100 queries, 80 thing classes)."""
    from transformers import Mask2FormerConfig, SwinConfig

    backbone = SwinConfig(embed_dim=96, depths=[2, 2, 18, 2], num_heads=[3, 6, 12, 24],
                          window_size=7, mlp_ratio=4.0, qkv_bias=True, drop_path_rate=0.0,
                          out_features=["stage1", "stage2", "stage3", "stage4"])
    return Mask2FormerConfig(backbone_config=backbone, num_labels=num_labels, hidden_dim=256,
                             feature_size=256, mask_feature_size=256, num_queries=100,
                             encoder_layers=6, decoder_layers=10, num_attention_heads=8,
                             encoder_feedforward_dim=1024, dim_feedforward=2048,
                             common_stride=4, use_auxiliary_loss=False)


# --- checkpoint conversion -------------------------------------------------------------------

def unfold_to_concat_order(channels: int):
    """Index vector ``idx`` with ``hf[..., j] = mmdet[..., idx[j]]`` for patch merging.

    transformers concatenates the 2x2 neighbours as [(0,0), (1,0), (0,1), (1,1)] (row, col)
    blocks of ``channels``; mmdet's ``nn.Unfold(2, stride=2)`` yields channel-major
    ``c * 4 + row * 2 + col``."""
    import torch

    order = [(0, 0), (1, 0), (0, 1), (1, 1)]
    return torch.tensor([c * 4 + r * 2 + k for r, k in order for c in range(channels)])


def _swin_key(rest: str) -> tuple[str, str] | None:
    """mmdet Swin key (after ``backbone.``) -> (transformers suffix, op)."""
    rules = [
        (r"patch_embed\.projection\.(weight|bias)",
         r"swin.embeddings.patch_embeddings.projection.\1"),
        (r"patch_embed\.norm\.(weight|bias)", r"swin.embeddings.norm.\1"),
        (r"stages\.(\d+)\.blocks\.(\d+)\.norm1\.(weight|bias)",
         r"swin.encoder.layers.\1.blocks.\2.layernorm_before.\3"),
        (r"stages\.(\d+)\.blocks\.(\d+)\.norm2\.(weight|bias)",
         r"swin.encoder.layers.\1.blocks.\2.layernorm_after.\3"),
        (r"stages\.(\d+)\.blocks\.(\d+)\.attn\.w_msa\.qkv\.(weight|bias)",
         r"swin.encoder.layers.\1.blocks.\2.attention.{q,k,v}_proj.\3"),
        (r"stages\.(\d+)\.blocks\.(\d+)\.attn\.w_msa\.proj\.(weight|bias)",
         r"swin.encoder.layers.\1.blocks.\2.attention.o_proj.\3"),
        (r"stages\.(\d+)\.blocks\.(\d+)\.attn\.w_msa\.relative_position_bias_table",
         r"swin.encoder.layers.\1.blocks.\2.attention.relative_position_bias."
         r"relative_position_bias_table"),
        (r"stages\.(\d+)\.blocks\.(\d+)\.attn\.w_msa\.relative_position_index",
         r"swin.encoder.layers.\1.blocks.\2.attention.relative_position_bias."
         r"relative_position_index"),
        (r"stages\.(\d+)\.blocks\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)",
         r"swin.encoder.layers.\1.blocks.\2.mlp.fc1.\3"),
        (r"stages\.(\d+)\.blocks\.(\d+)\.ffn\.layers\.1\.(weight|bias)",
         r"swin.encoder.layers.\1.blocks.\2.mlp.fc2.\3"),
        (r"stages\.(\d+)\.downsample\.reduction\.weight",
         r"swin.encoder.layers.\1.downsample.reduction.weight"),
        (r"stages\.(\d+)\.downsample\.norm\.(weight|bias)",
         r"swin.encoder.layers.\1.downsample.norm.\2"),
    ]
    for pat, rep in rules:
        m = re.fullmatch(pat, rest)
        if m:
            op = ("qkv" if "{q,k,v}" in rep else "index" if "relative_position_index" in rep
                  else "unfold" if "downsample" in rep else "copy")
            return m.expand(rep), op
    m = re.fullmatch(r"norm(\d)\.(weight|bias)", rest)
    if m:
        return f"hidden_states_norms.stage{int(m.group(1)) + 1}.{m.group(2)}", "copy"
    return None


def _head_key(rest: str) -> tuple[str, str] | None:
    """mmdet Mask2FormerHead key (after ``panoptic_head.``) -> (transformers key, op)."""
    pd, td = "model.pixel_level_module.decoder", "model.transformer_module"
    rules = [
        (r"pixel_decoder\.input_convs\.(\d+)\.conv\.(weight|bias)",
         rf"{pd}.input_projections.\1.0.\2"),
        (r"pixel_decoder\.input_convs\.(\d+)\.gn\.(weight|bias)",
         rf"{pd}.input_projections.\1.1.\2"),
        (r"pixel_decoder\.encoder\.layers\.(\d+)\.attentions\.0\."
         r"(sampling_offsets|attention_weights|value_proj|output_proj)\.(weight|bias)",
         rf"{pd}.encoder.layers.\1.self_attn.\2.\3"),
        (r"pixel_decoder\.encoder\.layers\.(\d+)\.norms\.0\.(weight|bias)",
         rf"{pd}.encoder.layers.\1.self_attn_layer_norm.\2"),
        (r"pixel_decoder\.encoder\.layers\.(\d+)\.ffns\.0\.layers\.0\.0\.(weight|bias)",
         rf"{pd}.encoder.layers.\1.fc1.\2"),
        (r"pixel_decoder\.encoder\.layers\.(\d+)\.ffns\.0\.layers\.1\.(weight|bias)",
         rf"{pd}.encoder.layers.\1.fc2.\2"),
        (r"pixel_decoder\.encoder\.layers\.(\d+)\.norms\.1\.(weight|bias)",
         rf"{pd}.encoder.layers.\1.final_layer_norm.\2"),
        (r"pixel_decoder\.lateral_convs\.0\.conv\.weight", rf"{pd}.adapter_1.0.weight"),
        (r"pixel_decoder\.lateral_convs\.0\.gn\.(weight|bias)", rf"{pd}.adapter_1.1.\1"),
        (r"pixel_decoder\.output_convs\.0\.conv\.weight", rf"{pd}.layer_1.0.weight"),
        (r"pixel_decoder\.output_convs\.0\.gn\.(weight|bias)", rf"{pd}.layer_1.1.\1"),
        (r"pixel_decoder\.mask_feature\.(weight|bias)", rf"{pd}.mask_projection.\1"),
        # decoder layer: operation_order (cross_attn, norm, self_attn, norm, ffn, norm)
        (r"transformer_decoder\.layers\.(\d+)\.attentions\.0\.attn\.(in_proj_weight|in_proj_bias)",
         rf"{td}.decoder.layers.\1.cross_attn.\2"),
        (r"transformer_decoder\.layers\.(\d+)\.attentions\.0\.attn\.out_proj\.(weight|bias)",
         rf"{td}.decoder.layers.\1.cross_attn.out_proj.\2"),
        (r"transformer_decoder\.layers\.(\d+)\.attentions\.1\.attn\.in_proj_(weight|bias)",
         rf"{td}.decoder.layers.\1.self_attn.{{q,k,v}}_proj.\2"),
        (r"transformer_decoder\.layers\.(\d+)\.attentions\.1\.attn\.out_proj\.(weight|bias)",
         rf"{td}.decoder.layers.\1.self_attn.out_proj.\2"),
        (r"transformer_decoder\.layers\.(\d+)\.norms\.0\.(weight|bias)",
         rf"{td}.decoder.layers.\1.cross_attn_layer_norm.\2"),
        (r"transformer_decoder\.layers\.(\d+)\.norms\.1\.(weight|bias)",
         rf"{td}.decoder.layers.\1.self_attn_layer_norm.\2"),
        (r"transformer_decoder\.layers\.(\d+)\.ffns\.0\.layers\.0\.0\.(weight|bias)",
         rf"{td}.decoder.layers.\1.fc1.\2"),
        (r"transformer_decoder\.layers\.(\d+)\.ffns\.0\.layers\.1\.(weight|bias)",
         rf"{td}.decoder.layers.\1.fc2.\2"),
        (r"transformer_decoder\.layers\.(\d+)\.norms\.2\.(weight|bias)",
         rf"{td}.decoder.layers.\1.final_layer_norm.\2"),
        (r"transformer_decoder\.post_norm\.(weight|bias)", rf"{td}.decoder.layernorm.\1"),
        (r"query_embed\.weight", rf"{td}.queries_embedder.weight"),
        (r"query_feat\.weight", rf"{td}.queries_features.weight"),
        (r"level_embed\.weight", rf"{td}.level_embed.weight"),
        (r"mask_embed\.(0|2|4)\.(weight|bias)", None),  # handled below (index / 2)
        (r"cls_embed\.(weight|bias)", r"class_predictor.\1"),
    ]
    for pat, rep in rules:
        m = re.fullmatch(pat, rest)
        if not m:
            continue
        if rep is None:
            i = int(m.group(1)) // 2
            return f"{td}.decoder.mask_predictor.mask_embedder.{i}.0.{m.group(2)}", "copy"
        return m.expand(rep), ("qkv" if "{q,k,v}" in rep else "copy")
    if rest == "pixel_decoder.level_encoding.weight":
        return f"{pd}.level_embed", "copy"
    return None


def mmdet_key_map(key: str) -> tuple[str, str] | None:
    """One mmdet 2.x Mask2Former key -> (transformers key, op) or None when unknown.

    ``op``: ``copy``; ``qkv`` (split a fused projection into q, k, v along dim 0; the key
    contains ``{q,k,v}``); ``unfold`` (patch-merging channel re-order); ``index`` (a
    recomputable buffer, checked and dropped)."""
    if key.startswith("backbone."):
        r = _swin_key(key[len("backbone."):])
        return None if r is None else (f"model.pixel_level_module.encoder.{r[0]}", r[1])
    if key.startswith("panoptic_head."):
        return _head_key(key[len("panoptic_head."):])
    return None


def convert_mmdet_state_dict(mm: dict[str, Any], model) -> dict[str, Any]:
    """The released mmdet checkpoint's ``state_dict`` as a state dict for ``model`` (a
    ``Mask2FormerForUniversalSegmentation``). Strict both ways: an unknown or unused mmdet key
    and a model key left unfilled raise."""
    import torch

    target = model.state_dict()
    out: dict[str, Any] = {}
    unknown = []
    for key, t in mm.items():
        mapped = mmdet_key_map(key)
        if mapped is None:
            unknown.append(key)
            continue
        name, op = mapped
        if op == "qkv":
            for part, chunk in zip("qkv", torch.chunk(t, 3, dim=0)):
                out[name.replace("{q,k,v}", part)] = chunk.clone()
        elif op == "unfold":
            c = t.shape[-1] // 4
            out[name] = t[..., unfold_to_concat_order(c)].clone()
        elif op == "index":
            mod = model.get_submodule(name.rsplit(".", 1)[0])
            ours = getattr(mod, "relative_position_index", None)
            if ours is not None and not torch.equal(ours.long().flatten(), t.long().flatten()):
                raise ValueError(f"{key}: relative position index differs from transformers'")
        else:
            out[name] = t
    if unknown:
        raise ValueError(f"mmdet checkpoint keys with no transformers counterpart: "
                         f"{unknown[:8]} ({len(unknown)})")
    # Not in the mmdet checkpoint: the loss's class weights (a buffer of the training
    # criterion) and SwinModel's final layernorm, which the backbone path does not use.
    for key, t in target.items():
        if key not in out and (key == "criterion.empty_weight" or
                               key.endswith("encoder.swin.layernorm.weight") or
                               key.endswith("encoder.swin.layernorm.bias")):
            out[key] = t.clone()
    missing = [k for k in target if k not in out]
    extra = [k for k in out if k not in target]
    bad_shape = [k for k in out if k in target and tuple(out[k].shape) != tuple(target[k].shape)]
    if missing or extra or bad_shape:
        raise ValueError(f"converted checkpoint does not match the model: missing {missing[:8]} "
                         f"({len(missing)}), unexpected {extra[:8]} ({len(extra)}), "
                         f"shape mismatch {bad_shape[:8]}")
    return out


def read_mmdet_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state_dict, meta) of an mmdet ``.pth`` (a pickle: loaded with ``weights_only``)."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    sd = ckpt.get("state_dict", ckpt)
    return sd, ckpt.get("meta") or {}


def load_detector(folder: str | Path, device: str, dtype=None):
    """A Mask2Former from ``folder/mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.pth`` (the
    file ``download_models.sh`` writes) and, where present, ``folder/config.json`` (a
    transformers ``Mask2FormerConfig``; without it the Swin-S config of upstream)."""
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation

    folder = Path(folder)
    ckpt = folder / CHECKPOINT_NAME
    if not ckpt.is_file():
        raise FileNotFoundError(f"GenEval detector checkpoint not found: {ckpt} (get it with "
                                "geneval's evaluation/download_models.sh or from "
                                f"{CHECKPOINT_URL})")
    cfg_file = folder / "config.json"
    cfg = (Mask2FormerConfig.from_dict(json.loads(cfg_file.read_text())) if cfg_file.is_file()
           else swin_s_config())
    model = Mask2FormerForUniversalSegmentation(cfg)
    sd, meta = read_mmdet_checkpoint(ckpt)
    model.load_state_dict(convert_mmdet_state_dict(sd, model), strict=True)
    model = model.to(device).eval()
    if dtype is not None:
        model = model.to(dtype)
    return model, meta


def download_checkpoint(folder: Path) -> Path:
    """Fetch the released checkpoint into ``folder`` (sha256-prefix checked)."""
    import hashlib
    import urllib.request

    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / CHECKPOINT_NAME
    if dest.is_file():
        return dest
    tmp = dest.with_suffix(".part")
    h = hashlib.sha256()
    with urllib.request.urlopen(CHECKPOINT_URL, timeout=60) as r, open(tmp, "wb") as fh:
        while chunk := r.read(1 << 20):
            h.update(chunk)
            fh.write(chunk)
    if not h.hexdigest().startswith(CHECKPOINT_SHA256_PREFIX):
        tmp.unlink()
        raise ValueError(f"{CHECKPOINT_URL}: sha256 {h.hexdigest()[:8]} is not "
                         f"{CHECKPOINT_SHA256_PREFIX}")
    tmp.replace(dest)
    return dest


# --- inference -------------------------------------------------------------------------------

def rescale_size(w: int, h: int, scale: tuple[int, int] = TEST_SCALE) -> tuple[int, int]:
    """``mmcv.rescale_size`` for a (long, short) edge bound: (new_w, new_h)."""
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(w * factor + 0.5), int(h * factor + 0.5)


def preprocess(rgb) -> tuple[Any, tuple[int, int], tuple[int, int]]:
    """(normalised CHW float32 tensor of the padded image, resized (h, w), original (h, w))
    from an RGB uint8 HxWx3 array."""
    import cv2
    import numpy as np
    import torch

    h, w = rgb.shape[:2]
    nw, nh = rescale_size(w, h)
    img = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    ph = -(-nh // SIZE_DIVISOR) * SIZE_DIVISOR
    pw = -(-nw // SIZE_DIVISOR) * SIZE_DIVISOR
    padded = np.full((ph, pw, 3), PAD_VALUE, dtype=np.uint8)
    padded[:nh, :nw] = img
    x = (padded.astype(np.float32) - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    return torch.from_numpy(x).permute(2, 0, 1).contiguous(), (nh, nw), (h, w)


def mask2bbox(masks):
    """``mmdet.core.mask.mask2bbox``: [x0, y0, x1 + 1, y1 + 1] of each mask's pixels (zeros
    for an empty mask)."""
    import torch

    n = masks.shape[0]
    boxes = torch.zeros((n, 4), dtype=torch.float32)
    x_any, y_any = masks.any(dim=1), masks.any(dim=2)
    for i in range(n):
        x = torch.where(x_any[i])[0]
        y = torch.where(y_any[i])[0]
        if len(x) and len(y):
            boxes[i] = torch.tensor([x[0], y[0], x[-1] + 1, y[-1] + 1], dtype=torch.float32)
    return boxes


def instance_postprocess(class_logits, mask_logits, padded_hw: tuple[int, int],
                         resized_hw: tuple[int, int], original_hw: tuple[int, int],
                         num_classes: int, max_per_image: int = MAX_PER_IMAGE):
    """One image's (labels, boxes with score column (n, 5), binary masks (n, H, W)) from the
    last decoder layer's class logits (Q, C+1) and mask logits (Q, h, w)."""
    import torch
    import torch.nn.functional as F

    masks = F.interpolate(mask_logits[None].float(), size=padded_hw, mode="bilinear",
                          align_corners=False)[0]
    masks = masks[:, :resized_hw[0], :resized_hw[1]]
    masks = F.interpolate(masks[:, None], size=original_hw, mode="bilinear",
                          align_corners=False)[:, 0]
    q = class_logits.shape[0]
    scores = F.softmax(class_logits.float(), dim=-1)[:, :-1]
    labels = torch.arange(num_classes, device=scores.device).unsqueeze(0).repeat(q, 1).flatten()
    top_scores, top = scores.flatten().topk(min(max_per_image, scores.numel()), sorted=False)
    labels = labels[top]
    masks = masks[top // num_classes]
    binary = (masks > 0).float()
    mask_scores = (masks.sigmoid() * binary).flatten(1).sum(1) / (binary.flatten(1).sum(1) + 1e-6)
    det = top_scores * mask_scores
    binary = binary.bool().cpu()
    boxes = torch.cat([mask2bbox(binary), det.cpu()[:, None]], dim=-1)
    return labels.cpu(), boxes, binary


def per_class(labels, boxes, masks, num_classes: int):
    """``mmdet.core.bbox2result`` and the mask split of ``MaskFormer.simple_test``: for each
    class a (n, 5) float array and the list of its (H, W) bool masks, in output order."""
    labels = labels.numpy()
    boxes = boxes.numpy()
    masks = masks.numpy()
    return ([boxes[labels == i] for i in range(num_classes)],
            [[m for m in masks[labels == i]] for i in range(num_classes)])


def detect(model, rgb_images: list, device: str) -> list[tuple[list, list]]:
    """``inference_detector`` for a batch of RGB arrays: per image (bbox per class, masks per
    class). Images of different sizes are padded to a common size; the pixel decoder and
    transformer decoder of Mask2Former use no padding mask (as mmdet's), so an image's
    output depends on the padded canvas - batching therefore groups equal sizes."""
    import torch

    num_classes = model.config.num_labels
    out: list[tuple[list, list] | None] = [None] * len(rgb_images)
    prepared = [preprocess(x) for x in rgb_images]
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (x, _, _) in enumerate(prepared):
        groups.setdefault(tuple(x.shape), []).append(i)
    dtype = next(model.parameters()).dtype
    for idx in groups.values():
        pixels = torch.stack([prepared[i][0] for i in idx]).to(device=device, dtype=dtype)
        with torch.inference_mode():
            res = model(pixel_values=pixels, output_hidden_states=True)
        for j, i in enumerate(idx):
            _, resized, orig = prepared[i]
            labels, boxes, masks = instance_postprocess(
                res.class_queries_logits[j], res.masks_queries_logits[j],
                tuple(pixels.shape[-2:]), resized, orig, num_classes)
            out[i] = per_class(labels, boxes, masks, num_classes)
    return out  # type: ignore[return-value]
