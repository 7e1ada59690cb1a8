"""The `openai` judge against a stub chat-completions server on loopback.

The stub (http.server in a thread, started and stopped per test) returns scripted answers,
slow answers, 429s, 5xx, 4xx and malformed JSON; it records every request body so tests
can check what was sent, how often, and with which Authorization header.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from evalsuite.protocols import genai_bench as G
from evalsuite.registry import BENCHMARKS, JUDGES
from evalsuite.runner import RunConfig, execute, swap_for

REPO = Path(__file__).resolve().parent.parent
KEY = "sk-test-SECRET-4b1d6f0e9a"  # must never appear in any file a run writes
VOTES = ["[[A>B]]", "[[B>A]]", "[[A=B=Good]]", "[[A=B=Bad]]"]


def digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
                          ).hexdigest()


def default_answer(body: dict) -> str:
    """A deterministic answer per request: some prose, then a 4-way verdict."""
    d = digest(body)
    return f"Model A looks fine; model B less so.\n\nVerdict: {VOTES[int(d[:8], 16) % 4]}"


class Stub:
    """Chat-completions stub. ``script(n, body) -> (status, payload, delay_s, headers)``
    decides each answer (n = 0-based request number); payload is a str (the answer text,
    wrapped in a completion object), bytes (sent raw) or None (empty body)."""

    def __init__(self, script=None, port: int = 0):
        self.script = script or (lambda n, body: (200, default_answer(body), 0.0, {}))
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.release = threading.Event()  # lets scripted 'hanging' requests finish
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output quiet
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n))
                with stub.lock:
                    idx = len(stub.bodies)
                    stub.bodies.append(body)
                    stub.auth.append(self.headers.get("Authorization"))
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                counted = [True]

                def done():
                    with stub.lock:
                        if counted[0]:
                            stub.in_flight -= 1
                            counted[0] = False
                try:
                    status, payload, delay, headers = stub.script(idx, body)
                    if delay == "hang":
                        stub.release.wait(30)
                        status, payload = 503, "released"
                    elif delay:
                        time.sleep(delay)
                    if isinstance(payload, str) and status == 200:
                        data = json.dumps({"id": f"c{idx}", "object": "chat.completion",
                                           "choices": [{"index": 0, "finish_reason": "stop",
                                                        "message": {"role": "assistant",
                                                                    "content": payload}}]}
                                          ).encode()
                    elif isinstance(payload, str):
                        data = payload.encode()
                    else:
                        data = payload or b""
                    # Out of flight before the answer leaves: once the client has it, it may
                    # send its next request before this thread runs again.
                    done()
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    done()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


def make_judge(url: str, **opts):
    base = {"base_url": url, "backoff": 0.01, "backoff_max": 0.05, "timeout": 5}
    return JUDGES.create("openai", model="stub-model", **{**base, **opts})


def items(fx, n=None):
    bench = BENCHMARKS.create("genai-bench")
    out = [x for x in bench.load(str(fx("genai-bench")), "test_v1") if hasattr(x, "label")]
    return out[:n] if n else out


def cfg_for(fx, tmp_path, url, run_name, **kw):
    opts = {"base_url": url, "backoff": 0.01, "backoff_max": 0.05, "timeout": 10,
            "concurrency": 2}
    opts.update(kw.pop("judge_options", {}))
    return RunConfig(judge="openai", bench="genai-bench", model="stub-model",
                     data_path=str(fx("genai-bench")), split="test_v1", out_dir=str(tmp_path),
                     run_name=run_name, batch_size=2, prefetch_workers=1, progress=False,
                     judge_options=opts, **kw)


def no_key_anywhere(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            assert KEY.encode() not in p.read_bytes(), f"API key leaked into {p}"


# --- request shape -----------------------------------------------------------------------------

def test_official_request_shape_and_auth(fx, api_key):
    it = items(fx, 1)[0]
    with Stub() as stub:
        judge = make_judge(stub.url)
        judge.load()
        [v] = judge.compare([it])
    body = stub.bodies[0]
    assert stub.auth == [f"Bearer {KEY}"]
    assert body["model"] == "stub-model" and body["temperature"] == 0.0 and body["top_p"] == 1.0
    sys_msg, user = body["messages"]
    assert sys_msg == {"role": "system", "content": [{"type": "text", "text": G.SYSTEM_MESSAGE}]}
    kinds = [p["type"] for p in user["content"]]
    assert kinds == ["text", "image_url", "text", "image_url", "text"]  # left image first
    for p in user["content"][1::2]:
        assert p["image_url"]["url"].startswith("data:image/png;base64,")
    text = "".join(p["text"] for p in user["content"] if p["type"] == "text")
    expect = G.TEMPLATE_IMAGE_GENERATION.replace("<prompt>", it.prompt)
    assert text == expect.replace("<left_image>", "").replace("<right_image>", "")
    # the verdict read from the stub's answer, with the official rule
    vote = G.extract_vote(default_answer(body))
    assert v.extras["official_vote_presented"] == vote
    assert v.preferred == G.vote_choice(vote)
    assert judge.info()["options"]["base_url"] == stub.url
    assert KEY not in json.dumps(judge.info())


def test_video_sent_as_upstream_frames(tmp_path):
    """Official protocol: each video becomes GenAI-Bench's 8 frames (arange(0, n, n/8)),
    each an image_url part where the video placeholder is; unifiedreward: video_frames."""
    from PIL import Image
    import base64
    import io
    from evalsuite.fixtures.media import write_mp4
    from evalsuite.types import Candidate, Label, MediaRef, PairItem

    left = write_mp4(tmp_path / "l.mp4", num_frames=20)
    right = write_mp4(tmp_path / "r.mp4", num_frames=5, color="blue")
    it = PairItem("video_generation/test_v1/0", "a moving square",
                  Candidate(MediaRef("video", path=str(left))),
                  Candidate(MediaRef("video", path=str(right))), Label.A)
    user = make_judge("http://127.0.0.1:9/v1").prepare_pair(it).body["messages"][1]["content"]
    kinds = [p["type"] for p in user]
    assert kinds == ["text"] + ["image_url"] * 8 + ["text"] + ["image_url"] * 5 + ["text"]
    url = user[1]["image_url"]["url"]
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert img.size == (64, 48)
    assert "Model A Generated Video: " in user[0]["text"]
    ur = make_judge("http://127.0.0.1:9/v1", protocol="unifiedreward", video_frames=4)
    user = ur.prepare_pair(it).body["messages"][-1]["content"]
    assert [p["type"] for p in user] == ["image_url"] * 8 + ["text"]


def test_official_protocol_warns_off_the_leaderboard_split(fx):
    bench = BENCHMARKS.create("genai-bench")
    it = next(x for x in bench.load(str(fx("genai-bench")), "test") if hasattr(x, "label"))
    judge = make_judge("http://127.0.0.1:9/v1")
    with pytest.warns(UserWarning, match="test_v1"):
        judge.prepare_pair(it)


def test_unifiedreward_protocol(fx):
    it = items(fx, 1)[0]
    with Stub(lambda n, b: (200, "Image 2 is better.", 0, {})) as stub:
        judge = make_judge(stub.url, protocol="unifiedreward")
        judge.load()
        [v] = judge.compare([it])
    assert v.preferred == "B"
    user = stub.bodies[0]["messages"][-1]["content"]
    assert [p["type"] for p in user] == ["image_url", "image_url", "text"]
    assert "Image 1 is better." in user[-1]["text"]
    assert stub.auth == [None]  # no key in the environment -> no header


def test_secret_options_refused():
    with pytest.raises(ValueError, match="environment variable"):
        JUDGES.create("openai", model="m", base_url="http://127.0.0.1:1/v1", api_key="sk-x")
    with pytest.raises(ValueError, match="credentials"):
        JUDGES.create("openai", model="m", base_url="http://u:sk-x@127.0.0.1:1/v1")
    with pytest.raises(ValueError, match="--model"):
        JUDGES.create("openai", base_url="http://127.0.0.1:1/v1")


# --- retries, errors, concurrency ------------------------------------------------------------

def test_429_three_times_then_success_costs_retries_not_errors(fx, tmp_path, api_key):
    def script(n, body):
        if n < 3:
            return 429, '{"error": "rate limited"}', 0, {"Retry-After": "0"}
        return 200, default_answer(body), 0, {}

    with Stub(script) as stub:
        cfg = cfg_for(fx, tmp_path, stub.url, "r429", limit=3)
        judge = JUDGES.create("openai", model="stub-model", **cfg.judge_options)
        out = execute(cfg, judge=judge)
    assert out.results["counts"]["errors"] == 0
    assert out.results["counts"]["judged"] == 3
    assert judge.stats["retries"] == 3 and judge.stats["failures"] == 0
    assert len(stub.bodies) == 3 + 3  # three refused + three answered
    no_key_anywhere(tmp_path)


def test_5xx_malformed_and_slow_answers_are_retried(fx, api_key):
    it = items(fx, 1)[0]
    plan = [(500, "oops", 0), (200, b"{not json", 0), (200, b'{"choices": []}', 0),
            (200, None, "hang")]  # the slow one never answers in time: it times out

    def script(n, body):
        if n < len(plan):
            s, p, d = plan[n]
            return s, p if p is not None else default_answer(body), d, {}
        return 200, default_answer(body), 0, {}

    with Stub(script) as stub:
        judge = make_judge(stub.url, timeout=1.0)  # ample for the prompt answers
        judge.load()
        [v] = judge.compare([it])
    assert v.preferred is not None or v.status.value == "unparsed"
    assert len(stub.bodies) == 5 and judge.stats["retries"] == 4


def test_non_retryable_error_fails_one_item_without_leaking_key(fx, tmp_path, api_key):
    bad_prompt = items(fx, 2)[1].prompt

    def script(n, body):
        text = body["messages"][-1]["content"][0]["text"]
        if bad_prompt in text:  # echo the auth header back, as a careless proxy might
            return 400, json.dumps({"error": "bad request", "auth": f"Bearer {KEY}"}), 0, {}
        return 200, default_answer(body), 0, {}

    with Stub(script) as stub:
        cfg = cfg_for(fx, tmp_path, stub.url, "r400", limit=4, max_error_rate=1.0)
        out = execute(cfg)
    errs = out.results["errors_sample"]
    assert errs and all("HTTP 400" in e["error"] for e in errs)
    assert all(KEY not in e["error"] for e in errs)
    # every item was asked once: a 400 is not retried, and the runner's one-by-one retry of
    # the failed batch reused the memoised answer and the memoised failure
    n_bad = sum(bad_prompt in b["messages"][-1]["content"][0]["text"] for b in stub.bodies)
    assert n_bad == 1 and len(stub.bodies) == 4
    assert out.results["counts"]["judged"] == 3 and out.results["counts"]["errors"] == 1
    no_key_anywhere(tmp_path)


def test_concurrency_is_bounded(fx):
    its = items(fx, 8)
    with Stub(lambda n, b: (200, default_answer(b), 0.15, {})) as stub:
        judge = make_judge(stub.url, concurrency=3)
        judge.load()
        vs = judge.compare(its)
    # Requests overlapped (more than one in flight at once) and never beyond the bound.
    assert len(vs) == 8 and 2 <= stub.max_in_flight <= 3


# --- kill and resume ---------------------------------------------------------------------------

def test_killed_run_resumes_without_paying_twice(fx, tmp_path, api_key):
    """A run SIGKILLed half-way and restarted asks only for unfinished items and ends with
    the same results.json / samples.jsonl as an uninterrupted run; the key is in no file."""
    data = fx("genai-bench")
    its = items(fx)
    # request digest -> item id, exactly as the runner presents each item (seeded swap)
    judge = make_judge("http://127.0.0.1:9/v1", concurrency=2)
    owner = {judge.prepare_pair(it.swapped() if swap_for(it.item_id, 0) else it).digest:
             it.item_id for it in its}
    assert len(owner) == len(its)

    hang_after = 8

    def first(n, body):
        if n >= hang_after:
            return 200, None, "hang", {}
        return 200, default_answer(body), 0, {}

    out_dir = tmp_path / "runs"
    with Stub(first) as stub:
        cmd = [sys.executable, "-m", "evalsuite", "run", "--judge", "openai", "--bench",
               "genai-bench", "--model", "stub-model", "--data-path", str(data), "--split",
               "test_v1", "--batch-size", "2", "--workers", "1", "--no-progress", "--out",
               str(out_dir), "--run-name", "killed"]
        for k, v in {"base_url": stub.url, "backoff": 0.01, "backoff_max": 0.05,
                     "timeout": 10, "concurrency": 2}.items():
            cmd += ["--option", f"{k}={v}"]
        env = {**os.environ, "OPENAI_API_KEY": KEY, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while len(stub.bodies) < hang_after + 1 and time.time() < deadline \
                and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.3)  # let the last finished batch reach the store
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert KEY.encode() not in err
        before = [digest(b) for b in stub.bodies]
        port = stub.server.server_address[1]  # the endpoint is part of the run's identity
    rec_file = out_dir / "killed" / "records-r0.jsonl"
    finished = {json.loads(line)["item_id"] for line in rec_file.read_text().splitlines()
                if line.endswith("}")}
    assert 0 < len(finished) < len(its)
    assert not (out_dir / "killed" / "results.json").exists()

    with Stub(port=port) as stub2:
        resumed = execute(cfg_for(fx, out_dir, stub2.url, "killed"))
        again = [owner[digest(b)] for b in stub2.bodies]
    assert not set(again) & finished, "a finished item was asked again"
    assert sorted(again) == sorted(set(i.item_id for i in its) - finished)
    assert resumed.computed == len(its) - len(finished)
    assert len(before) >= hang_after

    with Stub(port=port) as stub3:
        whole = execute(cfg_for(fx, out_dir, stub3.url, "whole"))
        assert len(stub3.bodies) == len(its)
    a, b = out_dir / "killed", out_dir / "whole"
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (a, b))
    assert ra["metrics"] == rb["metrics"] and ra["counts"] == rb["counts"]
    assert ra["counts"]["errors"] == 0 and ra["counts"]["judged"] == len(its)
    assert (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()
    assert resumed.results == whole.results
    # end to end: the run's samples.jsonl under the official rule = the stub's verdicts
    by_item = {owner[digest(bd)]: default_answer(bd) for bd in stub3.bodies}
    expect = [G.judge_answer(it.item_id, by_item[it.item_id], it.raw_label,
                             swap_for(it.item_id, 0)).correct for it in its]
    from evalsuite.protocols.rescore import rescore
    res = rescore("genai-bench", "official", b / "samples.jsonl")
    assert res["items"] == len(its) and res["accuracy"] == pytest.approx(sum(expect) / len(its))
    assert Path(res["written"]).parent == b
    no_key_anywhere(out_dir)


def test_backend_flag_maps_a_generative_judge_onto_the_endpoint():
    """`--judge unifiedreward --backend openai --base-url U` = the openai judge with the
    judge's own prompt family, asking for the checkpoint by its hub id."""
    from evalsuite.commands.run import apply_backend

    opts: dict = {}
    assert apply_backend("unifiedreward", None, "openai", "http://127.0.0.1:9/v1", opts) == (
        "openai", "CodeGoat24/UnifiedReward-qwen-7b")
    assert opts == {"base_url": "http://127.0.0.1:9/v1", "protocol": "unifiedreward",
                    "family": "unifiedreward-qwen"}
    opts = {}
    assert apply_backend("unifiedreward-llava-7b", "my-served-name", "openai",
                         "http://h/v1", opts)[1] == "my-served-name"
    assert opts["family"].startswith("unifiedreward-llava")
    opts = {}
    assert apply_backend("unifiedreward", None, "vllm", None, opts) == ("unifiedreward", None)
    assert opts == {"backend": "vllm"}
    with pytest.raises(ValueError, match="generative"):
        apply_backend("pickscore", None, "openai", "http://h/v1", {})
    with pytest.raises(ValueError, match="base-url"):
        apply_backend("unifiedreward", None, "openai", None, {})
    with pytest.raises(ValueError, match="unknown --backend"):
        apply_backend("unifiedreward", None, "tgi", None, {})
