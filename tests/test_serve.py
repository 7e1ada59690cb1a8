"""The reward service end to end: real uvicorn servers on loopback (threads, and one
`evalsuite serve` subprocess), fixture judges, and :mod:`evalsuite.client`.

Oracles: Pref-GRPO's win rate and group advantages and Flow-GRPO's per-prompt advantages
(test-only extracts in tests/reference/, with provenance); `evalsuite run` on the same
items (scores, errors, the seeded swap); the fixture judge called in process; a Qwen2.5-VL
fixture whose greedy answer is scripted ("Image 1 is better.", or an unreadable reply), so
every verdict and win rate is known by hand; prometheus_client's own text parser.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

import httpx  # noqa: E402

from evalsuite.client import (DiffusionReward, RewardClient, RewardServiceError,  # noqa: E402
                              trl_reward_function)
from evalsuite.serve.app import create_app  # noqa: E402
from evalsuite.serve.config import JudgeSpec, ServeConfig, parse_judges  # noqa: E402
from evalsuite.serve.rewards import Comparison, combine, win_rates, zscores  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TOKEN = "serve-test-token-7f3a"
EPS32 = float(np.finfo(np.float32).eps)


def _reference(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "reference" /
                                                  f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


PREF = _reference("pref_grpo_rewards")
FLOW = _reference("flow_grpo_stat_tracking")


# --- servers ---------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """uvicorn serving ``create_app(cfg)`` in a thread on a free loopback port."""

    def __init__(self, cfg: ServeConfig):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(cfg)
        # a test may leave requests waiting in a batcher: do not wait for them on exit
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning",
                                                    timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        deadline = time.monotonic() + 300
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def cli_server(args: list[str], env_extra: dict[str, str] | None = None, timeout: float = 300):
    """`python -m evalsuite serve ...` in a subprocess; (process, url) once /health answers."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    proc = subprocess.Popen([sys.executable, "-m", "evalsuite", "serve", *args, "--port",
                             str(port), "--log-level", "warning"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("server did not answer /health")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def png(seed: int, size=(64, 48)) -> bytes:
    from PIL import Image

    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def pick_cfg(fx, **kw) -> ServeConfig:
    return ServeConfig(judges=[JudgeSpec("pickscore", model_path=str(fx("pickscore")))],
                       device="cpu", **kw)


_JUDGES: dict[str, object] = {}


def in_process_scores(fx, prompt: str, images: list[bytes]) -> list[float]:
    """The fixture PickScore called directly (no service), one batch."""
    from evalsuite.judges.pickscore import PickScore
    from evalsuite.types import Candidate, MediaRef, PointItem

    path = str(fx("pickscore"))
    if path not in _JUDGES:
        _JUDGES[path] = PickScore(model_path=path, device="cpu")
        _JUDGES[path].load()
    judge = _JUDGES[path]
    items = [PointItem(f"p{k}", prompt, Candidate(media=MediaRef("image", data=d)))
             for k, d in enumerate(images)]
    return [s.value for s in judge.score(items)]


def score_tol(fx, value: float) -> float:
    """fp32 noise of one PickScore value across batch compositions: each embedding entry
    sums ~hidden terms per layer, so relative error ~ eps32 * hidden * (layers + 1)."""
    cfg = json.loads((fx("pickscore") / "config.json").read_text())
    vis, txt = cfg["vision_config"], cfg["text_config"]
    depth = max(vis["num_hidden_layers"], txt["num_hidden_layers"]) + 1
    width = max(vis["hidden_size"], txt["hidden_size"], vis.get("intermediate_size", 0),
                txt.get("intermediate_size", 0))
    return EPS32 * width * depth * max(1.0, abs(value))


# --- pure reward arithmetic against the trainers' own code -----------------------------------

ANSWER = {"i": "<answer>Image 1 is better</answer>", "j": "<answer>Image 2 is better</answer>",
          "tie": "<answer>Both images are equally good</answer>",
          "unparsed": "I cannot decide."}


@pytest.mark.parametrize("seed", range(40))
def test_win_rate_with_tie_policy_is_pref_grpo(seed):
    """unparsed="tie" is Pref-GRPO's arithmetic: its _pairwise_win_rate on the same answers
    (the lower index shown first; no tag or no phrase = half a win each; round to 3)."""
    rng = random.Random(seed)
    n = rng.randint(2, 9)
    weights = [rng.random() for _ in range(4)]
    outcomes = {}
    for i, j in combinations(range(n), 2):
        outcomes[(i, j)] = rng.choices(["i", "j", "tie", "unparsed"], weights)[0]
    ours = win_rates(n, [Comparison(i, j, o) for (i, j), o in outcomes.items()], "tie")
    ref = PREF._pairwise_win_rate(
        num_items=n, better_1="Image 1 is better", better_2="Image 2 is better",
        responses=[{"first_index": i, "second_index": j, "model_output": ANSWER[o]}
                   for (i, j), o in outcomes.items()])
    # upstream holds round(x, 3) in a float32 tensor: the same number once cast
    assert [np.float32(t.reward) for t in ours] == [r.numpy()[0] for r in ref]
    assert sum(t.policy_applied for t in ours) == 2 * sum(o == "unparsed"
                                                          for o in outcomes.values())


