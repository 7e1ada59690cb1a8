"""Typed objects that flow between the stages: benchmark -> runner -> judge -> store -> metrics.

Everything a record needs to be re-derived later is kept here; nothing travels as a dict of
loose keys except the explicitly free-form ``meta``/``extras`` fields (upstream row fields,
per-dimension scores) that are written verbatim to ``samples.jsonl``. The per-item classes
have ``__slots__``: a run holds one of each per item, and a million of them must fit.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from enum import Enum
from functools import cached_property
from typing import Any, Literal


class Label(str, Enum):
    """Human preference between candidate A and candidate B."""

    A = "A"
    B = "B"
    TIE = "tie"

    @property
    def sign(self) -> int:
        """+1 when A is preferred, -1 when B is, 0 for a tie (the metrics' h)."""
        return {Label.A: 1, Label.B: -1, Label.TIE: 0}[self]


class ParseStatus(str, Enum):
    PARSED = "parsed"  # the judge named a side
    TIE = "tie"  # the judge said both are equally good / bad
    UNPARSED = "unparsed"  # no verdict could be read from the answer: never guessed


class FrozenDict(dict):
    """A dict that refuses changes. :data:`EMPTY` is the default of the optional per-item
    mappings (labels, meta, margins, extras): a run holds a million items and records, and
    one shared empty mapping costs nothing where a fresh ``{}`` each costs 64 bytes. It is
    still a ``dict`` (JSON, ``isinstance``, ``==`` behave as for ``{}``)."""

    __slots__ = ()

    def _readonly(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("this mapping is shared and read-only: pass a dict of your own")

    __setitem__ = __delitem__ = _readonly
    clear = pop = popitem = setdefault = update = __ior__ = _readonly  # type: ignore[assignment]

    def __copy__(self) -> "FrozenDict":
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # pickle without item assignment
        return (FrozenDict, (dict(self),))

    def __deepcopy__(self, memo: dict[int, Any]) -> "FrozenDict":
        return self


EMPTY: dict[str, Any] = FrozenDict()


def _empty() -> dict[str, Any]:
    return EMPTY


@dataclass(frozen=True)
class FrameSpec:
    """How to turn a video into frames: which frame indices, then an optional resize.

    ``rule`` names the index formula, each one a reference decoder's (the list, with the
    repository, file and commit each follows, is :data:`evalsuite.media.INDEX_RULES`); it
    reads ``num_frames`` / ``fps`` / ``max_frames`` as that reference does. Two specs that
    differ only in ``rule`` may pick different frames from the same video: name the rule of
    the upstream code a benchmark or judge reproduces.
    """

    num_frames: int | None = None
    fps: float | None = None
    max_frames: int | None = None
    size: tuple[int, int] | None = None  # (width, height) resize after decoding, None = native
    rule: str = "uniform"

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class MediaRef:
    """An image or a video, by path (inside a dataset root) or by bytes.

    ``root`` is the directory a relative ``path`` must stay inside; resolution is done by
    :mod:`evalsuite.media` which refuses paths that escape it.
    """

    kind: Literal["image", "video"]
    path: str | None = None
    data: bytes | None = field(default=None, repr=False)
    root: str | None = None

    def identity(self) -> str:
        """A stable key for 'the same media' (used to score each unique media once)."""
        return self._identity

    @cached_property
    def _identity(self) -> str:  # hashing the bytes once per object, not once per lookup
        if self.data is not None:
            return "sha1:" + hashlib.sha1(self.data).hexdigest()
        return f"path:{self.root or ''}::{self.path}"

    def describe(self) -> str:
        return self.path if self.path is not None else f"<{len(self.data or b'')} bytes>"

    @staticmethod
    def from_pil(img: Any) -> "MediaRef":
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return MediaRef(kind="image", data=buf.getvalue())


@dataclass(frozen=True, slots=True)
class Candidate:
    """One side of a pair: a generated image/video, or a text answer (image understanding)."""

    media: MediaRef | None = None
    text: str | None = None
    model: str | None = None  # which system produced it (upstream left_model, models[i], ...)


@dataclass(frozen=True, slots=True)
class PairItem:
    """Prompt + two candidates + human label.

    ``labels`` holds extra per-dimension labels (VideoGen-RewardBench VQ/MQ/TA); ``label`` is
    the primary one. ``context`` is media shared by both candidates (the question image of
    VL-RewardBench, the source image of GenAI-Bench edit). ``meta`` keeps every upstream field
    needed to trace the item back to its source row.
    """

    item_id: str
    prompt: str
    a: Candidate
    b: Candidate
    label: Label
    raw_label: Any = None
    labels: dict[str, Label] = field(default_factory=_empty)
    category: str | None = None
    context: MediaRef | None = None
    task: Literal["generation", "understanding", "edit"] = "generation"
    meta: dict[str, Any] = field(default_factory=_empty)

    def swapped(self) -> "PairItem":
        """The same pair presented in the other order (labels flipped accordingly)."""
        flip = {Label.A: Label.B, Label.B: Label.A, Label.TIE: Label.TIE}
        return PairItem(
            item_id=self.item_id, prompt=self.prompt, a=self.b, b=self.a,
            label=flip[self.label], raw_label=self.raw_label,
            labels={k: flip[v] for k, v in self.labels.items()}, category=self.category,
            context=self.context, task=self.task, meta=self.meta,
        )


@dataclass(frozen=True, slots=True)
class PointItem:
    """One (prompt, candidate) to be scored on its own."""

    item_id: str
    prompt: str
    candidate: Candidate
    context: MediaRef | None = None
    task: Literal["generation", "understanding", "edit"] = "generation"

    @staticmethod
    def key_for(prompt: str, cand: Candidate, context: MediaRef | None = None) -> str:
        """Same (prompt, media/answer, context) -> same key, so shared media is scored once."""
        parts = [prompt, cand.media.identity() if cand.media else "", cand.text or "",
                 context.identity() if context else ""]
        return "pt:" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class ItemError:
    """A benchmark row that could not become an item (bad label, missing field, ...)."""

    item_id: str
    reason: str
    meta: dict[str, Any] = field(default_factory=dict)


def _plain(x: Any) -> Any:
    """What ``dataclasses.asdict`` makes of a field's value: containers copied, dataclasses
    as dicts, anything else deep-copied (numbers and strings are returned as they are)."""
    if isinstance(x, dict):
        return type(x)((_plain(k), _plain(v)) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    if is_dataclass(x) and not isinstance(x, type):
        return asdict(x)
    return copy.deepcopy(x)


@dataclass(slots=True)
class Score:
    """A pointwise judge's output for one PointItem."""

    value: float | None
    status: ParseStatus = ParseStatus.PARSED
    raw: str | None = None
    extras: dict[str, Any] = field(default_factory=_empty)  # per-dimension scores, probabilities


@dataclass(slots=True)
class Verdict:
    """A judge's decision on a pair, always expressed in the *original* A/B order."""

    preferred: Literal["A", "B", "tie"] | None
    status: ParseStatus
    margin: float | None = None  # > 0 prefers A; None when unparsed
    score_a: float | None = None
    score_b: float | None = None
    raw: str | None = None
    margins: dict[str, float] = field(default_factory=_empty)  # per-dimension margins if any
    extras: dict[str, Any] = field(default_factory=_empty)

    @staticmethod
    def from_margin(margin: float, score_a: float | None = None, score_b: float | None = None,
                    **kw: Any) -> "Verdict":
        pref = "A" if margin > 0 else "B" if margin < 0 else "tie"
        status = ParseStatus.TIE if pref == "tie" else ParseStatus.PARSED
        return Verdict(preferred=pref, status=status, margin=float(margin),
                       score_a=score_a, score_b=score_b, **kw)

    @staticmethod
    def from_choice(choice: Literal["A", "B", "tie"] | None, raw: str | None, **kw: Any) -> "Verdict":
        """A generative verdict: margin +1 / -1 / 0, or unparsed (margin None)."""
        if choice is None:
            return Verdict(preferred=None, status=ParseStatus.UNPARSED, margin=None, raw=raw, **kw)
        m = {"A": 1.0, "B": -1.0, "tie": 0.0}[choice]
        st = ParseStatus.TIE if choice == "tie" else ParseStatus.PARSED
        return Verdict(preferred=choice, status=st, margin=m, raw=raw, **kw)

    def flipped(self) -> "Verdict":
        """The verdict for the swapped presentation, mapped back to the original order."""
        swap = {"A": "B", "B": "A", "tie": "tie", None: None}
        return Verdict(
            preferred=swap[self.preferred], status=self.status,
            margin=None if self.margin is None else -self.margin,
            score_a=self.score_b, score_b=self.score_a, raw=self.raw,
            margins={k: -v for k, v in self.margins.items()}, extras=self.extras,
        )

    def to_json(self) -> dict[str, Any]:
        # asdict's deep copy, by hand: this runs once per item of a run
        return {"preferred": self.preferred, "status": self.status.value,
                "margin": self.margin, "score_a": self.score_a, "score_b": self.score_b,
                "raw": self.raw, "margins": _plain(self.margins), "extras": _plain(self.extras)}

    def to_compact(self) -> dict[str, Any]:
        """:meth:`to_json` without the fields at their defaults (the run store's line);
        :meth:`from_json` reads both."""
        d: dict[str, Any] = {"preferred": self.preferred, "status": self.status.value}
        for k in ("margin", "score_a", "score_b", "raw"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.margins:
            d["margins"] = _plain(self.margins)
        if self.extras:
            d["extras"] = _plain(self.extras)
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> "Verdict":
        if not _VERDICT_FIELDS.issuperset(d):
            raise TypeError(f"Verdict: unknown fields {sorted(set(d) - _VERDICT_FIELDS)}")
        return Verdict(d["preferred"], _status(d["status"]), d.get("margin"), d.get("score_a"),
                       d.get("score_b"), d.get("raw"), d.get("margins") or EMPTY,
                       d.get("extras") or EMPTY)


_VERDICT_FIELDS = frozenset(f.name for f in fields(Verdict))
_SCORE_FIELDS = frozenset(f.name for f in fields(Score))
STATUS_BY_VALUE = {s.value: s for s in ParseStatus}
# Each record kind -> its one string object (records read back share it, not one each).
RECORD_KINDS = {k: k for k in ("pair", "point", "answer", "gen", "eval")}


def _status(value: str) -> ParseStatus:
    """``ParseStatus(value)`` (ValueError on an unknown one), without the enum's lookup."""
    return STATUS_BY_VALUE.get(value) or ParseStatus(value)


@dataclass(slots=True)
class RunRecord:
    """One finished unit of work in the run store: a pair verdict, a point score, or an error.

    ``kind`` is "pair" (verdict for a PairItem) or "point" (score for a PointItem, reused by
    every pair that shares the media). Policy runs (evalsuite.policies.runner) use "answer"
    (a VLM's answer + extracted letter), "gen" (a generated sample) and "eval" (its scores).
    """

    item_id: str
    kind: Literal["pair", "point", "answer", "gen", "eval"]
    verdict: Verdict | None = None
    score: Score | None = None
    error: str | None = None
    swapped: bool = False
    verdict_other_order: Verdict | None = None  # --both-orders: the verdict on the other order
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"item_id": self.item_id, "kind": self.kind, "error": self.error,
                             "swapped": self.swapped, "seconds": round(self.seconds, 6)}
        d["verdict"] = self.verdict.to_json() if self.verdict else None
        d["verdict_other_order"] = (self.verdict_other_order.to_json()
                                    if self.verdict_other_order else None)
        if self.score is not None:
            s = self.score
            d["score"] = {"value": s.value, "status": s.status.value, "raw": s.raw,
                          "extras": _plain(s.extras)}
        else:
            d["score"] = None
        return d

    def to_compact(self) -> dict[str, Any]:
        """The run store's line: :meth:`to_json` without the fields at their defaults
        (null, false, 0, empty); :meth:`from_json` reads both."""
        d: dict[str, Any] = {"item_id": self.item_id, "kind": self.kind}
        if self.error is not None:
            d["error"] = self.error
        if self.swapped:
            d["swapped"] = True
        seconds = round(self.seconds, 6)
        if seconds:
            d["seconds"] = seconds
        if self.verdict is not None:
            d["verdict"] = self.verdict.to_compact()
        if self.verdict_other_order is not None:
            d["verdict_other_order"] = self.verdict_other_order.to_compact()
        if self.score is not None:
            s = self.score
            d["score"] = {"value": s.value, "status": s.status.value}
            if s.raw is not None:
                d["score"]["raw"] = s.raw
            if s.extras:
                d["score"]["extras"] = _plain(s.extras)
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> "RunRecord":
        score = None
        if d.get("score") is not None:
            s = d["score"]
            if not _SCORE_FIELDS.issuperset(s):
                raise TypeError(f"Score: unknown fields {sorted(set(s) - _SCORE_FIELDS)}")
            score = Score(s["value"], _status(s["status"]), s.get("raw"), s.get("extras") or EMPTY)
        get = d.get
        v, vo = get("verdict"), get("verdict_other_order")
        # positional, in field order: this runs once per record read
        kind = RECORD_KINDS.get(d["kind"], d["kind"])
        return RunRecord(d["item_id"], kind, Verdict.from_json(v) if v else None, score,
                         get("error"), get("swapped", False),
                         Verdict.from_json(vo) if vo else None, get("seconds", 0.0))
