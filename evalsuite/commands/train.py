"""`evalsuite train {reward,pairs,dpo,offline}`: judge SFT, judge-built preference pairs, DPO.

Recipes are YAML files under training/; their ``kind`` names a trainer in
:data:`evalsuite.registry.TRAINERS` (:mod:`evalsuite.training.trainer`): ``synthetic`` (the
offline recipe, training/offline_synthetic.yaml), ``qwen-vl-sft`` (judge SFT), ``vlm-dpo``
(TRL DPOTrainer), ``diffusion-dpo`` / ``video-dpo`` (Diffusion-DPO of a diffusers
text-to-image / text-to-video pipeline, training/diffusion_dpo_tiny.yaml,
training/video_dpo_tiny.yaml). Every run writes ``config.json``, ``metrics.jsonl`` and
checkpoints under its output folder and resumes from the last checkpoint when re-run.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn, Optional

import typer

from evalsuite.training.trainer import Job, Recipe, Trainer, TrainError, find

train_app = typer.Typer(no_args_is_help=True, help="Train UnifiedReward-style judges and "
                        "DPO policies (see training/*.yaml).")


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")


def _trainer(path: str, verb: str) -> tuple[Trainer, Recipe]:
    """The recipe at ``path`` and the trainer its ``kind`` names (one that answers ``verb``)."""
    import yaml

    from evalsuite.registry import TRAINERS
    p = find(path)
    if not p.exists():
        _fail(f"no recipe at {path}")
    raw = yaml.safe_load(p.read_text()) or {}
    raw["_folder"] = p.parent
    kind = raw.get("kind")
    if not isinstance(kind, str):
        _fail(f"recipe {path} names no `kind` (one of: {', '.join(TRAINERS.names())})")
    try:
        trainer = TRAINERS.create(kind)
    except KeyError as e:
        _fail(e.args[0])
    if verb not in trainer.verbs:
        takes = [k for k in TRAINERS.names() if verb in TRAINERS.entry(k).load().verbs]
        _fail(f"`train {verb}` does not take a {kind!r} recipe " + (
            f"(it takes kinds {', '.join(takes)})" if takes else "(no kind answers it)"))
    return trainer, Recipe(kind, p.parent, raw)


def _train(verb: str, recipe: str, job: Job) -> None:
    """Run ``verb`` of the recipe's trainer; its input problems are one line, exit 2."""
    trainer, r = _trainer(recipe, verb)
    _threads()
    try:
        outcome = trainer.run(verb, r, job)
    except TrainError as e:
        _fail(str(e))
    for note in outcome.notes:
        typer.echo(note, err=True)
    for line in outcome.lines:
        typer.echo(line)


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit 2: nothing was trained."""
    from rich.console import Console

    from evalsuite.commands.common import fail
    fail(Console(stderr=True), message)


def _check_model(model: str, flag: str) -> None:
    """A local folder must exist; a hub id must be cached or reachable (preflight)."""
    from evalsuite.commands.preflight import PreflightError, check_source
    try:
        check_source(model, flag)
    except PreflightError as e:
        _fail(str(e))


def _threads() -> None:
    from evalsuite.training.loop import env_threads
    env_threads()


@train_app.command("reward")
def reward(recipe: str = typer.Option(..., help="Recipe YAML (its `reward:` section)."),
           out: str = typer.Option("runs/train-reward", help="Output folder (re-run resumes)."),
           base: Optional[str] = typer.Option(None, help="qwen-vl-sft: the model to fine-tune "
                                              "instead of the recipe's `base` (a folder or "
                                              "hub id)."),
           steps: Optional[int] = typer.Option(None, min=1, help="qwen-vl-sft: training "
                                               "steps instead of the recipe's."),
           no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar.")
           ) -> None:
    """Train the reward model of a recipe; the result loads with --model-path.

    Example (offline: the tiny Qwen2.5-VL fixture from `evalsuite fixtures --out fx` and the
    sample judgments shipped in training/sample/):

      evalsuite train reward --recipe training/unifiedreward_qwen_sft.yaml \\
          --base fx/unifiedreward-qwen --steps 2 --out runs/ur-sft
    """
    _train("reward", recipe, Job(Path(out), not no_progress, base=base, steps=steps))


@train_app.command("policy")
def policy(recipe: str = typer.Option(..., help="Recipe YAML (its `policy:` section)."),
           out: str = typer.Option("runs/train-policy", help="Output folder."),
           no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar.")
           ) -> None:
    """Pre-train the recipe's reference policy (synthetic recipe only).

    Example: evalsuite train policy --recipe training/offline_synthetic.yaml --out runs/policy
    """
    _train("policy", recipe, Job(Path(out), not no_progress))


@train_app.command("pairs")
def pairs(policy: str = typer.Option(..., help="Policy: a diffusers text-to-image/video "
                                     "pipeline folder or hub id, or a tiny pixel-diffusion "
                                     "policy folder (config.json + weights)."),
          judge: str = typer.Option(..., help="Judge name (see `evalsuite list`)."),
          model_path: Optional[str] = typer.Option(None, help="Local judge checkpoint."),
          prompts: str = typer.Option(..., help="Text file, one prompt per line."),
          n: int = typer.Option(4, min=2, help="Candidates per prompt."),
          seed: int = typer.Option(0, help="Seed of the samples (one per sample)."),
          out: str = typer.Option("runs/train-pairs", help="Writes pairs.jsonl, "
                                  "dropped.jsonl and media/."),
          batch_size: Optional[int] = typer.Option(None, "--batch-size", "-B", min=1,
                                                   help="Policy batch size (diffusers)."),
          device: Optional[str] = typer.Option(None, help="cuda | cpu (diffusers policy)."),
          option: Optional[list[str]] = typer.Option(
              None, "--option", "-o", help="Diffusers policy option key=value "
              "(num_inference_steps, guidance_scale, height, width, num_frames, ...)."),
          no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar.")
          ) -> None:
    """N candidates per prompt -> pair ranking -> point sifting -> DPO JSONL + media.

    Example (after `evalsuite train offline --out runs/train-offline`; the sample prompts are
    captions the tiny policy knows):

      evalsuite train pairs --policy runs/train-offline/policy --judge tiny-clip-synthetic \\
          --model-path runs/train-offline/reward --prompts training/sample/prompts.txt \\
          --n 4 --out runs/pairs
    """
    import json

    from evalsuite.registry import JUDGES
    _threads()
    p = Path(policy)
    pfile = find(prompts)
    if not pfile.is_file():
        _fail(f"no prompts file at {prompts}")
    plist = [x.strip() for x in pfile.read_text().splitlines() if x.strip()]
    if not p.exists():
        _check_model(policy, "--policy")
    if model_path and not Path(model_path).exists():
        _fail(f"--model-path {model_path} does not exist")
    if (p / "model_index.json").is_file() or not p.exists():  # a diffusers pipeline
        from evalsuite.commands.common import parse_options
        from evalsuite.training.diffusers_dpo import pipeline_class_name
        from evalsuite.training.pairs_diffusers import build_diffusers_pairs
        try:
            pipeline_class_name(policy)
        except ValueError as e:
            _fail(str(e))
        from evalsuite.training.diffusers_dpo import quiet_loading
        j = JUDGES.create(judge, model_path=model_path)
        with quiet_loading(no_progress):
            j.load()
        try:
            stats = build_diffusers_pairs(policy, j, plist, Path(out), n=n, seed=seed,
                                          batch_size=batch_size, device=device,
                                          options=parse_options(option),
                                          progress=not no_progress)
        except ValueError as e:
            _fail(str(e))
        typer.echo(json.dumps(stats))
        return
    cfg_file = p / "config.json"
    cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    if cfg.get("architecture") != "evalsuite-tiny-pixel-diffusion":
        _fail(f"{policy} is neither a diffusers pipeline folder (no "
                                 "model_index.json) nor an evalsuite tiny pixel-diffusion "
                                 "policy (config.json architecture)")
    from evalsuite.training.synthetic import build_policy_pairs
    j = JUDGES.create(judge, model_path=model_path)
    j.load()
    stats = build_policy_pairs(p, j, plist, Path(out), n=n, seed=seed,
                               progress=not no_progress)
    typer.echo(json.dumps(stats))


@train_app.command("dpo")
def dpo(recipe: str = typer.Option(..., help="Recipe YAML (its `dpo:` section)."),
        policy: str = typer.Option(..., help="Reference policy: a folder or hub id."),
        pairs_dir: str = typer.Option(..., "--pairs", help="Folder with pairs.jsonl."),
        out: str = typer.Option("runs/train-dpo", help="Output folder (re-run resumes)."),
        no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar.")
        ) -> None:
    """DPO of a policy on judge-built pairs (frozen reference).

    Diffusion-DPO of the tiny policy (`kind: synthetic`) or of a diffusers text-to-image /
    text-to-video pipeline (`kind: diffusion-dpo` / `video-dpo`; writes <out>/pipeline), or
    TRL DPOTrainer for a VLM policy (`kind: vlm-dpo`).

    Examples (offline; the second on the shipped sample pairs and the tiny Qwen2.5-VL fixture
    from `evalsuite fixtures --out fx`):

      evalsuite train dpo --recipe training/offline_synthetic.yaml \\
          --policy runs/train-offline/policy --pairs runs/pairs --out runs/dpo

      evalsuite train dpo --recipe training/vlm_dpo_tiny.yaml \\
          --policy fx/unifiedreward-qwen --pairs training/sample --out runs/vlm-dpo
    """
    _train("dpo", recipe, Job(Path(out), not no_progress, policy=policy,
                              pairs=find(pairs_dir)))


@train_app.command("offline")
def offline(recipe: str = typer.Option("training/offline_synthetic.yaml",
                                       help="Recipe YAML (kind: synthetic)."),
            out: str = typer.Option("runs/train-offline", help="Output folder."),
            no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar.")
            ) -> None:
    """The whole offline recipe: reward -> policy -> pairs -> DPO -> harness evaluation.

    Example (CPU, no network, from any folder):

      evalsuite train offline --recipe training/offline_synthetic.yaml --out runs/train-offline
    """
    _train("offline", recipe, Job(Path(out), not no_progress))
