"""Client of the reward service (``evalsuite serve``), and reward functions for RL trainers.

* :class:`RewardClient` - the HTTP API with client-side load balancing over replicas (the
  replica with the fewest requests in flight; one that failed is skipped for a while),
  retries with exponential backoff and jitter on connection errors, timeouts, 429 (its
  Retry-After honoured) and 5xx, and a per-request timeout. Rewards are idempotent, so a
  retried request is safe.
* :func:`trl_reward_function` - a reward function for TRL's ``GRPOTrainer`` (trl 1.16 calls
  ``reward_func(prompts=, completions=, completion_ids=, **dataset_columns, trainer_state=,
  log_extra=, log_metric=)`` and turns ``None`` into NaN), for VLM policies: the judge
  scores each completion as an answer to the prompt about its image.
* :class:`DiffusionReward` - ``(images, prompts, metadata) -> rewards`` for diffusion RL
  loops (Flow-GRPO's reward-function arguments, ``flow_grpo/rewards.py``; image tensors are
  converted as Flow-GRPO does: ``(x * 255).round().clamp(0, 255)`` uint8, NCHW -> NHWC).
  Samples are grouped by prompt, as Flow-GRPO's ``PerPromptStatTracker`` groups them, and
  each group is one ``/v1/group`` request (sent concurrently).
"""

from __future__ import annotations