@pytest.mark.parametrize("seed", range(40))
def test_win_rate_report_zero_error_by_brute_force(seed):
    """The other policies, by hand: report drops unreadable comparisons from both counts,
    zero counts them as lost by both, error fails both candidates; failed comparisons are
    always left out; no usable comparison -> None (never 0.0)."""
    rng = random.Random(1000 + seed)
    n = rng.randint(1, 8)
    comps = [Comparison(i, j, rng.choice(["i", "j", "tie", "unparsed", "error"]))
             for i, j in combinations(range(n), 2)]
    if rng.random() < 0.5:  # both orders: each pair twice, independently
        comps += [Comparison(c.i, c.j, rng.choice(["i", "j", "tie", "unparsed"]))
                  for c in comps]
    for policy in ("report", "zero", "error"):
        got = win_rates(n, comps, policy, round_digits=None)
        for k in range(n):
            mine = [c for c in comps if k in (c.i, c.j)]
            wins = sum(1.0 if (c.outcome == "i" and c.i == k) or (c.outcome == "j" and c.j == k)
                       else 0.5 if c.outcome == "tie" else 0.0 for c in mine)
            counted = [c for c in mine if c.outcome in ("i", "j", "tie") or
                       (c.outcome == "unparsed" and policy == "zero")]
            failed = policy == "error" and any(c.outcome == "unparsed" for c in mine)
            expect = None if failed or not counted else wins / len(counted)
            assert got[k].reward == expect, (policy, k)
            assert got[k].unparsed == sum(c.outcome == "unparsed" for c in mine)
            assert got[k].errors == sum(c.outcome == "error" for c in mine)


def test_win_rate_no_comparison_is_none_not_zero():
    """Pref-GRPO gives 0.0 to a candidate without comparisons; here it is None (documented)."""
    ref = PREF._pairwise_win_rate(num_items=1, responses=[], better_1="x", better_2="y")
    assert float(ref[0]) == 0.0
    assert win_rates(1, [], "tie")[0].reward is None


@pytest.mark.parametrize("seed", range(30))
def test_zscores_match_flow_grpo_and_pref_grpo(seed):
    import torch

    rng = np.random.default_rng(seed)
    g = int(rng.integers(2, 17))
    scale = 10.0 ** rng.integers(-3, 4)
    vals = (rng.normal(size=g) * scale).round(int(rng.integers(0, 4)))  # repeats and ties
    if seed % 7 == 0:
        vals[:] = vals[0]  # a constant group: std 0
    flow = FLOW.per_prompt_advantages(["p"] * g, vals)
    pref = PREF.group_advantages(torch.tensor(vals, dtype=torch.float64), g).numpy()
    # x - mean carries ~g ulps of max|x| (summation order differs), divided by std + eps;
    # the division and the std add a few ulps of the result itself.
    e64 = np.finfo(np.float64).eps
    for ours, ref, eps, ddof in ((zscores(list(vals), "flow-grpo"), flow, 1e-4, 0),
                                 (zscores(list(vals), "pref-grpo"), pref, 1e-8, 1)):
        std = np.std(vals, ddof=ddof)
        tol = 4 * g * e64 * (np.abs(vals).max() / (std + eps) + np.abs(ref).max())
        np.testing.assert_allclose(np.array(ours, dtype=float), ref, rtol=0, atol=tol)


def test_combine_follows_each_trainer():
    """Flow-GRPO's multi_score sums the weighted scores, then normalises the sum; Pref-GRPO
    normalises each reward, then sums the weighted advantages."""
    import torch

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=6), rng.normal(size=6) * 5
    w = [0.5, 1.0]
    flow = FLOW.per_prompt_advantages(["p"] * 6, w[0] * a + w[1] * b)
    pref = sum(wk * PREF.group_advantages(torch.tensor(x), 6).numpy() for wk, x in zip(w, (a, b)))
    np.testing.assert_allclose(combine([list(a), list(b)], w, "flow-grpo"), flow, atol=1e-12)
    np.testing.assert_allclose(combine([list(a), list(b)], w, "pref-grpo"), pref, atol=1e-12)
    assert combine([[1.0, None], [2.0, 3.0]], w, None) == [2.5, None]
    assert zscores([None, 1.0, 3.0], "flow-grpo")[0] is None


def test_parse_judges():
    js = parse_judges("pickscore:0.5,unifiedreward-qwen-7b:1.0,hpsv2.1")
    assert [(j.name, j.weight) for j in js] == [("pickscore", 0.5),
                                                ("unifiedreward-qwen-7b", 1.0), ("hpsv2.1", 1.0)]
    for bad in ("pickscore:x", "a,,b", "pickscore,pickscore:2"):
        with pytest.raises(ValueError):
            parse_judges(bad)


