"""The reward engine: loaded judges behind dynamic batchers, and the three reward requests.

Judges are built exactly as ``evalsuite run`` builds them (``apply_backend`` of
``evalsuite/commands/run.py`` then ``JUDGES.create``), and work goes through the runner's
code path (:mod:`evalsuite.serve.batching`):

* pointwise scores: ``prepare_points`` / ``score_batch`` on unique (prompt, media, context)
  keys (``PointItem.key_for``, so a request that repeats an image scores it once);
* pairwise verdicts: a pairwise judge sees each pair in the runner's presentation order
  (``swap_for(item_id, seed)``, or both orders) and the verdict is mapped back to the
  original order (``Verdict.flipped``); a pointwise-only judge (or ``mode=pointwise``)
  gives the runner's derived verdict ``verdict_from_scores`` (margin = s(A) - s(B)).

Unreadable answers are never silently a number: the policy (``report`` by default, see
:mod:`evalsuite.serve.rewards`) is applied here and every response says how many answers
were unreadable and how many the policy turned into a number.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Literal

from evalsuite.serve.batching import BatchObserver, DynamicBatcher, Outcome
from evalsuite.serve.config import JudgeSpec, ServeConfig
from evalsuite.serve.rewards import Comparison, combine, win_rates
from evalsuite.types import Candidate, Label, MediaRef, PairItem, ParseStatus, PointItem, Verdict

Task = Literal["generation", "understanding", "edit"]


class BadRequest(ValueError):
    """A request this service cannot answer as a whole (HTTP 400)."""


def build_judge(spec: JudgeSpec, cfg: ServeConfig):
    """The judge ``evalsuite run --judge <name> --backend ... --option ...`` would build."""
    from evalsuite.commands.run import apply_backend
    from evalsuite.registry import JUDGES

    options = dict(cfg.options)
    name, model = apply_backend(spec.name, spec.model, cfg.backend, cfg.base_url, options)
    return JUDGES.create(name, model=model, model_path=spec.model_path, revision=spec.revision,
                         device=cfg.device, dtype=cfg.dtype, **options)


@dataclass
class Slot:
    """One loaded judge, its weight, and its batchers (per kind of work it does)."""

    spec: JudgeSpec
    judge: Any
    pairwise: bool  # verdicts from the judge's pairwise mode (else derived from scores)
    points: DynamicBatcher | None
    pairs: DynamicBatcher | None

    @property
    def name(self) -> str:
        return self.spec.name


class _Submission:
    """The futures of one request, so a 429 on one batcher withdraws them all."""

    def __init__(self) -> None:
        self.futures: list[Future] = []

    def submit(self, batcher: DynamicBatcher, units: list[Any]) -> list[Future]:
        fs = batcher.submit(units)
        self.futures.extend(fs)
        return fs

    def cancel(self) -> None:
        for f in self.futures:
            f.cancel()


async def _resolve(futures: Sequence[Future]) -> list[Outcome]:
    return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))


@dataclass
class Presentation:
    """One judged presentation of a pair and its outcome (in the original order).

    ``swapped``: shown as (B, A); None for a verdict derived from two scores (not shown)."""

    swapped: bool | None
    outcome: Outcome


@dataclass
class UnparsedCount:
    policy: str
    count: int = 0  # unreadable answers in this response
    applied: int = 0  # of them, turned into a number by the policy

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "count": self.count, "applied": self.applied}


class Observer:
    """What the engine reports to /metrics (the app's Prometheus metrics implement it)."""

    def batcher(self, judge: str, kind: str) -> BatchObserver:
        return BatchObserver()

    def unparsed(self, judge: str, endpoint: str, n: int) -> None: ...

    def item_errors(self, judge: str, endpoint: str, n: int) -> None: ...


def point_item(prompt: str, cand: Candidate, context: MediaRef | None, task: Task) -> PointItem:
    return PointItem(PointItem.key_for(prompt, cand, context), prompt, cand, context, task)


def pair_item(item_id: str | None, prompt: str, a: Candidate, b: Candidate,
              context: MediaRef | None, task: Task) -> PairItem:
    """A PairItem for judging; the label is unused by judges (there is no human label)."""
    if item_id is None:
        item_id = content_id(prompt, [a, b], context)
    return PairItem(item_id, prompt, a, b, Label.TIE, context=context, task=task)


def content_id(prompt: str, cands: Sequence[Candidate], context: MediaRef | None) -> str:
    """A stable id from the content, so the same pair or group gets the same swap coin."""
    parts = [prompt, context.identity() if context else ""]
    parts += [f"{c.media.identity() if c.media else ''}|{c.text or ''}" for c in cands]
    return "c:" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]


