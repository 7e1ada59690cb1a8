"""Diffusion-DPO of a diffusers text-to-image or text-to-video pipeline (recipe kinds
``diffusion-dpo`` and ``video-dpo``), on judge-built pairs (``evalsuite train pairs``).

What is trained and how (the loss and the per-pair shared noise/timestep are
:func:`evalsuite.training.diffusion_dpo.diffusion_dpo_step`):

* the pipeline's denoiser (``pipe.unet``: ``UNet2DConditionModel`` for Stable Diffusion
  1.x/2.x-style pipelines, ``UNet3DConditionModel`` for ``TextToVideoSDPipeline``) is trained;
  the reference is a frozen deep copy of it taken before training (with ``lora: true``, the
  reference is the same UNet with its LoRA adapters switched off - peft through diffusers'
  ``add_adapter``; the adapters are fused into the saved weights);
* text encoder and VAE are frozen (``requires_grad_(False)``, eval mode); prompts are encoded
  once with the pipeline's own ``encode_prompt`` (no classifier-free guidance); images are
  encoded by the VAE every step with a seeded ``latent_dist.sample`` and scaled by
  ``vae.config.scaling_factor`` (after subtracting ``shift_factor`` where the VAE has one),
  as diffusers' training examples do (``examples/text_to_image/train_text_to_image.py``,
  ``examples/research_projects/diffusion_dpo/train_diffusion_dpo.py``);
* videos: every frame is encoded by the (image) VAE, latents laid out ``(B, C, F, H, W)`` -
  the layout ``TextToVideoSDPipeline.prepare_latents`` makes and ``decode_latents`` undoes
  (``(B, C, F, h, w) -> (B*F, C, h, w)``, batch-major frames);
* training noise: a ``DDPMScheduler`` built from the pipeline's scheduler config
  (``DDPMScheduler.from_config``: same betas, ``num_train_timesteps`` and ``prediction_type``;
  ``prediction_type`` in the recipe overrides it, like the examples' ``--prediction_type``);
  the target is the noise (``epsilon``) or ``get_velocity`` (``v_prediction``). Flow-matching
  pipelines (SD3, Flux) are refused: this is the DDPM-noise formulation of the paper;
* AdamW (the diffusers DPO example's defaults: weight decay 1e-2, betas 0.9/0.999, eps 1e-8,
  gradient-norm clipping 1.0; a step whose gradient is not finite is skipped and logged as
  ``skipped_nonfinite_grad``), dropout off in the policy (``disable_dropout``, as TRL's
  DPOTrainer does), optional linear warm-up, gradient accumulation
  (``grad_accum`` micro-batches per step), gradient checkpointing, bf16 autocast on CUDA.

Data: a folder holding ``pairs.jsonl`` (or the file itself); rows ``{"prompt", "chosen",
"rejected", ...}`` with chosen/rejected paths to images (``diffusion-dpo``) or videos
(``video-dpo``), absolute or relative to the file's folder. A row without those keys, or one
marked ``dropped``, is an error (with its line number); a row whose media is missing or cannot
be decoded is skipped, written to ``out/skipped.jsonl`` with the reason, and counted
(``pairs_skipped`` in ``config.json`` and in the returned summary). Media are decoded once at
start (resized/center-cropped to ``resolution`` by ``VaeImageProcessor``; videos sampled to
``num_frames`` frames by :func:`evalsuite.media.load_video`) and kept in memory as uint8.

Output under ``out``: ``config.json``, ``metrics.jsonl``, ``checkpoint-<step>/`` (the loop of
:mod:`evalsuite.training.loop`: the denoiser's weights + optimizer; a re-run resumes from the
last one and - batches, noise, timesteps and VAE samples being functions of (seed, step) -
ends with the same weights as an uninterrupted run), and ``pipeline/``: the whole pipeline
with the trained denoiser (``save_pretrained``; loads with ``evalsuite eval-policy --policy
<out>/pipeline``).
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

from evalsuite.training.trainer import (Job, Outcome, Recipe, Trainer, TrainError,
                                        check_source)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".webm", ".mkv", ".gif"}


# --- the pipeline ------------------------------------------------------------------------

def pipeline_class_name(source: str) -> str:
    """``_class_name`` of a diffusers pipeline: a local folder's ``model_index.json``, or the
    hub's for a repo id. A local path that is not a pipeline folder is a ``ValueError``."""
    p = Path(source)
    if p.exists():
        mi = p / "model_index.json"
        if not mi.is_file():
            raise ValueError(f"{source} is not a diffusers pipeline folder (no "
                             "model_index.json; a pipeline is saved with save_pretrained)")
        return str(json.loads(mi.read_text()).get("_class_name", ""))
    from diffusers import DiffusionPipeline
    try:
        cfg = DiffusionPipeline.load_config(source)
    except Exception as e:  # hub errors: offline, not found, gated ...
        raise ValueError(f"{source!r} is neither a local folder nor a readable diffusers "
                         f"pipeline on the hub ({type(e).__name__}: {e})") from e
    return str(cfg.get("_class_name", ""))