# --- a pointwise judge (fixture PickScore) in a thread server ---------------------------------

@pytest.fixture(scope="module")
def pick(fx, tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    (root / "ok.png").write_bytes(png(7))
    (root / "broken.png").write_bytes(b"\x89PNG not really")
    cfg = pick_cfg(fx, token=TOKEN, media_root=str(root), max_items=8, max_group=16,
                   max_queue=12, max_request_bytes=256 * 1024, max_wait_ms=2)
    with ThreadServer(cfg) as srv:
        srv.root = root
        yield srv


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_score_compare_group_pointwise_against_the_judge_in_process(pick, fx):
    images = [png(100 + k) for k in range(6)]
    prompt = "a red bicycle"
    direct = in_process_scores(fx, prompt, images)
    with RewardClient([pick.url], token=TOKEN) as client:
        res = client.score([{"prompt": prompt, "media": d} for d in images])
        for got, ref in zip(res["rewards"], direct):
            assert abs(got - ref) <= score_tol(fx, ref)
        assert res["unparsed"] == {"policy": "report", "count": 0, "applied": 0}

        pairs = client.compare([{"prompt": prompt, "a": images[0], "b": images[1]}])["pairs"][0]
        assert abs(pairs["margin"] - (direct[0] - direct[1])) <= 2 * score_tol(fx, direct[0])
        assert pairs["preferred"] == ("A" if direct[0] > direct[1] else "B")

        g = client.group(prompt, images, scheme="win-rate")
        n = len(images)
        for i in range(n):  # brute force over the in-process scores
            wins = sum((direct[i] > direct[j]) + 0.5 * (direct[i] == direct[j])
                       for j in range(n) if j != i)
            assert g["rewards"][i] == round(wins / (n - 1), 3)
            comp = g["candidates"][i]["components"]["pickscore"]
            assert comp["comparisons"] == n - 1 and len(comp["verdicts"]) == n - 1
        assert g["comparisons"] == n * (n - 1) // 2

        z = client.group(prompt, images, scheme="score-zscore")
        ref = FLOW.per_prompt_advantages([prompt] * n, direct)
        tol = score_tol(fx, max(direct)) / (np.std(direct) + 1e-4) * 4
        np.testing.assert_allclose(z["rewards"], ref, atol=tol)
        assert z["normalize"] == "flow-grpo"
        zp = client.group(prompt, images, scheme="score", normalize="pref-grpo")
        import torch
        refp = PREF.group_advantages(torch.tensor(direct, dtype=torch.float64), n).numpy()
        np.testing.assert_allclose(zp["rewards"], refp, atol=tol * 2)
        for i in range(n):
            assert abs(zp["candidates"][i]["raw_reward"] - direct[i]) <= score_tol(fx, direct[i])


def test_bad_media_is_an_item_error_with_http_200(pick):
    good = {"prompt": "p", "media": {"data": b64(png(1))}}
    items = [good,
             {"prompt": "p", "media": {"data": "not base64!!"}},
             {"prompt": "p", "media": {"data": b64(b"plain text, not an image")}},
             {"prompt": "p", "media": {"path": "../outside.png"}},
             {"prompt": "p", "media": {"path": "missing.png"}},
             {"prompt": "p", "media": {"path": "broken.png"}},
             {"prompt": "p", "media": {"url": "http://127.0.0.1:9/x.png"}},
             {"prompt": "p", "media": {"path": "ok.png"}}]
    r = httpx.post(pick.url + "/v1/score", json={"items": items}, headers=auth(), timeout=60)
    assert r.status_code == 200
    res = r.json()
    status = [it["status"] for it in res["items"]]
    assert status == ["ok", "error", "error", "error", "error", "error", "error", "ok"]
    errors = [it["error"] for it in res["items"]]
    assert "base64" in errors[1] and "escapes" in errors[3] and "missing" in errors[4]
    assert "URLs are refused" in errors[6]
    assert res["errors"] == 6 and res["rewards"][1] is None

    # A group with one bad candidate: that candidate errors, the others are judged
    # among themselves.
    cands = [{"media": {"data": b64(png(k))}} for k in range(3)] + [{"media": {"data": "@@"}}]
    g = httpx.post(pick.url + "/v1/group", json={"prompt": "p", "candidates": cands},
                   headers=auth(), timeout=60).json()
    assert g["candidates"][3]["status"] == "error" and g["rewards"][3] is None
    for c in g["candidates"][:3]:
        comp = c["components"]["pickscore"]
        assert comp["comparisons"] == 2 and comp["errors"] == 1 and c["reward"] is not None


def test_malformed_requests_are_4xx_without_echoing_media(pick):
    secret = b64(png(5))
    bad = [({"items": []}, 422),  # empty
           ({"items": [{"prompt": "p"}]}, 422),  # no media, no text
           ({"items": [{"prompt": "p", "media": {"data": secret, "path": "x"}}]}, 422),
           ({"items": [{"prompt": "p", "media": {"data": secret}, "color": 1}]}, 422),
           ({"items": [{"prompt": "p", "media": {"data": secret, "type": "gif"}}]}, 422)]
    for body, code in bad:
        r = httpx.post(pick.url + "/v1/score", json=body, headers=auth(), timeout=30)
        assert r.status_code == code, body
        assert secret not in r.text
    r = httpx.post(pick.url + "/v1/group", json={"prompt": "p", "scheme": "elo", "candidates": [
        {"media": {"data": secret}}]}, headers=auth(), timeout=30)
    assert r.status_code == 422 and secret not in r.text
    r = httpx.post(pick.url + "/v1/score", content=b"{not json", headers={
        **auth(), "content-type": "application/json"}, timeout=30)
    assert r.status_code == 422
    # Limits: 9 items > --max-items 8; 17 candidates > --max-group 16; a body > 256 KiB.
    small = {"prompt": "p", "media": {"data": b64(png(1, (8, 8)))}}
    r = httpx.post(pick.url + "/v1/score", json={"items": [small] * 9}, headers=auth())
    assert r.status_code == 413
    r = httpx.post(pick.url + "/v1/group", json={"prompt": "p", "candidates": [
        {"media": small["media"]}] * 17}, headers=auth())
    assert r.status_code == 413
    big = {"prompt": "p", "media": {"data": b64(os.urandom(300 * 1024))}}
    r = httpx.post(pick.url + "/v1/score", json={"items": [big]}, headers=auth())
    assert r.status_code == 413
    body = json.dumps({"items": [big]}).encode()  # chunked: no Content-Length to check
    r = httpx.post(pick.url + "/v1/score", content=iter([body[:1000], body[1000:]]),
                   headers={**auth(), "content-type": "application/json"})
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413


def test_token_is_required_and_never_echoed(pick):
    body = {"items": [{"prompt": "p", "media": {"data": b64(png(2))}}]}
    assert httpx.post(pick.url + "/v1/score", json=body).status_code == 401
    r = httpx.post(pick.url + "/v1/score", json=body,
                   headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert httpx.get(pick.url + "/metrics").status_code == 401
    h = httpx.get(pick.url + "/health")
    assert h.status_code == 200 and TOKEN not in h.text
    assert TOKEN not in repr(pick.app.state.engine.cfg)


def test_full_queue_is_429_with_retry_after(pick):
    """--max-queue 12 admits a request's units all at once or not at all: a 16-candidate
    group (16 pointwise units) is refused whole; the client retries, then gives up."""
    cands = [{"media": {"data": b64(png(k, (16, 16)))}} for k in range(16)]
    r = httpx.post(pick.url + "/v1/group", json={"prompt": "p", "candidates": cands},
                   headers=auth(), timeout=30)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    with RewardClient([pick.url], token=TOKEN, retries=1, backoff=0.01, max_backoff=0.05) as c:
        with pytest.raises(RewardServiceError, match="HTTP 429"):
            c.group("p", [png(k, (16, 16)) for k in range(16)])
    assert pick.app.state.engine.slots[0].points.depth() == 0  # nothing left queued


def test_metrics_in_prometheus_text_format(pick):
    from prometheus_client.parser import text_string_to_metric_families

    httpx.post(pick.url + "/v1/score", json={"items": [
        {"prompt": "p", "media": {"data": b64(png(3))}},
        {"prompt": "p", "media": {"data": "###"}}]}, headers=auth(), timeout=60)
    text = httpx.get(pick.url + "/metrics", headers=auth()).text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("evalsuite_serve_requests", "evalsuite_serve_request_seconds",
                 "evalsuite_serve_batch_size", "evalsuite_serve_queue_depth",
                 "evalsuite_serve_unparsed", "evalsuite_serve_item_errors",
                 "evalsuite_serve_rejected", "evalsuite_serve_queue_wait_seconds"):
        assert name in fams, name
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in fams.values() for s in f.samples}
    assert samples[("evalsuite_serve_item_errors_total",
                    (("endpoint", "score"), ("judge", "pickscore")))] >= 1
    assert samples[("evalsuite_serve_queue_depth",
                    (("judge", "pickscore"), ("kind", "points")))] == 0
    assert samples[("evalsuite_serve_batch_size_count",
                    (("judge", "pickscore"), ("kind", "points")))] >= 1


# --- the same item gets the same result as in `evalsuite run` ---------------------------------

def bench_items(fx):
    from evalsuite.registry import BENCHMARKS
    from evalsuite.types import PairItem

    return [x for x in BENCHMARKS.create("genai-bench").load(str(fx("genai-bench")), None)
            if isinstance(x, PairItem)]


def wire_media(ref):
    """A benchmark MediaRef as the service receives it: bytes, or a path under the root."""
    if ref.data is not None:
        return {"data": b64(ref.data)}
    return {"path": ref.path}


def test_cli_server_scores_like_run(fx, tmp_path, unsure_model):
    """`evalsuite serve` (a subprocess) with two judges (NAME=PATH checkpoints), `--unparsed
    tie`, the token from EVALSUITE_SERVE_TOKEN and a --media-root: PickScore's component
    scores every candidate of the fixture GenAI-Bench like `evalsuite run` does (within fp32
    noise across batch compositions) and fails the same items (broken image, a path escaping
    the dataset root); the unreadable judge's answers are reported, and a score has no tie
    to apply; a group gets Pref-GRPO's half a win per unreadable comparison. A dead replica
    in the client's list is skipped."""
    from evalsuite.runner import RunConfig, execute

    out = execute(RunConfig(judge="pickscore", bench="genai-bench",
                            data_path=str(fx("genai-bench")), model_path=str(fx("pickscore")),
                            out_dir=str(tmp_path / "runs"), device="cpu", progress=False,
                            max_error_rate=1.0))
    samples = {json.loads(x)["item_id"]: json.loads(x)
               for x in (out.run_dir / "samples.jsonl").read_text().splitlines()}
    items = bench_items(fx)
    roots = {c.media.root for it in items for c in (it.a, it.b) if c.media.path}
    assert len(roots) == 1
    images = [png(600 + k) for k in range(3)]
    direct = in_process_scores(fx, "a kite", images)
    proc, url = cli_server(
        ["--judge", "pickscore,unifiedreward:2", "--model-path",
         f"pickscore={fx('pickscore')}", "--model-path", f"unifiedreward={unsure_model}",
         "--device", "cpu", "--media-root", roots.pop(), "--unparsed", "tie",
         "-o", "max_new_tokens=12"], env_extra={"EVALSUITE_SERVE_TOKEN": TOKEN})
    try:
        units = [{"prompt": it.prompt, "media": wire_media(c.media)}
                 for it in items for c in (it.a, it.b)]
        assert httpx.post(url + "/v1/score", json={"items": units[:1]}).status_code == 401
        # Requests alternate over the replicas: every second one first meets the dead port.
        with RewardClient([f"http://127.0.0.1:{free_port()}", url], token=TOKEN, retries=3,
                          backoff=0.01) as client:
            res = [client.score(units[k:k + 16]) for k in range(0, len(units), 16)]
            group = client.group("a kite", images)
    finally:
        log = stop(proc)
    got = iter([x for r in res for x in r["items"]])
    checked = 0
    for it in items:
        a, b = next(got), next(got)
        s = samples[it.item_id]
        if s["status"] == "error":
            assert "error" in (a["status"], b["status"]), it.item_id
            continue
        for mine, ref in ((a, s["score_a"]), (b, s["score_b"])):
            pick = mine["components"]["pickscore"]
            assert pick["status"] == "parsed"
            assert abs(pick["score"] - ref) <= score_tol(fx, ref), it.item_id
            assert mine["components"]["unifiedreward"]["status"] == "unparsed"
            assert mine["reward"] is None and mine["status"] == "unparsed"
            checked += 1
    assert checked >= 40
    assert sum(r["unparsed"]["count"] for r in res) >= checked
    assert all(r["unparsed"]["policy"] == "tie" and r["unparsed"]["applied"] == 0 for r in res)
    n = len(images)
    for i in range(n):
        pick_wr = sum(direct[i] > direct[j] for j in range(n) if j != i) / (n - 1)
        assert math.isclose(group["rewards"][i], round(pick_wr, 3) + 2 * 0.5, abs_tol=1e-12)
    assert group["unparsed"] == {"policy": "tie", "count": 3, "applied": 3}
    assert TOKEN not in log
    assert b64(items[0].a.media.data)[:40] not in log  # no media bytes in the server's log


# --- a pairwise generative judge with a scripted answer ---------------------------------------

REPLY = "Image 1 is better."


@pytest.fixture(scope="module")
def first_wins(tmp_path_factory):
    """A tiny Qwen2.5-VL UnifiedReward whose greedy answer is always 'Image 1 is better.'."""
    from evalsuite.fixtures.qwen_vl import build_qwen_vl

    return build_qwen_vl(tmp_path_factory.mktemp("qwen") / "first", scripted_reply=REPLY)


@pytest.fixture(scope="module")
def first_server(first_wins):
    cfg = ServeConfig(judges=[JudgeSpec("unifiedreward", model_path=str(first_wins))],
                      device="cpu", options={"max_new_tokens": 8}, max_batch_size=4)
    with ThreadServer(cfg) as srv:
        yield srv


def test_win_rate_reference_order_seeded_swap_and_both_orders(first_server):
    """The judge always prefers the image shown first, so every win rate is known by hand:
    Pref-GRPO's order (lower index first) gives candidate i (G-1-i)/(G-1); the runner's
    seeded swap shows j first exactly when swap_for(pair id, seed); both orders: 0.5 each."""
    from evalsuite.runner import swap_for

    G = 5
    images = [png(200 + k, (56, 56)) for k in range(G)]
    with RewardClient([first_server.url]) as client:
        ref = client.group("a cat", images, return_raw=True)
        assert ref["rewards"] == [round((G - 1 - i) / (G - 1), 3) for i in range(G)]
        v = ref["candidates"][0]["components"]["unifiedreward"]["verdicts"][0]
        assert v["raw"] == REPLY and v["shown_first"] and v["result"] == "win"
        assert ref["comparisons"] == G * (G - 1) // 2

        sw = client.group("a cat", images, order="seeded-swap", seed=3, id="g-1",
                          round_digits=None)
        wins = [0] * G
        for i, j in combinations(range(G), 2):
            wins[j if swap_for(f"g-1:{i}:{j}", 3) else i] += 1
        assert sw["rewards"] == [w / (G - 1) for w in wins]

        both = client.group("a cat", images, both_orders=True)
        assert both["rewards"] == [0.5] * G and both["comparisons"] == G * (G - 1)


def test_compare_uses_the_runners_seeded_swap(first_server, fx, tmp_path):
    """/v1/compare shows each pair in the order `evalsuite run` shows it (swap_for(item id,
    seed)): the run's recorded verdicts and the service's agree item by item."""
    from evalsuite.runner import RunConfig, execute

    items = [it for it in bench_items(fx) if it.a.media.data and it.b.media.data][:8]
    judge_path = first_server.app.state.engine.slots[0].spec.model_path
    out = execute(RunConfig(judge="unifiedreward", bench="genai-bench",
                            data_path=str(fx("genai-bench")), model_path=judge_path,
                            out_dir=str(tmp_path), device="cpu", progress=False, seed=5,
                            limit=8, judge_options={"max_new_tokens": 8},
                            max_error_rate=1.0))
    from evalsuite.store import parse_record  # the store leaves defaults out of its lines
    recs = {r["item_id"]: r for r in (
        parse_record(x.encode()).to_json()
        for f in out.run_dir.glob("records-*.jsonl") for x in f.read_text().splitlines())}
    with RewardClient([first_server.url]) as client:
        res = client.compare([{"id": it.item_id, "prompt": it.prompt,
                               "a": it.a.media.data, "b": it.b.media.data} for it in items],
                             seed=5, return_raw=True)
    for it, got in zip(items, res["pairs"]):
        rec = recs[it.item_id]
        comp = got["components"]["unifiedreward"]
        if rec["error"]:
            assert got["status"] == "error"
            continue
        assert comp["swapped"] == rec["swapped"]
        assert got["preferred"] == rec["verdict"]["preferred"] == ("B" if rec["swapped"] else "A")
        assert comp["raw"] == rec["verdict"]["raw"]
    assert {c["components"]["unifiedreward"]["swapped"] for c in res["pairs"]} == {True, False}


def test_combined_judges_in_one_process(fx, first_wins):
    """pickscore:0.5,unifiedreward:2.0 -> 0.5 * PickScore's win rate + 2 * the scripted
    judge's; and /v1/score's weighted sum for a pointwise pair of judges."""
    spec = parse_judges("pickscore:0.5,unifiedreward:2.0")
    spec = [JudgeSpec(s.name, s.weight, model_path=str(fx("pickscore") if s.name == "pickscore"
                                                       else first_wins)) for s in spec]
    cfg = ServeConfig(judges=spec, device="cpu", options={"max_new_tokens": 8})
    images = [png(300 + k, (56, 56)) for k in range(4)]
    direct = in_process_scores(fx, "a dog", images)
    n = len(images)
    with ThreadServer(cfg) as srv, RewardClient([srv.url]) as client:
        g = client.group("a dog", images, round_digits=None)
    for i in range(n):
        pick_wr = sum(direct[i] > direct[j] for j in range(n) if j != i) / (n - 1)
        first_wr = (n - 1 - i) / (n - 1)
        assert math.isclose(g["rewards"][i], 0.5 * pick_wr + 2.0 * first_wr, abs_tol=1e-12)
        assert set(g["candidates"][i]["components"]) == {"pickscore", "unifiedreward"}


# --- unreadable answers ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def unsure_model(tmp_path_factory):
    """The tiny Qwen2.5-VL scripted to answer 'Hard to say' (no verdict, no score)."""
    from evalsuite.fixtures.qwen_vl import build_qwen_vl

    return build_qwen_vl(tmp_path_factory.mktemp("qwen") / "unsure", scripted_reply="Hard to say")


@pytest.fixture(scope="module")
def unreadable_server(unsure_model):
    cfg = ServeConfig(judges=[JudgeSpec("unifiedreward", model_path=str(unsure_model))],
                      device="cpu",
                      options={"max_new_tokens": 12}, max_batch_size=8)
    with ThreadServer(cfg) as srv:
        yield srv


def test_unparsed_policies_are_explicit(unreadable_server):
    url = unreadable_server.url
    images = [png(400 + k, (56, 56)) for k in range(4)]
    G, P = len(images), len(images) * (len(images) - 1) // 2
    with RewardClient([url]) as client:
        rep = client.group("p", images)  # default: report
        assert rep["rewards"] == [None] * G
        assert rep["unparsed"] == {"policy": "report", "count": P, "applied": 0}
        assert all(c["status"] == "unparsed" for c in rep["candidates"])
        tie = client.group("p", images, unparsed="tie")  # Pref-GRPO's half a win
        assert tie["rewards"] == [0.5] * G
        assert tie["unparsed"] == {"policy": "tie", "count": P, "applied": P}
        zero = client.group("p", images, unparsed="zero")
        assert zero["rewards"] == [0.0] * G and zero["unparsed"]["applied"] == P
        err = client.group("p", images, unparsed="error")
        assert all(c["status"] == "error" and "unreadable" in c["error"]
                   for c in err["candidates"])

        s = client.score([{"prompt": "p", "media": im} for im in images[:2]], return_raw=True)
        assert s["rewards"] == [None, None] and s["unparsed"]["count"] == 2
        assert s["items"][0]["components"]["unifiedreward"]["raw"] == "Hard to say"
        assert client.score([{"prompt": "p", "media": images[0]}],
                            unparsed="zero")["rewards"] == [0.0]
        # a score has no tie: under "tie" it stays reported (None), and nothing is applied
        t = client.score([{"prompt": "p", "media": images[0]}], unparsed="tie")
        assert t["rewards"] == [None] and t["unparsed"]["applied"] == 0
        c = client.compare([{"prompt": "p", "a": images[0], "b": images[1]}], both_orders=True)
        pair = c["pairs"][0]
        assert pair["status"] == "unparsed" and pair["preferred"] is None
        assert c["unparsed"]["count"] == 2
        assert pair["components"]["unifiedreward"]["consistent"] is None
    text = httpx.get(url + "/metrics").text
    assert 'evalsuite_serve_unparsed_total{endpoint="group",judge="unifiedreward"}' in text


# --- reward functions for trainers --------------------------------------------------------------

def test_trl_reward_function_signature_and_groups(unreadable_server):
    """Called the way trl 1.16's GRPOTrainer._calculate_rewards calls a reward function
    (keyword arguments: prompts, completions, completion_ids, the dataset's columns,
    trainer_state, log_extra, log_metric); None where the service gave no reward."""
    from PIL import Image

    img = Image.fromarray(np.full((56, 56, 3), 120, np.uint8))
    prompts = [[{"role": "user", "content": [{"type": "image"},
                                             {"type": "text", "text": "What is shown?"}]}]] * 4
    completions = [[{"role": "assistant", "content": t}] for t in ("a cat", "a dog", "a", "b")]
    kwargs = dict(prompts=prompts, completions=completions, completion_ids=[[1]] * 4,
                  image=[img] * 4, trainer_state=None, log_extra=None, log_metric=None)
    with RewardClient([unreadable_server.url]) as client:
        fn = trl_reward_function(client)
        assert fn.__name__ == "evalsuite_reward"
        assert fn(**kwargs) == [None] * 4
        assert trl_reward_function(client, unparsed="zero")(**kwargs) == [0.0] * 4
        wr = trl_reward_function(client, scheme="win-rate", unparsed="tie")(**kwargs)
        assert wr == [0.5] * 4  # one group of 4 (same prompt, same image)


def test_diffusion_reward_groups_by_prompt(first_server):
    """``(images, prompts, metadata) -> rewards`` over a batch tensor in [0, 1] with two
    prompts interleaved: each prompt is one group, in the order its samples appear."""
    import torch

    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 3, 56, 56, generator=g)
    prompts = ["a", "b", "a", "b", "a", "b"]
    with RewardClient([first_server.url]) as client:
        fn = DiffusionReward(client, scheme="win-rate", round_digits=None)
        r = fn(images, prompts, None)
    # per prompt, the first sample wins both its comparisons, the last loses both
    np.testing.assert_array_equal(r, [1.0, 1.0, 0.5, 0.5, 0.0, 0.0])
    assert len(fn.last) == 2


