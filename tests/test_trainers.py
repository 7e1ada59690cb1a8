"""Trainer kinds are plugins: `evalsuite train` finds a recipe's `kind` in the TRAINERS
registry and runs the verb through the trainer's common interface.

Oracles: the recipes shipped in training/ (every kind they name is registered), the verb
lists written out by hand, and an outside trainer registered here whose outputs are fixed
strings. The trainers' real training runs are covered in tests/test_training*.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from typer.testing import CliRunner

from evalsuite.cli import app
from evalsuite.registry import TRAINERS, Registry
from evalsuite.training.trainer import VERBS, Job, Outcome, Recipe, Trainer, TrainError

ROOT = Path(__file__).resolve().parents[1]


def _train(*args: str):
    return CliRunner().invoke(app, ["train", *args])


def _error_line(r) -> str:
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


def test_every_shipped_recipe_kind_is_registered():
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in (ROOT / "training").glob("*.yaml")}
    assert kinds == {"synthetic", "qwen-vl-sft", "vlm-dpo", "diffusion-dpo", "video-dpo"}
    assert kinds <= set(TRAINERS.names())


@pytest.mark.parametrize("kind", TRAINERS.names())
def test_each_trainer_answers_the_verbs_it_lists(kind):
    cls = TRAINERS.entry(kind).load()
    assert issubclass(cls, Trainer) and cls.verbs and set(cls.verbs) <= set(VERBS)
    for verb in cls.verbs:
        assert callable(getattr(cls, verb, None)), f"{kind} lists {verb} without a method"


def test_verbs_per_kind():
    takes = {k: set(TRAINERS.entry(k).load().verbs) for k in TRAINERS.names()}
    assert takes == {"synthetic": {"reward", "policy", "dpo", "offline"},
                     "qwen-vl-sft": {"reward"}, "vlm-dpo": {"dpo"},
                     "diffusion-dpo": {"dpo"}, "video-dpo": {"dpo"}}
    assert TRAINERS.create("video-dpo").video is True
    assert TRAINERS.create("diffusion-dpo").video is False


def test_unknown_kind_is_the_registry_error_with_close_matches(tmp_path):
    (tmp_path / "r.yaml").write_text("kind: vlm-dp\n")
    line = _error_line(_train("dpo", "--recipe", str(tmp_path / "r.yaml"), "--policy", "p",
                              "--pairs", "q"))
    assert "unknown trainer kind 'vlm-dp'" in line and "Did you mean: vlm-dpo" in line


def test_missing_kind(tmp_path):
    (tmp_path / "r.yaml").write_text("seed: 1\n")
    line = _error_line(_train("reward", "--recipe", str(tmp_path / "r.yaml")))
    assert "names no `kind`" in line and "qwen-vl-sft" in line


@pytest.mark.parametrize("verb,recipe,takes", [
    ("reward", "training/vlm_dpo_tiny.yaml", "qwen-vl-sft, synthetic"),
    ("policy", "training/diffusion_dpo_tiny.yaml", "synthetic"),
    ("offline", "training/unifiedreward_qwen_sft.yaml", "synthetic"),
])
def test_a_verb_the_kind_does_not_answer(verb, recipe, takes):
    line = _error_line(_train(verb, "--recipe", recipe))
    assert f"does not take a {yaml.safe_load((ROOT / recipe).read_text())['kind']!r}" in line
    assert f"(it takes kinds {takes})" in line


def test_preflight_of_the_policy_is_one_line(tmp_path):
    line = _error_line(_train("dpo", "--recipe", "training/diffusion_dpo_tiny.yaml",
                              "--policy", str(tmp_path / "absent"), "--pairs", str(tmp_path)))
    assert "--policy" in line and "absent" in line


class EchoTrainer(Trainer):
    """An outside trainer kind: writes what it was given, refuses steps=13."""
    kind: ClassVar[str] = "echo"
    verbs: ClassVar[tuple[str, ...]] = ("reward", "dpo")
    requires: ClassVar[tuple[str, ...]] = ()

    def reward(self, recipe: Recipe, job: Job) -> Outcome:
        if job.steps == 13:
            raise TrainError("13 steps are not allowed")
        return Outcome([f"reward {recipe.kind} seed={recipe.seed} lr={recipe.section('train')}"
                        f" steps={job.steps} out={job.out.name} {self.preset}"],
                       notes=["a note"])

    def dpo(self, recipe: Recipe, job: Job) -> Outcome:
        return Outcome([f"dpo policy={job.policy} pairs={job.pairs.name}"])


@pytest.fixture
def echo(monkeypatch, tmp_path):
    reg = Registry("trainer kind", "evalsuite.trainers.none")
    reg.register("echo", "tests.test_trainers:EchoTrainer", flavour="plain")
    monkeypatch.setattr("evalsuite.registry.TRAINERS", reg)
    recipe = tmp_path / "echo.yaml"
    recipe.write_text("kind: echo\nseed: 7\ntrain: {lr: 0.5}\n")
    return recipe


def test_a_registered_kind_runs_through_the_cli(echo, tmp_path):
    r = CliRunner().invoke(app, ["train", "reward", "--recipe", str(echo), "--steps", "3",
                                 "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "reward echo seed=7 lr={'lr': 0.5} steps=3 out=o {'flavour': 'plain'}"]
    assert r.stderr.splitlines() == ["a note"]
    (tmp_path / "pp").mkdir()
    r = _train("dpo", "--recipe", str(echo), "--policy", "P", "--pairs", str(tmp_path / "pp"))
    assert r.exit_code == 0 and r.stdout.splitlines() == ["dpo policy=P pairs=pp"], r.output
    line = _error_line(_train("offline", "--recipe", str(echo)))
    assert "does not take a 'echo' recipe (no kind answers it)" in line


def test_a_trainer_error_is_one_line_exit_2(echo):
    assert "13 steps are not allowed" in _error_line(
        _train("reward", "--recipe", str(echo), "--steps", "13"))


def test_listed(echo):
    r = CliRunner().invoke(app, ["list", "trainers"])
    assert r.exit_code == 0 and "echo" in r.output, r.output
