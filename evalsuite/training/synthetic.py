"""The offline end-to-end recipe on a domain where the right answer is computable.

Domain: 16x16 images of one coloured shape (``evalsuite.fixtures.media.shape_image``) and
captions "a {color} {shape}". Whether an image matches a caption is known by construction.

1. **reward** - a tiny CLIP-like scorer (conv image tower + bag-of-words text tower, score =
   scale * cosine) trained contrastively; exposed to the harness as the pointwise judge
   :class:`TinyClipJudge` (registry name ``tiny-clip-synthetic``), loaded from its folder
   with ``--model-path``.
2. **policy** - a tiny class-conditional pixel-space diffusion model (an MLP denoiser, the
   diffusers ``DDPMScheduler`` for training noise and ``DDIMScheduler`` for sampling),
   pre-trained on data where only ``p_correct`` of the images show the caption's colour, so
   the reference policy is often wrong.
3. **pairs** - N samples per caption, judged by the reward model with pair ranking then point
   sifting (:mod:`evalsuite.training.pairs`).
4. **dpo** - Diffusion-DPO (:mod:`evalsuite.training.diffusion_dpo`) against the frozen
   reference.
5. **eval** - through the harness (``runner.execute`` on GenAI-Bench-format parquet files):
   the reward model's accuracy on held-out pairs, and the judged win rate of the DPO policy
   against its reference on the same noise (plus the ground-truth colour accuracy of both).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.judges.base import Judge
from evalsuite.training.trainer import Job, Outcome, Recipe, Trainer
from evalsuite.types import PointItem, Score

SIZE = 16


def colors_shapes():
    from evalsuite.fixtures.media import COLORS, SHAPES
    return list(COLORS), list(SHAPES)


def caption(color: str, shape: str) -> str:
    return f"a {color} {shape}"


def parse_caption(text: str) -> tuple[str, str]:
    words = text.lower().replace(".", " ").split()
    colors, shapes = colors_shapes()
    c = [w for w in words if w in colors]
    s = [w for w in words if w in shapes]
    if len(c) != 1 or len(s) != 1:
        raise ValueError(f"not a synthetic caption: {text!r}")
    return c[0], s[0]


def render(color: str, shape: str, seed: int):
    """A (3, SIZE, SIZE) float tensor in [-1, 1] of one shape, centred."""
    import numpy as np
    import torch

    from evalsuite.fixtures.media import shape_image
    img = shape_image(shape, color, "center", size=(SIZE, SIZE), seed=seed)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)


def to_pil(x):
    import numpy as np
    from PIL import Image
    arr = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def from_pil(img):
    import numpy as np
    import torch
    img = img.convert("RGB")
    if img.size != (SIZE, SIZE):
        img = img.resize((SIZE, SIZE))
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)


def true_color(x) -> str:
    """Ground truth: the palette colour nearest to the brightest pixels' mean."""
    import torch

    from evalsuite.fixtures.media import COLORS
    rgb = (x.clamp(-1, 1) + 1) * 127.5  # (3, H, W)
    flat = rgb.reshape(3, -1)
    bright = flat[:, flat.max(0).values > 90]
    mean = bright.mean(1) if bright.shape[1] else flat.mean(1)
    names = list(COLORS)
    pal = torch.tensor([COLORS[n] for n in names], dtype=torch.float32)
    return names[int(((pal - mean) ** 2).sum(1).argmin())]


def _rng(seed: int, step: int):
    import torch
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


# --- 1. the tiny reward model ------------------------------------------------------------

