"""The command line: preflight (checked before any model loads), option hygiene, the error
gate, help and tables. Each rejection is asserted by exit code 2, the one-line message, and
the absence of a run directory (nothing started)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from pathlib import Path

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from evalsuite.cli import app
from evalsuite.judges.base import Judge
from evalsuite.registry import JUDGES, Entry
from evalsuite.types import Score

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line(text: str) -> str:
    return " ".join(text.split())


# --- help ---------------------------------------------------------------------------------

def _commands(cmd: click.Command, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_version_matches_the_package_metadata():
    import importlib.metadata
    want = importlib.metadata.version("evalsuite")  # the installed distribution's
    r = cli("--version")
    assert r.exit_code == 0 and r.output.strip() == f"evalsuite {want}"


def test_every_verb_has_help_with_an_example_and_flags_show_no_type():
    seen = []
    for path, cmd in _commands(get_command(app)):
        r = cli(*path, "--help")
        assert r.exit_code == 0, (path, r.output)
        assert "<bool>" not in r.output, path  # a flag takes no value
        if not getattr(cmd, "commands", None):  # a verb, not a group
            assert "evalsuite " in cmd.help and "xample" in cmd.help, path
            seen.append(path)
    assert ("run",) in seen and ("train", "offline") in seen and ("demo",) in seen


# --- options rejected before anything runs -------------------------------------------------

@pytest.fixture(scope="module")
def data(fx):
    return {"bench": fx("genai-bench"), "model": fx("pickscore")}


REJECTED = [
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-3"], "--batch-size"),
    (["--limit", "0"], "--limit"),
    (["--workers", "-1"], "--workers"),
    (["--max-error-rate", "2"], "--max-error-rate"),
    (["--dtype", "fp16"], "'fp16' is not one of"),
    (["--device", "gpu"], "is not cpu, cuda"),
    (["--mode", "both"], "--mode"),
    (["-o", "procesor_path=x"], "unknown --option procesor_path for pickscore (did you mean "
                                "processor_path?)"),
    (["--bench-option", "mediaroot=x"], "unknown --bench-option mediaroot for genai-bench"),
    (["--both-orders"], "--both-orders needs a pairwise judge"),
    (["--mode", "pairwise"], "pickscore has no pairwise mode"),
    (["--base-url", "http://127.0.0.1:1/v1"], "--base-url needs --backend openai"),
    (["--backend", "openai", "--base-url", "http://127.0.0.1:1/v1"],
     "--backend openai needs a generative judge"),
    (["--split", "train"], "--split train: genai-bench has splits"),
]


@pytest.mark.parametrize("extra,message", REJECTED, ids=[" ".join(a) for a, _ in REJECTED])
def test_bad_options_are_rejected_before_a_run_starts(data, tmp_path, extra, message):
    r = cli("run", "--judge", "pickscore", "--bench", "genai-bench", "--data-path",
            data["bench"], "--model-path", data["model"], "--out", tmp_path, *extra)
    assert r.exit_code == 2, r.output
    assert message in one_line(r.output)
    assert not any(tmp_path.iterdir())  # no run directory: nothing started


@pytest.mark.parametrize("judge,bench,message", [
    ("pickscore", "genai-bench-video", "pickscore reads image, but genai-bench-video is a "
                                       "video benchmark"),
    ("videoscore", "genai-bench", "videoscore reads video, but genai-bench is a image"),
    ("pickscore", "vlrewardbench", "but vlrewardbench is a understanding benchmark"),
    ("pickscore", "mmbench", "mmbench is a policy benchmark"),
])
def test_judge_benchmark_pairs_that_cannot_work_fail_before_loading(judge, bench, message,
                                                                    tmp_path):
    # No --model-path: were the judge loaded, the offline hub would fail instead.
    r = cli("run", "--judge", judge, "--bench", bench, "--data-path", tmp_path, "--out",
            tmp_path / "runs")
    assert r.exit_code == 2 and message in one_line(r.output), r.output
    assert not (tmp_path / "runs").exists()


def test_eval_policy_rejects_unknown_options_and_wrong_pairs(fx, tmp_path):
    base = ["eval-policy", "--policy", "qwen2.5-vl", "--model-path", fx("unifiedreward-qwen"),
            "--bench", "mmbench", "--data-path", fx("mmbench"), "--out", tmp_path]
    r = cli(*base, "-o", "max_tokens=4")
    assert r.exit_code == 2 and "unknown --option max_tokens for qwen2.5-vl (did you mean " \
        "max_new_tokens?)" in one_line(r.output)
    r = cli(*base, "--bench-option", "num_frames=4")
    assert r.exit_code == 2 and "unknown --bench-option num_frames for mmbench" in \
        one_line(r.output)
    r = cli(*base[:5], "--bench", "genai-bench", "--out", tmp_path)
    assert r.exit_code == 2 and "genai-bench is a preference benchmark" in one_line(r.output)
    assert not any(tmp_path.iterdir())


# --- sources: hub, local paths, endpoints ----------------------------------------------------

def test_offline_hub_names_the_local_option(data, tmp_path, monkeypatch):
    import huggingface_hub.constants as C
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    r = cli("run", "--judge", "pickscore", "--bench", "genai-bench", "--data-path",
            data["bench"], "--out", tmp_path / "runs")
    out = one_line(r.output)
    assert r.exit_code == 2 and "model yuvalkirstain/PickScore_v1@" in out
    assert "HF_HUB_OFFLINE is set; pass --model-path" in out
    r = cli("run", "--judge", "pickscore", "--bench", "genai-bench", "--model-path",
            data["model"], "--out", tmp_path / "runs")
    assert r.exit_code == 2 and "dataset TIGER-Lab/GenAI-Bench" in one_line(r.output)
    assert "pass --data-path" in one_line(r.output)
    assert not (tmp_path / "runs").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed when the block ends: nothing listens there


def test_unreachable_hub_is_one_line(data, tmp_path, monkeypatch):
    import huggingface_hub.constants as C
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(C, "ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    r = cli("run", "--judge", "pickscore", "--bench", "genai-bench", "--data-path",
            data["bench"], "--out", tmp_path / "runs")
    assert r.exit_code == 2, r.output
    assert "cannot reach the hub for model yuvalkirstain/PickScore_v1" in one_line(r.output)
    assert "pass --model-path" in one_line(r.output)


def test_missing_local_paths(data, tmp_path):
    r = cli("run", "--judge", "pickscore", "--bench", "genai-bench", "--data-path",
            tmp_path / "nope", "--model-path", data["model"], "--out", tmp_path)
    assert r.exit_code == 2 and "--data-path" in r.output and "does not exist" in r.output


def test_dead_endpoint_fails_before_any_item(data, tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    r = cli("run", "--judge", "openai", "--model", "m", "--base-url", url, "--bench",
            "genai-bench", "--data-path", data["bench"], "--out", tmp_path)
    assert r.exit_code == 2 and f"no OpenAI-compatible server answers at {url}" in \
        one_line(r.output)
    assert not any(tmp_path.iterdir())
    r = cli("run", "--judge", "openai", "--base-url", url, "--bench", "genai-bench",
            "--data-path", data["bench"], "--out", tmp_path)
    assert r.exit_code == 2 and "needs --model" in r.output


def test_any_http_answer_means_the_endpoint_is_up():
    from evalsuite.commands.preflight import check_endpoint

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(404)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        check_endpoint(f"http://127.0.0.1:{srv.server_address[1]}/v1")  # no exception
    finally:
        srv.shutdown()


def test_scorer_weights_are_checked_before_generation(fx, tmp_path):
    args = ["eval-policy", "--policy", fx("policy-t2i"), "--bench", "t2i-compbench",
            "--data-path", ROOT.parent / "shared" / "data" / "t2i-compbench",
            "--bench-option", "categories=non_spatial", "--out", tmp_path / "runs"]
    r = cli(*args, "--bench-option", f"scorer_path={tmp_path / 'none'}")
    assert r.exit_code == 2 and f"--bench-option scorer_path= {tmp_path / 'none'} does not " \
        "exist" in one_line(r.output), r.output
    r = cli(*args, "--bench-option", f"clip_model={tmp_path / 'clip'}")
    assert r.exit_code == 2 and f"--bench-option clip_model= {tmp_path / 'clip'} does not " \
        "exist" in one_line(r.output), r.output
    assert not (tmp_path / "runs").exists()


# --- the error gate ---------------------------------------------------------------------------

@pytest.mark.parametrize("message,data_error", [
    ("bad row: unknown vote_type 'skipvote'", True),
    ("MediaError: missing file: /x.png", True),
    ("A: MediaError: unreadable image <72 bytes>: Truncated File Read", True),
    ("A: MediaError: a; b (x.mp4); B: MediaError: missing file: y", True),  # '; ' inside
    ("A: MediaError: missing file: x; B: RuntimeError: CUDA out of memory", False),
    ("RuntimeError: boom", False),
    ("EndpointError: HTTP 500", False),
    ("not judged (run incomplete)", False),
])
def test_data_errors_are_told_from_judge_errors(message, data_error):
    from evalsuite.commands.common import is_data_error
    assert is_data_error(message) is data_error


class FailsSome(Judge):
    """Scores every candidate 1.0, except one in ``fail_every`` (by a hash of its id): those
    raise, as a model error would (the runner retries the batch one by one)."""

    name = "fails-some"
    pointwise = True
    option_help = {"fail_every": "raise on the items whose id hash is divisible by this"}

    def prepare_point(self, item):
        return item

    def score_batch(self, prepared):
        n = int(self.options.get("fail_every", 0))
        if n and any(int(p.item_id[-4:], 16) % n == 0 for p in prepared):
            raise RuntimeError("model error")
        return [Score(1.0) for _ in prepared]


@pytest.fixture
def failing_judge(monkeypatch):
    monkeypatch.setitem(JUDGES._entries, "fails-some", Entry("fails-some",
                                                             f"{__name__}:FailsSome"))


def test_judge_errors_trip_the_gate_data_errors_do_not(data, tmp_path, failing_judge):
    args = ["run", "--judge", "fails-some", "--bench", "genai-bench", "--data-path",
            data["bench"], "--model-path", data["model"], "--no-progress"]
    r = cli(*args, "--out", tmp_path / "all", "-o", "fail_every=1")
    assert r.exit_code == 1 and "no item could be judged" in one_line(r.output), r.output
    r = cli(*args, "--out", tmp_path / "some", "-o", "fail_every=3")
    from evalsuite.commands.common import is_data_error
    samples = [json.loads(x) for x in next((tmp_path / "some").glob("*/samples.jsonl")).open()]
    errors = [s["error"] for s in samples if s["error"]]
    judge_errors = sum(not is_data_error(e) for e in errors)
    data_errors = len(errors) - judge_errors
    assert data_errors >= 1 and judge_errors / len(samples) > 0.05  # by the id hashes
    assert r.exit_code == 1, r.output
    assert f"judge errors {judge_errors}/{len(samples)} exceed" in one_line(r.output)
    r = cli(*args, "--out", tmp_path / "some", "-o", "fail_every=3", "--max-error-rate", "1")
    assert r.exit_code == 0 and f"{data_errors} item(s) have unusable data" in \
        one_line(r.output)


# --- fixture judges, identity, tables, logs ------------------------------------------------

def test_generative_fixture_judges_cap_new_tokens(tmp_path):
    from evalsuite.commands.common import FIXTURE_MAX_NEW_TOKENS, fixture_token_cap
    (tmp_path / ".evalsuite-fixture.json").write_text("{}")
    opts: dict = {}
    note = fixture_token_cap("unifiedreward", str(tmp_path), opts)
    assert opts == {"max_new_tokens": FIXTURE_MAX_NEW_TOKENS} and "random-weight" in note
    opts = {"max_new_tokens": 64}
    assert fixture_token_cap("unifiedreward", str(tmp_path), opts) is None and \
        opts == {"max_new_tokens": 64}  # an explicit value wins
    assert fixture_token_cap("pickscore", str(tmp_path), {}) is None  # not generative
    assert fixture_token_cap("unifiedreward", str(tmp_path / "x"), {}) is None  # no stamp


def test_scorer_path_is_not_part_of_the_run_identity(fx, tmp_path):
    """A T2I-CompBench run resumes its images when given another copy of the scorers."""
    import shutil

    scorers = fx("t2i-compbench-scorers")
    copy = tmp_path / "scorers-copy"
    shutil.copytree(scorers, copy)
    args = ["eval-policy", "--no-progress", "--policy", fx("policy-t2i"), "--bench",
            "t2i-compbench", "--data-path", ROOT.parent / "shared" / "data" / "t2i-compbench",
            "--bench-option", "categories=non_spatial", "--bench-option",
            "prompts_per_category=1", "--samples-per-prompt", "1", "-o",
            "num_inference_steps=1", "--out", tmp_path / "runs"]
    r = cli(*args, "--bench-option", f"scorer_path={scorers}")
    assert r.exit_code == 0, r.output
    (run,) = (tmp_path / "runs").iterdir()
    manifest = (run / "manifest.jsonl").read_bytes()
    images = {p: p.stat().st_mtime_ns for p in run.rglob("*.png")}
    assert images
    r = cli(*args, "--bench-option", f"scorer_path={copy}")
    assert r.exit_code == 0, r.output
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [run.name]
    assert "computed now: 0" in one_line(r.output)
    assert (run / "manifest.jsonl").read_bytes() == manifest
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*.png")} == images


def _results(judge: str, bench: str, metrics: dict) -> dict:
    return {"judge": {"judge": judge}, "benchmark": {"benchmark": bench},
            "counts": {"items": 1234, "errors": 12, "unparsed": 345}, "metrics": metrics}


def test_results_table_fits_80_columns_and_shows_primary_metrics():
    from rich.console import Console

    from evalsuite.commands.common import results_table
    m = {"value": 0.5, "ci95": [0.4, 0.6]}
    rows = [_results("unifiedreward-llava-0.5b", "videogen-rewardbench",
                     {"accuracy_with_ties": m, "accuracy_without_ties": m}),
            _results("unifiedreward-qwen-32b", "vlrewardbench",
                     {"overall_accuracy": None, "macro_accuracy": None})]
    console = Console(width=80, record=True, force_terminal=False)
    console.print(results_table(rows))
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80
    for name in ("unifiedreward-llava-0.5b", "videogen-rewardbench", "unifiedreward-qwen-32b",
                 "vlrewardbench", "overall", "macro", "tau", "diff"):
        assert name in text.split(), name  # whole words: never cut


def test_dependency_progress_bars_off_without_a_terminal(monkeypatch):
    import io
    import sys

    from evalsuite.cli import quiet_dependencies
    for var in ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    quiet_dependencies()
    import os
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    assert os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] == "1"


def test_list_options_names_every_declared_option():
    from evalsuite.commands.preflight import declared_options
    from evalsuite.judges.openai_judge import OpenAIJudge
    r = CliRunner().invoke(app, ["list", "judges", "--options"], terminal_width=200)
    assert r.exit_code == 0
    for key in declared_options(OpenAIJudge):
        assert key in r.output
