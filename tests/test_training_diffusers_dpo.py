"""Diffusion-DPO / video DPO of diffusers pipelines (recipe kinds diffusion-dpo, video-dpo) and
`train pairs` with a diffusers policy, on the tiny random-weight fixtures (CPU, seconds)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _tolerance import f32_atol, fan_ins

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

RECIPES = Path(__file__).resolve().parents[1] / "training"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread for these tiny models: threading only adds overhead at this size,
    and oversubscribes a shared 2-core machine badly. The CLI's env_threads() respects
    OMP_NUM_THREADS. Both are restored after this module."""
    import os
    before, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
    if env is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = env


def _cli(args):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    return CliRunner().invoke(app, args)


def _recipe(tmp_path: Path, name: str, **dpo) -> Path:
    """A copy of a shipped tiny recipe with some dpo: values changed."""
    import yaml
    r = yaml.safe_load((RECIPES / name).read_text())
    r["dpo"].update(dpo)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(r))
    return p


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(str(next(Path(folder).glob("*.safetensors"))))


def _steps(out: Path) -> list[dict]:
    from evalsuite.training.loop import read_metrics
    return [r for r in read_metrics(out) if "step" in r]


class Brightness:
    """A pointwise video judge: mean pixel value of the decoded clip (deterministic)."""

    name = "brightness"
    pointwise, pairwise = True, False
    modalities = frozenset({"video"})

    def score(self, items):
        from evalsuite.media import load_video
        from evalsuite.types import FrameSpec, Score
        return [Score(value=float(load_video(it.candidate.media, FrameSpec()).mean()),
                      raw="mean pixel") for it in items]


# --- train pairs with a diffusers t2i policy ----------------------------------------------

@pytest.fixture(scope="module")
def t2i_pairs(fx, tmp_path_factory):
    root = tmp_path_factory.mktemp("t2i-pairs")
    (root / "prompts.txt").write_text("a red square\n\na blue circle\n")
    res = _cli(["train", "pairs", "--policy", str(fx("policy-t2i")), "--judge", "pickscore",
                "--model-path", str(fx("pickscore")), "--prompts", str(root / "prompts.txt"),
                "--n", "4", "--out", str(root / "pairs"), "-o", "num_inference_steps=2",
                "-B", "3", "--no-progress"])
    assert res.exit_code == 0, res.output
    return root / "pairs", json.loads(res.output.strip().splitlines()[-1])


def test_train_pairs_diffusers_t2i_writes_audited_pairs(t2i_pairs, fx):
    import numpy as np
    from PIL import Image

    from evalsuite.policies.base import GenItem, GenUnit, sample_seed
    from evalsuite.policies.diffusion import DiffusersTextToImage
    from evalsuite.training.pairs import read_pairs
    out, stats = t2i_pairs
    assert stats["prompts"] == 2 and stats["samples"] == 8
    rows = read_pairs(out)
    dropped = read_pairs(out / "dropped.jsonl")
    assert len(rows) + len(dropped) == 2 and len(rows) == stats["pairs"] >= 1
    for row in rows:
        pi = ["a red square", "a blue circle"].index(row["prompt"])
        a = row["audit"]
        assert len(a["pair_ranking"]) == 2 and all(r["status"] == "parsed"
                                                   for r in a["pair_ranking"])
        assert len(a["point_sifting"]) == 4 and a["policy"]["plugin"] == "sd-t2i"
        seeds = {s["index"]: s["seed"] for s in a["samples"]}
        assert seeds == {k: sample_seed(0, f"p{pi:04d}", k) for k in range(4)}
        paths = {s["index"]: s["path"] for s in a["samples"]}
        # point sifting: best-scored chosen vs worst-scored rejected, scores as numbers
        ch = [r for r in a["point_sifting"] if r["list"] == "chosen"]
        rj = [r for r in a["point_sifting"] if r["list"] == "rejected"]
        best, worst = max(ch, key=lambda r: r["value"]), min(rj, key=lambda r: r["value"])
        assert row["chosen"] == paths[best["index"]] and row["rejected"] == paths[worst["index"]]
        assert row["chosen_score"] == best["value"] > row["rejected_score"] == worst["value"]
        for p in (row["chosen"], row["rejected"]):
            with Image.open(p) as im:
                assert im.size == (32, 32) and im.format == "PNG"
    # each sample is reproducible from its recorded seed with the eval-policy plugin
    row = rows[0]
    k = next(s["index"] for s in row["audit"]["samples"] if s["path"] == row["chosen"])
    pol = DiffusersTextToImage(model_path=str(fx("policy-t2i")), device="cpu",
                               num_inference_steps=2)
    pol.load()
    pi = ["a red square", "a blue circle"].index(row["prompt"])
    unit = GenUnit(GenItem(f"p{pi:04d}", row["prompt"]), k, sample_seed(0, f"p{pi:04d}", k))
    again = np.asarray(pol.generate_batch([unit])[0], dtype=int)
    with Image.open(row["chosen"]) as im:
        assert np.abs(again - np.asarray(im, dtype=int)).max() <= 1


