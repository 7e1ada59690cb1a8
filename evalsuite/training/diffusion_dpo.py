"""Diffusion-DPO (Wallace et al. 2023, "Diffusion Model Alignment Using Direct Preference
Optimization"). No library ships a trainer for it, so the loss and the step are here.

Per pair (winner w, loser l) with one noise sample and one timestep shared by both:

    err      = per-sample MSE of the denoiser's prediction vs. the target (noise, or velocity
               for v-prediction), mean over every non-batch dim (any latent rank: 4-D images,
               5-D videos)
    model_diff = err_w - err_l            (trained model)
    ref_diff   = ref_err_w - ref_err_l    (frozen reference)
    loss = -logsigmoid(-0.5 * beta * (model_diff - ref_diff))

The winner's error going down relative to the reference makes the argument positive and
the loss smaller. beta ~ 5000 for Stable Diffusion in the paper. The diffusers example
(github huggingface/diffusers examples/research_projects/diffusion_dpo/train_diffusion_dpo.py)
writes the same thing as ``-logsigmoid(beta_dpo * (ref_diff - model_diff))`` with
``beta_dpo=2500`` (= 0.5 * 5000) and the same per-sample mean over non-batch dims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


def per_sample_mse(pred, target):
    """Mean squared error per sample: mean over all dims but the first (any rank)."""
    d = (pred.float() - target.float()) ** 2
    return d.mean(dim=tuple(range(1, d.ndim))) if d.ndim > 1 else d


def diffusion_dpo_loss(err_w, err_l, ref_err_w, ref_err_l, beta: float = 5000.0):
    """(mean loss, per-pair logits) from per-sample errors of shape (B,).

    logits = -0.5 * beta * ((err_w - err_l) - (ref_err_w - ref_err_l)); loss =
    -logsigmoid(logits). The reference errors are treated as constants.
    """
    import torch.nn.functional as F

    model_diff = err_w - err_l
    ref_diff = (ref_err_w - ref_err_l).detach()
    logits = -0.5 * beta * (model_diff - ref_diff)
    return -F.logsigmoid(logits).mean(), logits


def predict(model, x, t, cond):
    """Call a denoiser the way its class expects; returns the prediction tensor.

    diffusers ``UNet2DModel`` (class-conditional: ``cond`` = class labels),
    ``UNet2DConditionModel`` / ``UNet3DConditionModel`` / transformer denoisers
    (``cond`` = encoder hidden states), or any callable ``model(x, t, cond)``.
    """
    name = type(model).__name__
    if name == "UNet2DModel":
        out = model(x, t, class_labels=cond)
    elif hasattr(model, "config") and hasattr(model.config, "cross_attention_dim"):
        out = model(x, t, encoder_hidden_states=cond)
    else:
        out = model(x, t, cond)
    return out.sample if hasattr(out, "sample") else out


@dataclass
class StepOut:
    loss: Any
    logits: Any
    model_err: float
    ref_err: float
    implicit_acc: float


def diffusion_dpo_step(model, ref_model, scheduler, x_w, x_l, cond, beta: float,
                       generator=None, forward: Callable = predict,
                       weighting: Callable | None = None) -> StepOut:
    """One Diffusion-DPO forward pass on a batch of pairs (no backward).

    ``x_w``/``x_l``: clean latents of the winners/losers, same shape (B, ...), any rank.
    ``cond``: the conditioning for one side (batch B), repeated for the other side.
    Noise and timestep are drawn once per pair and shared by winner and loser (and by the
    reference), as in the paper. ``scheduler`` is a diffusers noise scheduler
    (``add_noise``, ``config.num_train_timesteps``, ``config.prediction_type``).
    ``weighting(t)`` -> per-sample weights of the errors: the omega(lambda_t) of the
    paper's objective (its eq. 14); None = constant, as the paper and the diffusers script
    use for Stable Diffusion. A policy pre-trained with a weighted loss can use its own.
    """
    import torch

    if x_w.shape != x_l.shape:
        raise ValueError(f"winner/loser latents differ in shape: {x_w.shape} vs {x_l.shape}")
    b = x_w.shape[0]
    noise = torch.randn(x_w.shape, generator=generator, dtype=x_w.dtype).to(x_w.device)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator
                      ).to(x_w.device)
    latents = torch.cat([x_w, x_l])
    noise2, t2 = torch.cat([noise, noise]), torch.cat([t, t])
    noisy = scheduler.add_noise(latents, noise2, t2)
    ptype = getattr(scheduler.config, "prediction_type", "epsilon")
    if ptype == "epsilon":
        target = noise2
    elif ptype == "v_prediction":
        target = scheduler.get_velocity(latents, noise2, t2)
    else:
        raise ValueError(f"unsupported prediction_type {ptype!r}")
    cond2 = None if cond is None else torch.cat([cond, cond])
    err = per_sample_mse(forward(model, noisy, t2, cond2), target)
    with torch.no_grad():
        ref_err = per_sample_mse(forward(ref_model, noisy, t2, cond2), target)
    if weighting is not None:
        w = weighting(t2).to(err)
        err, ref_err = err * w, ref_err * w
    err_w, err_l = err.chunk(2)
    ref_w, ref_l = ref_err.chunk(2)
    loss, logits = diffusion_dpo_loss(err_w, err_l, ref_w, ref_l, beta)
    acc = float((logits > 0).float().mean() + 0.5 * (logits == 0).float().mean())
    return StepOut(loss, logits.detach(), float(err.detach().mean()), float(ref_err.mean()), acc)