def _tiny_clip_cls():
    import torch
    from torch import nn

    class TinyClip(nn.Module):
        def __init__(self, vocab: list[str], dim: int = 32):
            super().__init__()
            self.vocab = {w: i for i, w in enumerate(vocab)}
            self.image = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                nn.Flatten(), nn.Linear(32 * (SIZE // 4) ** 2, dim))
            self.words = nn.EmbeddingBag(len(vocab) + 1, dim, mode="mean")
            self.text = nn.Linear(dim, dim)
            self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))

        def tokenize(self, texts: list[str]):
            ids, offsets = [], []
            for t in texts:
                offsets.append(len(ids))
                toks = [self.vocab.get(w, len(self.vocab)) for w in t.lower().split()]
                ids.extend(toks or [len(self.vocab)])
            return torch.tensor(ids), torch.tensor(offsets)

        def embed_text(self, texts):
            ids, off = self.tokenize(texts)
            z = self.text(self.words(ids, off))
            return z / z.norm(dim=-1, keepdim=True)

        def embed_image(self, x):
            z = self.image(x)
            return z / z.norm(dim=-1, keepdim=True)

        def forward(self, x, texts):
            """Matched scores: scale * cos(image_i, text_i)."""
            return self.logit_scale.exp() * (self.embed_image(x) * self.embed_text(texts)).sum(-1)

    return TinyClip


def reward_vocab() -> list[str]:
    colors, shapes = colors_shapes()
    return ["a", *colors, *shapes]


def train_reward(out: Path, steps: int = 150, batch: int = 48, lr: float = 3e-3, seed: int = 0,
                 progress: bool = True, stop_after: int | None = None,
                 save_every: int = 50) -> Path:
    """Contrastive training (symmetric CLIP loss over a batch of random captions/images)."""
    import random

    import torch
    import torch.nn.functional as F

    from evalsuite.training.loop import train_loop
    torch.manual_seed(seed)
    vocab = reward_vocab()
    model = _tiny_clip_cls()(vocab)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    colors, shapes = colors_shapes()

    def step_fn(step: int) -> dict[str, float]:
        r = random.Random(seed * 7919 + step)
        combos = [(r.choice(colors), r.choice(shapes)) for _ in range(batch)]
        x = torch.stack([render(c, s, seed=10_000 + step * batch + i)
                         for i, (c, s) in enumerate(combos)])
        texts = [caption(c, s) for c, s in combos]
        img, txt = model.embed_image(x), model.embed_text(texts)
        logits = model.logit_scale.exp() * img @ txt.T
        # captions repeat inside a batch: every identical caption is a positive
        same = torch.tensor([[a == b for b in texts] for a in texts], dtype=torch.float32)
        target = same / same.sum(1, keepdim=True)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach())}

    ck = Path(out) / "train"
    train_loop(model, opt, step_fn, ck, max_steps=steps, save_every=save_every, log_every=10,
               config={"kind": "tiny-clip", "steps": steps, "batch": batch, "lr": lr,
                       "seed": seed}, progress=progress, stop_after=stop_after,
               desc="reward")
    save_tiny_clip(model, Path(out))
    return Path(out)


def save_tiny_clip(model, out: Path) -> None:
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(out / "model.safetensors"))
    vocab = sorted(model.vocab, key=model.vocab.get)
    (out / "config.json").write_text(json.dumps({"architecture": "evalsuite-tiny-clip",
                                                 "vocab": vocab, "image_size": SIZE}))


def load_tiny_clip(path: Path):
    from safetensors.torch import load_file
    cfg = json.loads((Path(path) / "config.json").read_text())
    if cfg.get("architecture") != "evalsuite-tiny-clip":
        raise ValueError(f"{path} is not a tiny-clip checkpoint")
    model = _tiny_clip_cls()(cfg["vocab"])
    model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
    return model.eval()