def test_concurrent_requests_share_a_batch_and_client_timeout(fx):
    """With --max-batch-size 6 and a 60 s --max-wait-ms, a batch leaves exactly when 6
    units are queued: 6 concurrent one-item requests become one model call of 6 (counted
    in /metrics), each answered with its own score; a lone request outlives the client's
    timeout, is retried, and the client gives up with the reason."""
    from prometheus_client.parser import text_string_to_metric_families

    images = [png(700 + k) for k in range(6)]
    direct = in_process_scores(fx, "p", images)
    with ThreadServer(pick_cfg(fx, max_wait_ms=60_000, max_batch_size=6)) as srv:
        with RewardClient([srv.url], max_concurrency=6) as c:
            got = c.map(lambda im: c.score([{"prompt": "p", "media": im}])["rewards"][0],
                        images)
        for g, d in zip(got, direct):
            assert abs(g - d) <= score_tol(fx, d)
        fams = text_string_to_metric_families(httpx.get(srv.url + "/metrics").text)
        hist = {s.name: s.value for f in fams if f.name == "evalsuite_serve_batch_size"
                for s in f.samples}
        assert hist["evalsuite_serve_batch_size_count"] == 1
        assert hist["evalsuite_serve_batch_size_sum"] == 6
        with RewardClient([srv.url], timeout=0.2, retries=1, backoff=0.01) as c:
            with pytest.raises(RewardServiceError, match="ReadTimeout"):
                c.score([{"prompt": "p", "media": images[0]}])


