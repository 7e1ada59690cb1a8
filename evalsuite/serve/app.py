"""The ASGI app (FastAPI): ``/v1/score``, ``/v1/compare``, ``/v1/group``, ``/health``, ``/metrics``.

* Judges load once, in the app's lifespan (before uvicorn accepts connections; on Ray Serve
  in each replica).
* Safety: optional bearer token on ``/v1/*`` and ``/metrics`` (``hmac.compare_digest``;
  the token is never logged or echoed); request bodies above ``max_request_bytes`` are
  refused (413) before they are read whole; more than ``max_items`` items or
  ``max_group`` candidates is 413; a malformed body is 422 without echoing the input (no
  media bytes in responses or logs); media that cannot be read is an error on that item
  (HTTP 200); a full queue is 429 with Retry-After.
* ``/metrics``: Prometheus text format (prometheus_client, one registry per app).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime.

import asyncio
import base64
import binascii
import hmac
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import HTTPException

from evalsuite.media import MediaError, resolve
from evalsuite.serve.batching import BatchObserver, QueueFull
from evalsuite.serve.config import ServeConfig
from evalsuite.serve.engine import (BadRequest, Observer, RewardEngine, pair_item,
                                    point_item)
from evalsuite.types import Candidate, MediaRef

log = logging.getLogger("evalsuite.serve")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics(Observer):
    """Prometheus metrics of one app (its own registry, so several apps can coexist)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        r = self.registry = CollectorRegistry()
        p = "evalsuite_serve_"
        self.requests = Counter(p + "requests", "HTTP requests by endpoint and status code",
                                ["endpoint", "code"], registry=r)
        self.latency = Histogram(p + "request_seconds", "Request latency", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.rejected = Counter(p + "rejected", "Requests refused with 429 (queue full)",
                                ["endpoint"], registry=r)
        self.items = Counter(p + "items", "Items, pairs and group candidates received",
                             ["endpoint"], registry=r)
        self.batch_size = Histogram(p + "batch_size", "Units per model call",
                                    ["judge", "kind"], buckets=SIZE_BUCKETS, registry=r)
        self.batch_seconds = Histogram(p + "batch_seconds", "Seconds per model call",
                                       ["judge", "kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_wait = Histogram(p + "queue_wait_seconds", "Wait from enqueue to batch",
                                    ["judge", "kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge(p + "queue_depth", "Units waiting for a batch",
                                 ["judge", "kind"], registry=r)
        self.unparsed_total = Counter(p + "unparsed", "Unreadable judge answers",
                                      ["judge", "endpoint"], registry=r)
        self.errors_total = Counter(p + "item_errors", "Items that failed (bad media, model)",
                                    ["judge", "endpoint"], registry=r)

    def batcher(self, judge: str, kind: str) -> BatchObserver:
        m = self

        class _Obs(BatchObserver):
            def batch(self, size: int, seconds: float, queue_wait: float) -> None:
                m.batch_size.labels(judge, kind).observe(size)
                m.batch_seconds.labels(judge, kind).observe(seconds)
                m.queue_wait.labels(judge, kind).observe(queue_wait)
        return _Obs()

    def watch_queue(self, judge: str, kind: str, depth) -> None:
        self.queue_depth.labels(judge, kind).set_function(depth)

    def unparsed(self, judge: str, endpoint: str, n: int) -> None:
        self.unparsed_total.labels(judge, endpoint).inc(n)

    def item_errors(self, judge: str, endpoint: str, n: int) -> None:
        self.errors_total.labels(judge, endpoint).inc(n)


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI re-raises it from its body reading (a 413, not a 400)."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body above {limit} bytes")


class Guard:
    """Pure ASGI middleware: request size limit, per-endpoint latency and status metrics."""

    def __init__(self, app, max_bytes: int, metrics: Metrics):
        self.app, self.max_bytes, self.metrics = app, max_bytes, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        endpoint = scope["path"] if scope["path"] in ENDPOINTS else "other"
        t0 = time.perf_counter()
        status = {"code": 500, "started": False}

        async def tracked_send(msg):
            if msg["type"] == "http.response.start":
                status["code"], status["started"] = msg["status"], True
            await send(msg)

        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and int(length) > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            seen = 0

            async def limited_receive():
                nonlocal seen
                msg = await receive()
                if msg["type"] == "http.request":
                    seen += len(msg.get("body", b""))
                    if seen > self.max_bytes:
                        raise BodyTooLarge(self.max_bytes)
                return msg

            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge as e:  # refused before the app saw the body
            if status["started"]:
                raise
            await _send_json(tracked_send, 413, {"detail": e.detail})
        finally:
            self.metrics.requests.labels(endpoint, str(status["code"])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)


async def _send_json(send, code: int, body: dict[str, Any]) -> None:
    import json
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


ENDPOINTS = ("/v1/score", "/v1/compare", "/v1/group", "/health", "/metrics")


class MediaReader:
    """Request media -> MediaRef, or MediaError (that item's error)."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg

    async def ref(self, m) -> MediaRef | None:
        if m is None:
            return None
        if m.data is not None:
            s = m.data
            if s.startswith("data:"):
                head, sep, s = s.partition(",")
                if not sep or ";base64" not in head:
                    raise MediaError("a data: URL must be base64-encoded")
            try:
                raw = base64.b64decode(s, validate=True)
            except (binascii.Error, ValueError) as e:
                raise MediaError(f"bad base64 ({e})") from None
            if not raw:
                raise MediaError("empty media")
            return MediaRef(kind=m.type, data=raw)
        if m.path is not None:
            if self.cfg.media_root is None:
                raise MediaError("file paths are refused: the server has no --media-root")
            ref = MediaRef(kind=m.type, path=m.path, root=self.cfg.media_root)
            resolve(ref)  # refuses a path that escapes the root, before any work is queued
            return ref
        if not self.cfg.allow_urls:
            raise MediaError("URLs are refused: start the server with --allow-urls")
        return MediaRef(kind=m.type, data=await self._download(m.url))

    async def _download(self, url: str) -> bytes:
        import httpx

        if not url.startswith(("http://", "https://")):
            raise MediaError("only http(s) URLs are fetched")
        try:
            async with httpx.AsyncClient(timeout=self.cfg.url_timeout_s,
                                         follow_redirects=True) as client:
                async with client.stream("GET", url) as r:
                    if r.status_code != 200:
                        raise MediaError(f"URL answered HTTP {r.status_code}")
                    chunks, size = [], 0
                    async for c in r.aiter_bytes():
                        size += len(c)
                        if size > self.cfg.max_url_bytes:
                            raise MediaError(f"URL media above {self.cfg.max_url_bytes} bytes")
                        chunks.append(c)
        except httpx.HTTPError as e:
            raise MediaError(f"URL fetch failed: {type(e).__name__}") from None
        if not size:
            raise MediaError("empty media")
        return b"".join(chunks)

    async def candidate(self, c) -> Candidate:
        return Candidate(media=await self.ref(c.media), text=c.text)

    async def guarded(self, coro) -> Any:
        """The awaited value, or the item's error text when its media is bad."""
        try:
            return await coro
        except MediaError as e:
            return f"bad media: {e}"


def create_app(cfg: ServeConfig, judges: dict[str, Any] | None = None):
    """The reward service as an ASGI app. ``judges`` (name -> judge object) skips building
    them from the registry (embedding, tests)."""
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response

    from evalsuite.serve.schemas import CompareRequest, GroupRequest, ScoreRequest

    metrics = Metrics()
    engine = RewardEngine(cfg, metrics, judges)
    media = MediaReader(cfg)

    @asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(engine.start)
        for judge, kind, b in engine.batchers():
            metrics.watch_queue(judge, kind, b.depth)
        log.info("serving %s", ", ".join(f"{s.name} (weight {s.spec.weight})"
                                          for s in engine.slots))
        try:
            yield
        finally:
            await asyncio.to_thread(engine.close)

    app = FastAPI(title="evalsuite reward service", lifespan=lifespan)
    app.state.engine, app.state.metrics = engine, metrics
    app.add_middleware(Guard, max_bytes=cfg.max_request_bytes, metrics=metrics)

    def authorized(request: Request) -> None:
        if cfg.token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(),
                                                                 cfg.token.encode()):
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        # Only where and why: pydantic's default detail echoes the input (media bytes).
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()]})

    def limit(endpoint: str, n: int, most: int, what: str) -> None:
        metrics.items.labels(endpoint).inc(n)
        if n > most:
            raise HTTPException(413, f"{n} {what}; this server takes at most {most}")

    async def answer(endpoint: str, coro):
        try:
            return JSONResponse(await coro)  # plain JSON types: no jsonable_encoder pass
        except QueueFull as e:
            metrics.rejected.labels(endpoint).inc()
            return JSONResponse(status_code=429, content={"detail": str(e)},
                                headers={"Retry-After": str(int(e.retry_after))})
        except BadRequest as e:
            raise HTTPException(400, str(e)) from None

    @app.get("/health")
    async def health():
        return {"status": "ok", "judges": engine.info(),
                "queue": {f"{j}/{k}": b.depth() for j, k, b in engine.batchers()},
                "unparsed_policy": cfg.unparsed}

    @app.get("/metrics", dependencies=[Depends(authorized)])
    async def prometheus():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/score", dependencies=[Depends(authorized)])
    async def score(req: ScoreRequest):
        limit("/v1/score", len(req.items), cfg.max_items, "items")

        async def item(it):
            cand = await media.candidate(it)
            return point_item(it.prompt, cand, await media.ref(it.context), it.task)
        items = await asyncio.gather(*(media.guarded(item(it)) for it in req.items))
        return await answer("/v1/score", engine.score(items, req.unparsed, req.return_raw))

    @app.post("/v1/compare", dependencies=[Depends(authorized)])
    async def compare(req: CompareRequest):
        limit("/v1/compare", len(req.pairs), cfg.max_items, "pairs")

        async def pair(p):
            a, b = await media.candidate(p.a), await media.candidate(p.b)
            return pair_item(p.id, p.prompt, a, b, await media.ref(p.context), p.task)
        pairs = await asyncio.gather(*(media.guarded(pair(p)) for p in req.pairs))
        return await answer("/v1/compare", engine.compare(
            pairs, req.both_orders, req.seed, req.unparsed, req.return_raw))

    @app.post("/v1/group", dependencies=[Depends(authorized)])
    async def group(req: GroupRequest):
        limit("/v1/group", len(req.candidates), cfg.max_group, "candidates")
        context = await media.guarded(media.ref(req.context))
        if isinstance(context, str):  # shared by every candidate: each one gets the error
            cands, context = [f"context: {context}"] * len(req.candidates), None
        else:
            cands = await asyncio.gather(*(media.guarded(media.candidate(c))
                                           for c in req.candidates))
        return await answer("/v1/group", engine.group(
            req.prompt, cands, context, req.task, req.scheme, req.normalize,
            req.both_orders, req.order, req.seed, req.round_digits, req.unparsed,
            req.return_raw, req.id))

    return app
