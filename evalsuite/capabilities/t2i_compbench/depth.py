"""The depth maps T2I-CompBench's 3d_spatial rule reads: DPT-Hybrid (MiDaS v3) through
transformers, with the official script's pre- and post-processing.

Facts from github Karine-Huang/T2I-CompBench @ 1b7094991a57f3c22abdd4f6e8ba6c1a15517073,
``UniDet_eval/experts/model_bank_3d.py`` (``task='depth'``), ``experts/depth/models.py``
(``DPTDepthModel``, ``backbone="vitb_rn50_384"``, ``non_negative=True``, not inverted),
``experts/depth/generate_dataset.py``, ``3D_spatial_eval.py`` and
``experts/obj_detection/generate_dataset_3d.py``:

* weights - ``dpt_hybrid-midas-501f0c75.pt`` (the README downloads it from
  ``lllyasviel/ControlNet``); transformers' ``Intel/dpt-hybrid-midas`` is the conversion of
  that very file (transformers' ``convert_dpt_hybrid_to_pytorch.py``): same ViT-B/16 on a
  BiT-ResNet-50 stem, same fusion and head (ending in a ReLU), loaded with
  ``DPTForDepthEstimation``. The released ``.pt`` itself loads too (``depth_model=<file>``):
  :func:`midas_to_transformers` maps its names (checked against the upstream module on random
  weights by ``scripts/check_unidet_against_upstream.py --dpt``);
* input - ``Resize([480, 480])`` of the RGB PIL image (bilinear), ``ToTensor``,
  ``Normalize(0.5, 0.5)``; the position embeddings are resized to the 30 x 30 patch grid by
  bilinear interpolation, as upstream's ``_resize_pos_embed`` (transformers' hybrid embedding
  does the same resize but refuses sizes other than the config's 384 unless told; its
  expected size is set to the input's);
* per image - min-max normalised to [0, 1], resized to the image's size (bilinear,
  ``align_corners=True``), written as an 8-bit PNG by ``Image.fromarray(255 * depth)
  .convert('L')`` (PIL truncates), read back, resized like the detector input
  (``Resize(size=479, max_size=480)``) and divided by 255: the float32 map the rule uses.

Differences: upstream runs under fp16 autocast on a GPU; here in the run's dtype. The PNG
round trip is kept in memory (no files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

HUB_ID = "Intel/dpt-hybrid-midas"
MIDAS_FILE = "dpt_hybrid-midas-501f0c75.pt"  # the file the T2I-CompBench README downloads
INPUT_SIZE = 480
# DPT-Hybrid as ``DPTDepthModel(backbone="vitb_rn50_384")`` builds it: ViT-B/16 at 384 on a
# BiT ResNet-50 stem (3, 4, 9 blocks), hooks 2/5/8/11 (the first two replaced by the ResNet
# stages), readout "project", 256-channel fusion
HYBRID_CONFIG = dict(
    is_hybrid=True, image_size=384, patch_size=16, hidden_size=768, num_hidden_layers=12,
    num_attention_heads=12, intermediate_size=3072, backbone_out_indices=[2, 5, 8, 11],
    neck_hidden_sizes=[256, 512, 768, 768], reassemble_factors=[1, 1, 1, 0.5],
    fusion_hidden_size=256, readout_type="project", backbone_featmap_shape=[1, 1024, 24, 24],
    backbone_config={"model_type": "bit", "global_padding": "same", "layer_type": "bottleneck",
                     "depths": [3, 4, 9], "out_features": ["stage1", "stage2", "stage3"],
                     "embedding_dynamic_padding": True})

_RENAMES = (  # (regex on the MiDaS / DPT repository name, transformers name)
    (r"pretrained\.model\.cls_token", "dpt.embeddings.cls_token"),
    (r"pretrained\.model\.pos_embed", "dpt.embeddings.position_embeddings"),
    (r"pretrained\.model\.patch_embed\.backbone\.stem\.conv\.",
     "dpt.embeddings.backbone.bit.embedder.convolution."),
    (r"pretrained\.model\.patch_embed\.backbone\.stem\.norm\.",
     "dpt.embeddings.backbone.bit.embedder.norm."),
    (r"pretrained\.model\.patch_embed\.backbone\.stages\.(\d+)\.blocks\.(\d+)\.",
     r"dpt.embeddings.backbone.bit.encoder.stages.\1.layers.\2."),
    (r"pretrained\.model\.patch_embed\.proj\.", "dpt.embeddings.projection."),
    (r"pretrained\.model\.blocks\.(\d+)\.norm1\.", r"dpt.encoder.layer.\1.layernorm_before."),
    (r"pretrained\.model\.blocks\.(\d+)\.norm2\.", r"dpt.encoder.layer.\1.layernorm_after."),
    (r"pretrained\.model\.blocks\.(\d+)\.attn\.proj\.",
     r"dpt.encoder.layer.\1.attention.output.dense."),
    (r"pretrained\.model\.blocks\.(\d+)\.mlp\.fc1\.", r"dpt.encoder.layer.\1.intermediate.dense."),
    (r"pretrained\.model\.blocks\.(\d+)\.mlp\.fc2\.", r"dpt.encoder.layer.\1.output.dense."),
    (r"pretrained\.model\.norm\.", "dpt.layernorm."),
    (r"pretrained\.act_postprocess(\d)\.0\.project\.0\.",
     lambda m: f"neck.reassemble_stage.readout_projects.{int(m[1]) - 1}.0."),
    (r"pretrained\.act_postprocess(\d)\.3\.",
     lambda m: f"neck.reassemble_stage.layers.{int(m[1]) - 1}.projection."),
    (r"pretrained\.act_postprocess(\d)\.4\.",
     lambda m: f"neck.reassemble_stage.layers.{int(m[1]) - 1}.resize."),
    (r"scratch\.layer(\d)_rn\.", lambda m: f"neck.convs.{int(m[1]) - 1}."),
    (r"scratch\.refinenet(\d)\.out_conv\.",  # refinenet4 (coarsest) runs first
     lambda m: f"neck.fusion_stage.layers.{4 - int(m[1])}.projection."),
    (r"scratch\.refinenet(\d)\.resConfUnit(\d)\.conv(\d)\.",
     lambda m: f"neck.fusion_stage.layers.{4 - int(m[1])}.residual_layer{m[2]}."
               f"convolution{m[3]}."),
    (r"scratch\.output_conv\.", "head.head."),
)


def depth_input(image) -> "torch.Tensor":
    """model_bank_3d.py's depth transform of a PIL image: (3, 480, 480) in [-1, 1]."""
    from torchvision import transforms
    return transforms.Compose([transforms.Resize([INPUT_SIZE, INPUT_SIZE]), transforms.ToTensor(),
                               transforms.Normalize(mean=0.5, std=0.5)])(image.convert("RGB"))