class RewardEngine:
    def __init__(self, cfg: ServeConfig, observer: Observer | None = None,
                 judges: dict[str, Any] | None = None):
        """``judges`` (name -> judge object) replaces building them, for embedding."""
        self.cfg = cfg
        self.observer = observer or Observer()
        self._given = judges or {}
        self.slots: list[Slot] = []

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        from evalsuite.runner import use_pairwise

        for spec in self.cfg.judges:
            judge = self._given.get(spec.name) or build_judge(spec, self.cfg)
            judge.load()
            pairwise = use_pairwise(SimpleNamespace(mode=self.cfg.mode, judge=spec.name), judge)
            bs = self.cfg.max_batch_size or judge.default_batch_size
            kw = dict(max_batch_size=bs, max_wait_ms=self.cfg.max_wait_ms,
                      max_queue=self.cfg.max_queue, workers=self.cfg.workers)
            points = (DynamicBatcher(f"{spec.name}-points", judge.prepare_points,
                                     judge.score_batch,
                                     observer=self.observer.batcher(spec.name, "points"), **kw)
                      if judge.pointwise else None)
            pairs = (DynamicBatcher(f"{spec.name}-pairs", judge.prepare_pairs,
                                    judge.compare_batch,
                                    observer=self.observer.batcher(spec.name, "pairs"), **kw)
                     if pairwise else None)
            self.slots.append(Slot(spec, judge, pairwise, points, pairs))

    def close(self) -> None:
        for s in self.slots:
            for b in (s.points, s.pairs):
                if b is not None:
                    b.close()

    def batchers(self) -> list[tuple[str, str, DynamicBatcher]]:
        return [(s.name, kind, b) for s in self.slots
                for kind, b in (("points", s.points), ("pairs", s.pairs)) if b is not None]

    def info(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "weight": s.spec.weight, "pairwise": s.pairwise,
                 "pointwise": s.judge.pointwise, **{k: v for k, v in s.judge.info().items()
                                                    if k in ("model", "model_path", "revision",
                                                             "dtype", "device")}}
                for s in self.slots]

    def retry_after(self) -> float:
        return max((b.retry_after() for _, _, b in self.batchers()), default=1.0)

    # -- submission -------------------------------------------------------------------------
    def _submit_points(self, slot: Slot, items: Sequence[PointItem | str], sub: _Submission
                       ) -> tuple[list[int | str], list[Future]]:
        """Unique items to the slot's batcher; per item its index among them or its error."""
        if slot.points is None:
            raise BadRequest(f"judge {slot.name} has no pointwise mode")
        index: dict[str, int] = {}
        unique: list[PointItem] = []
        where: list[int | str] = []
        for it in items:
            if isinstance(it, str):
                where.append(it)
                continue
            if it.item_id not in index:
                index[it.item_id] = len(unique)
                unique.append(it)
            where.append(index[it.item_id])
        return where, (sub.submit(slot.points, unique) if unique else [])

    @staticmethod
    def _join(where: list[int | str], outs: list[Outcome]) -> list[Outcome]:
        return [Outcome(error=w) if isinstance(w, str) else outs[w] for w in where]

    def _plan_pairs(self, slot: Slot, pairs: Sequence[PairItem | str],
                    orders: Sequence[Sequence[bool]], sub: _Submission):
        """Submit the pairs' presentations; returns an awaitable of Presentations per pair.

        ``orders[k]``: the swap flags to judge pair k in (pairwise judges). A judge without
        a pairwise mode scores both sides once and derives one order-free verdict.
        """
        if slot.pairs is None:
            pts: list[PointItem | str] = []
            for p in pairs:
                if isinstance(p, str):
                    pts += [p, p]
                else:
                    pts += [point_item(p.prompt, c, p.context, p.task) for c in (p.a, p.b)]
            where, futs = self._submit_points(slot, pts, sub)

            async def derived() -> list[list[Presentation]]:
                from evalsuite.runner import verdict_from_scores

                outs = self._join(where, await _resolve(futs))
                res = []
                for k in range(len(pairs)):
                    oa, ob = outs[2 * k], outs[2 * k + 1]
                    err = oa.error or ob.error
                    o = (Outcome(error=err) if err else
                         Outcome(value=verdict_from_scores(oa.value, ob.value)))
                    res.append([Presentation(None, o)])
                return res
            return derived()

        units: list[PairItem] = []
        plan: list[list[bool] | str] = []
        for p, flags in zip(pairs, orders):
            if isinstance(p, str):
                plan.append(p)
                continue
            plan.append(list(flags))
            units += [p.swapped() if sw else p for sw in flags]
        futs = sub.submit(slot.pairs, units) if units else []

        async def judged() -> list[list[Presentation]]:
            outs = iter(await _resolve(futs))
            res = []
            for flags in plan:
                if isinstance(flags, str):
                    res.append([Presentation(False, Outcome(error=flags))])
                    continue
                pres = []
                for sw in flags:
                    o = next(outs)
                    v = o.value.flipped() if (sw and o.value is not None) else o.value
                    pres.append(Presentation(sw, Outcome(value=v, error=o.error)))
                res.append(pres)
            return res
        return judged()

    async def _run(self, plans_fn):
        """Submit every judge's work (all or nothing), then wait for it."""
        sub = _Submission()
        try:
            plans = plans_fn(sub)
        except Exception:  # QueueFull, BadRequest: withdraw what was already queued
            sub.cancel()
            raise
        return [await p for p in plans]

    # -- /v1/score ------------------------------------------------------------------------
    async def score(self, items: Sequence[PointItem | str], unparsed: str | None = None,
                    return_raw: bool = False, endpoint: str = "score") -> dict[str, Any]:
        policy = UnparsedCount(unparsed or self.cfg.unparsed)

        def plans(sub):
            out = []
            for s in self.slots:
                where, futs = self._submit_points(s, items, sub)

                async def one(where=where, futs=futs):
                    return self._join(where, await _resolve(futs))
                out.append(one())
            return out

        per_judge = await self._run(plans)
        results = []
        for k in range(len(items)):
            comps, values, errors = {}, [], []
            for s, outs in zip(self.slots, per_judge):
                o = outs[k]
                value, comp = self._score_component(s, o, policy, return_raw)
                comps[s.name] = comp
                values.append(value)
                if comp.get("error"):
                    errors.append(f"{s.name}: {comp['error']}")
            reward = combine([[v] for v in values], [s.spec.weight for s in self.slots],
                             None)[0]
            if isinstance(items[k], str):  # bad media: the same error for every judge
                errors = [items[k]]
            results.append({"reward": reward, "status": _status(reward, errors),
                            "error": "; ".join(errors) or None, "components": comps})
        self._count(endpoint, per_judge)
        return {"rewards": [r["reward"] for r in results], "items": results,
                "unparsed": policy.to_json(),
                "errors": sum(r["status"] == "error" for r in results)}

    def _score_component(self, slot: Slot, o: Outcome, policy: UnparsedCount,
                         return_raw: bool) -> tuple[float | None, dict[str, Any]]:
        if o.error is not None:
            return None, {"score": None, "status": "error", "error": o.error}
        sc = o.value
        comp: dict[str, Any] = {"score": sc.value, "status": sc.status.value}
        if sc.extras.get("dims"):
            comp["dims"] = sc.extras["dims"]
        if return_raw and sc.raw is not None:
            comp["raw"] = sc.raw
        value = sc.value
        if sc.status == ParseStatus.UNPARSED or value is None:
            policy.count += 1
            value = None
            if policy.policy == "zero":
                value = 0.0
                policy.applied += 1
                comp["policy"] = "zero"
            elif policy.policy == "error":
                comp["error"] = "unreadable answer (--unparsed error)"
                comp["status"] = "error"
        return value, comp

    # -- /v1/compare ----------------------------------------------------------------------
    async def compare(self, pairs: Sequence[PairItem | str], both_orders: bool = False,
                      seed: int | None = None, unparsed: str | None = None,
                      return_raw: bool = False) -> dict[str, Any]:
        from evalsuite.runner import swap_for

        policy = UnparsedCount(unparsed or self.cfg.unparsed)
        seed = self.cfg.seed if seed is None else seed
        orders = []
        for p in pairs:
            sw = False if isinstance(p, str) else swap_for(p.item_id, seed)
            orders.append([sw, not sw] if both_orders else [sw])
        per_judge = await self._run(
            lambda sub: [self._plan_pairs(s, pairs, orders, sub) for s in self.slots])
        results = []
        for k, p in enumerate(pairs):
            comps, margins, errors = {}, [], []
            for s, res in zip(self.slots, per_judge):
                pres = res[k]
                primary = pres[0]
                comp = self._verdict_json(primary, return_raw)
                margin = self._apply_verdict_policy(primary.outcome, comp, policy)
                if len(pres) > 1:
                    other = pres[1]
                    comp["other_order"] = self._verdict_json(other, return_raw)
                    self._apply_verdict_policy(other.outcome, comp["other_order"], policy)
                    a, b = primary.outcome.value, other.outcome.value
                    comp["consistent"] = (None if a is None or b is None
                                          or ParseStatus.UNPARSED in (a.status, b.status)
                                          else a.preferred == b.preferred)
                comps[s.name] = comp
                margins.append(margin)
                if comp.get("error"):
                    errors.append(f"{s.name}: {comp['error']}")
            m = combine([[x] for x in margins], [s.spec.weight for s in self.slots], None)[0]
            results.append({
                "id": None if isinstance(p, str) else p.item_id,
                "preferred": None if m is None else "A" if m > 0 else "B" if m < 0 else "tie",
                "margin": m, "status": _status(m, errors), "error": "; ".join(errors) or None,
                "components": comps})
        self._count("compare", per_judge)
        return {"pairs": results, "unparsed": policy.to_json(),
                "errors": sum(r["status"] == "error" for r in results)}

    @staticmethod
    def _verdict_json(p: Presentation, return_raw: bool) -> dict[str, Any]:
        if p.outcome.error is not None:
            return {"preferred": None, "status": "error", "margin": None, "swapped": p.swapped,
                    "error": p.outcome.error}
        v: Verdict = p.outcome.value
        d: dict[str, Any] = {"preferred": v.preferred, "status": v.status.value,
                             "margin": v.margin, "swapped": p.swapped}
        if v.score_a is not None or v.score_b is not None:
            d.update(score_a=v.score_a, score_b=v.score_b)
        if return_raw and v.raw is not None:
            d["raw"] = v.raw
        return d

    @staticmethod
    def _apply_verdict_policy(o: Outcome, comp: dict[str, Any], policy: UnparsedCount
                              ) -> float | None:
        """The margin this presentation contributes, after the unparsed policy."""
        if o.error is not None:
            return None
        v: Verdict = o.value
        if v.status != ParseStatus.UNPARSED:
            return v.margin
        policy.count += 1
        if policy.policy in ("tie", "zero"):
            policy.applied += 1
            comp["policy"] = policy.policy
            return 0.0
        if policy.policy == "error":
            comp["status"] = "error"
            comp["error"] = "unreadable answer (--unparsed error)"
        return None

    # -- /v1/group ------------------------------------------------------------------------
    async def group(self, prompt: str, candidates: Sequence[Candidate | str],
                    context: MediaRef | None = None, task: Task = "generation",
                    scheme: str = "win-rate", normalize: str | None = None,
                    both_orders: bool = False, order: str = "reference",
                    seed: int | None = None, round_digits: int | None = 3,
                    unparsed: str | None = None, return_raw: bool = False,
                    group_id: str | None = None) -> dict[str, Any]:
        from evalsuite.runner import swap_for

        policy = UnparsedCount(unparsed or self.cfg.unparsed)
        if scheme == "score-zscore":
            normalize = normalize or "flow-grpo"
        weights = [s.spec.weight for s in self.slots]
        n = len(candidates)
        if scheme in ("score", "score-zscore"):
            items = [c if isinstance(c, str) else point_item(prompt, c, context, task)
                     for c in candidates]
            res = await self.score(items, policy.policy, return_raw, endpoint="group")
            comps = [[it["components"][s.name] for it in res["items"]] for s in self.slots]
            values = [[_policy_value(c) for c in col] for col in comps]
            raw = combine(values, weights, None)
            rewards = combine(values, weights, normalize) if normalize else raw
            cands = [{"index": i, "reward": rewards[i], "raw_reward": raw[i],
                      "status": res["items"][i]["status"], "error": res["items"][i]["error"],
                      "components": {s.name: comps[k][i] for k, s in enumerate(self.slots)}}
                     for i in range(n)]
            return {"scheme": scheme, "normalize": normalize, "rewards": rewards,
                    "candidates": cands, "unparsed": res["unparsed"], "comparisons": 0}
        if scheme != "win-rate":
            raise BadRequest(f"unknown scheme {scheme!r}: win-rate | score | score-zscore")
        if order not in ("reference", "seeded-swap"):
            raise BadRequest(f"unknown order {order!r}: reference | seeded-swap")
        seed = self.cfg.seed if seed is None else seed
        gid = group_id or content_id(prompt, [c for c in candidates if not isinstance(c, str)],
                                     context)
        index = [(i, j) for i in range(n) for j in range(i + 1, n)]  # Pref-GRPO's combinations
        pairs: list[PairItem | str] = []
        orders: list[list[bool]] = []
        for i, j in index:
            ci, cj = candidates[i], candidates[j]
            bad = ci if isinstance(ci, str) else cj if isinstance(cj, str) else None
            if bad is not None:
                pairs.append(f"candidate {i if bad is ci else j}: {bad}")
                orders.append([False])
                continue
            pid = f"{gid}:{i}:{j}"
            pairs.append(pair_item(pid, prompt, ci, cj, context, task))
            sw = swap_for(pid, seed) if order == "seeded-swap" else False
            orders.append([sw, not sw] if both_orders else [sw])
        per_judge = await self._run(
            lambda sub: [self._plan_pairs(s, pairs, orders, sub) for s in self.slots])
        tallies, details = [], [[[] for _ in range(n)] for _ in self.slots]
        for k, (s, res) in enumerate(zip(self.slots, per_judge)):
            comparisons = []
            for (i, j), pres in zip(index, res):
                for p in pres:
                    comparisons.append(Comparison(i, j, _outcome(p.outcome)))
                    details[k][i].append(_detail(p, j, True, return_raw))
                    details[k][j].append(_detail(p, i, False, return_raw))
            tally = win_rates(n, comparisons, policy.policy, round_digits)
            tallies.append(tally)
            unread = sum(c.outcome == "unparsed" for c in comparisons)
            policy.count += unread
            if policy.policy in ("tie", "zero"):
                policy.applied += unread
            self.observer.unparsed(s.name, "group", unread)
            self.observer.item_errors(s.name, "group",
                                      sum(c.outcome == "error" for c in comparisons))
        raw = combine([[t.reward for t in tally] for tally in tallies], weights, None)
        rewards = (combine([[t.reward for t in tally] for tally in tallies], weights, normalize)
                   if normalize else raw)
        cands = []
        for i in range(n):
            comps = {}
            for k, s in enumerate(self.slots):
                t = tallies[k][i]
                comps[s.name] = {"reward": t.reward, "wins": t.wins,
                                 "comparisons": t.comparisons, "unparsed": t.unparsed,
                                 "errors": t.errors, "policy_applied": t.policy_applied,
                                 "error": t.error, "verdicts": details[k][i]}
            errs = [f"{name}: {c['error']}" for name, c in comps.items() if c["error"]]
            if isinstance(candidates[i], str):
                errs.insert(0, str(candidates[i]))
            cands.append({"index": i, "reward": rewards[i], "raw_reward": raw[i],
                          "status": _status(rewards[i], errs), "error": "; ".join(errs) or None,
                          "components": comps})
        judged = sum(len(p) for res in per_judge for p in res)
        return {"scheme": scheme, "normalize": normalize, "rewards": rewards,
                "candidates": cands, "unparsed": policy.to_json(), "comparisons": judged}

    def _count(self, endpoint: str, per_judge: list[list[Any]]) -> None:
        for s, outs in zip(self.slots, per_judge):
            flat = [x for o in outs for x in (o if isinstance(o, list) else [o])]
            flat = [x.outcome if isinstance(x, Presentation) else x for x in flat]
            self.observer.item_errors(s.name, endpoint, sum(o.error is not None for o in flat))
            self.observer.unparsed(s.name, endpoint, sum(
                o.error is None and o.value is not None and o.value.status == ParseStatus.UNPARSED
                for o in flat))


