"""Check evalsuite's GenEval detector (transformers Mask2Former + mmdet checkpoint converter +
re-created test pipeline and post-processing) against mmdetection 2.x itself, on random
weights (or on the released checkpoint with --checkpoint).

Needs an environment where GenEval's own stack installs: mmdetection 2.x (2.28.2), mmcv-full
1.7.x built for its torch (GenEval pins torch 1.12.1 / CUDA 11.3), plus transformers and
this package. It builds mmdet's model from ``mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.py``
with random initialisation (or loads the checkpoint), saves its state dict as an mmdet
checkpoint, loads that through :func:`evalsuite.capabilities.geneval.detector.load_detector`, runs
both on the same images and compares the last decoder layer's class and mask logits and the
per-class detections ``inference_detector`` returns.

    python scripts/check_geneval_detector.py --config <mmdet>/configs/mask2former/\
mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.py [--checkpoint FILE] [--device cuda]

Exit status 0 when everything agrees within tolerance, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def main() -> int:
    import numpy as np
    import torch
    from mmcv import Config
    from mmdet.apis import inference_detector, init_detector

    from evalsuite.capabilities.geneval.detector import CHECKPOINT_NAME, detect, load_detector

    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None  # no ImageNet download: random init
    mm = init_detector(cfg, args.checkpoint, device=args.device).eval()
    if args.checkpoint is None:  # random weights also for the zero-initialised tables
        with torch.no_grad():
            for name, p in mm.named_parameters():
                if "relative_position_bias_table" in name or "level_embed" in name:
                    p.normal_(0, 0.02)
    tmp = Path(tempfile.mkdtemp())
    torch.save({"meta": {"mmdet_version": "check"}, "state_dict": mm.state_dict()},
               tmp / CHECKPOINT_NAME)
    hf, _ = load_detector(tmp, args.device)

    rng = np.random.default_rng(args.seed)
    images = [(rng.random((512, 512, 3)) * 255).astype(np.uint8),
              (rng.random((480, 640, 3)) * 255).astype(np.uint8)]
    worst = 0.0
    ok = True
    for i, rgb in enumerate(images):
        path = tmp / f"img{i}.png"
        from PIL import Image
        Image.fromarray(rgb).save(path)
        want_bbox, _ = inference_detector(mm, str(path))
        (got_bbox, _), = detect(hf, [rgb], args.device)
        for c, (w, g) in enumerate(zip(want_bbox, got_bbox)):
            w = w[np.argsort(-w[:, 4], kind="stable")]
            g = g[np.argsort(-g[:, 4], kind="stable")]
            if w.shape != g.shape:
                print(f"image {i} class {c}: {len(w)} vs {len(g)} detections")
                ok = False
                continue
            if len(w):
                d = float(np.abs(w - g).max())
                worst = max(worst, d)
                if not np.allclose(w[:, 4], g[:, 4], rtol=1e-3, atol=1e-4) or \
                        np.abs(w[:, :4] - g[:, :4]).max() > 2:
                    print(f"image {i} class {c}: max difference {d}")
                    ok = False
    print(f"largest difference in boxes/scores: {worst:.3g}; {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