@contextmanager
def quiet_loading(enabled: bool = True):
    """Silence diffusers'/transformers' loading progress bars (``--no-progress``)."""
    if not enabled:
        yield
        return
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog
    was = dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            dlog.enable_progress_bar()
        if was[1]:
            tlog.enable_progress_bar()


def load_pipeline(source: str, video: bool, device: str = "cpu"):
    """The pipeline (fp32, on ``device``) after checking it is one this trainer handles."""
    import torch
    from diffusers import DiffusionPipeline

    from evalsuite.policies.diffusion import is_video_pipeline

    name = pipeline_class_name(source)
    if video != is_video_pipeline(name):
        want = "text-to-video (recipe kind video-dpo)" if video else \
            "text-to-image (recipe kind diffusion-dpo)"
        raise ValueError(f"{source} is a {name or 'pipeline of unknown class'}, not a {want} "
                         "pipeline; use kind: " + ("diffusion-dpo" if video else "video-dpo"))
    pipe = DiffusionPipeline.from_pretrained(source, dtype=torch.float32)
    if getattr(pipe, "unet", None) is None:
        what = "a transformer" if getattr(pipe, "transformer", None) is not None else "no unet"
        raise ValueError(f"{source} ({name}) has {what} denoiser; this trainer handles UNet "
                         "pipelines (Stable Diffusion 1.x/2.x, TextToVideoSDPipeline)")
    if getattr(pipe, "text_encoder_2", None) is not None or \
            getattr(pipe.unet.config, "addition_embed_type", None):
        raise ValueError(f"{source} ({name}) needs added conditioning (SDXL-style time ids / "
                         "pooled embeddings), which this trainer does not build")
    if pipe.unet.config.in_channels != pipe.vae.config.latent_channels:
        raise ValueError(f"{source}: the UNet takes {pipe.unet.config.in_channels} channels, "
                         f"the VAE makes {pipe.vae.config.latent_channels} (an inpainting or "
                         "image-conditioned pipeline?); only plain text-to-image/video")
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def noise_scheduler(pipe, prediction_type: str | None = None):
    """A ``DDPMScheduler`` with the pipeline scheduler's training schedule."""
    from diffusers import DDPMScheduler

    cfg = pipe.scheduler.config
    cls = cfg.get("_class_name", type(pipe.scheduler).__name__)
    if "FlowMatch" in cls or "beta_schedule" not in cfg:
        raise ValueError(f"the pipeline's scheduler {cls} is not a DDPM-family (beta "
                         "schedule) scheduler; flow-matching models are not supported here")
    kw = {"prediction_type": prediction_type} if prediction_type else {}
    sched = DDPMScheduler.from_config(cfg, **kw)
    if sched.config.prediction_type not in ("epsilon", "v_prediction"):
        raise ValueError(f"prediction_type {sched.config.prediction_type!r}: only 'epsilon' "
                         "and 'v_prediction' are trainable here")
    return sched


def vae_encode(vae, pixels, generator=None, mode: bool = False):
    """Latents of images in [-1, 1] (N, 3, H, W): a seeded sample of the posterior (its mode
    with ``mode=True``), shifted and scaled as the pipeline's decoder expects."""
    dist = vae.encode(pixels).latent_dist
    z = dist.mode() if mode else dist.sample(generator=generator)
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    return (z - shift) * vae.config.scaling_factor