class TinyClipJudge(Judge):
    """The synthetic recipe's reward model as a pointwise judge (``--model-path`` required)."""

    name: ClassVar[str] = "tiny-clip-synthetic"
    pointwise: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("torch", "safetensors")
    default_batch_size: ClassVar[int] = 64
    card_note: ClassVar[str] = "none: `--model-path` only, made by `evalsuite train reward`"
    no_fixture: ClassVar[str] = ("its checkpoint is trained in seconds by `evalsuite train "
                                 "reward --recipe training/offline_synthetic.yaml`")

    def load(self) -> None:
        if getattr(self, "model", None) is not None:
            return
        if not self.model_path:
            raise ValueError("tiny-clip-synthetic has no hub weights: pass --model-path "
                             "(made by `evalsuite train reward --recipe "
                             "training/offline_synthetic.yaml`)")
        self.model = load_tiny_clip(Path(self.model_path))

    def prepare_point(self, item: PointItem):
        from evalsuite.media import load_image
        if item.candidate.media is None:
            raise ValueError("tiny-clip-synthetic scores images; this candidate has none")
        return from_pil(load_image(item.candidate.media)), item.prompt

    def score_batch(self, prepared) -> list[Score]:
        import torch
        self.load()
        with torch.inference_mode():
            s = self.model(torch.stack([p[0] for p in prepared]), [p[1] for p in prepared])
        return [Score(value=float(v)) for v in s]

    def score(self, items):
        self.load()
        return super().score(items)


# --- 2. the tiny policy ------------------------------------------------------------------

def _denoiser_cls():
    import torch
    from torch import nn

    class TinyDenoiser(nn.Module):
        """eps(x_t, t, class) for 3 x SIZE x SIZE images. An MLP (time/class embeddings)
        predicts the clean image x0_hat, returned as the noise it implies:
        eps = (x_t - sqrt(abar_t) x0_hat) / sqrt(1 - abar_t). A narrow MLP cannot carry the
        768-dim noise through its bottleneck; the clean image of this domain it can."""

        def __init__(self, num_classes: int, hidden: int = 256, num_train_timesteps: int = 100):
            super().__init__()
            d = 3 * SIZE * SIZE
            self.T = num_train_timesteps
            train, _ = _schedulers(num_train_timesteps)
            self.register_buffer("alphas_cumprod", train.alphas_cumprod.clone().float())
            self.cls = nn.Embedding(num_classes, hidden)
            self.time = nn.Sequential(nn.Linear(16, hidden), nn.SiLU())
            self.inp = nn.Linear(d, hidden)
            self.mid = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
            self.out = nn.Linear(hidden, d)

        def temb(self, t):
            f = torch.exp(torch.arange(8, dtype=torch.float32) * -math.log(1000.0) / 8)
            a = t.float()[:, None] * f[None] * (1000.0 / self.T)
            return torch.cat([a.sin(), a.cos()], 1)

        def forward(self, x, t, cond):
            t = t.long().reshape(-1).expand(x.shape[0]) if t.numel() == 1 else t.long()
            h = self.inp(x.flatten(1)) + self.time(self.temb(t)) + self.cls(cond)
            x0 = torch.tanh(self.out(self.mid(h))).view_as(x)
            a = self.alphas_cumprod[t].view(-1, *([1] * (x.ndim - 1)))
            # floor on sqrt(1 - abar): keeps the x0 error from being amplified without bound
            # at the lowest-noise steps (which made Diffusion-DPO unstable here)
            return (x - a.sqrt() * x0) / (1 - a).sqrt().clamp_min(0.1)

    return TinyDenoiser


def policy_classes() -> list[str]:
    colors, shapes = colors_shapes()
    return [caption(c, s) for c in colors for s in shapes]


def save_policy(model, out: Path, scheduler_cfg: dict[str, Any], extra: dict | None = None):
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(out / "model.safetensors"))
    (out / "config.json").write_text(json.dumps({
        "architecture": "evalsuite-tiny-pixel-diffusion", "classes": policy_classes(),
        "image_size": SIZE, "num_train_timesteps": model.T, "scheduler": scheduler_cfg,
        **(extra or {})}, indent=1))


def load_policy(path: Path):
    from safetensors.torch import load_file
    cfg = json.loads((Path(path) / "config.json").read_text())
    if cfg.get("architecture") != "evalsuite-tiny-pixel-diffusion":
        raise ValueError(f"{path} is not a tiny pixel-diffusion policy")
    model = _denoiser_cls()(len(cfg["classes"]), num_train_timesteps=cfg["num_train_timesteps"])
    model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
    return model.eval(), cfg