def midas_to_transformers(state: dict) -> dict:
    """The released DPT / MiDaS state dict (``pretrained.model.*``, ``scratch.*``) in
    transformers' ``DPTForDepthEstimation`` names: the fused ``qkv`` split into query / key /
    value; the ViT's unused ImageNet classifier (``pretrained.model.head``) dropped. A name
    no rule covers is an error."""
    import re

    out = {}
    for name, t in state.items():
        if name.startswith("pretrained.model.head."):
            continue
        m = re.fullmatch(r"pretrained\.model\.blocks\.(\d+)\.attn\.qkv\.(weight|bias)", name)
        if m:
            for part, chunk in zip(("query", "key", "value"), t.chunk(3, dim=0)):
                out[f"dpt.encoder.layer.{m[1]}.attention.attention.{part}.{m[2]}"] = chunk
            continue
        for pattern, repl in _RENAMES:
            new, n = re.subn(f"^{pattern}", repl, name)
            if n:
                out[new] = t
                break
        else:
            raise ValueError(f"unexpected DPT checkpoint entry {name!r}")
    return out


def load_depth_model(source: str, device: str = "cpu", dtype: str = "float32"):
    """``DPTForDepthEstimation`` from a hub id or folder, or from the released
    ``dpt_hybrid-midas-501f0c75.pt`` (``weights_only=True``, converted by
    :func:`midas_to_transformers`, loaded strictly); set up for 480 x 480 inputs."""
    from pathlib import Path

    import torch
    from transformers import DPTConfig, DPTForDepthEstimation

    from evalsuite.judges.base import torch_dtype

    if Path(source).is_file():
        state = torch.load(source, map_location="cpu", weights_only=True)
        if "optimizer" in state:  # base_model.py load(): {"model": ..., "optimizer": ...}
            state = state["model"]
        model = DPTForDepthEstimation(DPTConfig(**HYBRID_CONFIG))
        model.load_state_dict(midas_to_transformers(state), strict=True)
        model = model.to(torch_dtype(dtype))
    else:
        model = DPTForDepthEstimation.from_pretrained(source, dtype=torch_dtype(dtype))
    if not model.config.is_hybrid:
        raise ValueError(f"{source} is not a hybrid DPT (T2I-CompBench uses DPT-Hybrid)")
    model.dpt.embeddings.image_size = (INPUT_SIZE, INPUT_SIZE)  # the grid resize always runs
    return model.to(device).eval()


def raw_depth(model, images: list) -> "torch.Tensor":
    """The network's (B, 480, 480) output for PIL images, one batched forward pass."""
    import torch
    x = torch.stack([depth_input(im) for im in images]).to(model.device, model.dtype)
    with torch.inference_mode():
        return model(pixel_values=x).predicted_depth.float()


def depth_as_read_back(prediction: "torch.Tensor", width: int, height: int) -> "torch.Tensor":
    """One (480, 480) prediction -> the map 3D_spatial_eval.py indexes: normalised, resized to
    the image, 8-bit PNG, resized like the detector input, / 255 (float32, (H', W'))."""
    import numpy as np
    import torch
    from PIL import Image

    from evalsuite.capabilities.t2i_compbench.unidet import resize_for_unidet

    d = (prediction - prediction.min()) / (prediction.max() - prediction.min())
    d = torch.nn.functional.interpolate(d[None, None], size=(height, width), mode="bilinear",
                                        align_corners=True)
    png = Image.fromarray(255 * d[0, 0].cpu().numpy()).convert("L")
    return torch.tensor(np.array(resize_for_unidet(png))).float() / 255.0