def vae_encode_video(vae, frames, generator=None, mode: bool = False):
    """(B, F, 3, H, W) frames in [-1, 1] -> (B, C, F, h, w) latents (per-frame VAE)."""
    b, f = frames.shape[:2]
    z = vae_encode(vae, frames.reshape(b * f, *frames.shape[2:]), generator, mode)
    return z.reshape(b, f, *z.shape[1:]).permute(0, 2, 1, 3, 4)


# --- the pairs ---------------------------------------------------------------------------

@dataclass
class MediaPairs:
    prompts: list[str]
    chosen: Any  # uint8 tensor (N, 3, H, W) or (N, F, 3, H, W)
    rejected: Any
    skipped: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""


def read_media_pairs(path: Path, video: bool, height: int, width: int,
                     num_frames: int | None = None, progress: bool = True) -> MediaPairs:
    """Decode the pairs' media (uint8, resized); bad media -> ``skipped`` (with the reason)."""
    import numpy as np
    import torch
    from diffusers.image_processor import VaeImageProcessor
    from tqdm.auto import tqdm

    from evalsuite.media import MediaError, load_image, load_video
    from evalsuite.training.pairs import pairs_file, resolve_path
    from evalsuite.types import FrameSpec, MediaRef

    src = pairs_file(path)
    root = src.parent
    proc = VaeImageProcessor(do_resize=True)
    spec = FrameSpec(num_frames=num_frames, size=(width, height))
    suffixes = VIDEO_SUFFIXES if video else IMAGE_SUFFIXES
    kind = "video" if video else "image"

    def load(p: Path):
        if p.suffix.lower() not in suffixes:
            raise MediaError(f"expected {'a video' if video else 'an image'} file, got "
                             f"{p.name}")
        if not p.is_file():
            raise MediaError(f"missing file: {p}")
        if video:
            clip = load_video(MediaRef("video", path=str(p)), spec)  # (F, H, W, 3) uint8
            return torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2)
        img = proc.resize(load_image(MediaRef("image", path=str(p))), height, width,
                          resize_mode="crop")
        return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)

    lines = src.read_text().splitlines()
    prompts, ch, rj, skipped = [], [], [], []
    for i, line in enumerate(tqdm(lines, desc=f"{kind} pairs", disable=not progress,
                                  leave=False), start=1):
        if not line.strip():
            continue
        where = f"{src}:{i}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: not a JSON object ({e})") from e
        for k in ("prompt", "chosen", "rejected"):
            if not isinstance(row.get(k), str) or not row[k]:
                raise ValueError(f"{where}: '{k}' must be a non-empty string (a prompt, or a "
                                 "path to the chosen/rejected media)")
        if row.get("dropped"):
            raise ValueError(f"{where}: row is marked dropped ({row['dropped']}); pairs.jsonl "
                             "should hold kept pairs only")
        try:
            a = load(resolve_path(root, row["chosen"]))
            b = load(resolve_path(root, row["rejected"]))
        except MediaError as e:
            skipped.append({"line": i, "prompt": row["prompt"], "chosen": row["chosen"],
                            "rejected": row["rejected"], "reason": str(e)})
            continue
        if a.shape != b.shape:
            skipped.append({"line": i, "prompt": row["prompt"], "chosen": row["chosen"],
                            "rejected": row["rejected"],
                            "reason": f"chosen/rejected differ in shape {tuple(a.shape)} vs "
                                      f"{tuple(b.shape)} (set num_frames)"})
            continue
        prompts.append(row["prompt"])
        ch.append(a)
        rj.append(b)
    if not prompts:
        why = f"; first reason: {skipped[0]['reason']}" if skipped else ""
        raise ValueError(f"no usable pairs in {src} ({len(skipped)} skipped{why})")
    shapes = {tuple(x.shape) for x in ch}
    if len(shapes) > 1:
        raise ValueError(f"{src}: the videos have different frame counts {sorted(shapes)}; "
                         "set num_frames in the recipe's dpo: section")
    return MediaPairs(prompts, torch.stack(ch), torch.stack(rj), skipped, str(src))


