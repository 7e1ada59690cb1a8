"""A pairwise judge behind any OpenAI-compatible chat-completions endpoint (vLLM, SGLang,
TGI, LM Studio, a hosted API).

    evalsuite run --judge openai --option base_url=http://host:8000/v1 --model <served name> \\
        --bench genai-bench --split test_v1 --option protocol=official

Options (``--option key=value``):

* ``base_url`` (required): the API root; ``/chat/completions`` is appended.
* ``protocol``: ``official`` (GenAI-Bench's 4-way ``[[A>B]]`` prompt and verdicts,
  :mod:`evalsuite.protocols.genai_bench`), ``unifiedreward`` (the UnifiedReward prompts of
  :mod:`evalsuite.judges.prompts`, family ``family``, default ``unifiedreward-qwen``), or
  ``auto`` (default: official for generation / editing pairs, unifiedreward otherwise).
* ``api_key_env`` (default ``OPENAI_API_KEY``): the environment variable holding the key.
  The key itself is never an option, and never written to config, results, samples or logs;
  without the variable no ``Authorization`` header is sent (local servers).
* ``concurrency`` (8): requests in flight at once inside a batch (a thread pool).
* ``timeout`` (120 s), ``max_retries`` (6), ``backoff`` (1 s), ``backoff_max`` (60 s):
  every transient transport failure - 408 / 409 / 429 / 5xx, connection refused or reset,
  timeouts, a truncated body, a reply that is not HTTP, malformed JSON - is retried with
  the same exponential backoff and jitter (``Retry-After`` honoured, capped); other 4xx
  fail the item at once.

Secrets: the key is registered with :mod:`evalsuite.redact` when it is read, so an answer,
an error body or a header a server echoes it in is masked before it is cut, kept or
written (and so is any ``Authorization`` value or credential in a URL).
* ``temperature`` (0.0), ``top_p`` (1.0: GenAI-Bench's GPT-4o settings), ``max_tokens``
  (unset), ``seed`` (unset), ``system`` (official protocol: send the GPT-4o system message,
  default true), ``image_format`` (png | jpeg), ``video_frames`` (unifiedreward prompts:
  frames per video, default 8; the official protocol uses GenAI-Bench's own 8-frame choice).

Images and video frames are sent as base64 ``data:`` URLs in ``image_url`` parts. Each
finished batch is stored by the runner, so an interrupted run resumes without asking again
for finished items; the default batch size equals the default concurrency, so at most one
round of requests is lost to a kill. Within one invocation, answers (and final failures) are
memoised by request, so the runner's one-by-one retry of a failed batch pays for nothing
twice; a new invocation (``--retry-errors``) asks again.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

from evalsuite import redact as R
from evalsuite.judges.base import Judge
from evalsuite.types import FrameSpec, MediaRef, PairItem, ParseStatus, Verdict

RETRY_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
_SECRET_OPTIONS = ("api_key", "key", "token", "authorization", "openai_api_key")
ERROR_BODY_READ = 65536  # bytes of an error body read (and redacted) before it is cut
ERROR_BODY_SHOWN = 300  # characters of it kept in the item's error


class EndpointError(RuntimeError):
    """A request that failed for good (after retries, or a non-retryable status)."""


@dataclass
class Prepared:
    body: dict[str, Any]
    digest: str  # sha256 of the request body: the memo key
    parse: Callable[[str], Verdict]


class OpenAIJudge(Judge):
    name: ClassVar[str] = "openai"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "base_url": "API root, e.g. http://127.0.0.1:8000/v1 (or --base-url)",
        "protocol": "auto | official | unifiedreward",
        "family": "prompt family (unifiedreward)",
        "api_key_env": "environment variable holding the key (default OPENAI_API_KEY)",
        "concurrency": "requests in flight (default 8)",
        "timeout": "seconds per request (120)",
        "max_retries": "retries on 429 / 5xx / timeouts (6)",
        "backoff": "first backoff, s (1)",
        "backoff_max": "longest backoff, s (60)",
        "image_format": "png | jpeg",
        "video_frames": "frames sent per video (8)",
        "system": "send the system prompt (true)",
        "temperature": "sampling temperature (0)",
        "top_p": "nucleus sampling (1)",
        "max_tokens": "cap on answer tokens",
        "seed": "sampling seed sent to the server",
    }
    pairwise: ClassVar[bool] = True
    pointwise: ClassVar[bool] = False
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "video"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation", "edit", "understanding"})
    requires: ClassVar[tuple[str, ...]] = ()  # standard library only (urllib)
    default_model: ClassVar[str] = ""
    card_note: ClassVar[str] = "none: an OpenAI-compatible endpoint (`--option base_url=...`)"
    no_fixture: ClassVar[str] = "no weights: tests answer from a local stub endpoint"
    default_batch_size: ClassVar[int] = 8

    def __init__(self, model: str | None = None, model_path: str | None = None,
                 revision: str | None = None, device: str | None = None,
                 dtype: str | None = None, **options: Any):
        bad = [k for k in options if k.lower() in _SECRET_OPTIONS]
        if bad:
            raise ValueError(f"option {bad[0]!r} would record a secret in config.json and "
                             "results; put the key in an environment variable and pass "
                             "--option api_key_env=NAME (default OPENAI_API_KEY)")
        if not model:
            raise ValueError("the openai judge needs --model <served model name>")
        base_url = options.get("base_url")
        if not base_url or not isinstance(base_url, str):
            raise ValueError("the openai judge needs --option base_url=http://host:port/v1")
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if parts.username or parts.password or parts.query:
            raise ValueError("base_url must not carry credentials or a query string (they "
                             "would be recorded); use api_key_env")
        super().__init__(model=model, model_path=None, revision=None, device="remote",
                         dtype="n/a", **options)
        o = self.options
        self.base_url = base_url.rstrip("/")
        self.protocol = str(o.get("protocol", "auto"))
        if self.protocol not in ("auto", "official", "unifiedreward"):
            raise ValueError("protocol must be auto | official | unifiedreward")
        self.family = str(o.get("family", "unifiedreward-qwen"))
        self.api_key_env = str(o.get("api_key_env", "OPENAI_API_KEY"))
        self.concurrency = max(1, int(o.get("concurrency", 8)))
        self.timeout = float(o.get("timeout", 120.0))
        self.max_retries = max(0, int(o.get("max_retries", 6)))
        self.backoff = float(o.get("backoff", 1.0))
        self.backoff_max = float(o.get("backoff_max", 60.0))
        self.image_format = str(o.get("image_format", "png")).lower()
        if self.image_format not in ("png", "jpeg"):
            raise ValueError("image_format must be png or jpeg")
        self.video_frames = int(o.get("video_frames", 8))
        # Loopback endpoints bypass any HTTP(S)_PROXY of the environment.
        self._opener = urllib.request.build_opener(
            *([urllib.request.ProxyHandler({})] if parts.hostname in
              ("127.0.0.1", "localhost", "::1") else []))
        self._key: str | None = None
        self._memo: dict[str, str | EndpointError] = {}
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "failures": 0, "memo_hits": 0}

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        self._key = os.environ.get(self.api_key_env) or None
        R.register(self._key)  # masked in everything written from now on

    def info(self) -> dict[str, Any]:
        safe = {k: v for k, v in self.options.items() if isinstance(v, (str, int, float, bool))
                and k.lower() not in _SECRET_OPTIONS}
        return {"judge": self.name, "model": self.model_id, "model_path": None,
                "revision": None, "dtype": None, "device": "remote", "endpoint": self.base_url,
                "options": safe}

    # -- prompts --------------------------------------------------------------------------
    def _protocol_for(self, item: PairItem) -> str:
        if self.protocol != "auto":
            return self.protocol
        return "unifiedreward" if item.task == "understanding" else "official"

    def prepare_pair(self, item: PairItem) -> Prepared:
        proto = self._protocol_for(item)
        if proto == "official":
            from evalsuite.protocols import genai_bench as G
            config = G.config_for(item)
            self._check_split(item)
            msgs = G.build_messages(item, config, system=bool(self.options.get("system", True)))
            parse = _parse_official
        else:
            from evalsuite.judges.prompts import build_messages, pair_mode, template_for
            mode = pair_mode(item)
            scheme = template_for(self.family, mode).verdict
            msgs = build_messages(item, self.family, mode)
            parse = _verdict_parser(scheme)
        body: dict[str, Any] = {"model": self.model_id,
                                "messages": [self._encode_message(m, proto) for m in msgs],
                                "temperature": float(self.options.get("temperature", 0.0)),
                                "top_p": float(self.options.get("top_p", 1.0))}
        for opt in ("max_tokens", "seed"):
            if self.options.get(opt) is not None:
                body[opt] = int(self.options[opt])
        blob = json.dumps(body, sort_keys=True, ensure_ascii=False).encode()
        return Prepared(body, hashlib.sha256(blob).hexdigest(), parse)

    def _check_split(self, item: PairItem) -> None:
        """Warn once when GenAI-Bench items are not from the leaderboard split test_v1."""
        from evalsuite.protocols.genai_bench import OFFICIAL_SPLIT
        parts = item.item_id.split("/")
        if len(parts) == 3 and parts[1] != OFFICIAL_SPLIT and not getattr(self, "_warned", 0):
            self._warned = 1
            warnings.warn(f"GenAI-Bench's leaderboard protocol uses split {OFFICIAL_SPLIT!r}; "
                          f"these items are from {parts[1]!r} (pass --split {OFFICIAL_SPLIT})",
                          stacklevel=2)

    def _encode_message(self, msg: dict[str, Any], proto: str) -> dict[str, Any]:
        content = msg["content"]
        if isinstance(content, str):
            return {"role": msg["role"], "content": content}
        parts: list[dict[str, Any]] = []
        for p in content:
            if p["type"] == "text":
                parts.append({"type": "text", "text": p["text"]})
            elif p["type"] == "image":
                parts.append(self._image_part(_image_of(p["media"])))
            elif p["type"] == "video":
                for frame in self._frames(p["media"], proto):
                    parts.append(self._image_part(frame))
            else:
                raise ValueError(f"unsupported message part {p['type']!r}")
        return {"role": msg["role"], "content": parts}

    def _frames(self, ref: MediaRef, proto: str) -> list[Any]:
        from PIL import Image

        from evalsuite.media import load_video
        if proto == "official":
            from evalsuite.protocols.genai_bench import frame_indices
            clip = load_video(ref, FrameSpec())  # every frame, then upstream's choice
            idx = frame_indices(len(clip))
        else:
            clip = load_video(ref, FrameSpec(num_frames=self.video_frames))
            idx = list(range(len(clip)))
        return [Image.fromarray(clip[i]) for i in idx]

    def _image_part(self, img) -> dict[str, Any]:
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format=self.image_format.upper())
        b64 = base64.b64encode(buf.getvalue()).decode("ascii")
        return {"type": "image_url",
                "image_url": {"url": f"data:image/{self.image_format};base64,{b64}"}}

    # -- requests -------------------------------------------------------------------------
    def compare_batch(self, prepared: list[Prepared]) -> list[Verdict]:
        if len(prepared) == 1:
            texts = [self._answer(prepared[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prepared)),
                                    thread_name_prefix="openai") as pool:
                texts = list(pool.map(self._answer, prepared))
        return [p.parse(t) for p, t in zip(prepared, texts)]

    def _answer(self, p: Prepared) -> str:
        with self._lock:
            if p.digest in self._memo:
                self.stats["memo_hits"] += 1
                hit = self._memo[p.digest]
                if isinstance(hit, EndpointError):
                    raise hit
                return hit
        try:
            text = self._post(p.body)
        except EndpointError as e:
            with self._lock:
                self._memo[p.digest] = e  # the runner's one-by-one retry must not re-ask
            raise
        with self._lock:
            self._memo[p.digest] = text
        return text

    def _post(self, body: dict[str, Any]) -> str:
        url = self.base_url + "/chat/completions"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if attempt:
                with self._lock:
                    self.stats["retries"] += 1
            with self._lock:
                self.stats["requests"] += 1
            retry_after = None
            try:
                req = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with self._opener.open(req, timeout=self.timeout) as resp:
                    raw = resp.read()  # IncompleteRead when the body is cut short
                try:
                    return R.redact(_content_of(json.loads(raw)))
                except (ValueError, KeyError, IndexError, TypeError) as e:
                    last = R.redact_cut(f"malformed response: {type(e).__name__}: {e}",
                                        ERROR_BODY_SHOWN)
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}: {_snippet(e)}"
                if e.code not in RETRY_STATUS:
                    self._fail()
                    raise EndpointError(last) from None
                retry_after = _retry_after(e.headers.get("Retry-After") if e.headers else None)
            except (urllib.error.URLError, http.client.HTTPException, socket.timeout,
                    TimeoutError, ConnectionError, OSError) as e:
                # Transport failures, all transient: refused / reset connections, timeouts,
                # a truncated body (IncompleteRead), a reply that is not HTTP (BadStatusLine).
                last = R.redact_cut(f"{type(e).__name__}: {getattr(e, 'reason', e)}",
                                    ERROR_BODY_SHOWN)
            if attempt < self.max_retries:
                delay = min(self.backoff_max, self.backoff * (2 ** attempt))
                delay *= 0.5 + random.random() / 2  # jitter
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.backoff_max))
                time.sleep(delay)
        self._fail()
        raise EndpointError(R.redact(f"gave up after {self.max_retries + 1} attempts; "
                                     f"last: {last}"))

    def _fail(self) -> None:
        with self._lock:
            self.stats["failures"] += 1


# --- helpers ---------------------------------------------------------------------------------

def _image_of(ref: MediaRef):
    from evalsuite.media import load_image
    return load_image(ref)


def _content_of(payload: Any) -> str:
    """choices[0].message.content as text (a list of text parts is joined)."""
    msg = payload["choices"][0]["message"]
    content = msg.get("content")
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise TypeError(f"content is a {type(content).__name__}")
    return content


def _snippet(e: urllib.error.HTTPError) -> str:
    """The start of an error body for the item's error: read in full (up to 64 KiB),
    redacted, and only then cut, so no part of a secret survives the cut."""
    try:
        text = e.read(ERROR_BODY_READ).decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 - only for the message
        text = str(e.reason)
    return R.redact_cut(text, ERROR_BODY_SHOWN)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _parse_official(text: str) -> Verdict:
    from evalsuite.protocols import genai_bench as G

    vote = G.extract_vote(text)
    choice = G.vote_choice(vote)
    # the vote as given, in the presented order (the runner maps `preferred` back).
    return Verdict.from_choice(choice, text, extras={"official_vote_presented": vote})


def _verdict_parser(scheme: str | None) -> Callable[[str], Verdict]:
    from evalsuite.judges.parsing import parse_verdict

    if scheme is None:
        raise ValueError("this prompt has no verdict scheme")

    def parse(text: str) -> Verdict:
        p = parse_verdict(text, scheme)
        if p.status == ParseStatus.UNPARSED:
            return Verdict.from_choice(None, text, extras={"rule": p.rule})
        return Verdict.from_choice(p.choice, text, extras={"rule": p.rule})
    return parse


# Options of the HTTP client alone (where and how to ask, not what): a benchmark that asks an
# endpoint through this client (an answer extractor, an MLLM judge) passes them on under a
# prefix, e.g. ``--bench-option judge_timeout=60``.
TRANSPORT_OPTIONS = ("base_url", "api_key_env", "concurrency", "timeout", "max_retries",
                     "backoff", "backoff_max")


def transport_options(prefix: str, who: str) -> dict[str, str]:
    """``option_help`` entries for the client options a benchmark forwards under ``prefix``."""
    return {prefix + k: f"{who}: {OpenAIJudge.option_help[k]}" for k in TRANSPORT_OPTIONS}

