"""Fault tests: concurrent writers, damaged stores, malformed tables, hostile servers, leaked
secrets, bad results files, killed leaderboards, refused pickles.

Oracles: an undamaged run of the same configuration (byte-identical results), the injected
bytes themselves (the quarantine must hold them exactly), the key itself (no 8-character
window of it in any file), the number of scripted failures (retries), and the rules
written in the README "Reliability" section. Subprocesses are used only where another
process is the point (a second writer, a SIGKILL).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from evalsuite.judges.base import Judge
from evalsuite.runner import RunConfig, execute
from evalsuite.store import RunLocked, StoreError, parse_record, read_records, run_lock
from evalsuite.types import Candidate, Label, PairItem, RunRecord, Score, Verdict

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("COLUMNS", "1000")  # one error, one line, also in CliRunner output


# --- a cheap deterministic judge and an in-memory benchmark ----------------------------------

class HashJudge(Judge):
    """Pairwise; its verdict is a hash of the pair's text (so results depend on every record).
    ``EVALSUITE_TEST_GATE``: a file to wait for before each batch (a run that stays busy)."""

    name = "hash-judge"
    pairwise = True
    modalities = frozenset({"image"})
    requires = ()
    default_batch_size = 4

    def prepare_pair(self, item):
        return item

    def compare_batch(self, prepared):
        gate = os.environ.get("EVALSUITE_TEST_GATE")
        if gate:
            Path(gate + ".started").touch()
            while not Path(gate).exists():
                time.sleep(0.01)
        out = []
        for it in prepared:
            h = hashlib.sha256(f"{it.a.text}|{it.b.text}".encode()).digest()
            out.append(Verdict.from_margin((h[0] - 127.5) / 64, raw=f"hash {h[:4].hex()}"))
        return out


class ListBench:
    name = "list-bench"
    dimensions = ()

    def __init__(self, n: int = 24):
        labels = [Label.A, Label.B, Label.TIE]
        self.items = [PairItem(f"p{i}", "x", Candidate(text=f"left {i}"),
                               Candidate(text=f"right {i}"), labels[i % 3]) for i in range(n)]

    def load(self, data_path=None, split=None):
        yield from self.items

    def info(self, data_path, split):
        return {"benchmark": self.name, "split": split}

    def metrics(self, items, verdicts):
        from evalsuite.benchmarks.base import Benchmark
        return Benchmark.metrics(self, items, verdicts)


def hash_cfg(out: Path, **kw) -> RunConfig:
    return RunConfig(**{"judge": "hash-judge", "bench": "list-bench", "out_dir": str(out),
                        "run_name": "r", "progress": False, "prefetch_workers": 0, **kw})


def hash_run(out: Path, **kw):
    return execute(hash_cfg(out, **kw), judge=HashJudge(device="cpu"), bench=ListBench())


def record_counts(run_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in run_dir.glob("records-r*.jsonl"):
        for line in p.read_bytes().splitlines():
            rec = parse_record(line)
            counts[rec.item_id] = counts.get(rec.item_id, 0) + 1
    return counts


def _env(**extra) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), e.get("PYTHONPATH", "")])
    e.update(extra)
    return e


HOLD_LOCK = """
import sys
from evalsuite.store import run_lock
with run_lock(sys.argv[1], int(sys.argv[2])):
    print("held", flush=True)
    sys.stdin.read()
"""

BUSY_RUN = """
import sys
from pathlib import Path
from test_reliability import HashJudge, ListBench, hash_cfg
from evalsuite.runner import execute
out = execute(hash_cfg(Path(sys.argv[1]), batch_size=4), judge=HashJudge(device="cpu"),
              bench=ListBench())