def _status(value: float | None, errors: list[str]) -> str:
    if errors:
        return "error"
    return "ok" if value is not None else "unparsed"


def _policy_value(comp: dict[str, Any]) -> float | None:
    """A score component's value after the unparsed policy."""
    if comp.get("status") == "error":
        return None
    if comp.get("policy") == "zero":
        return 0.0
    return comp["score"] if comp.get("status") != "unparsed" else None


def _outcome(o: Outcome) -> str:
    if o.error is not None:
        return "error"
    v: Verdict = o.value
    if v.status == ParseStatus.UNPARSED:
        return "unparsed"
    return {"A": "i", "B": "j", "tie": "tie"}[v.preferred]


def _detail(p: Presentation, against: int, first: bool, return_raw: bool) -> dict[str, Any]:
    """One comparison seen from a candidate: ``first`` when it is the pair's A (lower index).

    ``result`` is win / loss / tie / unparsed / error; ``margin`` is from this candidate's
    side; ``shown_first`` says whether the judge saw this candidate as the first image.
    """
    d: dict[str, Any] = {"against": against,
                         "shown_first": None if p.swapped is None else first != p.swapped}
    if p.outcome.error is not None:
        return {**d, "result": "error", "margin": None, "error": p.outcome.error}
    v: Verdict = p.outcome.value
    side = "A" if first else "B"
    result = ("unparsed" if v.status == ParseStatus.UNPARSED else "tie" if v.preferred == "tie"
              else "win" if v.preferred == side else "loss")
    margin = None if v.margin is None else (v.margin if first else -v.margin)
    d.update(result=result, margin=margin)
    if return_raw and v.raw is not None:
        d["raw"] = v.raw
    return d
