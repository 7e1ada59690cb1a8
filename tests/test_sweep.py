"""`evalsuite sweep`: the shipped example runs as written on the fixtures; every cell is the
run `evalsuite run` makes with the same options (the plain command resumes it with nothing
left to do); a failing cell is recorded while the others finish; re-running resumes every
cell; configuration errors stop before any cell runs."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from evalsuite.cli import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _computed(run_dir: Path) -> list[int]:
    return [i["computed"] for i in json.loads((run_dir / "run.json").read_text())["invocations"]]


def test_shipped_example_runs_as_written(fx, tmp_path, monkeypatch):
    cfg = yaml.safe_load((REPO / "sweeps" / "fixtures.yaml").read_text())
    for row in cfg["judges"] + cfg["policies"] + cfg["benchmarks"]:
        path = row.get("model_path") or row.get("data_path")
        fx(Path(path).name)  # build the fixtures the example names
    fixtures_root = fx("pickscore").parent
    (tmp_path / "fx").symlink_to(fixtures_root, target_is_directory=True)
    (tmp_path / "sweeps").symlink_to(REPO / "sweeps", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["sweep", "--config", "sweeps/fixtures.yaml", "--no-progress"])
    assert r.exit_code == 0, r.output
    out = tmp_path / cfg["out"]
    rows = json.loads((out / "sweep-summary.json").read_text())
    n_pref = sum(1 for b in cfg["benchmarks"] if b["bench"] != "mmbench")
    assert len(rows) == len(cfg["judges"]) * n_pref + len(cfg["policies"])
    assert {r["status"] for r in rows} == {"ok"}
    assert all(r["metrics"] for r in rows)
    board = (tmp_path / cfg["leaderboard"]["out"] / "README.md").read_text()
    assert "pickscore" in board and "hpsv2" in board


def _config(tmp_path: Path, fx, benchmarks: list[dict]) -> Path:
    cfg = {"out": str(tmp_path / "runs"),
           "run": {"limit": 6, "max_error_rate": 1.0, "device": "cpu"},
           "judges": [{"judge": "pickscore", "model_path": str(fx("pickscore"))}],
           "benchmarks": benchmarks}
    p = tmp_path / "sweep.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_failing_cell_is_recorded_and_the_others_run(fx, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = _config(tmp_path, fx, [{"bench": "genai-bench", "data_path": str(empty)},
                                 {"bench": "genai-bench", "data_path": str(fx("genai-bench"))}])
    r = runner.invoke(app, ["sweep", "--config", str(cfg), "--no-progress", "--no-leaderboard"])
    assert r.exit_code == 1, r.output
    rows = json.loads((tmp_path / "runs" / "sweep-summary.json").read_text())
    assert [x["status"] for x in rows] == ["error", "ok"]
    assert "no parquet files" in rows[0]["error"]
    assert rows[1]["items"] == 6 and rows[1]["metrics"]
    md = (tmp_path / "runs" / "sweep-summary.md").read_text()
    assert "| pickscore | genai-bench | error |" in md

    # The cell is the plain `evalsuite run` with the same options: it finds nothing to do.
    ok_dir = Path(rows[1]["run_dir"])
    plain = runner.invoke(app, ["run", "--judge", "pickscore", "--bench", "genai-bench",
                                "--model-path", str(fx("pickscore")), "--data-path",
                                str(fx("genai-bench")), "--limit", "6", "--max-error-rate", "1",
                                "--device", "cpu", "--out", str(tmp_path / "runs"),
                                "--no-progress"])
    assert plain.exit_code == 0, plain.output
    assert str(ok_dir) in plain.output.replace("\n", "")
    assert _computed(ok_dir) == [12, 0]  # 12 unique images in 6 pairs, then nothing

    # Re-running the sweep resumes: the finished cell computes nothing.
    again = runner.invoke(app, ["sweep", "--config", str(cfg), "--no-progress",
                                "--no-leaderboard"])
    assert again.exit_code == 1
    assert _computed(ok_dir) == [12, 0, 0]


def test_command_line_grid_and_leaderboard(fx, tmp_path):
    root = fx("genai-bench").parent
    fx("hpsv2"), fx("pickscore")
    r = runner.invoke(app, ["sweep", "--judge", "pickscore", "--judge", "hpsv2", "--bench",
                            "genai-bench", "--data-root", str(root), "--model-root", str(root),
                            "--limit", "4", "--out", str(tmp_path / "runs"), "--no-progress"])
    assert r.exit_code == 0, r.output  # the first 4 fixture rows are all readable
    rows = json.loads((tmp_path / "runs" / "sweep-summary.json").read_text())
    assert [(x["who"], x["bench"], x["status"], x["items"], x["errors"]) for x in rows] == [
        ("pickscore", "genai-bench", "ok", 4, 0), ("hpsv2", "genai-bench", "ok", 4, 0)]
    for x in rows:  # --data-root / --model-root resolved to the fixtures
        cfg = json.loads((Path(x["run_dir"]) / "config.json").read_text())["identity"]
        assert cfg["data_path"] == str(root / "genai-bench")
        assert cfg["model_path"] == str(root / x["who"])
    board = (tmp_path / "runs" / "leaderboard" / "leaderboard.csv").read_text()
    assert "pickscore" in board and "hpsv2" in board


def test_configuration_errors_stop_before_any_cell(fx, tmp_path):
    bad = tmp_path / "bad.yaml"
    for cfg, why in (({"judges": ["pickscore"], "benchmarks": ["genai-bench"], "jugdes": []},
                      "unknown sweep keys"),
                     ({"judges": ["nosuchjudge"], "benchmarks": ["genai-bench"]},
                      "unknown judge"),
                     ({"judges": [{"judge": "pickscore", "modelpath": "x"}],
                       "benchmarks": ["genai-bench"]}, "unknown keys"),
                     ({"judges": ["pickscore"], "benchmarks": ["genai-bench"],
                       "run": {"lmit": 3}}, "unknown options"),
                     ({"judges": ["pickscore"]}, "at least one benchmark")):
        bad.write_text(yaml.safe_dump({**cfg, "out": str(tmp_path / "never")}))
        r = runner.invoke(app, ["sweep", "--config", str(bad)])
        assert r.exit_code == 2 and why in r.output, (cfg, r.output)
        assert not (tmp_path / "never").exists()
