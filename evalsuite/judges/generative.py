"""Shared machinery of generative (VLM) judges: prompt -> batched greedy generation -> parse.

* ``prepare_*`` (prefetch threads, CPU): choose the mode from the item, fill the upstream
  template (:mod:`evalsuite.judges.prompts`), decode images / sample video frames.
* ``*_batch``: one processor call for the whole batch (left padding, attention masks, each
  sample's own images/videos), one ``generate`` call with greedy decoding
  (``do_sample=False``), then :mod:`evalsuite.judges.parsing`. Items of one batch with
  different ``max_new_tokens`` (mixed modes) are generated in sub-batches.
* ``--option backend=vllm`` routes generation through vLLM (imported only then; untested
  here, see :meth:`GenerativeJudge._generate_vllm`).

Subclasses set ``family`` (prompt family), ``cards`` (per-checkpoint settings) and
implement ``_load_hf`` / ``_processor_inputs``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from evalsuite.judges.base import Judge, torch_dtype
from evalsuite.judges.parsing import parse_score, parse_verdict
from evalsuite.judges.prompts import (POINT_EDIT_PARTS, Template, fill, pair_mode, point_mode,
                                      template_for)
from evalsuite.types import PairItem, ParseStatus, PointItem, Score, Verdict


@dataclass(frozen=True)
class ModelCard:
    """Per-checkpoint generation settings (from the upstream scripts of that checkpoint)."""

    family: str
    max_new_tokens: dict[str, int]  # mode -> tokens; "default" for the rest
    think: bool = False  # answers inside <answer>...</answer>
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    revision: str | None = None  # pinned hub commit (40-hex SHA) of this checkpoint, if known

    def tokens(self, mode: str) -> int:
        return self.max_new_tokens.get(mode, self.max_new_tokens["default"])


def card_revisions(cards: dict[str, ModelCard]) -> dict[str, str]:
    """hub id -> pinned revision of the cards that have one (a Judge's ``pinned_revisions``)."""
    return {m: c.revision for m, c in cards.items() if c.revision}


@dataclass
class Prepared:
    mode: str
    kind: str  # "pair" | "point"
    messages: list[dict[str, Any]]
    text: str  # the full prompt string fed to the tokenizer
    images: list[Any]  # PIL images in prompt order
    videos: list[Any]  # (T, H, W, 3) uint8 arrays in prompt order
    video_fps: list[float]
    max_new_tokens: int
    # point-edit: the two prompts (instruction following, quality) scored as one item
    parts: list["Prepared"] = field(default_factory=list)


@dataclass(frozen=True)
class Generation:
    """One completion: its text, how many tokens it took, whether max_new_tokens cut it."""

    text: str
    tokens: int
    truncated: bool

    def extras(self) -> dict[str, Any]:
        """Per-item record fields: generated tokens, and for a chain-of-thought answer the
        length of its reasoning (the ``<think>`` block, or the text before ``<answer>``)."""
        d: dict[str, Any] = {"generated_tokens": self.tokens, "truncated": self.truncated}
        m = re.search(r"<think>(.*?)(?:</think>|<answer>|$)", self.text, flags=re.S | re.I)
        if m:
            d["reasoning_chars"] = len(m.group(1).strip())
        return d


def _point_edit_score(parts: list[Score]) -> Score:
    """UnifiedReward-Edit pointwise: the instruction-following prompt scores [success,
    overediting], the quality prompt [naturalness, artifacts] (0-25 each); the item's score
    is VIEScore's overall sqrt(SC * PQ) with SC, PQ the minimum of each list (Ku et al. 2024,
    whose prompts these are; the UnifiedReward-Edit scripts print the lists only)."""
    sc, pq = parts
    extras = {"mode": "point-edit", "instruction_following": sc.extras,
              "quality": pq.extras}
    raw = f"{sc.raw}\n\n{pq.raw}"
    if sc.value is None or pq.value is None:
        return Score(value=None, status=ParseStatus.UNPARSED, raw=raw, extras=extras)
    extras["dims"] = {"SC": sc.value, "PQ": pq.value}
    return Score(value=math.sqrt(sc.value * pq.value), raw=raw, extras=extras)


class GenerativeJudge(Judge):
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "prompt_family": "prompt family of another checkpoint (e.g. unifiedreward-llava-videogen)",
        "backend": "hf (default) | vllm (set by --backend)",
        "max_new_tokens": "cap on generated tokens (default: the checkpoint card's)",
        "device_map": "transformers device_map, e.g. auto (multi-GPU)",
        "max_model_len": "vLLM context length (default 32768)",
    }
    pointwise: ClassVar[bool] = True
    pairwise: ClassVar[bool] = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "video"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation", "understanding"})
    default_batch_size: ClassVar[int] = 8
    family: ClassVar[str] = ""
    cards: ClassVar[dict[str, ModelCard]] = {}
    default_card: ClassVar[ModelCard]

    # -- configuration --------------------------------------------------------------------
    @property
    def card(self) -> ModelCard:
        """The model card of --model (a local --model-path uses --model's card, or the
        default checkpoint's). A hub id without a card is refused rather than prompted with
        another family's settings, unless --option prompt_family names the family."""
        if self.model_id in self.cards:
            return self.cards[self.model_id]
        if self.model_path is None and not self.options.get("prompt_family"):
            raise ValueError(f"{self.name}: no model card for {self.model_id!r} (known: "
                             f"{', '.join(sorted(self.cards))}); pass --option "
                             "prompt_family=<family> to choose its prompts")
        return self.default_card

    @property
    def prompt_family(self) -> str:
        return self.options.get("prompt_family") or self.card.family

    @property
    def backend(self) -> str:
        b = self.options.get("backend", "hf")
        if b not in ("hf", "vllm"):
            raise ValueError(f"backend must be hf or vllm, got {b!r}")
        return b

    def info(self) -> dict[str, Any]:
        d = super().info()
        d.update(prompt_family=self.prompt_family, backend=self.backend,
                 max_new_tokens=self.card.max_new_tokens, decoding="greedy")
        return d

    def max_new_tokens(self, mode: str, tpl: Template | None = None) -> int:
        """--option max_new_tokens, else the template's (its script's), else the card's."""
        return int(self.options.get("max_new_tokens")
                   or (tpl.max_new_tokens if tpl is not None else None)
                   or self.card.tokens(mode))

    # -- loading --------------------------------------------------------------------------
    def load(self) -> None:
        if getattr(self, "model", None) is not None:
            return
        import torch

        self._torch = torch
        if self.backend == "vllm":
            self._load_vllm()
            return
        self._load_hf(torch_dtype(self.dtype))
        tok = self.processor.tokenizer
        tok.padding_side = "left"  # generation continues from the right edge of every row
        if tok.pad_token_id is None:
            raise ValueError("the checkpoint's tokenizer has no pad token; batching needs one")
        self.model.eval()

    def _load_hf(self, dtype) -> None:
        raise NotImplementedError

    def _from_pretrained(self, cls, dtype):
        """``cls.from_pretrained`` on --model-path or the hub id at its revision. With
        ``--option device_map=auto`` (a 32b/72b judge over several GPUs) accelerate places
        the weights; otherwise the whole model moves to --device."""
        dm = self.options.get("device_map")
        model = cls.from_pretrained(self.source, revision=self._revision(), dtype=dtype,
                                    **({"device_map": dm} if dm else {}))
        return model if dm else model.to(self.device)

    # -- prepare (CPU, prefetch threads) ---------------------------------------------------
    def prepare_pair(self, item: PairItem) -> Prepared:
        return self._prepare(item, pair_mode(item), "pair")

    def prepare_point(self, item: PointItem) -> Prepared:
        return self._prepare(item, point_mode(item), "point")

    def _prepare(self, item: PairItem | PointItem, mode: str, kind: str) -> Prepared:
        if mode == "point-edit":  # two upstream prompts, one score (see score_batch)
            parts = [self._prepare(item, m, kind) for m in POINT_EDIT_PARTS]
            return Prepared(mode, kind, [], "", [], [], [], 0, parts)
        tpl = template_for(self.prompt_family, mode)  # raises for a mode this family lacks
        text, media = fill(tpl, item, mode)
        content: list[dict[str, Any]] = []
        images, videos, fps = [], [], []
        for ref in media:
            if ref.kind == "image":
                images.append(self.load_image(ref, tpl))
                content.append({"type": "image", "media": ref})
            elif tpl.frames:  # the script sends sampled frames, each as an image
                frames = self.video_frames(ref, tpl)
                images += frames
                content += [{"type": "image", "media": ref}] * len(frames)
            else:
                frames, f = self.load_video(ref)
                videos.append(frames)
                fps.append(f)
                content.append({"type": "video", "media": ref})
        content.append({"type": "text", "text": text})
        messages = [{"role": "user", "content": content}]
        rendered = self.render(messages, mode, images, videos)
        return Prepared(mode, kind, messages, rendered, images, videos, fps,
                        self.max_new_tokens(mode, tpl))

    def load_image(self, ref, tpl: Template | None = None):
        from evalsuite.media import load_image
        return load_image(ref)

    def video_frames(self, ref, tpl: Template) -> list[Any]:
        """``tpl.frames`` frames of a video as RGB PIL images, chosen by ``tpl.frame_rule``
        (the upstream scripts' decord/OpenCV sampling), prepared like its images."""
        raise NotImplementedError(f"{self.name} does not send video frames as images")

    def load_video(self, ref) -> tuple[Any, float]:
        raise NotImplementedError

    def render(self, messages, mode, images, videos) -> str:
        raise NotImplementedError

    # -- batched generation ----------------------------------------------------------------
    def compare_batch(self, prepared: list[Prepared]) -> list[Verdict]:
        gens = self.generate(prepared)
        out = []
        for p, g in zip(prepared, gens):
            tpl = template_for(self.prompt_family, p.mode)
            extras = {"mode": p.mode, **g.extras()}
            if tpl.verdict is None:  # a pairwise *score* prompt: one score per side
                r = parse_score(g.text, tpl.score, tpl.score_range)
                extras.update(parse_rule=r.rule, dims=r.dims)
                out.append(Verdict.from_margin(r.value, r.a, r.b, raw=g.text, extras=extras)
                           if r.status == ParseStatus.PARSED
                           else Verdict.from_choice(None, g.text, extras=extras))
                continue
            r = parse_verdict(g.text, tpl.verdict)
            extras["parse_rule"] = r.rule
            out.append(Verdict.from_choice(r.choice, g.text, extras=extras))
        return out

    def score_batch(self, prepared: list[Prepared]) -> list[Score]:
        # point-edit items are two prompts each: generate every prompt in one pass
        flat = [q for p in prepared for q in (p.parts or [p])]
        gens = iter(self.generate(flat))
        out = []
        for p in prepared:
            scored = [self._score_one(q, next(gens)) for q in (p.parts or [p])]
            out.append(scored[0] if not p.parts else _point_edit_score(scored))
        return out

    def _score_one(self, p: Prepared, g: "Generation") -> Score:
        tpl = template_for(self.prompt_family, p.mode)
        r = parse_score(g.text, tpl.score, tpl.score_range)
        extras: dict[str, Any] = {"parse_rule": r.rule, "mode": p.mode, **g.extras()}
        if r.dims:
            extras["dims"] = r.dims
        return Score(value=r.value, status=r.status, raw=g.text, extras=extras)

    def generate(self, prepared: list[Prepared]) -> list["Generation"]:
        """Greedy completions, in input order; items are grouped by max_new_tokens."""
        groups: dict[int, list[int]] = {}
        for i, p in enumerate(prepared):
            groups.setdefault(p.max_new_tokens, []).append(i)
        out: list[Generation | None] = [None] * len(prepared)
        for n, idx in groups.items():
            sub = [prepared[i] for i in idx]
            gens = (self._generate_vllm(sub, n) if self.backend == "vllm"
                    else self._generate_hf(sub, n))
            for i, g in zip(idx, gens):
                out[i] = g
        return out  # type: ignore[return-value]

    def _generate_hf(self, prepared: list[Prepared], max_new_tokens: int) -> list["Generation"]:
        torch = self._torch
        inputs = self._processor_inputs(prepared).to(self.model.device)
        for k, v in inputs.items():
            if torch.is_floating_point(v):
                inputs[k] = v.to(self.model.dtype)
        tok = self.processor.tokenizer
        with torch.inference_mode():
            out = self.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens,
                                      pad_token_id=tok.pad_token_id, temperature=None,
                                      top_p=None, top_k=None)
        gen = out[:, inputs["input_ids"].shape[1]:]  # left padding: prompts end together
        texts = tok.batch_decode(gen, skip_special_tokens=True,
                                 clean_up_tokenization_spaces=False)
        eos = self.model.generation_config.eos_token_id
        stop = set(eos if isinstance(eos, list) else [eos]) | {tok.pad_token_id}
        counts = []
        for row in gen.tolist():  # tokens up to and including the first stop token
            n = next((i + 1 for i, t in enumerate(row) if t in stop), len(row))
            counts.append(n)
        return [Generation(t, n, n >= max_new_tokens) for t, n in zip(texts, counts)]

    def _processor_inputs(self, prepared: list[Prepared]):
        raise NotImplementedError

    # -- vLLM (optional, untested on CPU) ----------------------------------------------------
    def _load_vllm(self) -> None:
        """UNTESTED here (no GPU in CI): vLLM engine with the same prompts and parsing."""
        from transformers import AutoProcessor
        from vllm import LLM  # imported only when --option backend=vllm

        self.processor = AutoProcessor.from_pretrained(self.source, revision=self._revision())
        self.model = LLM(model=self.source, revision=self._revision(), dtype=self.dtype,
                         limit_mm_per_prompt={"image": 16, "video": 2},
                         max_model_len=int(self.options.get("max_model_len", 32768)))

    def _generate_vllm(self, prepared: list[Prepared], max_new_tokens: int
                       ) -> list["Generation"]:
        """UNTESTED here: one ``LLM.generate`` call for the batch, greedy (temperature 0)."""
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
        reqs = []
        for p in prepared:
            mm: dict[str, Any] = {}
            if p.images:
                mm["image"] = p.images if len(p.images) > 1 else p.images[0]
            if p.videos:
                mm["video"] = p.videos if len(p.videos) > 1 else p.videos[0]
            reqs.append({"prompt": p.text, "multi_modal_data": mm})
        outs = self.model.generate(reqs, params, use_tqdm=False)
        return [Generation(o.outputs[0].text, len(o.outputs[0].token_ids),
                           o.outputs[0].finish_reason == "length") for o in outs]


def unparsed_rate(verdicts: list[Verdict]) -> float:
    """Fraction of verdicts that could not be parsed (for quick checks and tests)."""
    return sum(v.status == ParseStatus.UNPARSED for v in verdicts) / max(len(verdicts), 1)
