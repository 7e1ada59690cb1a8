"""Compare evalsuite's UniDet with the upstream module on random weights.

Builds T2I-CompBench's UniDet (``UniDet_eval/experts/obj_detection``: the R50 and RS200 configs
the eval scripts load) with detectron2's ``build_model`` from source checkouts given on the
command line, randomises its weights (and BN statistics, and class biases so that detections
pass the 0.1 threshold), saves them as a detectron2 ``{"model": ...}`` checkpoint, loads that
with :func:`evalsuite.capabilities.t2i_compbench.unidet.load_unidet` (strict, weights_only),
runs both on random images of several sizes (through the eval scripts' resize) and prints the
max |diff| of the FPN features, the RPN proposals and the final boxes / scores, and whether the
classes agree. With ``--dpt``, also the depth model: ``experts/depth``'s DPTDepthModel against
transformers' DPT-Hybrid loaded through ``midas_to_transformers``.

Needs: a T2I-CompBench checkout (commit 1b70949...), detectron2's Python sources at the commit
T2I-CompBench pins (5aeb252...; the C++ extension is not needed: nothing on this path uses
it), and detectron2's pure-Python dependencies (``pip install fvcore iopath omegaconf
pycocotools``). Import shims: ``fairscale`` (imported by detectron2's ViT backbone, unused
here) is stubbed, and ``PIL.Image.LINEAR`` (removed in Pillow 10) aliased to ``BILINEAR``.

    python scripts/check_unidet_against_upstream.py --t2i-compbench ../T2I-CompBench \\
        --detectron2 ../detectron2 [--configs R50 RS200] [--sizes 512x512 300x500 64x48]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import types
from pathlib import Path

CONFIGS = {"R50": "Unified_learned_OCIM_R50_6x+2x.yaml",
           "RS200": "Unified_learned_OCIM_RS200_6x+2x.yaml"}


def shim_imports() -> None:
    for name in ("fairscale", "fairscale.nn", "fairscale.nn.checkpoint"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["fairscale.nn.checkpoint"].checkpoint_wrapper = lambda m, **_: m
    import PIL.Image
    if not hasattr(PIL.Image, "LINEAR"):
        PIL.Image.LINEAR = PIL.Image.BILINEAR


def upstream_model(unidet_eval: Path, config: str):
    """model_bank.py's setup_cfg + DefaultPredictor(cfg).model, on the CPU, random weights."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model
    from experts.obj_detection.unidet.config import add_unidet_config

    cfg = get_cfg()
    add_unidet_config(cfg)
    cfg.merge_from_file(str(unidet_eval / "experts/obj_detection/configs" / config))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MULTI_DATASET.UNIFIED_LABEL_FILE = str(
        unidet_eval / "experts/obj_detection/datasets/label_spaces/learned_mAP+M.json")
    for k in ("RETINANET", "ROI_HEADS"):  # setup_cfg's --confidence-threshold 0.5
        getattr(cfg.MODEL, k).SCORE_THRESH_TEST = 0.5
    cfg.freeze()
    return build_model(cfg).eval()


def randomise(model, seed: int, class_bias: float) -> dict:
    import torch
    g = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    for k, v in state.items():
        if not v.is_floating_point():
            continue
        if k.endswith("running_var"):
            v.copy_(torch.rand(v.shape, generator=g) + 0.5)
        elif k.endswith("running_mean"):
            v.copy_(torch.randn(v.shape, generator=g) * 0.1)
        elif k.endswith("cls_score.bias"):
            v.copy_(torch.randn(v.shape, generator=g) * 0.5 + class_bias)
        elif k.endswith("norm.weight") or ".bn" in k and k.endswith("weight"):
            v.copy_(torch.rand(v.shape, generator=g) * 0.5 + 0.5)
    model.load_state_dict(state)
    return {k: v.clone() for k, v in model.state_dict().items()}


def maxdiff(a, b) -> float:
    return float((a - b).abs().max()) if a.numel() else 0.0


