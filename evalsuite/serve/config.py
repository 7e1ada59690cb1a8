"""The reward service's configuration: which judges (with weights), how to batch, limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalsuite.serve.rewards import UNPARSED_POLICIES


@dataclass(frozen=True)
class JudgeSpec:
    """One judge of the service and its weight in combined rewards."""

    name: str
    weight: float = 1.0
    model: str | None = None
    model_path: str | None = None
    revision: str | None = None


def parse_judges(spec: str) -> list[JudgeSpec]:
    """``"pickscore:0.5,unifiedreward:1.0"`` -> judges with weights (weight 1 when omitted)."""
    out: list[JudgeSpec] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise ValueError(f"empty judge in {spec!r}")
        name, sep, w = part.rpartition(":")
        if not sep:
            name, w = part, "1"
        try:
            weight = float(w)
        except ValueError:
            raise ValueError(f"bad weight {w!r} for judge {name!r} in {spec!r}") from None
        if any(j.name == name for j in out):
            raise ValueError(f"judge {name!r} appears twice in {spec!r}")
        out.append(JudgeSpec(name, weight))
    return out


@dataclass
class ServeConfig:
    """Everything ``create_app`` needs; picklable, so Ray Serve replicas can rebuild the app.

    Batching: ``max_batch_size`` (None: each judge's default batch size), ``max_wait_ms``
    after the oldest queued unit, ``max_queue`` units per judge and kind before HTTP 429.
    """

    judges: list[JudgeSpec]
    backend: str | None = None  # hf | vllm | openai (generative judges), as `evalsuite run`
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    dtype: str | None = None
    mode: str = "auto"  # auto | pairwise | pointwise, as `evalsuite run --mode`
    seed: int = 0  # the runner's position-swap seed
    max_batch_size: int | None = None
    max_wait_ms: float = 5.0
    max_queue: int = 4096
    workers: int = 2
    unparsed: str = "report"
    media_root: str | None = None
    allow_urls: bool = False
    max_url_bytes: int = 64 * 2**20
    url_timeout_s: float = 30.0
    max_request_bytes: int = 64 * 2**20
    max_items: int = 1024  # items per /v1/score, pairs per /v1/compare
    max_group: int = 64  # candidates per /v1/group
    token: str | None = field(default=None, repr=False)  # never printed or logged

    def __post_init__(self) -> None:
        if self.unparsed not in UNPARSED_POLICIES:
            raise ValueError(f"unparsed must be one of {UNPARSED_POLICIES}")
        if self.mode not in ("auto", "pairwise", "pointwise"):
            raise ValueError("mode must be auto, pairwise or pointwise")
        if not self.judges:
            raise ValueError("at least one judge is needed")
