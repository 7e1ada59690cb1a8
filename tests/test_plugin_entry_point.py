"""A judge added from outside the package, in one file, through an entry point.

The module and the entry point are the README's "Add a judge in one file" blocks, installed
the way pip installs a package (the module on the path, a ``.dist-info`` folder with its
``entry_points.txt``) and run through the real CLI on the GenAI-Bench fixture. Oracle: the
mean grey level of each image computed here with numpy.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_block(lang: str, marker: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"README: one ```{lang} block containing {marker!r}"
    return found[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The README's package, installed: its module and its dist-info metadata."""
    site = tmp_path_factory.mktemp("site")
    (site / "brightness_judge.py").write_text(_readme_block("python", "# brightness_judge.py"))
    meta = tomllib.loads(_readme_block("toml", 'name = "brightness-judge"'))
    project = meta["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f"Version: {project['version']}\n")
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text("".join(
        f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        for g, eps in groups.items()))
    return site


def _evalsuite(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "evalsuite", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_listed_with_the_package_that_provides_it(site, tmp_path):
    p = _evalsuite(site, tmp_path, "list")
    assert p.returncode == 0, p.stderr
    line = next((x for x in p.stdout.splitlines() if re.search(r"\bbrightness\b", x)), None)
    assert line is not None, p.stdout


def test_runs_through_the_cli_with_the_harness(site, fx, tmp_path):
    from PIL import Image

    from evalsuite.media import open_image
    from evalsuite.registry import BENCHMARKS

    data = fx("genai-bench")
    p = _evalsuite(site, tmp_path, "run", "--judge", "brightness", "--bench", "genai-bench",
                   "--data-path", str(data), "--out", str(tmp_path / "runs"),
                   "--run-name", "b", "--batch-size", "3", "--max-error-rate", "1",
                   "--no-progress")
    assert p.returncode == 0, p.stdout + p.stderr
    run = tmp_path / "runs" / "b"
    res = json.loads((run / "results.json").read_text())
    assert res["judge"]["judge"] == "brightness"
    samples = {r["item_id"]: r for r in map(json.loads,
                                            (run / "samples.jsonl").read_text().splitlines())}

    def grey(ref) -> float:
        img: Image.Image = open_image(ref)
        if img.mode.startswith("I"):  # 16-bit grey: the harness scales it to 8 bits
            arr = np.asarray(img, dtype=np.int64)
            top = 65535 if img.mode.startswith("I;16") or arr.max() > 255 else 255
            return float((arr * 255 // top).mean())
        return float(np.asarray(img.convert("RGB").convert("L"), dtype=np.float64).mean())

    checked = 0
    for item in BENCHMARKS.create("genai-bench").load(str(data), None):
        s = samples[item.item_id]
        try:
            a, b = grey(item.a.media), grey(item.b.media)
        except Exception:  # the fixture's broken rows: recorded errors, not scores
            assert s["error"], item.item_id
            continue
        if s["error"]:
            assert "unknown vote_type" in s["error"], s["error"]
            continue
        assert s["score_a"] == pytest.approx(a, rel=1e-12) and s["score_b"] == pytest.approx(
            b, rel=1e-12), item.item_id
        assert s["preferred"] == ("A" if a > b else "B" if b > a else "tie")
        checked += 1
    assert checked >= 20
    assert res["counts"]["judged"] == checked