def compare(name: str, unidet_eval: Path, sizes, seed: int, class_bias: float) -> None:
    import numpy as np
    import torch
    from PIL import Image

    from evalsuite.capabilities.t2i_compbench.unidet import load_unidet, unidet_input

    torch.manual_seed(seed)  # detectron2's own initialisation draws from the global RNG
    up = upstream_model(unidet_eval, CONFIGS[name])
    state = randomise(up, seed, class_bias)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.pth"
        torch.save({"model": state, "iteration": 0}, path)
        ours = load_unidet(str(path))
    rng = np.random.default_rng(seed)
    for h, w in sizes:
        image = unidet_input(Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
        x = {"image": image, "height": image.shape[1], "width": image.shape[2]}
        with torch.no_grad():
            images = up.preprocess_image([x])
            feats_up = up.backbone(images.tensor)
            props_up, _ = up.proposal_generator(images, feats_up, None)
            inst = up([x])[0]["instances"]
            batch, s = ours.preprocess([image])
            feats = ours.net.backbone(batch)
            props = ours.proposals(feats, s)
            det = ours.detect([image])[0]
        fdiff = max(maxdiff(feats_up[f"p{i + 3}"], f) for i, f in enumerate(feats))
        pb = props_up[0].proposal_boxes.tensor
        n = min(len(pb), len(props[0]))
        same_cls = torch.equal(inst.pred_classes, det.classes)
        nan = float("nan")
        print(f"{name} {h}x{w} -> {tuple(image.shape[1:])}: features max|diff| {fdiff:.3g}; "
              f"proposals {len(pb)} vs {len(props[0])}, max|diff| "
              f"{maxdiff(pb[:n], props[0][:n]):.3g}; detections {len(inst)} vs {len(det.boxes)}, "
              f"classes equal {same_cls}, boxes max|diff| "
              f"{maxdiff(inst.pred_boxes.tensor, det.boxes) if same_cls else nan:.3g}, "
              f"scores max|diff| {maxdiff(inst.scores, det.scores) if same_cls else nan:.3g}")


def compare_dpt(unidet_eval: Path, seed: int) -> None:
    """``experts/depth/models.py`` DPTDepthModel(vitb_rn50_384) on random weights against
    transformers' DPTForDepthEstimation loaded from its state dict through
    ``midas_to_transformers``, at the eval's 480 x 480 input."""
    import torch

    from evalsuite.capabilities.t2i_compbench.depth import load_depth_model

    import importlib.util
    pkg = types.ModuleType("dpt_upstream")  # experts/depth imports its siblings relatively
    pkg.__path__ = [str(unidet_eval / "experts/depth")]
    sys.modules["dpt_upstream"] = pkg
    spec = importlib.util.spec_from_file_location(
        "dpt_upstream.models", unidet_eval / "experts/depth/models.py")
    models = importlib.util.module_from_spec(spec)
    sys.modules["dpt_upstream.models"] = models
    spec.loader.exec_module(models)
    torch.manual_seed(seed)
    up = models.DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True,
                              enable_attention_hooks=False).eval()
    state = up.state_dict()
    g = torch.Generator().manual_seed(seed)
    for k, v in state.items():  # make norms and biases matter
        if v.is_floating_point() and ("norm" in k or k.endswith("bias")):
            v.add_(torch.randn(v.shape, generator=g) * 0.1)
    state["scratch.output_conv.4.bias"].fill_(0.5)  # keep the final ReLU from zeroing all
    up.load_state_dict(state)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dpt_hybrid-midas.pt"
        torch.save(state, path)
        ours = load_depth_model(str(path))
    x = torch.randn(2, 3, 480, 480, generator=g)
    a, b = up(x), ours(pixel_values=x).predicted_depth
    print(f"DPT-Hybrid 480x480: depth max|diff| {maxdiff(a, b):.3g} (max |depth| "
          f"{float(a.abs().max()):.3g})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--t2i-compbench", required=True, type=Path)
    ap.add_argument("--detectron2", required=True, type=Path,
                    help="a folder holding the detectron2 package sources")
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--dpt", action="store_true", help="also compare the depth model (timm)")
    ap.add_argument("--sizes", nargs="+", default=["512x512", "300x500", "64x48"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--class-bias", type=float, default=-2.0,
                    help="mean of the random class-score biases (lower: fewer detections)")
    args = ap.parse_args()
    unidet_eval = (args.t2i_compbench / "UniDet_eval").resolve()
    sys.path[:0] = [str(args.detectron2.resolve()), str(unidet_eval)]
    shim_imports()
    os.chdir(unidet_eval)  # the UniDet package resolves a few data files relative to it
    import torch
    torch.set_grad_enabled(False)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes]
    for name in args.configs:
        compare(name, unidet_eval, sizes, args.seed, args.class_bias)
    if args.dpt:
        compare_dpt(unidet_eval, args.seed)


if __name__ == "__main__":
    main()
