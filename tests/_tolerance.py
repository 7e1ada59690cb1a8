"""Float tolerances derived from the arithmetic, never from one machine's output.

Two float32 evaluations of the same function that differ only in the order of their sums
(another CPU's SIMD width, another BLAS kernel, a different batch composition) differ, to
first order, by at most ``2 * gamma_n * sum|terms|`` per reduction of length n, with
``gamma_n ~ n * eps`` (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
eq. 3.5 and section 4.2); along a network the bounds of the chained reductions add. The
result is a worst-case bound: generous, machine-independent, and still orders of magnitude
below what a wrong formula (a missing scale, a wrong normalisation) would change.
"""

from __future__ import annotations

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)  # 2**-23


def f32_atol(scale: float, *reductions: int) -> float:
    """Absolute tolerance for outputs of magnitude ``scale`` computed through reductions of
    the given lengths (e.g. a patch embedding of 3*32*32 terms, then each layer's widths)."""
    return 2.0 * EPS32 * float(scale) * float(sum(reductions))


def clip_path(width: int, layers: int, tokens: int, patch_terms: int = 0,
              mlp: int | None = None) -> list[int]:
    """Reduction lengths along a CLIP/ViT tower: the patch embedding, then per layer the
    q/k/v and output projections, the attention scores and weighted sum, the MLP, the final
    projection; layer norms sum over ``width`` twice."""
    mlp = mlp or 4 * width
    per_layer = [width, width, tokens, width, width, mlp, 2 * width]
    return [patch_terms, *per_layer * layers, width]


def fan_ins(model) -> list[int]:
    """The fan-in of every weight matrix / kernel of a module (or state dict): each is one
    reduction on some forward path, so their sum bounds the reductions along any one path."""
    sd = model if isinstance(model, dict) else model.state_dict()
    return [int(w[0].numel()) for k, w in sd.items()
            if k.endswith("weight") and getattr(w, "dim", lambda: 0)() >= 2]