print("computed", out.computed, flush=True)
"""


# --- 1. one writer per run -------------------------------------------------------------------

def test_second_run_on_a_busy_directory_is_refused_or_waits(tmp_path, monkeypatch):
    """A run that is judging (another process) makes the same command refuse with the
    holder's pid; with wait=True it waits, then finds everything done: nothing is judged
    twice (the scenario where two identical commands both judged every item)."""
    gate = tmp_path / "gate"
    proc = subprocess.Popen([sys.executable, "-c", BUSY_RUN, str(tmp_path)], env=_env(
        EVALSUITE_TEST_GATE=str(gate)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        while not Path(str(gate) + ".started").exists():  # the first batch is in the judge
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.01)
        with pytest.raises(RunLocked, match=f"in use by pid {proc.pid} .*--wait"):
            hash_run(tmp_path, batch_size=4)

        waiting = threading.Event()
        monkeypatch.setattr("evalsuite.executor.note", lambda msg: waiting.set())
        result = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "out", hash_run(tmp_path, batch_size=4, wait=True)))
        t.start()
        assert waiting.wait(60), "the second run neither waited nor refused"
        assert t.is_alive()  # blocked on the lock while the first run holds it
        gate.touch()  # let the first run finish
        t.join(120)
        out, err = proc.communicate(timeout=120)
    finally:
        gate.touch()
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    assert "computed 24" in out
    assert result["out"].computed == 0  # everything was already judged by the first run
    counts = record_counts(tmp_path / "r")
    assert len(counts) == 24 and set(counts.values()) == {1}


def test_cli_refuses_a_busy_run_with_exit_2(fx, tmp_path):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    run_dir = tmp_path / "r"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run_dir), "0"],
                              env=_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        r = CliRunner().invoke(app, ["run", "--judge", "pickscore", "--bench", "genai-bench",
                                     "--data-path", str(fx("genai-bench")), "--model-path",
                                     str(fx("pickscore")), "--out", str(tmp_path),
                                     "--run-name", "r", "--no-progress"])
        assert r.exit_code == 2, r.output
        [line] = [x for x in r.output.splitlines() if "error:" in x]
        assert f"in use by pid {holder.pid}" in line and "--wait" in line
        assert not list(run_dir.glob("records-r*.jsonl"))  # it wrote nothing

        # Another rank of a data-parallel run is not a second writer: its own lock is free.
        with run_lock(run_dir, 1):
            pass
        # doctor checks a busy run but repairs nothing in it
        (run_dir / "records-r0.jsonl").write_bytes(b"garbage\n")
        r = CliRunner().invoke(app, ["doctor", str(run_dir)])
        assert r.exit_code == 1 and f"in use by pid {holder.pid}" in r.output
        assert (run_dir / "records-r0.jsonl").read_bytes() == b"garbage\n"
    finally:
        holder.communicate("")


def test_config_check_and_write_is_atomic(tmp_path):
    """Eight writers with eight identities race on one directory: exactly one wins, the
    others are refused naming the differing field; config.json holds the winner."""
    from evalsuite.executor import write_config as _write_config
    d = tmp_path / "run"
    d.mkdir()
    start = threading.Barrier(8)
    outcome: dict[int, str] = {}

    def go(seed):
        start.wait()
        try:
            _write_config(d, hash_cfg(tmp_path, seed=seed, batch_size=4))
            outcome[seed] = "won"
        except StoreError as e:
            outcome[seed] = str(e)

    threads = [threading.Thread(target=go, args=(s,)) for s in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [s for s, o in outcome.items() if o == "won"]
    assert len(winners) == 1
    assert json.loads((d / "config.json").read_text())["identity"]["seed"] == winners[0]
    for s, o in outcome.items():
        if s != winners[0]:
            assert f"seed: {s!r} here, {winners[0]!r} there" in o
    assert not list(d.glob(".*.tmp"))


def test_atomic_writes_use_unique_temp_names(tmp_path):
    """Concurrent writers of one results file never fail on each other's rename."""
    from evalsuite.results import _write_json
    target = tmp_path / "results.json"
    errors = []

    def go(i):
        try:
            for _ in range(20):
                _write_json(target, {"writer": i, "pad": "x" * 5000})
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert json.loads(target.read_text())["writer"] in range(6)
    assert not list(tmp_path.glob(".*.tmp"))


# --- 2. damaged store ------------------------------------------------------------------------

def _good_line(item_id="p1") -> bytes:
    rec = RunRecord(item_id, "pair", verdict=Verdict.from_margin(1.0, raw="r"), seconds=0.1)
    return json.dumps(rec.to_json()).encode()