import base64
import io
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class RewardServiceError(RuntimeError):
    """The service refused a request (4xx other than 429), or every retry failed."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _Replica:
    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.in_flight = 0
        self.down_until = 0.0  # skipped until then after a failure or a 429


class RewardClient:
    """``RewardClient(urls=["http://host:8000", ...])``; thread-safe.

    ``token`` (or the ``EVALSUITE_SERVE_TOKEN`` environment variable) is sent as a bearer
    token. ``retries`` extra attempts per request, waiting ``backoff * 2**attempt`` seconds
    (capped at ``max_backoff``, with jitter) or the server's Retry-After.
    """

    def __init__(self, urls: Sequence[str] | str, token: str | None = None,
                 timeout: float = 120.0, retries: int = 4, backoff: float = 0.5,
                 max_backoff: float = 10.0, max_concurrency: int = 32):
        import os

        import httpx

        urls = [urls] if isinstance(urls, str) else list(urls)
        if not urls:
            raise ValueError("RewardClient needs at least one URL")
        self._replicas = [_Replica(u) for u in urls]
        self._lock = threading.Lock()
        self._rr = 0
        token = token or os.environ.get("EVALSUITE_SERVE_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(timeout=timeout, headers=headers,
                                  limits=httpx.Limits(max_connections=max_concurrency))
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency,
                                        thread_name_prefix="reward-client")

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._http.close()

    def __enter__(self) -> "RewardClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transport ----------------------------------------------------------------------
    def _pick(self) -> _Replica:
        with self._lock:
            now = time.monotonic()
            up = [r for r in self._replicas if r.down_until <= now] or self._replicas
            least = min(r.in_flight for r in up)
            candidates = [r for r in up if r.in_flight == least]
            self._rr += 1
            r = candidates[self._rr % len(candidates)]
            r.in_flight += 1
            return r

    def _release(self, r: _Replica, down_for: float = 0.0) -> None:
        with self._lock:
            r.in_flight -= 1
            if down_for:
                r.down_until = max(r.down_until, time.monotonic() + down_for)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call with load balancing and retries; the decoded JSON answer."""
        import httpx

        last = "no attempt"
        for attempt in range(self.retries + 1):
            r = self._pick()
            wait = min(self.max_backoff, self.backoff * 2 ** attempt) * (0.5 + random.random())
            try:
                resp = self._http.request(method, r.url + path, json=body)
            except httpx.HTTPError as e:  # connection refused, reset, timeout
                self._release(r, down_for=wait)
                last = f"{r.url}: {type(e).__name__}: {e}"
            else:
                if resp.status_code < 400:
                    self._release(r)
                    return resp.json() if path != "/metrics" else resp.text
                if resp.status_code not in RETRY_STATUS:
                    self._release(r)
                    raise RewardServiceError(f"{r.url}{path}: HTTP {resp.status_code}: "
                                             f"{resp.text[:500]}", resp.status_code)
                retry_after = _seconds(resp.headers.get("retry-after"))
                if retry_after is not None:
                    wait = min(max(retry_after, wait), self.max_backoff)
                self._release(r, down_for=wait)
                last = f"{r.url}: HTTP {resp.status_code}"
            if attempt < self.retries:
                if all(x.down_until > time.monotonic() for x in self._replicas):
                    time.sleep(wait)
        raise RewardServiceError(f"{path}: gave up after {self.retries + 1} attempts "
                                 f"({last})")

    # -- the API ------------------------------------------------------------------------
    def health(self) -> list[Any]:
        """``/health`` of every replica (an error text for one that does not answer)."""
        out = []
        for r in self._replicas:
            try:
                resp = self._http.get(r.url + "/health")
                out.append(resp.json())
            except Exception as e:  # noqa: BLE001 - reported per replica
                out.append({"status": "unreachable", "url": r.url, "error": str(e)})
        return out

    def score(self, items: Sequence[dict[str, Any]], **options: Any) -> dict[str, Any]:
        """``/v1/score``: items are ``{"prompt", "media"|"text", "context", "task"}``; media
        may be PIL images, arrays, tensors, bytes or paths (see :func:`media`)."""
        return self.request("POST", "/v1/score", {
            "items": [_item(it) for it in items], **options})

    def compare(self, pairs: Sequence[dict[str, Any]], **options: Any) -> dict[str, Any]:
        """``/v1/compare``: pairs are ``{"prompt", "a", "b", "context", "task", "id"}`` with
        ``a`` / ``b`` a media object or ``{"media", "text"}``."""
        return self.request("POST", "/v1/compare", {"pairs": [
            {**p, "a": _candidate(p["a"]), "b": _candidate(p["b"]),
             **({"context": media(p["context"])} if p.get("context") is not None else {})}
            for p in pairs], **options})

    def group(self, prompt: str, candidates: Sequence[Any], scheme: str = "win-rate",
              context: Any = None, **options: Any) -> dict[str, Any]:
        """``/v1/group``: one prompt, G candidates, per-candidate rewards under ``scheme``."""
        body = {"prompt": prompt, "candidates": [_candidate(c) for c in candidates],
                "scheme": scheme, **options}
        if context is not None:
            body["context"] = media(context)
        return self.request("POST", "/v1/group", body)

    def groups(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several :meth:`group` calls (keyword dicts) at once, answers in order."""
        futs = [self._pool.submit(lambda kw=kw: self.group(**kw)) for kw in requests]
        return [f.result() for f in futs]

    def map(self, fn: Callable[..., Any], args: Sequence[Any]) -> list[Any]:
        """``fn(arg)`` for each arg on the client's threads (e.g. many small score calls)."""
        return list(self._pool.map(fn, args))


def _seconds(v: str | None) -> float | None:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


# -- media encoding ------------------------------------------------------------------------

def media(x: Any, kind: str = "image") -> dict[str, Any]:
    """A request media object from a PIL image, an HWC uint8 array, a CHW float tensor in
    [0, 1] (converted as Flow-GRPO does), bytes, a ``pathlib.Path`` (its bytes are sent), an
    http(s) URL string, or a ready dict (``{"path": ...}`` for the server's --media-root)."""
    if isinstance(x, dict):
        return x
    if isinstance(x, str):
        if x.startswith(("http://", "https://")):
            return {"type": kind, "url": x}
        x = Path(x)
    if isinstance(x, Path):
        if x.suffix.lower() in (".mp4", ".webm", ".avi", ".mov", ".mkv"):
            kind = "video"
        x = x.read_bytes()
    if isinstance(x, (bytes, bytearray)):
        return {"type": kind, "data": base64.b64encode(bytes(x)).decode()}
    return {"type": "image", "data": base64.b64encode(_png(x)).decode()}


def _png(x: Any) -> bytes:
    from PIL import Image

    if not isinstance(x, Image.Image):
        import numpy as np

        if hasattr(x, "detach"):  # a torch tensor, CHW in [0, 1] (Flow-GRPO's conversion)
            x = (x.detach() * 255).round().clamp(0, 255).to("cpu").byte().numpy()
            x = x.transpose(1, 2, 0)
        x = Image.fromarray(np.asarray(x))
    buf = io.BytesIO()
    x.save(buf, format="PNG")
    return buf.getvalue()


def _candidate(c: Any) -> dict[str, Any]:
    if isinstance(c, dict) and ("media" in c or "text" in c):
        return {**({"media": media(c["media"])} if c.get("media") is not None else {}),
                **({"text": c["text"]} if c.get("text") is not None else {})}
    return {"media": media(c)}


def _item(it: dict[str, Any]) -> dict[str, Any]:
    out = dict(it)
    if out.get("media") is not None:
        out["media"] = media(out["media"])
    if out.get("context") is not None:
        out["context"] = media(out["context"])
    return out


def _nan_for_none(values: Sequence[float | None]) -> "Any":
    import numpy as np
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


# -- ready-made reward functions -------------------------------------------------------------

class DiffusionReward:
    """``reward(images, prompts, metadata) -> np.ndarray`` for diffusion RL loops.

    Samples sharing a prompt form one group (``scheme`` ``win-rate`` | ``score`` |
    ``score-zscore``; ``options`` go to ``/v1/group``, e.g. ``normalize="pref-grpo"``).
    A candidate without a reward (unreadable answers under ``--unparsed report``, bad
    media) is NaN; :attr:`last` keeps the service's answers of the last call (details,
    unparsed counts). ``flow_grpo`` adapts it to Flow-GRPO's ``(rewards, info)`` return.
    """

    def __init__(self, client: RewardClient, scheme: str = "win-rate", **options: Any):
        self.client, self.scheme, self.options = client, scheme, options
        self.last: list[dict[str, Any]] = []
        self.__name__ = f"evalsuite_{scheme.replace('-', '_')}"

    def __call__(self, images: Any, prompts: Sequence[str], metadata: Any = None) -> Any:
        images = list(images)  # a batch tensor iterates over its samples
        if len(images) != len(prompts):
            raise ValueError(f"{len(images)} images for {len(prompts)} prompts")
        groups: dict[str, list[int]] = {}
        for k, p in enumerate(prompts):
            groups.setdefault(p, []).append(k)
        answers = self.client.groups([
            {"prompt": p, "candidates": [images[k] for k in idx], "scheme": self.scheme,
             **self.options} for p, idx in groups.items()])
        rewards: list[float | None] = [None] * len(prompts)
        for idx, ans in zip(groups.values(), answers):
            for k, r in zip(idx, ans["rewards"]):
                rewards[k] = r
        self.last = answers
        return _nan_for_none(rewards)

    def flow_grpo(self, images: Any, prompts: Sequence[str], metadata: Any = None):
        """Flow-GRPO's reward-function return: ``(rewards, info)``."""
        return self(images, prompts, metadata), {"evalsuite": self.last}


def trl_reward_function(client: RewardClient, scheme: str = "score",
                        name: str = "evalsuite_reward", **options: Any) -> Callable[..., list]:
    """A TRL ``GRPOTrainer`` reward function for VLM policies.

    Each completion is judged as an answer (task ``understanding``) to its prompt's text
    about its image (the dataset's ``image`` column, or a one-image ``images`` column).
    ``scheme="score"``: the judge's pointwise score; ``"win-rate"`` (or ``"score-zscore"``):
    completions of the same prompt and image form one group. Returns one float per
    completion, ``None`` where the service gave no reward (TRL turns it into NaN and
    ignores it).
    """

    def reward(prompts, completions, **kwargs) -> list[float | None]:
        images = kwargs.get("images") or kwargs.get("image")
        n = len(prompts)
        if images is None:
            images = [None] * n
        questions = [_text_of(p) for p in prompts]
        answers = [_text_of(c) for c in completions]
        contexts = [None if im is None else media(im) for im in map(_single_image, images)]
        if scheme == "score":
            res = client.score([{"prompt": q, "text": a, "task": "understanding",
                                 **({"context": c} if c is not None else {})}
                                for q, a, c in zip(questions, answers, contexts)], **options)
            return list(res["rewards"])
        groups: dict[tuple[str, int], list[int]] = {}
        for k in range(n):
            groups.setdefault((questions[k], _identity(contexts[k])), []).append(k)
        outs = client.groups([
            {"prompt": questions[idx[0]], "candidates": [{"text": answers[k]} for k in idx],
             "context": contexts[idx[0]], "task": "understanding", "scheme": scheme,
             **options} for idx in groups.values()])
        rewards: list[float | None] = [None] * n
        for idx, ans in zip(groups.values(), outs):
            for k, r in zip(idx, ans["rewards"]):
                rewards[k] = r
        return rewards

    reward.__name__ = name
    return reward


def _text_of(x: Any) -> str:
    """The text of a plain string, or of a conversation's last message (TRL's formats)."""
    if isinstance(x, str):
        return x
    msg = x[-1] if isinstance(x, list) else x
    content = msg["content"] if isinstance(msg, dict) else msg
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content
                   if isinstance(part, dict) and part.get("type") == "text")


def _single_image(im: Any) -> Any:
    if isinstance(im, (list, tuple)):
        if len(im) > 1:
            raise ValueError(f"{len(im)} images in one example; the judge takes one question "
                             "image")
        return im[0] if im else None
    return im


def _identity(m: dict[str, Any] | None) -> str:
    """The same image (by content) -> the same key, so TRL's repeated rows group together."""
    import hashlib
    import json
    return "" if m is None else hashlib.sha1(json.dumps(m, sort_keys=True).encode()).hexdigest()