def test_train_pairs_refuses_a_folder_that_is_no_policy(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{}")
    (tmp_path / "p.txt").write_text("a cat\n")
    res = _cli(["train", "pairs", "--policy", str(tmp_path / "junk"), "--judge", "pickscore",
                "--prompts", str(tmp_path / "p.txt"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "model_index.json" in res.output


# --- Diffusion-DPO of the tiny Stable Diffusion pipeline ------------------------------------

def test_one_step_frozen_reference_and_log2_at_start(t2i_pairs, fx):
    from diffusers import DDPMScheduler

    from evalsuite.training.diffusers_dpo import prepare
    pairs, _ = t2i_pairs
    run = prepare(str(fx("policy-t2i")), pairs, batch=1, lr=1e-3, progress=False)
    snap = {name: {k: v.clone() for k, v in m.state_dict().items()}
            for name, m in (("ref", run.ref), ("unet", run.model), ("vae", run.pipe.vae),
                            ("text", run.pipe.text_encoder))}
    assert run.ref is not run.model
    assert not any(p.requires_grad for p in run.ref.parameters())
    assert not any(p.requires_grad for m in (run.pipe.vae, run.pipe.text_encoder)
                   for p in m.parameters())
    # training noise: DDPM with the pipeline scheduler's (DDIM's) schedule
    assert isinstance(run.scheduler, DDPMScheduler)
    assert torch.equal(run.scheduler.alphas_cumprod, run.pipe.scheduler.alphas_cumprod)
    m0 = run.step_fn(0)
    assert m0["loss"] == pytest.approx(math.log(2), abs=1e-6)  # policy == reference
    assert m0["model_err"] == m0["ref_err"]
    for name, m in (("ref", run.ref), ("vae", run.pipe.vae), ("text", run.pipe.text_encoder)):
        assert all(torch.equal(v, snap[name][k]) for k, v in m.state_dict().items()), name
    changed = [k for k, v in run.model.state_dict().items()
               if not torch.equal(v, snap["unet"][k])]
    assert len(changed) > len(snap["unet"]) // 2
    m1 = run.step_fn(1)  # the policy has moved away from the reference
    assert m1["model_err"] != m1["ref_err"] and m1["loss"] != pytest.approx(math.log(2))


def test_noise_scheduler_follows_prediction_type(fx):
    from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler

    from evalsuite.training.diffusers_dpo import noise_scheduler

    class P:  # only .scheduler is read
        scheduler = DDIMScheduler.from_pretrained(fx("policy-t2i") / "scheduler",
                                                  prediction_type="v_prediction")
    assert noise_scheduler(P).config.prediction_type == "v_prediction"
    assert noise_scheduler(P, "epsilon").config.prediction_type == "epsilon"
    P.scheduler = FlowMatchEulerDiscreteScheduler()
    with pytest.raises(ValueError, match="flow-matching"):
        noise_scheduler(P)


def test_lora_trains_adapters_only_and_is_fused_into_the_saved_pipeline(t2i_pairs, fx,
                                                                        tmp_path):
    from diffusers import UNet2DConditionModel

    from evalsuite.training.diffusers_dpo import prepare, save_pipeline
    run = prepare(str(fx("policy-t2i")), t2i_pairs[0], batch=1, lr=1e-2, lora=True, lora_r=4,
                  progress=False)
    base = {k: v.clone() for k, v in run.model.state_dict().items() if "lora_" not in k}
    assert len(base) < len(run.model.state_dict())  # adapters were added
    assert run.step_fn(0)["loss"] == pytest.approx(math.log(2), abs=1e-6)  # B = 0 at start
    m = run.step_fn(1)
    assert m["model_err"] != m["ref_err"]
    assert all(torch.equal(v, base[k]) for k, v in run.model.state_dict().items() if k in base)
    out = save_pipeline(run, tmp_path / "pipe", quiet=True)
    fused = UNet2DConditionModel.from_pretrained(out / "unet").eval()
    orig = UNet2DConditionModel.from_pretrained(fx("policy-t2i") / "unet").eval()
    assert fused.state_dict().keys() == orig.state_dict().keys()  # plain UNet, LoRA fused
    g = torch.Generator().manual_seed(0)
    x, c = torch.randn(1, 4, 16, 16, generator=g), torch.randn(1, 77, 32, generator=g)
    t = torch.tensor([500])
    run.model.eval()
    with torch.no_grad():
        trained = run.model(x, t, encoder_hidden_states=c).sample
        reference = run.ref(x, t, encoder_hidden_states=c).sample  # adapters off
        # W x + B(A x) vs (W + BA) x: float32 rounding along the UNet (tests/_tolerance.py)
        tol = f32_atol(float(trained.abs().max()), *fan_ins(orig))
        assert torch.allclose(fused(x, t, encoder_hidden_states=c).sample, trained, rtol=0,
                              atol=tol)
        assert torch.allclose(orig(x, t, encoder_hidden_states=c).sample, reference, rtol=0,
                              atol=tol)
        assert (trained - reference).abs().max() > tol  # training moved it beyond rounding


@pytest.fixture(scope="module")
def dpo_full(t2i_pairs, fx, tmp_path_factory):
    """An uninterrupted 4-step run through the CLI."""
    root = tmp_path_factory.mktemp("dpo-full")
    recipe = _recipe(root, "diffusion_dpo_tiny.yaml", steps=4, save_every=2, batch=1)
    res = _cli(["train", "dpo", "--recipe", str(recipe), "--policy", str(fx("policy-t2i")),
                "--pairs", str(t2i_pairs[0]), "--out", str(root / "out"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "pipeline:" in res.output
    return root / "out", recipe


def test_killed_run_resumes_to_the_same_weights(dpo_full, t2i_pairs, fx, tmp_path):
    import yaml

    from evalsuite.training.diffusers_dpo import train_diffusers_dpo
    from evalsuite.training.loop import Stopped, last_checkpoint, read_metrics
    full, recipe = dpo_full
    cut = tmp_path / "cut"
    kw = yaml.safe_load(recipe.read_text())["dpo"]
    with pytest.raises(Stopped):  # "killed" after 3 steps; checkpoints every 2
        train_diffusers_dpo(str(fx("policy-t2i")), t2i_pairs[0], cut, progress=False,
                            stop_after=3, **kw)
    assert last_checkpoint(cut).name == "checkpoint-2" and not (cut / "pipeline").exists()
    res = _cli(["train", "dpo", "--recipe", str(recipe), "--policy", str(fx("policy-t2i")),
                "--pairs", str(t2i_pairs[0]), "--out", str(cut), "--no-progress"])
    assert res.exit_code == 0, res.output
    rows = read_metrics(cut)
    ev = rows.index({"event": "resume", "from_step": 2, "checkpoint": "checkpoint-2"})
    assert [r["step"] for r in rows[ev + 1:]] == [3, 4]  # continued, not restarted
    want = {r["step"]: r for r in _steps(full)}
    for r in rows:
        if "step" in r:
            assert r == want[r["step"]]  # same losses/errors/grad norms step by step
    a, b = _weights(full / "pipeline" / "unet"), _weights(cut / "pipeline" / "unet")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    base = _weights(fx("policy-t2i") / "unet")
    assert any(not torch.equal(a[k], base[k]) for k in a)  # and training did change them
    cfg = json.loads((full / "config.json").read_text())
    assert cfg["kind"] == "diffusion-dpo" and cfg["beta"] == 5000 and cfg["pairs_skipped"] == 0


def test_output_pipeline_loads_with_the_eval_policy_loader_and_generates(dpo_full, fx):
    """What `evalsuite eval-policy --policy <out>/pipeline` does: the folder's kind, then the
    registered plugin with --model-path; the trained weights are the ones generating."""
    import numpy as np

    from evalsuite.policies.base import GenItem, GenUnit
    from evalsuite.policies.diffusion import policy_for_path
    from evalsuite.registry import POLICIES
    full, _ = dpo_full
    pipe_dir = str(full / "pipeline")
    name = policy_for_path(pipe_dir)
    assert name == "sd-t2i"
    unit = GenUnit(GenItem("x", "a red square"), 0, 7)
    imgs = []
    for src in (pipe_dir, str(fx("policy-t2i"))):
        pol = POLICIES.create(name, model_path=src, device="cpu", num_inference_steps=2)
        pol.load()
        img = pol.generate_batch([unit])[0]
        assert img.size == (32, 32)
        imgs.append(np.asarray(img, dtype=int))
    assert np.abs(imgs[0] - imgs[1]).max() > 0  # same seed, other (trained) weights
    assert json.loads((full / "pipeline" / "evalsuite_dpo.json").read_text())["kind"] == \
        "diffusion-dpo"


def test_bad_inputs_are_refused_or_counted(t2i_pairs, fx, tmp_path):
    recipe = _recipe(tmp_path, "diffusion_dpo_tiny.yaml", steps=1)
    args = ["train", "dpo", "--recipe", str(recipe), "--no-progress", "--out",
            str(tmp_path / "o")]
    res = _cli([*args, "--policy", str(fx("policy-t2i")), "--pairs", str(tmp_path)])
    assert res.exit_code == 2 and "no pairs file" in res.output
    res = _cli([*args, "--policy", str(tmp_path), "--pairs", str(t2i_pairs[0])])
    assert res.exit_code == 2 and "not a diffusers pipeline" in res.output
    res = _cli([*args, "--policy", str(fx("policy-t2v")), "--pairs", str(t2i_pairs[0])])
    assert res.exit_code == 2 and "not a text-to-image" in res.output
    (tmp_path / "bad").mkdir()
    bad = _recipe(tmp_path / "bad", "diffusion_dpo_tiny.yaml", stepz=3)
    res = _cli([*args[:2], "--recipe", str(bad), *args[4:], "--policy", str(fx("policy-t2i")),
                "--pairs", str(t2i_pairs[0])])
    assert res.exit_code == 2 and "stepz" in res.output
    # all media missing: nothing silently trained on
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "pairs.jsonl").write_text(json.dumps(
        {"prompt": "a cat", "chosen": "nope.png", "rejected": "nope2.png"}) + "\n")
    res = _cli([*args, "--policy", str(fx("policy-t2i")), "--pairs", str(tmp_path / "gone")])
    assert res.exit_code == 2 and "no usable pairs" in res.output and "1 skipped" in res.output


# --- video DPO on the tiny text-to-video pipeline -----------------------------------------

def test_video_latents_are_per_frame_in_bcfhw(fx):
    from diffusers import AutoencoderKL

    from evalsuite.training.diffusers_dpo import vae_encode, vae_encode_video
    vae = AutoencoderKL.from_pretrained(fx("policy-t2v") / "vae")
    frames = torch.rand(2, 3, 3, 32, 32) * 2 - 1  # (B, F, 3, H, W)
    with torch.no_grad():
        z = vae_encode_video(vae, frames, mode=True)
        assert z.shape == (2, 4, 3, 16, 16)  # (B, C, F, h, w): UNet3DConditionModel's input
        for f in range(3):
            assert torch.allclose(z[:, :, f], vae_encode(vae, frames[:, f], mode=True),
                                  rtol=0, atol=f32_atol(float(z.abs().max()),
                                                        *fan_ins(vae.encoder)))


def test_video_dpo_pairs_train_and_reload(fx, tmp_path):
    import numpy as np

    from evalsuite.policies.base import GenItem, GenUnit
    from evalsuite.policies.diffusion import DiffusersTextToVideo, policy_for_path
    from evalsuite.training.pairs import read_pairs
    from evalsuite.training.pairs_diffusers import build_diffusers_pairs
    opts = {"num_inference_steps": 1, "num_frames": 2, "guidance_scale": 1.0}
    stats = build_diffusers_pairs(str(fx("policy-t2v")), Brightness(), ["a red car", "a cat"],
                                  tmp_path / "pairs", n=2, options=opts, progress=False)
    assert stats == {"prompts": 2, "pairs": 2, "dropped": 0, "samples": 4}
    rows = read_pairs(tmp_path / "pairs")
    assert all(r["chosen"].endswith(".mp4") and r["chosen_score"] > r["rejected_score"]
               for r in rows)
    # one more pair whose loser is missing: skipped and counted, not silently dropped
    with open(tmp_path / "pairs" / "pairs.jsonl", "a") as f:
        f.write(json.dumps({"prompt": "a dog", "chosen": rows[0]["chosen"],
                            "rejected": "media/missing.mp4"}) + "\n")
    recipe = _recipe(tmp_path, "video_dpo_tiny.yaml", steps=2, batch=1, num_frames=2,
                     save_every=1)
    out = tmp_path / "out"
    res = _cli(["train", "dpo", "--recipe", str(recipe), "--policy", str(fx("policy-t2v")),
                "--pairs", str(tmp_path / "pairs"), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "skipped 1 pair" in res.output
    skipped = [json.loads(x) for x in (out / "skipped.jsonl").read_text().splitlines()]
    assert len(skipped) == 1 and "missing" in skipped[0]["reason"]
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["kind"], cfg["pairs_used"], cfg["pairs_skipped"], cfg["num_frames"]) == \
        ("video-dpo", 2, 1, 2)
    steps = _steps(out)
    assert [r["step"] for r in steps] == [1, 2]
    assert steps[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)  # dropout off: == ref
    a, base = _weights(out / "pipeline" / "unet"), _weights(fx("policy-t2v") / "unet")
    assert any(not torch.equal(a[k], base[k]) for k in a)
    # the saved pipeline is an eval-policy text-to-video policy and generates
    assert policy_for_path(str(out / "pipeline")) == "diffusers-t2v"
    pol = DiffusersTextToVideo(model_path=str(out / "pipeline"), device="cpu", **opts)
    pol.load()
    clip = pol.generate_batch([GenUnit(GenItem("x", "a red car"), 0, 1)])[0]
    assert clip.shape == (2, 32, 32, 3) and clip.dtype == np.uint8