DAMAGED = {
    "garbage": b"garbage{{",
    "nul": b"\x00\x00\x00\x00",
    "nul_in_record": _good_line()[:20] + b"\x00" + _good_line()[20:],
    "invalid_utf8": _good_line()[:15] + b"\xff\xfe" + _good_line()[15:],
    "json_list": b"[1, 2, 3]",
    "json_string": b'"a record"',
    "not_a_record": b'{"hello": "world"}',
    "wrong_kind": _good_line().replace(b'"pair"', b'"nope"'),
    "item_id_int": _good_line().replace(b'"p1"', b"17"),
    "seconds_text": _good_line().replace(b'"seconds": 0.1', b'"seconds": "slow"'),
    "swapped_text": _good_line().replace(b'"swapped": false', b'"swapped": "no"'),
    "verdict_number": _good_line().split(b'"verdict": ')[0] + b'"verdict": 5, '
    + b'"verdict_other_order": null, "score": null}',
    "bad_status": _good_line().replace(b'"status": "parsed"', b'"status": "great"'),
    "margin_text": _good_line().replace(b'"margin": 1.0', b'"margin": "big"'),
    "unknown_field": _good_line().replace(b'"seconds"', b'"surprise": 1, "seconds"'),
    "score_not_object": _good_line().replace(b'"score": null', b'"score": [1]'),
    "truncated_middle": _good_line()[:40],
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_parse_record_refuses_each_damage(name):
    with pytest.raises(ValueError):
        parse_record(DAMAGED[name] + b"\n")


def test_parse_record_accepts_every_record_shape_the_runners_write():
    recs = [RunRecord("a", "pair", verdict=Verdict.from_margin(-0.5, margins={"VQ": 1.0}),
                      verdict_other_order=Verdict.from_choice(None, "??"), swapped=True),
            RunRecord("b", "point", score=Score(0.3, raw="s", extras={"dims": {"x": 1}})),
            RunRecord("c", "pair", error="MediaError: unreadable"),
            RunRecord("d", "answer", score=Score(None, extras={"letter": "B"})),
            RunRecord("e", "gen", score=Score(value=None, extras={"path": "s/0.png"}))]
    for r in recs:
        back = parse_record(json.dumps(r.to_json(), ensure_ascii=False).encode() + b"\n")
        assert back.to_json() == r.to_json()


def test_damaged_records_anywhere_are_quarantined_and_recomputed(tmp_path, capsys):
    base = hash_run(tmp_path / "base", batch_size=4)
    baseline = (base.run_dir / "results.json").read_bytes()

    run = hash_run(tmp_path / "hurt", batch_size=4)
    path = run.run_dir / "records-r0.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    injected, replaced = {}, set()
    # Replace records at the start, in the middle and at the end, and insert junk lines.
    for n, (name, raw) in enumerate(sorted(DAMAGED.items())):
        pos = (n * 7) % len(lines)
        try:
            item = parse_record(lines[pos]).item_id
        except ValueError:  # junk put there already
            item = None
        if n % 2 == 0 and item is not None:
            replaced.add(item)
            lines[pos] = raw + b"\n"
        else:
            lines.insert(pos, raw + b"\n")
    for n, line in enumerate(lines, 1):
        try:
            parse_record(line)
        except ValueError:
            injected[n] = line
    path.write_bytes(b"".join(lines))
    capsys.readouterr()

    again = hash_run(tmp_path / "hurt", batch_size=4)
    err = capsys.readouterr().err
    for n in injected:
        assert f"{path}:{n}: " in err  # reported with file and line
    assert again.computed == len(replaced)  # exactly the lost items, recomputed
    assert (again.run_dir / "results.json").read_bytes() == baseline
    counts = record_counts(again.run_dir)
    assert len(counts) == 24 and set(counts.values()) == {1}
    q = [json.loads(x) for x in (path.parent / (path.name + ".quarantined")).read_text()
         .splitlines()]
    assert {e["line"]: base64.b64decode(e["bytes_b64"]) for e in q} == injected
    assert read_records(again.run_dir, repair=False)  # clean now: nothing more reported
    assert capsys.readouterr().err == ""


def test_partial_tail_is_kept_in_the_quarantine(tmp_path):
    from evalsuite.store import RunStore
    with RunStore(tmp_path) as s:
        s.append([RunRecord("a", "pair", error="x")])
    tail = b'{"item_id": "b", "kind": "pa'
    with open(tmp_path / "records-r0.jsonl", "ab") as fh:
        fh.write(tail)
    with RunStore(tmp_path):
        pass
    [e] = [json.loads(x) for x in (tmp_path / "records-r0.jsonl.quarantined").read_text()
           .splitlines()]
    assert base64.b64decode(e["bytes_b64"]) == tail and "partial" in e["reason"]


def test_doctor_reports_then_repairs(tmp_path):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    run = hash_run(tmp_path, batch_size=4)
    path = run.run_dir / "records-r0.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"\x00garbage\n"
    path.write_bytes(b"".join(lines) + b'{"item_id": "z"')
    (run.run_dir / "run.json").write_text("{broken")
    (run.run_dir / ".results.json.999999999.1.tmp").write_text("{")  # a dead writer's
    def files():  # the lock file names its last holder (doctor too): not run data
        return {p.name: p.read_bytes() for p in run.run_dir.iterdir()
                if not p.name.startswith(".lock-")}
    before = files()

    r = CliRunner().invoke(app, ["doctor", str(run.run_dir), "--dry-run"])
    assert r.exit_code == 1, r.output
    assert f"{path}:3: NUL bytes" in r.output and "partial last line" in r.output
    assert files() == before

    r = CliRunner().invoke(app, ["doctor", str(run.run_dir)])
    assert r.exit_code == 0, r.output
    assert "repaired" in r.output and "re-run" in r.output
    assert not (run.run_dir / ".results.json.999999999.1.tmp").exists()
    assert (run.run_dir / "run.json.quarantined").read_text() == "{broken"
    q = (run.run_dir / "records-r0.jsonl.quarantined").read_text().splitlines()
    assert {base64.b64decode(json.loads(e)["bytes_b64"]) for e in q} == {
        b"\x00garbage\n", b'{"item_id": "z"'}

    again = hash_run(tmp_path, batch_size=4)
    assert again.computed == 1
    r = CliRunner().invoke(app, ["doctor", str(run.run_dir)])
    assert r.exit_code == 0 and "problem" not in r.output and "repaired" not in r.output
    r = CliRunner().invoke(app, ["doctor", str(tmp_path / "nothing")])
    assert r.exit_code == 2


# --- 3. malformed tables ---------------------------------------------------------------------

def _png() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _genai_table(prompts=None, votes=None, drop=(), prompt_type=None):
    import pyarrow as pa
    n = len(prompts or votes or [0, 1, 2])
    img = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    cols = {"prompt": pa.array(prompts or [f"p{i}" for i in range(n)],
                               prompt_type or pa.string()),
            "left_model": pa.array(["m1"] * n),
            "left_image": pa.array([{"bytes": _png(), "path": None}] * n, img),
            "right_model": pa.array(["m2"] * n),
            "right_image": pa.array([{"bytes": _png(), "path": None}] * n, img),
            "vote_type": pa.array(votes or ["leftvote"] * n)}
    for d in drop:
        cols.pop(d)
    return pa.table(cols)


def _write_parquet(root: Path, sub: str, table_or_bytes) -> Path:
    import pyarrow.parquet as pq
    d = root / sub
    d.mkdir(parents=True, exist_ok=True)
    f = d / "test-00000-of-00001.parquet"
    if isinstance(table_or_bytes, bytes):
        f.write_bytes(table_or_bytes)
    else:
        pq.write_table(table_or_bytes, f)
    return f


VGR_HEADER = "path_A,path_B,A_model,B_model,prompt,fps_A,num_frames_A,fps_B,num_frames_B," \
             "Overall,VQ,MQ,TA\n"


def _bad_tables(root: Path) -> dict[str, tuple[str, Path, str, Path]]:
    """name -> (benchmark, data path, what the error must say, the file it must name)."""
    import pyarrow as pa
    out = {}
    for name, table, expect in [
        ("empty_parquet", _genai_table().slice(0, 0), "no rows"),
        ("zero_byte_parquet", b"", "not a readable parquet"),
        ("garbage_parquet", b"PAR1 this is not parquet", "not a readable parquet"),
        ("missing_prompt", _genai_table(drop=("prompt",)), "missing column prompt"),
        ("missing_vote_type", _genai_table(drop=("vote_type",)), "missing column vote_type"),
    ]:
        f = _write_parquet(root / name, "image_generation", table)
        out[name] = ("genai-bench", root / name, expect, f)
    vlr = pa.table({"id": ["a"], "query": ["q"], "human_ranking": [[0, 1]]})
    f = _write_parquet(root / "vlr_missing", "data", vlr)
    out["vlr_missing_columns"] = ("vlrewardbench", root / "vlr_missing",
                                  "missing columns response, image", f)
    for name, data, expect in [
        ("latin1_csv", (VGR_HEADER + "videos/a.mp4,videos/b.mp4,x,y,caf\xe9,8,16,8,16,A,A,B,"
                        "same\n").encode("latin-1"), "not UTF-8 text (line 2"),
        ("empty_csv", b"", "empty file"),
        ("header_only_csv", VGR_HEADER.encode(), "no rows"),
        ("nul_csv", (VGR_HEADER + "a,b,x,y,p\x00,8,16,8,16,A,A,B,same\n").encode(),
         "NUL byte on line 2"),
        ("csv_missing_labels", b"path_A,path_B,prompt\nvideos/a.mp4,videos/b.mp4,x\n",
         "missing columns Overall, VQ, MQ, TA"),
    ]:
        d = root / name
        d.mkdir()
        (d / "videogen-rewardbench.csv").write_bytes(data)
        out[name] = ("videogen-rewardbench", d, expect, d / "videogen-rewardbench.csv")
    return out


def test_every_table_problem_is_one_line_exit_2(fx, tmp_path):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    # a judge each benchmark accepts (the preflight refuses a modality / task mismatch before
    # any table is read); the table is read before any weights load
    judges = {"genai-bench": ("pickscore", "pickscore"),
              "vlrewardbench": ("unifiedreward", "unifiedreward-qwen"),
              "videogen-rewardbench": ("videoscore", "videoscore")}
    for name, (bench, data, expect, f) in _bad_tables(tmp_path).items():
        judge, model = judges[bench]
        r = CliRunner().invoke(app, ["run", "--judge", judge, "--bench", bench,
                                     "--data-path", str(data), "--model-path",
                                     str(fx(model)), "--out", str(tmp_path / "runs"),
                                     "--no-progress"])
        assert r.exit_code == 2, (name, r.output)
        assert "Traceback" not in r.output, name
        # (datasets' own progress lines may precede it)
        [line] = [x for x in r.output.splitlines() if "error" in x]
        assert str(f) in line and expect in line, (name, line)


def test_bad_rows_are_item_errors_and_the_other_rows_are_judged(tmp_path):
    import pyarrow as pa

    from evalsuite.benchmarks.genai_bench import GenAIBench
    from evalsuite.types import ItemError
    prompts = [b"fine 0", b"\xff\xfe not utf-8", b"nul \x00 inside", b"fine 3",
               "caf\u00e9 4".encode(), b"fine 5"]
    votes = ["leftvote", "leftvote", "rightvote", None, "tievote", "maybe"]
    _write_parquet(tmp_path / "data", "image_generation",
                   _genai_table(prompts=prompts, votes=votes, prompt_type=pa.binary()))
    got = list(GenAIBench().load(str(tmp_path / "data"), "test"))
    reasons = {x.item_id.rsplit("/", 1)[1]: x.reason for x in got if isinstance(x, ItemError)}
    assert reasons == {"1": "prompt: not valid UTF-8 (byte 0)",
                       "2": "prompt: contains a NUL byte",
                       "3": "unknown vote_type None", "5": "unknown vote_type 'maybe'"}
    good = [x for x in got if isinstance(x, PairItem)]
    assert [x.prompt for x in good] == ["fine 0", "caf\u00e9 4"]

    cfg = RunConfig(judge="hash-judge", bench="genai-bench", data_path=str(tmp_path / "data"),
                    out_dir=str(tmp_path / "runs"), progress=False, max_error_rate=1.0)
    out = execute(cfg, judge=HashJudge(device="cpu"))
    c = out.results["counts"]
    assert (c["items"], c["judged"], c["errors"]) == (6, 2, 4)


def test_wrong_typed_cells_are_item_errors(tmp_path):
    import pyarrow as pa

    from evalsuite.benchmarks.vlrewardbench import VLRewardBench
    from evalsuite.types import ItemError
    img = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    t = pa.table({"id": ["ok", "str_resp", "str_rank", "three"],
                  "query": ["q", "q", "q", "q"],
                  "response": pa.array([["a", "b"], None, ["a", "b"], ["a", "b", "c"]]),
                  "image": pa.array([{"bytes": _png(), "path": None}] * 4, img),
                  "human_ranking": pa.array([[0, 1], [0, 1], None, [0, 1]])})
    _write_parquet(tmp_path, "data", t)
    got = list(VLRewardBench().load(str(tmp_path), "test"))
    reasons = {x.meta["id"]: x.reason for x in got if isinstance(x, ItemError)}
    assert reasons["str_resp"] == "response: NoneType, expected a list of two answers"
    assert reasons["str_rank"].startswith("unknown human_ranking None")
    assert reasons["three"] == "expected 2 responses, got 3"
    assert [x.meta["id"] for x in got if isinstance(x, PairItem)] == ["ok"]

    from evalsuite.benchmarks.vlrewardbench import label_from_ranking
    assert label_from_ranking("01") is None and label_from_ranking([0.0, 1.0]) is None
    assert label_from_ranking([True, False]) is None and label_from_ranking([1, 0]) == Label.B

    t = pa.table({k: pa.array(v) for k, v in {
        "prompt": [1, 2], "left_model": ["a", "b"], "left_image": ["x.png", "y.png"],
        "right_model": ["a", "b"], "right_image": ["x.png", "y.png"],
        "vote_type": ["leftvote", "leftvote"]}.items()})
    _write_parquet(tmp_path / "g", "image_generation", t)
    from evalsuite.benchmarks.genai_bench import GenAIBench
    got = list(GenAIBench().load(str(tmp_path / "g"), "test"))
    assert [x.reason for x in got] == ["prompt: int 1, expected text",
                                       "prompt: int 2, expected text"]


# --- 4. secrets never reach disk -------------------------------------------------------------

def _windows(key: str, width: int = 8) -> list[bytes]:
    return [key[i:i + width].encode() for i in range(len(key) - width + 1)]


def test_a_key_echoed_by_the_server_reaches_no_file(fx, tmp_path, monkeypatch, capsys):
    """The stub echoes the key in answers, in error bodies (past the point where the body is
    cut), in headers and in URLs; no 8-character window of it is in any file the run
    writes, nor on stdout / stderr."""
    from test_openai_judge import Stub

    from evalsuite import redact
    key = "sk-" + secrets.token_urlsafe(30)
    monkeypatch.setenv("OPENAI_API_KEY", key)
    echo = f"Authorization: Bearer {key} x-api-key={key} see https://h/v1?api_key={key}&a=1"

    def script(n, body):
        if n % 4 == 0:  # retried, then answered
            return 500, "x" * 290 + f" boom {key} {echo}", 0.0, {"X-Echo": key}
        if n % 4 == 1:
            return 200, f"[[A>B]] your key is {key}; {echo}", 0.0, {"X-Echo": key}
        if n % 4 == 2:  # a non-retryable error: the item's error is stored
            return 400, "y" * 297 + key + " " + echo, 0.0, {"X-Echo": key}
        return 200, json.dumps({"key": key}) + " [[B>A]] " + echo, 0.0, {}

    try:
        with Stub(script) as stub:
            cfg = RunConfig(judge="openai", bench="genai-bench", model="stub-model",
                            data_path=str(fx("genai-bench")), split="test_v1",
                            out_dir=str(tmp_path), run_name="r", batch_size=2,
                            prefetch_workers=1, progress=False, max_error_rate=1.0,
                            judge_options={"base_url": stub.url, "backoff": 0.01,
                                           "backoff_max": 0.02, "timeout": 10,
                                           "max_retries": 1})
            out = execute(cfg)
    finally:
        redact.forget_all()
    assert stub.auth[0] == f"Bearer {key}"  # the key was used, and echoed back
    c = out.results["counts"]
    assert c["judged"] > 0 and c["errors"] > 0  # both paths ran: answers and stored errors
    samples = (out.run_dir / "samples.jsonl").read_text()
    assert "***" in samples and "HTTP 400" in samples
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"config.json", "records-r0.jsonl", "results.json",
                                         "samples.jsonl", "run.json"}
    captured = capsys.readouterr()
    for blob, where in [(p.read_bytes(), p) for p in written] + [
            (captured.out.encode(), "stdout"), (captured.err.encode(), "stderr")]:
        leaked = [w for w in _windows(key) if w in blob]
        assert not leaked, f"part of the key leaked into {where}: {leaked[0]!r}"