def test_media_urls_only_when_allowed(fx, tmp_path):
    """--allow-urls fetches http(s) media (here from a local file server), with a size
    bound; a failing URL is an error on its item."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    (tmp_path / "a.png").write_bytes(png(1))
    (tmp_path / "big.png").write_bytes(png(2, (400, 400)))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    files = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{files.server_address[1]}"
    try:
        cfg = pick_cfg(fx, allow_urls=True, max_url_bytes=64 * 1024)
        with ThreadServer(cfg) as srv, RewardClient([srv.url]) as c:
            res = c.score([{"prompt": "p", "media": f"{base}/{name}"}
                           for name in ("a.png", "missing.png", "big.png")])
    finally:
        files.shutdown()
    status = [it["status"] for it in res["items"]]
    assert status == ["ok", "error", "error"]
    assert "HTTP 404" in res["items"][1]["error"] and "above" in res["items"][2]["error"]
    direct = in_process_scores(fx, "p", [png(1)])[0]
    assert abs(res["rewards"][0] - direct) <= score_tol(fx, direct)


# --- Ray Serve -----------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("EVALSUITE_TEST_RAY"),
                    reason="starts a local Ray instance (~2.5 min on 2 cores): set "
                    "EVALSUITE_TEST_RAY=1 (needs the serve-ray extra)")
def test_ray_serve_replicas(fx):
    """`evalsuite serve --ray --replicas 2` on a local Ray instance: the same API."""
    pytest.importorskip("ray.serve")
    images = [png(500 + k) for k in range(4)]
    direct = in_process_scores(fx, "a boat", images)
    proc, url = cli_server(["--judge", "pickscore", "--model-path", str(fx("pickscore")),
                            "--device", "cpu", "--ray", "--replicas", "2",
                            "--cpus-per-replica", "0.5"], timeout=600)
    try:
        with RewardClient([url]) as client:
            res = client.groups([{"prompt": "a boat", "candidates": images}] * 4)
            health = client.health()[0]
    finally:
        stop(proc)
    n = len(images)
    for r in res:
        assert r["rewards"] == [round(sum(direct[i] > direct[j] for j in range(n) if j != i)
                                      / (n - 1), 3) for i in range(n)]
    assert health["status"] == "ok"


@pytest.mark.slow
def test_trl_grpo_trainer_step_calls_the_service(unreadable_server, tmp_path):
    """One real GRPOTrainer step (trl 1.16) on the tiny random Qwen2.5-VL policy, with the
    service's win-rate reward: TRL calls it with its own arguments and gets one reward per
    completion (each group of 2 completions: half a win each under unparsed="tie")."""
    pytest.importorskip("trl")
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from evalsuite.fixtures.media import shape_image
    from evalsuite.fixtures.qwen_vl import build_qwen_vl

    policy = build_qwen_vl(tmp_path / "policy")
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": "What colour is the square?"}]}],
        "image": shape_image("square", c, size=(56, 56), seed=i)}
        for i, c in enumerate(["red", "blue"])])
    calls = []
    with RewardClient([unreadable_server.url]) as client:
        fn = trl_reward_function(client, scheme="win-rate", unparsed="tie")

        def evalsuite_reward(**kwargs):
            calls.append((sorted(kwargs), fn(**kwargs)))
            return calls[-1][1]

        args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2,
                          num_generations=2, max_completion_length=4, max_steps=1,
                          report_to=[], use_cpu=True, bf16=False, save_strategy="no",
                          logging_steps=1)
        GRPOTrainer(model=str(policy), reward_funcs=[evalsuite_reward], args=args,
                    train_dataset=ds).train()
    assert calls
    for keys, rewards in calls:
        assert {"prompts", "completions", "image"} <= set(keys)
        assert rewards == [0.5] * len(rewards)