# --- training ----------------------------------------------------------------------------

class _AdaptersOff:
    """The LoRA reference: the trained UNet with its adapters switched off."""

    def __init__(self, unet):
        self.unet = unet

    def __call__(self, *args, **kwargs):
        self.unet.disable_adapters()
        try:
            return self.unet(*args, **kwargs)
        finally:
            self.unet.enable_adapters()


def _forward(model, x, t, cond):
    return model(x, t, encoder_hidden_states=cond, return_dict=False)[0]


@dataclass
class DpoRun:
    """Everything a step needs (built by :func:`prepare`; :func:`train_diffusers_dpo` runs it)."""

    pipe: Any
    model: Any  # the trained denoiser (pipe.unet)
    ref: Any  # the frozen reference (a copy, or the adapters-off view with LoRA)
    scheduler: Any
    optimizer: Any
    pairs: MediaPairs
    step_fn: Callable[[int], dict[str, float]]
    config: dict[str, Any]


def prepare(policy: str, pairs: Path, video: bool = False, batch: int = 2,
            lr: float = 1e-5, beta: float = 5000.0, seed: int = 0,
            resolution: int | None = None, num_frames: int | None = None,
            prediction_type: str | None = None, warmup_steps: int = 0,
            max_grad_norm: float | None = 1.0, weight_decay: float = 1e-2,
            adam_beta1: float = 0.9, adam_beta2: float = 0.999, adam_eps: float = 1e-8,
            grad_accum: int = 1, gradient_checkpointing: bool = False,
            mixed_precision: str = "no", device: str | None = None,
            disable_dropout: bool = True, lora: bool = False,
            lora_r: int = 8, lora_alpha: int | None = None,
            lora_targets: tuple[str, ...] | list[str] = ("to_q", "to_k", "to_v", "to_out.0"),
            progress: bool = True) -> DpoRun:
    import torch

    from evalsuite.training.diffusion_dpo import diffusion_dpo_step
    from evalsuite.training.pairs import pairs_file

    if mixed_precision not in ("no", "bf16"):
        raise ValueError(f"mixed_precision {mixed_precision!r}: 'no' or 'bf16'")
    if grad_accum < 1 or batch < grad_accum:
        raise ValueError(f"need batch ({batch}) >= grad_accum ({grad_accum}) >= 1")
    pairs_file(pairs)  # fail before loading anything
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if mixed_precision == "bf16" and dev.type != "cuda":
        raise ValueError("mixed_precision: bf16 is for CUDA devices (CPU bf16 Conv3d backward "
                         "gives NaN gradients in the T2V UNet); use 'no' on the CPU")
    torch.manual_seed(seed)
    with quiet_loading(not progress):
        pipe = load_pipeline(policy, video, device)
    unet, vae, text_encoder = pipe.unet, pipe.vae, pipe.text_encoder
    vae.requires_grad_(False).eval()
    text_encoder.requires_grad_(False).eval()
    res = resolution or unet.config.sample_size * pipe.vae_scale_factor
    if res % pipe.vae_scale_factor:
        raise ValueError(f"resolution {res} is not a multiple of the VAE's scale factor "
                         f"{pipe.vae_scale_factor}")
    data = read_media_pairs(pairs, video, res, res, num_frames, progress=progress)
    sched = noise_scheduler(pipe, prediction_type)

    if lora:
        from peft import LoraConfig
        unet.requires_grad_(False)
        unet.add_adapter(LoraConfig(r=lora_r, lora_alpha=lora_alpha or lora_r,
                                    init_lora_weights="gaussian",
                                    target_modules=list(lora_targets)))
        ref = _AdaptersOff(unet)
    else:
        ref = copy.deepcopy(unet).requires_grad_(False).eval()
        if mixed_precision == "bf16":
            ref.to(torch.bfloat16)
    if disable_dropout:  # as TRL's DPOTrainer (disable_dropout=True): the policy's errors
        # are then comparable with the reference's (UNet3DConditionModel's temporal convs
        # carry dropout 0.1), and policy == reference gives exactly logits 0 / loss log 2
        for m in unet.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
    if gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(adam_beta1, adam_beta2),
                            weight_decay=weight_decay, eps=adam_eps)

    # prompts: encoded once (the text encoder is frozen), kept on the CPU
    embeds: dict[str, Any] = {}
    uniq = list(dict.fromkeys(data.prompts))
    with torch.no_grad():
        for i in range(0, len(uniq), 16):
            chunk = uniq[i:i + 16]
            e = pipe.encode_prompt(chunk, dev, 1, False)[0]
            embeds.update({p: e[j].cpu() for j, p in enumerate(chunk)})

    n = len(data.prompts)
    perms: dict[int, list[int]] = {}

    def batch_indices(step: int) -> list[int]:
        """Epoch-wise shuffles, a function of (seed, step) only (resume-safe)."""
        out = []
        for k in range(step * batch, (step + 1) * batch):
            ep = k // n
            if ep not in perms:
                perms[ep] = random.Random(seed * 1_000_003 + ep).sample(range(n), n)
            out.append(perms[ep][k % n])
        return out

    def pixels(x):
        return (x.to(dev, torch.float32) / 127.5 - 1.0)  # uint8 -> [-1, 1] (VaeImageProcessor)

    encode = vae_encode_video if video else vae_encode

    def amp():
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=mixed_precision == "bf16")

    def step_fn(step: int) -> dict[str, float]:
        cur_lr = lr * min(1.0, (step + 1) / warmup_steps) if warmup_steps else lr
        for g in opt.param_groups:
            g["lr"] = cur_lr
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        torch.manual_seed(seed * 1_000_003 + step)  # anything drawing from the global RNG
        idx = batch_indices(step)
        opt.zero_grad(set_to_none=True)
        tot = {"loss": 0.0, "implicit_acc": 0.0, "model_err": 0.0, "ref_err": 0.0}
        size = math.ceil(len(idx) / grad_accum)
        for j in range(0, len(idx), size):
            mb = torch.tensor(idx[j:j + size])
            w = len(mb) / len(idx)
            with torch.no_grad(), amp():
                z = encode(vae, pixels(torch.cat([data.chosen[mb], data.rejected[mb]])), gen)
            zw, zl = z.float().chunk(2)
            cond = torch.stack([embeds[data.prompts[i]] for i in mb.tolist()]).to(dev)
            with amp():
                o = diffusion_dpo_step(unet, ref, sched, zw, zl, cond, beta, generator=gen,
                                       forward=_forward)
            (o.loss * w if w != 1 else o.loss).backward()
            tot["loss"] += float(o.loss.detach()) * w
            tot["implicit_acc"] += o.implicit_acc * w
            tot["model_err"] += o.model_err * w
            tot["ref_err"] += o.ref_err * w
        gn = torch.nn.utils.clip_grad_norm_(params, max_grad_norm or float("inf"))
        tot["grad_norm"] = float(gn)
        if torch.isfinite(gn):
            opt.step()
        else:  # a NaN/inf gradient would poison the weights: skip this update, say so
            tot["skipped_nonfinite_grad"] = 1.0
        opt.zero_grad(set_to_none=True)
        tot["lr"] = cur_lr
        return tot

    config = {"kind": "video-dpo" if video else "diffusion-dpo", "policy": str(policy),
              "pipeline_class": type(pipe).__name__, "pairs": data.source,
              "pairs_used": n, "pairs_skipped": len(data.skipped), "batch": batch, "lr": lr,
              "beta": beta, "seed": seed, "resolution": res, "num_frames": num_frames
              if not video else int(data.chosen.shape[1]),
              "prediction_type": sched.config.prediction_type,
              "num_train_timesteps": sched.config.num_train_timesteps,
              "warmup_steps": warmup_steps, "max_grad_norm": max_grad_norm,
              "weight_decay": weight_decay, "adam": [adam_beta1, adam_beta2, adam_eps],
              "grad_accum": grad_accum, "gradient_checkpointing": gradient_checkpointing,
              "mixed_precision": mixed_precision, "device": str(dev),
              "disable_dropout": disable_dropout, "lora": lora,
              "lora_r": lora_r if lora else None}
    return DpoRun(pipe, unet, ref, sched, opt, data, step_fn, config)