@pytest.mark.parametrize("text, secret_part", [
    ("Authorization: Bearer abcdef123456", "abcdef123456"),
    ('{"authorization": "Basic dXNlcjpwYXNz"}', "dXNlcjpwYXNz"),
    ("proxy-authorization=Token tok_998877", "tok_998877"),
    ("X-Api-Key: k-11223344", "k-11223344"),
    ("got bearer eyJhbGciOi.payload.sig back", "eyJhbGciOi.payload.sig"),
    ("GET https://api.x/v1/m?key=AIzaSyA-123&alt=json", "AIzaSyA-123"),
    ("url=http://h/p?access_token=ya29.a0Af&x=1", "ya29.a0Af"),
    ("https://bob:hunter2pw@example.org/v1", "hunter2pw"),
    ("sig: https://b.blob/x?sv=1&sig=Zm9vYmFy%3D", "Zm9vYmFy%3D"),
])
def test_secret_shapes_are_masked(text, secret_part):
    from evalsuite.redact import redact
    out = redact(text)
    assert secret_part not in out and "***" in out


def test_registered_secret_is_masked_in_every_encoding_and_before_the_cut():
    from evalsuite import redact as R
    key = 'k3y"with\\odd/chars é+'
    try:
        R.register(key)
        for form in (key, json.dumps(key)[1:-1], json.dumps(key, ensure_ascii=False)[1:-1],
                     __import__("urllib.parse").parse.quote(key, safe="")):
            assert form not in R.redact(f"a {form} b")
        cut = R.redact_cut("z" * 95 + key, 100)  # the cut would land inside the key
        assert not any(key[:i] in cut for i in range(2, len(key)))
        assert R.redact_obj({"raw": [key], key: 1}) == {"raw": ["***"], "***": 1}
    finally:
        R.forget_all()


