"""Request bodies of the reward service (pydantic: a malformed request is HTTP 422).

Media travel as ``{"type": "image"|"video", "data": <base64 or data: URL>}``, ``{"path":
<relative to --media-root>}`` or ``{"url": ...}`` (only with ``--allow-urls``). A request
that is well formed but names unreadable media is answered (HTTP 200) with an error on
that item only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Policy = Literal["report", "tie", "zero", "error"]
TaskName = Literal["generation", "understanding", "edit"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Media(_Strict):
    type: Literal["image", "video"] = "image"
    data: str | None = Field(None, description="base64 bytes, or a data: URL")
    path: str | None = Field(None, description="a file under the server's --media-root")
    url: str | None = Field(None, description="http(s) URL; the server must allow URLs")

    @model_validator(mode="after")
    def _one_source(self) -> "Media":
        if sum(x is not None for x in (self.data, self.path, self.url)) != 1:
            raise ValueError("media needs exactly one of data, path, url")
        return self


class CandidateIn(_Strict):
    """A generated image/video, or a text answer (understanding tasks), or both."""

    media: Media | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _something(self) -> "CandidateIn":
        if self.media is None and self.text is None:
            raise ValueError("a candidate needs media or text")
        return self


class ScoreItem(CandidateIn):
    prompt: str
    context: Media | None = Field(None, description="shared input: the question image "
                                  "(understanding), the source image (edit)")
    task: TaskName = "generation"


class _Options(_Strict):
    unparsed: Policy | None = Field(None, description="override the server's --unparsed")
    return_raw: bool = Field(False, description="include the judges' raw answers")


class ScoreRequest(_Options):
    items: list[ScoreItem] = Field(..., min_length=1)


class CompareItem(_Strict):
    id: str | None = Field(None, description="item id that seeds the position swap "
                           "(default: derived from the content)")
    prompt: str
    a: CandidateIn
    b: CandidateIn
    context: Media | None = None
    task: TaskName = "generation"


class CompareRequest(_Options):
    pairs: list[CompareItem] = Field(..., min_length=1)
    both_orders: bool = False
    seed: int | None = Field(None, description="position-swap seed (default: the server's)")


class GroupRequest(_Options):
    id: str | None = Field(None, description="group id for seeded swaps (default: content)")
    prompt: str
    candidates: list[CandidateIn] = Field(..., min_length=1)
    context: Media | None = None
    task: TaskName = "generation"
    scheme: Literal["win-rate", "score", "score-zscore"] = "win-rate"
    normalize: Literal["flow-grpo", "pref-grpo"] | None = Field(
        None, description="return group-normalised rewards (score-zscore: flow-grpo)")
    order: Literal["reference", "seeded-swap"] = Field(
        "reference", description="win-rate: lower index shown first (Pref-GRPO), or the "
        "runner's seeded swap per pair")
    both_orders: bool = False
    seed: int | None = None
    round_digits: int | None = Field(3, ge=0, le=12, description="win-rate rounding "
                                     "(Pref-GRPO: 3); null keeps the exact fraction")
