"""`evalsuite train {reward,pairs,dpo,offline}`: judge SFT, judge-built preference pairs, DPO.

Recipes are YAML files under training/ (``kind`` picks the trainer): ``synthetic`` (the
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

train_app = typer.Typer(no_args_is_help=True, help="Train UnifiedReward-style judges and "
                        "DPO policies (see training/*.yaml).")


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")


KINDS = ("synthetic", "qwen-vl-sft", "vlm-dpo", "diffusion-dpo", "video-dpo")
# which verbs each kind drives
VERBS = {"reward": ("synthetic", "qwen-vl-sft"), "policy": ("synthetic",),
         "dpo": ("synthetic", "vlm-dpo", "diffusion-dpo", "video-dpo"),
         "offline": ("synthetic",)}


# The repository checkout that holds training/ (an editable install): recipes and their
# sample files are found from any working directory.
REPO = Path(__file__).resolve().parents[2]


def find(path: str, *bases: Path) -> Path:
    """``path`` as given (from the working directory), else under each base in turn."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    for base in (*bases, REPO):
        if (base / p).exists():
            return base / p
    return p


def _recipe(path: str, verb: str | None = None) -> dict:
    import yaml
    p = find(path)
    if not p.exists():
        _fail(f"no recipe at {path}")
    r = yaml.safe_load(p.read_text()) or {}
    r["_folder"] = p.parent
    if r.get("kind") not in KINDS:
        _fail(
            f"recipe kind {r.get('kind')!r} is not implemented; implemented: "
            + ", ".join(repr(k) for k in KINDS))
    if verb is not None and r["kind"] not in VERBS[verb]:
        _fail(f"`train {verb}` does not take a {r['kind']!r} recipe "
                                 f"(it takes kinds {', '.join(VERBS[verb])})")
    return r


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
    r = _recipe(recipe, "reward")
    _threads()
    if r["kind"] == "qwen-vl-sft":
        from evalsuite.training.reward_sft import train_reward_sft
        model = base or r["base"]
        _check_model(model, "--base")
        data = find(r["data"], r["_folder"])
        if not data.is_file():
            _fail(f"no judgment file at {r['data']} (the recipe's `data`)")
        settings = {**r.get("train", {}), **({"steps": steps} if steps else {})}
        path = train_reward_sft(model, data, Path(out), seed=int(r.get("seed", 0)),
                                progress=not no_progress, **settings)
        typer.echo(f"reward model: {path}  (evalsuite run --judge unifiedreward "
                   f"--model-path {path} ...)")
        return
    from evalsuite.training.synthetic import train_reward
    path = train_reward(Path(out), seed=int(r.get("seed", 0)), progress=not no_progress,
                        **r.get("reward", {}))
    typer.echo(f"reward model: {path}  (evalsuite run --judge tiny-clip-synthetic "
               f"--model-path {path} ...)")


@train_app.command("policy")
def policy(recipe: str = typer.Option(..., help="Recipe YAML (its `policy:` section)."),
           out: str = typer.Option("runs/train-policy", help="Output folder."),
           no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar.")
           ) -> None:
    """Pre-train the recipe's reference policy (synthetic recipe only).

    Example: evalsuite train policy --recipe training/offline_synthetic.yaml --out runs/policy
    """
    r = _recipe(recipe, "policy")
    _threads()
    from evalsuite.training.synthetic import train_policy
    typer.echo(str(train_policy(Path(out), seed=int(r.get("seed", 0)),
                                progress=not no_progress, **r.get("policy", {}))))


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
    r = _recipe(recipe, "dpo")
    _threads()
    pairs_dir = str(find(pairs_dir))
    if r["kind"] != "synthetic":
        _check_model(policy, "--policy")
    if r["kind"] in ("diffusion-dpo", "video-dpo"):
        import json

        from evalsuite.training.diffusers_dpo import train_diffusers_dpo
        try:
            res = train_diffusers_dpo(policy, Path(pairs_dir), Path(out),
                                      video=r["kind"] == "video-dpo",
                                      seed=int(r.get("seed", 0)), progress=not no_progress,
                                      **r.get("dpo", {}))
        except (ValueError, FileNotFoundError) as e:
            _fail(str(e))
        if res["pairs_skipped"]:
            typer.echo(f"skipped {res['pairs_skipped']} pair(s) with missing or undecodable "
                       f"media (reasons: {Path(out) / 'skipped.jsonl'})", err=True)
        bench = "vbench" if r["kind"] == "video-dpo" else "t2i-compbench"
        typer.echo(json.dumps(res))
        typer.echo(f"pipeline: {res['pipeline']}  (evalsuite eval-policy --policy "
                   f"{res['pipeline']} --bench {bench} ...)")
        return
    if r["kind"] == "vlm-dpo":
        from evalsuite.training.vlm_dpo import train_vlm_dpo
        typer.echo(str(train_vlm_dpo(policy, Path(pairs_dir), Path(out),
                                     seed=int(r.get("seed", 0)), progress=not no_progress,
                                     **r.get("dpo", {}))))
        return
    from evalsuite.training.synthetic import train_dpo
    typer.echo(str(train_dpo(Path(policy), Path(pairs_dir), Path(out),
                             seed=int(r.get("seed", 0)), progress=not no_progress,
                             **r.get("dpo", {}))))


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
    import json
    r = _recipe(recipe, "offline")
    _threads()
    from evalsuite.training.synthetic import run_offline
    typer.echo(json.dumps(run_offline(r, Path(out), progress=not no_progress), indent=2))
