"""Preference pairs from a diffusers text-to-image / text-to-video policy (``evalsuite train
pairs --policy <pipeline>``): N samples per prompt with the eval-policy plugin of
:mod:`evalsuite.policies.diffusion` (batched; every sample has its own generator seeded with
:func:`evalsuite.policies.base.sample_seed` (seed, prompt id ``p<index>``, k), so a sample is
the same whatever the batch size), saved as PNG / H.264 mp4 under ``out/media/``, then pair
ranking + point sifting by the judge (:mod:`evalsuite.training.pairs`).

Output: ``out/pairs.jsonl`` and ``out/dropped.jsonl`` in the format
:func:`evalsuite.training.pairs.write_pairs` writes (chosen/rejected = absolute media paths;
``audit`` holds the judge's raw answers plus ``samples``: index, seed and path of every
candidate, and ``policy``), which ``evalsuite train dpo`` (kinds ``diffusion-dpo`` /
``video-dpo``) reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def make_policy(source: str, device: str | None = None, **options: Any):
    """The eval-policy plugin for a diffusers pipeline folder or hub id."""
    from evalsuite.policies.diffusion import (DiffusersTextToImage, DiffusersTextToVideo,
                                              is_video_pipeline)
    from evalsuite.training.diffusers_dpo import pipeline_class_name

    video = is_video_pipeline(pipeline_class_name(source))
    cls = DiffusersTextToVideo if video else DiffusersTextToImage
    local = Path(source).exists()
    return cls(model=None if local else source, model_path=source if local else None,
               device=device, **options)


def build_diffusers_pairs(policy: str, judge, prompts: list[str], out: Path, n: int = 4,
                          seed: int = 0, batch_size: int | None = None,
                          options: dict[str, Any] | None = None, device: str | None = None,
                          progress: bool = True) -> dict[str, int]:
    """Sample, judge, write; returns the counts of :func:`write_pairs` plus ``samples``."""
    from tqdm.auto import tqdm

    from evalsuite.policies.base import GenItem, GenUnit, sample_seed
    from evalsuite.policies.runner import write_video
    from evalsuite.training.pairs import Sample, build_pair, write_pairs
    from evalsuite.types import Candidate, MediaRef

    if n < 2:
        raise ValueError(f"--n {n}: pair ranking needs at least 2 candidates per prompt")
    if not prompts:
        raise ValueError("no prompts")
    pol = make_policy(policy, device=device, **(options or {}))
    kind = "video" if pol.task == "text-to-video" else "image"
    mods = getattr(judge, "modalities", None)
    if mods is not None and kind not in mods:
        raise ValueError(f"judge {getattr(judge, 'name', judge)!r} judges {sorted(mods)}, "
                         f"not the {kind}s this policy makes")
    from evalsuite.training.diffusers_dpo import quiet_loading
    with quiet_loading(not progress):
        pol.load()
    media = Path(out) / "media"
    media.mkdir(parents=True, exist_ok=True)
    units = [GenUnit(GenItem(f"p{pi:04d}", p), k, sample_seed(seed, f"p{pi:04d}", k))
             for pi, p in enumerate(prompts) for k in range(n)]
    bs = batch_size or pol.default_batch_size
    ext = "mp4" if kind == "video" else "png"
    paths: dict[str, Path] = {}
    bar = tqdm(total=len(units), desc="sample", disable=not progress, leave=False)
    try:
        for i in range(0, len(units), bs):
            chunk = units[i:i + bs]
            for u, s in zip(chunk, pol.generate_batch(chunk)):
                dest = media / f"{u.item.item_id}_c{u.k}.{ext}"
                tmp = dest.with_name(dest.name + f".part.{ext}")
                if kind == "video":
                    write_video(tmp, s)
                else:
                    s.save(tmp, format="PNG")
                tmp.replace(dest)  # atomic
                paths[u.unit_id] = dest.resolve()
            bar.update(len(chunk))
    finally:
        bar.close()
    results = []
    for pi, prompt in enumerate(tqdm(prompts, desc="judge", disable=not progress, leave=False)):
        mine = units[pi * n:(pi + 1) * n]  # units are laid out prompt by prompt, n each
        samples = [Sample(Candidate(media=MediaRef(kind, path=str(paths[u.unit_id])),
                                    model="policy"), u.k) for u in mine]
        res = build_pair(judge, prompt, samples, seed=seed)
        res.audit["samples"] = [{"index": u.k, "seed": u.seed, "path": str(paths[u.unit_id])}
                                for u in mine]
        res.audit["policy"] = {"source": str(policy), "plugin": pol.name,
                               "options": pol.info()["options"]}
        results.append(res)
    stats = write_pairs(results, Path(out))
    return {**stats, "samples": len(units)}