# --- 5. one retry policy for every transient transport failure ---------------------------------

class RawServer:
    """A TCP server answering each connection with the next scripted behaviour."""

    OK = json.dumps({"choices": [{"message": {"content": "[[A>B]]"}}]}).encode()

    def __init__(self, behaviours):
        self.behaviours = list(behaviours)
        self.served = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _read_request(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        n = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0]
                .split(b":")[1])
        while len(body) < n:
            body += conn.recv(65536)

    def _serve(self):
        while self.behaviours:
            conn, _ = self.sock.accept()
            what = self.behaviours.pop(0)
            self.served += 1
            with conn:
                self._read_request(conn)
                if what == "ok":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(self.OK) + self.OK)
                elif what == "truncated":  # promises 500 bytes, sends 11, hangs up
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"choices\"")
                elif what == "not_http":
                    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
                elif what == "reset":  # RST instead of an answer
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
                elif what == "hang_up":
                    pass
                elif what == "bad_json":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{oops")
                elif what == "503":
                    conn.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()


FAILURES = ["truncated", "not_http", "reset", "hang_up", "bad_json", "503"]


def _prepared():
    from evalsuite.judges.openai_judge import Prepared, _parse_official
    return Prepared({"model": "m", "messages": [{"role": "user", "content": "?"}]}, "d",
                    _parse_official)


def test_every_transient_failure_is_retried_with_backoff(monkeypatch):
    from evalsuite.judges import openai_judge as OJ
    from evalsuite.registry import JUDGES
    delays = []
    monkeypatch.setattr(OJ.time, "sleep", delays.append)
    with RawServer([*FAILURES, "ok"]) as srv:
        judge = JUDGES.create("openai", model="m", base_url=srv.url, max_retries=len(FAILURES),
                              backoff=1.0, backoff_max=1000.0, timeout=10)
        judge.load()
        [v] = judge.compare_batch([_prepared()])
    assert v.preferred == "A" and srv.served == len(FAILURES) + 1
    assert judge.stats["retries"] == len(FAILURES)
    # exponential backoff with jitter in [0.5, 1) x backoff x 2^attempt
    assert len(delays) == len(FAILURES)
    for attempt, d in enumerate(delays):
        assert 0.5 * 2 ** attempt <= d <= 2 ** attempt


@pytest.mark.parametrize("failure, name", [("truncated", "IncompleteRead"),
                                           ("not_http", "BadStatusLine"),
                                           ("hang_up", "RemoteDisconnected"),
                                           ("503", "HTTP 503")])
def test_retries_exhausted_name_the_failure(monkeypatch, failure, name):
    from evalsuite.judges import openai_judge as OJ
    from evalsuite.registry import JUDGES
    monkeypatch.setattr(OJ.time, "sleep", lambda s: None)
    with RawServer([failure] * 3) as srv:
        judge = JUDGES.create("openai", model="m", base_url=srv.url, max_retries=2, timeout=10)
        judge.load()
        with pytest.raises(OJ.EndpointError, match=f"gave up after 3 attempts; last: .*{name}"):
            judge._answer(_prepared())
    assert srv.served == 3


# --- 6. batch size is part of the run's identity ----------------------------------------------

def test_batch_size_names_the_run(tmp_path):
    default = hash_run(tmp_path / "a", run_name=None)
    explicit = hash_run(tmp_path / "b", run_name=None, batch_size=HashJudge.default_batch_size)
    other = hash_run(tmp_path / "b", run_name=None, batch_size=3)
    assert default.run_dir.name == explicit.run_dir.name  # the default, resolved, is the same
    assert other.run_dir.name != explicit.run_dir.name
    ident = json.loads((other.run_dir / "config.json").read_text())["identity"]
    assert ident["batch_size"] == 3
    assert default.results["run"]["batch_size"] == HashJudge.default_batch_size
    with pytest.raises(StoreError, match=r"batch_size: 5 here, 3 there"):
        hash_run(tmp_path / "b", run_name=other.run_dir.name, batch_size=5)
    again = hash_run(tmp_path / "b", run_name=other.run_dir.name, batch_size=3)
    meta = json.loads((again.run_dir / "run.json").read_text())
    assert [i["batch_size"] for i in meta["invocations"]] == [3, 3]


# --- 7. leaderboard and regress refuse bad results files --------------------------------------

def _set(path: str, value):
    def f(r):
        *parents, last = path.split(".")
        d = r
        for k in parents:
            d = d[k]
        if value is KeyError:
            del d[last]
        else:
            d[last] = value
    return f


BAD_RESULTS = {
    "accuracy_above_1": (_set("metrics.accuracy_with_ties.value", 1.5), "[0, 1]"),
    "accuracy_negative": (_set("metrics.accuracy_with_ties.value", -0.2), "[0, 1]"),
    "accuracy_nan": (_set("metrics.accuracy_with_ties.value", math.nan), "nan"),
    "accuracy_inf": (_set("metrics.accuracy_without_ties.value", math.inf), "inf"),
    "accuracy_string": (_set("metrics.accuracy_with_ties.value", "0.9"), "'0.9'"),
    "ci_string": (_set("metrics.accuracy_with_ties.ci95", "[0.1, 0.2]"), "ci95"),
    "ci_reversed": (_set("metrics.accuracy_with_ties.ci95", [0.9, 0.1]), "above the upper"),
    "ci_out_of_range": (_set("metrics.accuracy_with_ties.ci95", [0.1, 1.2]), "ci95 bound"),
    "benchmark_null": (_set("benchmark", None), "benchmark is None"),
    "no_metrics": (_set("metrics", KeyError), "missing key 'metrics'"),
    "no_judge_name": (_set("judge.judge", KeyError), "judge.judge"),
    "negative_count": (_set("counts.errors", -1), "counts.errors"),
    "breakdown_value": (_set("breakdown.category:x", {"accuracy_with_ties": {"value": 2}}),
                        "breakdown.category:x.accuracy_with_ties.value"),
}


@pytest.fixture
def results_root(tmp_path):
    root = tmp_path / "results"
    shutil.copytree(REPO / "results" / "fixtures" / "pickscore__genai-bench",
                    root / "fixtures" / "pickscore__genai-bench")
    return root


def test_leaderboard_refuses_each_bad_results_file(results_root, tmp_path):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    from evalsuite.leaderboard import generate
    from evalsuite.results import ResultsInvalid
    out = tmp_path / "board"
    generate(results_root, out, plots=False, parquet=False)
    board = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    src = results_root / "fixtures" / "pickscore__genai-bench" / "results.json"
    bad = results_root / "bad" / "results.json"
    bad.parent.mkdir()
    for name, (mutate, expect) in BAD_RESULTS.items():
        r = json.loads(src.read_text())
        mutate(r)
        bad.write_text(json.dumps(r))
        with pytest.raises(ResultsInvalid) as e:
            generate(results_root, out, plots=False, parquet=False)
        assert str(bad) in str(e.value) and expect in str(e.value), (name, str(e.value))
        assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*")
                if p.is_file()} == board, name
    bad.write_text('{"judge": ')
    r = CliRunner().invoke(app, ["leaderboard", "--results", str(results_root), "--out",
                                 str(out), "--no-plots"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    [line] = [x for x in r.output.splitlines() if "error" in x]
    assert str(bad) in line and "unreadable results file" in line
    # a policy evaluation is not a board row: skipped, not refused
    bad.write_text(json.dumps({"policy": {"policy": "p"}, "benchmark": {"benchmark": "b"}}))
    generate(results_root, out, plots=False, parquet=False)


def test_regress_refuses_bad_results_and_samples(results_root):
    from evalsuite.regress import load_run
    from evalsuite.results import ResultsInvalid
    run = results_root / "fixtures" / "pickscore__genai-bench"
    load_run(run)
    original = (run / "results.json").read_text()
    for name, (mutate, expect) in BAD_RESULTS.items():
        r = json.loads(original)
        mutate(r)
        (run / "results.json").write_text(json.dumps(r))
        with pytest.raises(ResultsInvalid, match="invalid results file") as e:
            load_run(run)
        assert str(run / "results.json") in str(e.value) and expect in str(e.value), name
    (run / "results.json").write_text(original)
    samples = (run / "samples.jsonl").read_text().splitlines()
    for line, expect in [("{bad", "not JSON"), ('{"item_id": 3}', "item_id is 3"),
                         (json.dumps({**json.loads(samples[0]), "margin": "big"}), "margin"),
                         (json.dumps({**json.loads(samples[0]), "label": "left"}), "label")]:
        (run / "samples.jsonl").write_text("\n".join([samples[0], line, *samples[1:]]) + "\n")
        with pytest.raises(ResultsInvalid, match=f"samples.jsonl:2: .*{expect}"):
            load_run(run)


def test_leaderboard_failure_or_kill_leaves_the_previous_board(results_root, tmp_path,
                                                               monkeypatch):
    from evalsuite import leaderboard as LB
    out = tmp_path / "board"
    LB.generate(results_root, out, plots=False, parquet=False)
    (out / "NOTES.md").write_text("kept by the user")
    snapshot = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(LB, "write_csv", boom)
    with pytest.raises(OSError):
        LB.generate(results_root, out, plots=False, parquet=False)
    monkeypatch.undo()
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} \
        == snapshot
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board", "results"]  # no temp left

    # A real SIGKILL while the new board (with plots) is being written.
    cmd = [sys.executable, "-m", "evalsuite", "leaderboard", "--results", str(results_root),
           "--out", str(out)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    tmp = out.with_name(f".board.tmp-{proc.pid}")
    while not tmp.exists():
        assert proc.poll() is None, "the leaderboard finished before it could be killed"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} \
        == snapshot
    # The next run cleans up after the dead one and swaps a complete board in.
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not tmp.exists() and (out / "NOTES.md").read_text() == "kept by the user"
    assert any((out / "plots").glob("*.svg"))

    # A kill between the two renames of the fallback swap: the old board is put back.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    aside = out.with_name(f".board.old-{dead.pid}")
    out.rename(aside)
    LB._recover(out)
    assert out.is_dir() and not aside.exists() and (out / "NOTES.md").exists()


# --- 8. checkpoint errors: one line, the file and the reason, exit 2 ---------------------------

class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_checkpoint_errors_are_one_line_exit_2(fx, tmp_path):
    import torch
    from typer.testing import CliRunner

    from evalsuite.checkpoint import CheckpointError, load_weights, read_checkpoint
    from evalsuite.cli import app
    good = fx("hpsv2") / "HPS_v2_compressed.pt"
    state = torch.load(good, weights_only=True)["state_dict"]
    name = sorted(k for k, v in state.items() if v.ndim == 2)[0]
    marker = tmp_path / "code-ran"
    cases = {
        "evil.pt": ({"state_dict": state, "x": _Evil(marker)}, "refused: the file pickles"),
        "nokey.pt": ({"weights": state}, "missing key 'state_dict'"),
        "shape.pt": ({"state_dict": {**state, name: torch.zeros(3, 3)}},
                     f"wrong shape for {name}: [3, 3] in the file"),
    }
    for fname, (obj, expect) in cases.items():
        d = tmp_path / fname.split(".")[0]
        d.mkdir()
        shutil.copy(good.parent / "open_clip_config.json", d)
        torch.save(obj, d / fname)
        r = CliRunner().invoke(app, ["run", "--judge", "hpsv2", "--bench", "genai-bench",
                                     "--data-path", str(fx("genai-bench")), "--model-path",
                                     str(d / fname), "--out", str(tmp_path / "runs"),
                                     "--no-progress", "--limit", "2"])
        assert r.exit_code == 2, (fname, r.output)
        assert "Traceback" not in r.output
        [line] = [x for x in r.output.splitlines() if "error" in x]
        assert str(d / fname) in line and expect in line, (fname, line)
    assert not marker.exists()  # the pickle's code never ran

    (tmp_path / "trunc.pt").write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="trunc.pt: not a readable torch checkpoint"):
        read_checkpoint(tmp_path / "trunc.pt")
    with pytest.raises(CheckpointError, match="nope.pt: no such checkpoint file"):
        read_checkpoint(tmp_path / "nope.pt")
    lin = torch.nn.Linear(2, 3)
    with pytest.raises(CheckpointError, match=r"m.pt: wrong shape for weight: \[3, 3\] in the "
                                              r"file, \[3, 2\] in the model"):
        load_weights(lin, {"weight": torch.zeros(3, 3), "bias": torch.zeros(3)}, "m.pt")
    with pytest.raises(CheckpointError, match=r"m.pt: does not match the model: 1 unexpected"):
        load_weights(lin, {**lin.state_dict(), "extra": torch.zeros(1)}, "m.pt")
    with pytest.raises(CheckpointError, match=r"m.pt: does not match the model: 1 missing "
                                              r"tensor\(s\) \(bias\)"):
        load_weights(lin, {"weight": torch.zeros(3, 2)}, "m.pt")