def _schedulers(T: int):
    from diffusers import DDIMScheduler, DDPMScheduler
    train = DDPMScheduler(num_train_timesteps=T, beta_schedule="squaredcos_cap_v2",
                          prediction_type="epsilon", clip_sample=True)
    return train, DDIMScheduler.from_config(train.config)


def min_snr_weight(alphas_cumprod, t):
    """The eps-loss weight min(1, 1 / SNR_t), SNR_t = abar_t / (1 - abar_t): min-SNR
    weighting (Hang et al. 2023) with gamma = 1, written for an eps-prediction loss."""
    a = alphas_cumprod.to(t.device)[t]
    return ((1 - a) / a).clamp(max=1.0)


def train_policy(out: Path, steps: int = 400, batch: int = 64, lr: float = 3e-3,
                 p_correct: float = 0.4, seed: int = 0, timesteps: int = 100,
                 progress: bool = True) -> Path:
    """The reference policy: only ``p_correct`` of its training images show the caption's
    colour (the shape always matches), so it often draws the wrong colour."""
    import random

    import torch

    from evalsuite.training.loop import train_loop
    torch.manual_seed(seed)
    classes = policy_classes()
    colors, _ = colors_shapes()
    model = _denoiser_cls()(len(classes), num_train_timesteps=timesteps)
    sched, _ = _schedulers(timesteps)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    cache: dict[tuple[str, str, int], Any] = {}

    def img(c, s, k):
        if (c, s, k) not in cache:
            cache[(c, s, k)] = render(c, s, seed=50_000 + k)
        return cache[(c, s, k)]

    def step_fn(step: int) -> dict[str, float]:
        r = random.Random(seed * 7907 + step)
        g = _rng(seed, step)
        ys, xs = [], []
        for _ in range(batch):
            y = r.randrange(len(classes))
            c, s = parse_caption(classes[y])
            if r.random() >= p_correct:
                c = r.choice([o for o in colors if o != c])
            ys.append(y)
            xs.append(img(c, s, r.randrange(8)))
        x, y = torch.stack(xs), torch.tensor(ys)
        noise = torch.randn(x.shape, generator=g)
        t = torch.randint(0, timesteps, (batch,), generator=g)
        xt = sched.add_noise(x, noise, t)
        eps = model(xt, t, y)
        # min-SNR-style weighting: the plain eps loss is dominated by the lowest-noise steps,
        # where this model's x0 error is amplified by 1 / sqrt(1 - abar_t)
        w = min_snr_weight(sched.alphas_cumprod, t).view(-1, 1, 1, 1)
        loss = (w * (eps - noise) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": float(loss.detach())}

    train_loop(model, opt, step_fn, Path(out) / "train", max_steps=steps, save_every=100,
               log_every=20, config={"kind": "tiny-pixel-diffusion", "steps": steps,
                                     "p_correct": p_correct, "seed": seed},
               progress=progress, desc="policy")
    save_policy(model.eval(), Path(out), dict(sched.config))
    return Path(out)


def sample(model, classes_idx: list[int], seed: int, steps: int = 10, eta: float = 0.0):
    """DDIM samples (B, 3, SIZE, SIZE); noise drawn from ``seed`` only, so two policies
    sampled with one seed start from the same noise."""
    import torch
    _, ddim = _schedulers(model.T)
    ddim.set_timesteps(steps)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((len(classes_idx), 3, SIZE, SIZE), generator=g)
    y = torch.tensor(classes_idx)
    with torch.no_grad():
        for t in ddim.timesteps:
            eps = model(x, t.repeat(len(classes_idx)), y)
            x = ddim.step(eps, t, x, eta=eta, generator=g).prev_sample
    return x.clamp(-1, 1)


# --- 3. pairs ----------------------------------------------------------------------------

def build_policy_pairs(policy_dir: Path, judge, prompts: list[str], out: Path, n: int = 4,
                       seed: int = 0, sample_steps: int = 10, progress: bool = True
                       ) -> dict[str, int]:
    """N samples per prompt (PNG under out/media), pair ranking + point sifting."""
    from tqdm.auto import tqdm

    from evalsuite.training.pairs import Sample, build_pair, write_pairs
    from evalsuite.types import Candidate, MediaRef
    model, cfg = load_policy(policy_dir)
    classes = cfg["classes"]
    media = Path(out) / "media"
    media.mkdir(parents=True, exist_ok=True)
    results = []
    for pi, prompt in enumerate(tqdm(prompts, desc="pairs", disable=not progress, leave=False)):
        if prompt not in classes:
            raise ValueError(f"prompt {prompt!r} is not one of this policy's captions")
        xs = sample(model, [classes.index(prompt)] * n, seed=seed * 100_003 + pi,
                    steps=sample_steps)
        samples = []
        for k, x in enumerate(xs):
            p = media / f"p{pi:04d}_c{k}.png"
            to_pil(x).save(p)
            samples.append(Sample(Candidate(media=MediaRef("image", path=str(p.resolve())),
                                            model="policy"), k))
        res = build_pair(judge, prompt, samples, seed=seed)
        res.audit["truth"] = {s.index: true_color(x) for s, x in zip(samples, xs)}
        results.append(res)
    return {**write_pairs(results, Path(out)), **pair_quality(results)}


def pair_quality(results) -> dict[str, int]:
    """How many kept pairs teach the true objective: the chosen image shows the caption's
    colour and the rejected one does not (``right``), the reverse (``wrong``), or neither
    shows it (``uninformative``: no candidate of the prompt had the colour)."""
    q = {"right": 0, "wrong": 0, "same": 0, "uninformative": 0}
    for r in results:
        if r.dropped is not None:
            continue
        want, truth = parse_caption(r.prompt)[0], r.audit["truth"]
        c, l = truth[r.chosen.index] == want, truth[r.rejected.index] == want
        q["right" if c and not l else "wrong" if l and not c else
          "same" if c else "uninformative"] += 1
    return {f"pairs_{k}": v for k, v in q.items()}


# --- 4. Diffusion-DPO on the tiny policy -------------------------------------------------

DPO_WEIGHTINGS = ("none", "min-snr")


def train_dpo(policy_dir: Path, pairs_dir: Path, out: Path, steps: int = 60, batch: int = 16,
              lr: float = 1e-3, beta: float = 5000.0, seed: int = 0, progress: bool = True,
              stop_after: int | None = None, save_every: int = 20,
              weighting: str = "none") -> Path:
    """Diffusion-DPO against the frozen reference.

    ``weighting`` is the omega(lambda_t) of the per-timestep errors in the DPO objective:
    ``none`` (constant, the paper's and the diffusers script's choice for Stable
    Diffusion) or ``min-snr``, the weighting this tiny policy was pre-trained with
    (:func:`min_snr_weight`). Why the recipe picks ``min-snr``: with constant weights the
    error of an eps-predictor is SNR_t times its x0 error, so the lowest-noise steps -
    where a sample's colour is already fixed - dominate the loss; DPO then learns pixel
    details of the chosen images (the judge notices, the ground truth does not) and the
    caption colour stays where the reference had it. Example: ``train dpo`` with
    ``dpo: {weighting: none}`` in the recipe reproduces the paper's loss.
    """
    import copy
    import random

    import torch
    from PIL import Image

    from evalsuite.training.diffusion_dpo import diffusion_dpo_step
    from evalsuite.training.loop import train_loop
    from evalsuite.training.pairs import read_pairs
    torch.manual_seed(seed)
    model, cfg = load_policy(policy_dir)
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    sched, _ = _schedulers(cfg["num_train_timesteps"])
    rows = read_pairs(pairs_dir)
    if not rows:
        raise ValueError(f"no pairs in {pairs_dir}")
    xw = torch.stack([from_pil(Image.open(r["chosen"])) for r in rows])
    xl = torch.stack([from_pil(Image.open(r["rejected"])) for r in rows])
    y = torch.tensor([cfg["classes"].index(r["prompt"]) for r in rows])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if weighting not in DPO_WEIGHTINGS:
        raise ValueError(f"unknown DPO weighting {weighting!r}: one of {DPO_WEIGHTINGS}")
    weight_fn = (None if weighting == "none"
                 else lambda t: min_snr_weight(sched.alphas_cumprod, t))

    def step_fn(step: int) -> dict[str, float]:
        idx = torch.tensor(random.Random(seed * 31 + step).choices(range(len(rows)), k=batch))
        o = diffusion_dpo_step(model, ref, sched, xw[idx], xl[idx], y[idx], beta,
                               generator=_rng(seed, step), weighting=weight_fn)
        opt.zero_grad()
        o.loss.backward()
        opt.step()
        return {"loss": float(o.loss.detach()), "implicit_acc": o.implicit_acc,
                "model_err": o.model_err, "ref_err": o.ref_err}

    train_loop(model, opt, step_fn, Path(out) / "train", max_steps=steps, save_every=save_every,
               log_every=10, config={"kind": "diffusion-dpo", "policy": str(policy_dir),
                                     "pairs": str(pairs_dir), "steps": steps, "beta": beta,
                                     "weighting": weighting,
                                     "lr": lr, "batch": batch, "seed": seed},
               progress=progress, stop_after=stop_after, desc="dpo")
    save_policy(model.eval(), Path(out), dict(sched.config), {"reference": str(policy_dir)})
    return Path(out)


# --- 5. evaluation through the harness ---------------------------------------------------

def _write_genai_parquet(out: Path, rows: list[dict[str, Any]]) -> Path:
    """A GenAI-Bench ``image_generation`` test split (same columns as the hub copy)."""
    import datasets
    feats = datasets.Features({
        "prompt": datasets.Value("string"), "left_model": datasets.Value("string"),
        "left_image": datasets.Image(), "right_model": datasets.Value("string"),
        "right_image": datasets.Image(), "vote_type": datasets.Value("string"),
        "tstamp": datasets.Value("float64"), "judge": datasets.Value("string")})
    cols = {k: [r[k] for r in rows] for k in feats}
    root = Path(out) / "image_generation"
    root.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(cols, features=feats).to_parquet(
        str(root / "test-00000-of-00001.parquet"), batch_size=100)
    return Path(out)


def _png(img) -> dict[str, Any]:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def heldout_reward_pairs(out: Path, n: int = 48, seed: int = 1) -> Path:
    """Held-out pairs (unseen render seeds): caption, matching image, image differing in
    colour or shape; sides and votes assigned by a seeded coin."""
    import random
    r = random.Random(seed)
    colors, shapes = colors_shapes()
    rows = []
    for i in range(n):
        c, s = r.choice(colors), r.choice(shapes)
        if i % 2:
            bc, bs = r.choice([o for o in colors if o != c]), s
        else:
            bc, bs = c, r.choice([o for o in shapes if o != s])
        good = to_pil(render(c, s, seed=900_000 + i))
        bad = to_pil(render(bc, bs, seed=950_000 + i))
        left_good = r.random() < 0.5
        rows.append({"prompt": caption(c, s), "left_model": "m", "right_model": "m",
                     "left_image": _png(good if left_good else bad),
                     "right_image": _png(bad if left_good else good),
                     "vote_type": "leftvote" if left_good else "rightvote",
                     "tstamp": float(i), "judge": "synthetic"})
    return _write_genai_parquet(out, rows)


def policy_duel_pairs(policy_dir: Path, ref_dir: Path, out: Path, prompts: list[str],
                      per_prompt: int = 4, seed: int = 7, sample_steps: int = 10,
                      seed_b: int | None = None, names: tuple[str, str] = ("dpo", "reference")
                      ) -> tuple[Path, dict[str, float]]:
    """A = the policy's sample, B = the reference's, from the same noise (``seed_b``: B from
    other noise); the human label is the ground truth (A if only A has the caption's colour,
    B if only B, else tie)."""
    pol, cfg = load_policy(policy_dir)
    ref, _ = load_policy(ref_dir)
    classes = cfg["classes"]
    seed_b = seed if seed_b is None else seed_b
    rows, ok_p, ok_r = [], 0, 0
    for pi, prompt in enumerate(prompts):
        want = parse_caption(prompt)[0]
        idx = [classes.index(prompt)] * per_prompt
        xa = sample(pol, idx, seed=seed * 10_007 + pi, steps=sample_steps)
        xb = sample(ref, idx, seed=seed_b * 10_007 + pi, steps=sample_steps)
        for k in range(per_prompt):
            a_ok, b_ok = true_color(xa[k]) == want, true_color(xb[k]) == want
            ok_p += a_ok
            ok_r += b_ok
            vote = "leftvote" if a_ok and not b_ok else "rightvote" if b_ok and not a_ok \
                else "tievote"
            rows.append({"prompt": prompt, "left_model": names[0], "right_model": names[1],
                         "left_image": _png(to_pil(xa[k])), "right_image": _png(to_pil(xb[k])),
                         "vote_type": vote, "tstamp": float(len(rows)), "judge": "truth"})
    n = len(rows)
    return _write_genai_parquet(out, rows), {"policy_color_accuracy": ok_p / n,
                                             "reference_color_accuracy": ok_r / n}


def harness_eval(reward_dir: Path, data_dir: Path, out_dir: Path, run_name: str
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``evalsuite run --judge tiny-clip-synthetic --bench genai-bench --data-path ...``."""
    from evalsuite.benchmarks.genai_bench import GenAIBench
    from evalsuite.runner import RunConfig, execute
    cfg = RunConfig(judge="tiny-clip-synthetic", bench="genai-bench", model_path=str(reward_dir),
                    data_path=str(data_dir), out_dir=str(out_dir), run_name=run_name,
                    device="cpu", progress=False, prefetch_workers=0)
    outcome = execute(cfg, judge=TinyClipJudge(model_path=str(reward_dir), device="cpu"),
                      bench=GenAIBench(config="image_generation"))
    samples = [json.loads(line) for line in
               (outcome.run_dir / "samples.jsonl").read_text().splitlines()]
    return outcome.results, samples


def probe_reward(reward_dir: Path, data_dir: Path, out_dir: Path, run_name: str,
                 sample: int = 24) -> dict[str, Any]:
    """The reward model's report card on a GenAI-Bench-format folder (``evalsuite probe``):
    can a policy raise this reward by edits that do not make an image show its caption?"""
    from evalsuite.benchmarks.genai_bench import GenAIBench
    from evalsuite.probes.engine import ProbeConfig, execute_probes
    cfg = ProbeConfig(judge="tiny-clip-synthetic", bench="genai-bench",
                      model_path=str(reward_dir), data_path=str(data_dir), out_dir=str(out_dir),
                      run_name=run_name, sample=sample, device="cpu", progress=False,
                      prefetch_workers=0)
    return execute_probes(cfg, judge=TinyClipJudge(model_path=str(reward_dir), device="cpu"),
                          bench=GenAIBench(config="image_generation")).card


def win_rate(samples: list[dict[str, Any]]) -> float:
    """Judged win rate of A over B: 1 for A, 0 for B, 0.5 for a tie or no verdict."""
    pts = [1.0 if s.get("preferred") == "A" else 0.0 if s.get("preferred") == "B" else 0.5
           for s in samples]
    return sum(pts) / max(len(pts), 1)


# --- the whole recipe --------------------------------------------------------------------

def run_offline(recipe: dict[str, Any], out: Path, progress: bool = True) -> dict[str, Any]:
    """reward -> policy -> pairs -> DPO -> evaluation; returns the summary (also written to
    ``out/summary.json``)."""
    import time
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed = int(recipe.get("seed", 0))
    rc, pc, pr, dc, ec = (recipe.get(k, {}) for k in ("reward", "policy", "pairs", "dpo", "eval"))
    t = {}
    t0 = time.perf_counter()
    reward_dir = train_reward(out / "reward", seed=seed, progress=progress, **rc)
    t["reward_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    policy_dir = train_policy(out / "policy", seed=seed, progress=progress, **pc)
    t["policy_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    prompts = policy_classes() * int(pr.get("repeats", 2))
    judge = TinyClipJudge(model_path=str(reward_dir), device="cpu")
    stats = build_policy_pairs(policy_dir, judge, prompts, out / "pairs", n=int(pr.get("n", 4)),
                               seed=seed, progress=progress)
    t["pairs_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dpo_dir = train_dpo(policy_dir, out / "pairs", out / "dpo", seed=seed, progress=progress,
                        **dc)
    t["dpo_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rres, _ = harness_eval(reward_dir, heldout_reward_pairs(out / "eval_reward_data",
                                                            n=int(ec.get("reward_pairs", 48))),
                           out / "runs", "reward_heldout")
    duel_dir, truth = policy_duel_pairs(dpo_dir, policy_dir, out / "eval_policy_data",
                                        policy_classes(), per_prompt=int(ec.get("per_prompt", 4)))
    _, samples = harness_eval(reward_dir, duel_dir, out / "runs", "policy_vs_reference")
    t["eval_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # the reward model's report cards: on clean held-out renders, and on samples of the
    # reference policy (the distribution DPO learns from, where a gameable reward shows)
    ref_dir, _ = policy_duel_pairs(policy_dir, policy_dir, out / "eval_reference_samples",
                                   policy_classes(), per_prompt=2, seed=11, seed_b=13,
                                   names=("reference", "reference"))
    cards = {name: probe_reward(reward_dir, data, out / "runs", f"reward_probe_{name}",
                                sample=int(ec.get("probe_sample", 24)))
             for name, data in (("heldout", out / "eval_reward_data"),
                                ("reference_samples", ref_dir))}
    t["probe_s"] = time.perf_counter() - t0
    summary = {
        "reward_accuracy_without_ties":
            rres["metrics"]["accuracy_without_ties"]["value"],
        "policy_judged_win_rate_vs_reference": win_rate(samples),
        **truth, "pairs": stats,
        "reward_probe": {name: {
            "card": str(out / "runs" / f"reward_probe_{name}" / "probe.md"),
            "findings": card["findings"],
            "exploitable_edits": [n for n, r in card["probes"]["perturbation"]["metrics"]
                                  .items() if r["exploitable"]]} for name, card in cards.items()},
        "seconds": {k: round(v, 2) for k, v in t.items()},
        "dirs": {"reward": str(reward_dir), "policy": str(policy_dir), "dpo": str(dpo_dir)},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


class SyntheticTrainer(Trainer):
    """``kind: synthetic``: the offline recipe on the toy domain, every verb."""
    kind: ClassVar[str] = "synthetic"
    verbs: ClassVar[tuple[str, ...]] = ("reward", "policy", "dpo", "offline")
    requires: ClassVar[tuple[str, ...]] = ("torch", "safetensors")

    def reward(self, recipe: Recipe, job: Job) -> Outcome:
        path = train_reward(job.out, seed=recipe.seed, progress=job.progress,
                            **recipe.section("reward"))
        return Outcome([f"reward model: {path}  (evalsuite run --judge tiny-clip-synthetic "
                        f"--model-path {path} ...)"])

    def policy(self, recipe: Recipe, job: Job) -> Outcome:
        return Outcome([str(train_policy(job.out, seed=recipe.seed, progress=job.progress,
                                         **recipe.section("policy")))])

    def dpo(self, recipe: Recipe, job: Job) -> Outcome:
        return Outcome([str(train_dpo(Path(job.policy), job.pairs, job.out, seed=recipe.seed,
                                      progress=job.progress, **recipe.section("dpo")))])

    def offline(self, recipe: Recipe, job: Job) -> Outcome:
        return Outcome([json.dumps(run_offline(recipe.raw, job.out, progress=job.progress),
                                   indent=2)])