def save_pipeline(run: DpoRun, dest: Path, quiet: bool = False) -> Path:
    """The pipeline with the trained denoiser (LoRA fused), written atomically."""
    dest = Path(dest)
    unet = run.model
    if run.config.get("lora"):
        unet = copy.deepcopy(unet)  # keep the training copy's adapters intact
        unet.fuse_lora()
        unet.unload_lora()
    tmp = dest.with_name(f".{dest.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    trained = run.pipe.unet
    run.pipe.unet = unet.eval()
    try:
        with quiet_loading(quiet):
            run.pipe.save_pretrained(tmp)
    finally:
        run.pipe.unet = trained
    (tmp / "evalsuite_dpo.json").write_text(json.dumps(
        {k: run.config[k] for k in ("kind", "policy", "pairs", "beta", "seed")}, indent=1))
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def train_diffusers_dpo(policy: str, pairs: Path, out: Path, video: bool = False,
                        steps: int = 100, save_every: int = 50, log_every: int = 1,
                        seed: int = 0, progress: bool = True, stop_after: int | None = None,
                        tensorboard: bool = False, **kw: Any) -> dict[str, Any]:
    """Run Diffusion-DPO (``video=True``: on video latents); returns a summary with the path
    of the saved pipeline (``out/pipeline``). ``stop_after=k`` simulates a kill after k
    steps (:class:`evalsuite.training.loop.Stopped`, no pipeline written)."""
    import inspect

    from evalsuite.training.loop import train_loop

    known = set(inspect.signature(prepare).parameters) - {"policy", "pairs", "video",
                                                             "progress", "seed"}
    bad = sorted(set(kw) - known)
    if bad:
        extra = ["log_every", "save_every", "steps", "tensorboard"]
        raise ValueError(f"unknown dpo option(s) {bad}; known: {sorted(known) + extra}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run = prepare(policy, pairs, video=video, seed=seed, progress=progress, **kw)
    with open(out / "skipped.jsonl", "w") as f:
        for r in run.pairs.skipped:
            f.write(json.dumps(r) + "\n")
    cfg = {**run.config, "steps": steps, "save_every": save_every}
    res = train_loop(run.model, run.optimizer, run.step_fn, out, max_steps=steps,
                     save_every=save_every, log_every=log_every, config=cfg,
                     progress=progress, stop_after=stop_after,
                     desc="video-dpo" if video else "diffusion-dpo", tensorboard=tensorboard)
    path = save_pipeline(run, out / "pipeline", quiet=not progress)
    return {"pipeline": str(path), "pairs_used": cfg["pairs_used"],
            "pairs_skipped": cfg["pairs_skipped"], "start_step": res["start_step"],
            "end_step": res["end_step"], "last": res["last"]}


class DiffusersDpoTrainer(Trainer):
    """``kind: diffusion-dpo`` / ``video-dpo`` (preset ``video=True``): `train dpo` runs
    Diffusion-DPO of a diffusers text-to-image / text-to-video pipeline."""
    kind: ClassVar[str] = "diffusion-dpo"
    verbs: ClassVar[tuple[str, ...]] = ("dpo",)
    requires: ClassVar[tuple[str, ...]] = ("torch", "diffusers")
    extra: ClassVar[str | None] = "train"

    def __init__(self, video: bool = False, **preset: Any):
        super().__init__(video=video, **preset)
        self.video = video

    def dpo(self, recipe: Recipe, job: Job) -> Outcome:
        check_source(job.policy, "--policy")
        try:
            res = train_diffusers_dpo(job.policy, job.pairs, job.out, video=self.video,
                                      seed=recipe.seed, progress=job.progress,
                                      **recipe.section("dpo"))
        except (ValueError, FileNotFoundError) as e:
            raise TrainError(str(e)) from None
        notes = [f"skipped {res['pairs_skipped']} pair(s) with missing or undecodable media "
                 f"(reasons: {job.out / 'skipped.jsonl'})"] if res["pairs_skipped"] else []
        bench = "vbench" if self.video else "t2i-compbench"
        return Outcome([json.dumps(res), f"pipeline: {res['pipeline']}  (evalsuite "
                        f"eval-policy --policy {res['pipeline']} --bench {bench} ...)"], notes)
