"""The depth maps T2I-CompBench's 3d_spatial rule reads: DPT-Hybrid (MiDaS v3) through
transformers, with the official script's pre- and post-processing.

Facts from github Karine-Huang/T2I-CompBench @ 1b7094991a57f3c22abdd4f6e8ba6c1a15517073,
``UniDet_eval/experts/model_bank_3d.py`` (``task='depth'``), ``experts/depth/models.py``
(``DPTDepthModel``, ``backbone="vitb_rn50_384"``, ``non_negative=True``, not inverted),
``experts/depth/generate_dataset.py``, ``3D_spatial_eval.py`` and
``experts/obj_detection/generate_dataset_3d.py``:

* weights - ``dpt_hybrid-midas-501f0c75.pt`` (the README downloads it from
  ``lllyasviel/ControlNet``); transformers' ``Intel/dpt-hybrid-midas`` is the conversion of
  that very file (``convert_dpt_hybrid_to_pytorch.py``): same ViT-B/16 on a BiT-ResNet-50
  stem, same fusion and head (ending in a ReLU), loaded with ``DPTForDepthEstimation``;
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
INPUT_SIZE = 480


def depth_input(image) -> "torch.Tensor":
    """model_bank_3d.py's depth transform of a PIL image: (3, 480, 480) in [-1, 1]."""
    from torchvision import transforms
    return transforms.Compose([transforms.Resize([INPUT_SIZE, INPUT_SIZE]), transforms.ToTensor(),
                               transforms.Normalize(mean=0.5, std=0.5)])(image.convert("RGB"))


def load_depth_model(source: str, device: str = "cpu", dtype: str = "float32"):
    """``DPTForDepthEstimation`` from a hub id or folder, set up for 480 x 480 inputs."""
    from transformers import DPTForDepthEstimation

    from evalsuite.judges.base import torch_dtype

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

    from evalsuite.policies.t2i_unidet import resize_for_unidet

    d = (prediction - prediction.min()) / (prediction.max() - prediction.min())
    d = torch.nn.functional.interpolate(d[None, None], size=(height, width), mode="bilinear",
                                        align_corners=True)
    png = Image.fromarray(255 * d[0, 0].cpu().numpy()).convert("L")
    return torch.tensor(np.array(resize_for_unidet(png))).float() / 255.0
