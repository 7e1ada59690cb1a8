"""Compare evalsuite's GRiT (evalsuite.capabilities.vbench.networks.grit) with the upstream
modules.

    python scripts/check_grit_against_upstream.py <VBench checkout> [--sizes 320x512,256x256]

Imports upstream's own files from ``<checkout>/vbench/third_party/grit_src`` (github
Vchitect/VBench @45e79ec; nothing of it is copied here), with small import stubs standing in
for the detectron2 / fvcore pieces those files import but the compared parts do not run
(registries, the ``configurable`` decorator, ``Backbone``, ``ShapeSpec``, ``get_norm``,
``Conv2d``, weight-init helpers). Random GRiT-B weights are built here and loaded into both
sides by upstream's parameter names (strictly), then compared:

* the backbone (ViTDet ViT-B + simple feature pyramid + P6/P7): ``vit.py ViT`` /
  ``ViT_FPN`` and ``fpn_p5.py LastLevelP6P7_P5``, per pyramid level, at several input sizes;
* the proposal head's raw outputs (box distances, agnostic heatmap):
  ``centernet_head.py CenterNetHead``;
* the description decoder: ``text_decoder.py TransformerDecoderTextualHead`` +
  ``GRiTTextDecoder`` + ``AutoRegressiveBeamSearch`` (beam 1, as VBench) on random object
  features, both task begin tokens: tokens (must be equal) and log-probabilities.

The proposal selection, cascade box heads and NMS run on detectron2 structures and are
checked in the test suite against plain re-computations instead. Prints max |diff| per
output and exits non-zero when a tolerance is exceeded.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from collections import namedtuple
from pathlib import Path

import torch
from torch import nn


def _module(name: str, **attrs) -> types.ModuleType:
    mod = sys.modules.get(name) or types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(_module(parent), child, mod)
    return mod


def _stubs() -> None:
    """The detectron2 / fvcore names the compared upstream files import."""
    class Registry:
        def register(self, fn=None):
            return fn if fn is not None else (lambda f: f)

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()

    class CNNBlockBase(nn.Module):
        def __init__(self, in_channels, out_channels, stride):
            super().__init__()

    class Conv2d(nn.Conv2d):
        def __init__(self, *args, norm=None, activation=None, **kwargs):
            super().__init__(*args, **kwargs)

    def get_norm(norm, channels):
        return {"GN": lambda c: nn.GroupNorm(32, c), "": None}[norm](channels) if norm else None

    def configurable(init_func=None, **_):
        return init_func if init_func is not None else (lambda f: f)

    def fill(module):
        nn.init.kaiming_uniform_(module.weight, a=1)
        if module.bias is not None:
            nn.init.constant_(module.bias, 0)

    _module("detectron2.layers", CNNBlockBase=CNNBlockBase, Conv2d=Conv2d, get_norm=get_norm,
            ShapeSpec=namedtuple("ShapeSpec", "channels height width stride",
                                 defaults=(None,) * 4))
    _module("detectron2.config", configurable=configurable)
    _module("detectron2.modeling.backbone", Backbone=Backbone)
    _module("detectron2.modeling.backbone.backbone", Backbone=Backbone)
    _module("detectron2.modeling.backbone.build", BACKBONE_REGISTRY=Registry())
    _module("detectron2.modeling.backbone.fpn", FPN=type("FPN", (nn.Module,), {}))
    _module("detectron2.modeling.backbone.resnet", build_resnet_backbone=lambda *a: None)
    _module("fvcore.nn.weight_init", c2_xavier_fill=fill, c2_msra_fill=fill)
    for name in ("boto3", "requests"):  # text/file_utils.py imports them at module level
        if importlib.util.find_spec(name) is None:
            _module(name)
    if importlib.util.find_spec("botocore") is None:
        _module("botocore.exceptions", ClientError=Exception)


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _package(name: str, folder: Path) -> None:
    pkg = _module(name)
    pkg.__path__ = [str(folder)]


def upstream_modules(checkout: Path):
    _stubs()
    root = checkout / "vbench" / "third_party" / "grit_src"
    cn = root / "centernet2" / "centernet" / "modeling"
    _package("centernet", root / "centernet2" / "centernet")
    _package("centernet.modeling", cn)
    _package("centernet.modeling.backbone", cn / "backbone")
    _package("centernet.modeling.layers", cn / "layers")
    _module("centernet.modeling.layers.deform_conv", DFConv2d=None)
    _package("centernet.modeling.dense_heads", cn / "dense_heads")
    fpn_p5 = _load("centernet.modeling.backbone.fpn_p5", cn / "backbone" / "fpn_p5.py")
    head = _load("centernet.modeling.dense_heads.centernet_head",
                 cn / "dense_heads" / "centernet_head.py")
    _package("upstream_grit_backbone", root / "grit" / "modeling" / "backbone")
    vit = _load("upstream_grit_backbone.vit", root / "grit" / "modeling" / "backbone" / "vit.py")
    _package("upstream_grit_text", root / "grit" / "modeling" / "text")
    text = _load("upstream_grit_text.text_decoder",
                 root / "grit" / "modeling" / "text" / "text_decoder.py")
    return vit, fpn_p5, head, text


def _sub(sd: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def main() -> int:
    from functools import partial

    from evalsuite.capabilities.vbench.networks import grit as G

    ap = argparse.ArgumentParser()
    ap.add_argument("checkout", type=Path, help="a VBench checkout (github Vchitect/VBench)")
    ap.add_argument("--sizes", default="320x512,256x256,224x352")
    ap.add_argument("--boxes", type=int, default=6)
    ap.add_argument("--sep-bias", type=float, default=-0.5,
                    help="added to the [SEP] logit (high: every box ends at once)")
    args = ap.parse_args()
    vit, fpn_p5, head_mod, text = upstream_modules(args.checkout)
    torch.manual_seed(0)
    ours = G.GRiT().eval()  # GRiT-B sizes, random weights
    with torch.no_grad():
        for p in ours.parameters():  # the zero-initialised tables and scales: random too
            if p.abs().sum() == 0 or (p == 1).all():
                p.normal_(0, 0.02 if p.dim() > 1 else 0.5)
        for scale in ours.proposal_generator.centernet_head.scales:
            scale.scale.abs_()  # positive: non-zero box distances
        ours.roi_heads.text_decoder.textual.embedding.words.weight.mul_(0.02)  # BERT-like
        ours.roi_heads.text_decoder.textual.output.bias[102] = args.sep_bias  # varied lengths
    sd = ours.state_dict()

    s = G.GritSizes()
    bottom_up = vit.ViT(img_size=1024, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                        drop_path_rate=0.0, window_size=14, mlp_ratio=4, qkv_bias=True,
                        norm_layer=partial(nn.LayerNorm, eps=1e-6),
                        window_block_indexes=list(s.window_blocks), residual_block_indexes=[],
                        use_act_checkpoint=False, use_rel_pos=True, out_feature="last_feat")
    backbone = vit.ViT_FPN(bottom_up=bottom_up,
                           top_block=fpn_p5.LastLevelP6P7_P5(256, 256), out_channels=256,
                           strides=[8, 16, 32, 64, 128], vit_out_dim=768).eval()
    backbone.load_state_dict(_sub(sd, "backbone."), strict=True)
    head = head_mod.CenterNetHead(256, 5, num_classes=1, with_agn_hm=True, only_proposal=True,
                                  norm="GN", num_cls_convs=4, num_box_convs=4,
                                  num_share_convs=0, use_deformable=False).eval()
    head.load_state_dict(_sub(sd, "proposal_generator.centernet_head."), strict=True)
    textual = text.TransformerDecoderTextualHead(
        object_feature_size=256, vocab_size=30522, hidden_size=768, num_layers=6,
        attention_heads=12, feedforward_size=3072, mask_future_positions=True, padding_idx=0,
        decoder_type="bert_en", use_act_checkpoint=False).eval()
    textual.load_state_dict(_sub(sd, "roi_heads.text_decoder.textual."), strict=True)

    worst = 0.0
    failed = False

    def report(name, a, b, tol):
        nonlocal worst, failed
        d = (a.float() - b.float()).abs().max().item()
        scale = max(1.0, b.float().abs().max().item())
        ok = d <= tol * scale
        failed |= not ok
        print(f"{name:44s} max|diff| {d:.3e}  (scale {scale:.2e}){'' if ok else '  FAIL'}")

    with torch.no_grad():
        for size in args.sizes.split(","):
            h, w = map(int, size.split("x"))
            x = torch.randn(1, 3, h, w)
            mine = ours.backbone(x)
            theirs = backbone(x)
            for lvl, (a, name) in enumerate(zip(mine, ("p3", "p4", "p5", "p6", "p7"))):
                report(f"{size} backbone {name}", a, theirs[name], 1e-4)
            regs, hms = ours.proposal_generator.centernet_head(mine)
            _, t_reg, t_hm = head(mine)
            for lvl in range(5):
                report(f"{size} proposal distances level {lvl}", regs[lvl], t_reg[lvl], 1e-4)
                report(f"{size} agnostic heatmap level {lvl}", hms[lvl], t_hm[lvl].sigmoid(),
                       1e-5)
        feats = torch.randn(args.boxes, 196, 256)
        for task, begin in (("ObjectDet", 101), ("DenseCap", 104)):
            search = text.AutoRegressiveBeamSearch(end_token_id=102, max_steps=40, beam_size=1,
                                                   objectdet=task == "ObjectDet",
                                                   per_node_beam_size=1)
            dec = text.GRiTTextDecoder(textual, beamsearch_decode=search, begin_token_id=begin)
            dec.eval()
            want = dec.infer(feats)
            tokens, logprob = G.greedy_describe(ours.roi_heads.text_decoder.textual, feats,
                                                begin, 102)
            if want["predictions"].shape[1] == 1:  # every box ended at once: upstream drops
                tokens = tokens[:, 1:]  # the begin token and keeps a (boxes, 1) log-prob
                want["logprobs"] = want["logprobs"][:, 0]
            same = tokens.shape == want["predictions"].shape and \
                torch.equal(tokens, want["predictions"])
            failed |= not same
            print(f"{task} description tokens equal: {same} "
                  f"(lengths {[int((t != 102).sum()) for t in tokens]})")
            report(f"{task} description log-probability", logprob, want["logprobs"], 1e-4)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
