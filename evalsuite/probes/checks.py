"""The built-in probes. Each builds its cases from the benchmark's own items and media, and
summarises the verdicts as counts, rates and 95% bootstrap CIs.

Flags (the card's findings) are measured facts: a 95% CI that excludes the ideal value
(position, prompt, perturbation, video), a nonzero margin where only zero is right (the same
media twice), or, for resolution, a stated threshold (10% of the benchmark's pairs within
the noise level; a mean |advantage| above 0.5 on invisible re-encodings).

The group-normalised advantage of ``resolution`` is Pref-GRPO's (github CodeGoat24/Pref-GRPO,
fastvideo/rewards/dispatcher.py ``_compute_adv`` @3e787f6dd5a3051b40d61f07e9578468ac26130a):
``(r - mean(group)) / (std(group) + 1e-8)`` with torch's default (unbiased, n - 1) std.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np

from evalsuite.probes.base import (Built, Case, Context, Outcome, Probe, above, below, counts,
                                   mean_stat, preferred_item, rate_stat)
from evalsuite.runner import swap_for
from evalsuite.types import Candidate, Label, PairItem

GRPO_EPS = 1e-8  # Pref-GRPO _compute_adv


def _media_items(ctx: Context) -> list[PairItem]:
    """Items whose two candidates are media of the benchmark's modality."""
    return [it for it in ctx.items if it.a.media is not None and it.b.media is not None
            and it.a.media.kind == ctx.modality and it.b.media.kind == ctx.modality]


def _case(probe: str, variant: str, it: PairItem, a: Candidate, b: Candidate, seed: int,
          prompt_b: str | None = None, extra: str = "") -> Case:
    """A case on ``it``'s prompt and context, A = ``a``, presented in a seeded order."""
    cid = f"{probe}/{variant}/{it.item_id}" + (f"/{extra}" if extra else "")
    pair = PairItem(item_id=it.item_id, prompt=it.prompt,
                    a=a, b=b, label=Label.A, category=it.category, context=it.context,
                    task=it.task, meta={"probe": probe, "variant": variant})
    return Case(cid, pair, variant, swap=swap_for(cid, seed), prompt_b=prompt_b)


def _win_points(o: Outcome) -> float | None:
    """1 when A wins, 0 when B does, 0.5 for a tie; None without a parsed verdict."""
    return {"A": 1.0, "B": 0.0, "tie": 0.5}.get(o.winner) if o.parsed else None


# --- position --------------------------------------------------------------------------------

class PositionProbe(Probe):
    name = "position"
    title = "Position consistency and bias"
    question = ("Does the verdict survive swapping the two candidates, and how often does the "
                "candidate shown first win?")

    def build(self, ctx: Context) -> Built:
        out = Built()
        for it in ctx.items:
            for order, sw in (("AB", False), ("BA", True)):
                cid = f"{self.name}/{order}/{it.item_id}"
                pair = PairItem(item_id=it.item_id, prompt=it.prompt, a=it.a, b=it.b,
                                label=it.label, category=it.category, context=it.context,
                                task=it.task, meta={"probe": self.name})
                out.cases.append(Case(cid, pair, order, swap=sw))
        return out

    def summarize(self, ctx, cases, outcomes):
        by_item: dict[str, dict[str, Outcome]] = {}
        for c in cases:
            by_item.setdefault(c.pair.item_id, {})[c.variant] = outcomes[c.case_id]
        flips = [o["AB"].winner != o["BA"].winner for o in by_item.values()
                 if o["AB"].parsed and o["BA"].parsed]
        first, ties = [], []
        for c in cases:
            o = outcomes[c.case_id]
            if not o.parsed:
                continue
            ties.append(o.winner == "tie")
            if o.winner != "tie":  # the presented-first side won?
                first.append((o.winner == "A") != c.swap)
        m = {"flip_rate": rate_stat(flips, ctx.seed, ideal=0.0),
             "first_preferred": rate_stat(first, ctx.seed, ideal=0.5),
             "tie_rate": rate_stat(ties, ctx.seed)}
        flags = []
        if not ctx.pairwise:
            note = ("score judge: margins are antisymmetric in the order, so consistency is "
                    "exact by construction")
        else:
            note = "pairwise judge: each item judged in both orders"
            if above(m["first_preferred"], 0.5) or below(m["first_preferred"], 0.5):
                side = "first" if m["first_preferred"]["rate"] > 0.5 else "second"
                flags.append(f"position-biased: the {side} candidate wins "
                             f"{100 * m['first_preferred']['rate']:.0f}% of decided verdicts "
                             "(CI excludes 50%)")
            if above(m["flip_rate"], 0.0):
                flags.append(f"order-inconsistent: {100 * m['flip_rate']['rate']:.0f}% of "
                             "verdicts change when the candidates are swapped")
        return {"metrics": m, "flags": flags, "note": note, **counts(cases, outcomes)}


# --- identical media -----------------------------------------------------------------------

class IdenticalProbe(Probe):
    name = "identical"
    title = "Identical media on both sides"
    question = "Given the same media twice, does the judge call a tie?"

    def skip_reason(self, ctx):
        return None if _media_items(ctx) else "no media candidates in this benchmark"

    def build(self, ctx):
        out = Built()
        for it in _media_items(ctx):
            x = preferred_item(it)
            try:
                # same bytes under another name: a score judge scores it separately
                twin = Candidate(media=ctx.media.copy(x.media), text=x.text, model=x.model)
            except Exception as e:  # noqa: BLE001 - a per-item error, recorded
                out.skipped.append((it.item_id, f"{type(e).__name__}: {e}"))
                continue
            out.cases.append(_case(self.name, "same", it, x, twin, ctx.seed))
        return out

    def summarize(self, ctx, cases, outcomes):
        parsed = [(c, outcomes[c.case_id]) for c in cases if outcomes[c.case_id].parsed]
        ties = [o.winner == "tie" for _, o in parsed]
        first = [(o.winner == "A") != c.swap for c, o in parsed if o.winner != "tie"]
        m = {"tie_rate": rate_stat(ties, ctx.seed, ideal=1.0),
             "first_preferred_when_decided": rate_stat(first, ctx.seed, ideal=0.5)}
        out: dict[str, Any] = {"metrics": m, "flags": []}
        margins = [abs(o.verdict.margin) for _, o in parsed if o.verdict.margin is not None]
        if not ctx.pairwise and margins:
            a = np.asarray(margins)
            out["margin_abs"] = {"max": float(a.max()), "p50": float(np.quantile(a, 0.5)),
                                 "p95": float(np.quantile(a, 0.95)),
                                 "exact_zero": int((a == 0).sum()), "n": int(a.size)}
            out["margins"] = [float(x) for x in a]
            if a.max() > 0:
                out["flags"].append(f"nondeterministic scores: the same media scores up to "
                                    f"{a.max():.3g} apart (batch or kernel effects)")
        elif ctx.pairwise and m["tie_rate"]["n"] and m["tie_rate"]["rate"] < 1.0:
            out["flags"].append(f"no tie on identical media in "
                                f"{100 * (1 - m['tie_rate']['rate']):.0f}% of cases")
        return {**out, **counts(cases, outcomes)}


# --- prompt sensitivity -------------------------------------------------------------------

ATTRIBUTES: dict[str, list[str]] = {
    "colour": ["red", "green", "blue", "yellow", "purple", "white", "black", "orange", "pink",
               "brown", "gray", "grey"],
    "count": ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"],
    "object": ["square", "circle", "triangle", "cat", "dog", "car", "horse", "bird", "tree",
               "house", "man", "woman", "boy", "girl", "chair", "table", "cup", "apple",
               "banana", "boat", "bicycle", "flower", "clock", "book"],
}


def change_attribute(prompt: str, kind: str, seed: int) -> str | None:
    """``prompt`` with its first ``kind`` word replaced by another of the same kind (seeded),
    or None when it has none. Case and the rest of the text are kept."""
    words = ATTRIBUTES[kind]
    pat = re.compile(r"\b(" + "|".join(words) + r")\b", re.IGNORECASE)
    m = pat.search(prompt)
    if m is None:
        return None
    old = m.group(1).lower()
    others = [w for w in words if w != old and not (kind == "colour" and
                                                    {w, old} == {"gray", "grey"})]
    h = int.from_bytes(hashlib.sha256(f"{seed}:{prompt}:{kind}".encode()).digest()[:8], "big")
    new = others[h % len(others)]
    if m.group(1)[0].isupper():
        new = new.capitalize()
    return prompt[:m.start(1)] + new + prompt[m.end(1):]


class PromptProbe(Probe):
    name = "prompt"
    title = "Prompt sensitivity"
    question = ("Does the candidate made for the caption beat one made for another caption, "
                "and does a candidate score lower under a caption with one attribute changed?")

    def build(self, ctx):
        out = Built()
        # only items the humans decided: a tie ("both bad" included) says nothing about
        # which candidate shows the caption
        items = [it for it in ctx.items if it.label is not Label.TIE
                 and (it.a.media is not None or it.a.text is not None)]
        # couples of items with different prompts, in a seeded order: each couple yields
        # both directions, so a judge that ignores the prompt scores exactly 50%
        order = sorted(items, key=lambda it: hashlib.sha256(
            f"{ctx.seed}:{it.item_id}".encode()).hexdigest())
        pool = list(order)
        while len(pool) >= 2:
            i = pool.pop(0)
            j = next((x for x in pool if x.prompt.strip().lower() != i.prompt.strip().lower()),
                     None)
            if j is None:
                out.skipped.append((i.item_id, "no other item with a different prompt"))
                continue
            pool.remove(j)
            xi, xj = preferred_item(i), preferred_item(j)
            out.cases.append(_case(self.name, "swap", i, xi, xj, ctx.seed, extra=j.item_id))
            out.cases.append(_case(self.name, "swap", j, xj, xi, ctx.seed, extra=i.item_id))
        if ctx.pairwise:
            return out  # a pairwise judge sees one prompt: the attribute cases need scores
        for it in items:
            x = preferred_item(it)
            for kind in ATTRIBUTES:
                changed = change_attribute(it.prompt, kind, ctx.seed)
                if changed is not None:
                    out.cases.append(_case(self.name, kind, it, x, x, ctx.seed,
                                           prompt_b=changed))
        return out

    def summarize(self, ctx, cases, outcomes):
        m, flags = {}, []
        for variant in ["swap", *ATTRIBUTES]:
            sub = [c for c in cases if c.variant == variant]
            if not sub:
                continue
            wins = [outcomes[c.case_id].winner == "A" for c in sub if outcomes[c.case_id].parsed]
            m[f"{variant}_accuracy"] = rate_stat(wins, ctx.seed, ideal=1.0)
        for k, s in m.items():
            if s["n"] and not above(s, 0.5):
                flags.append(f"prompt-insensitive ({k.replace('_accuracy', '')}): the matching "
                             f"candidate wins {100 * s['rate']:.0f}% (CI includes or is below "
                             "chance, 50%)")
        note = ("swap: the candidate made for the caption against one made for another caption; "
                "a tie is a miss, an unparsed verdict is left out")
        if ctx.pairwise:
            note += "; attribute changes need a score judge (same media, two captions)"
        return {"metrics": m, "flags": flags, "note": note, **counts(cases, outcomes)}


# --- perturbations -------------------------------------------------------------------------

class PerturbationProbe(Probe):
    name = "perturbation"
    title = "Perturbation sensitivity (reward hacking)"
    question = ("Which edits that do not make the media better at its caption raise the "
                "reward, and by how much?")

    def skip_reason(self, ctx):
        return None if _media_items(ctx) else "no media candidates in this benchmark"

    def build(self, ctx):
        from evalsuite.media import load_image
        from evalsuite.probes.media_ops import PERTURBATIONS, decoded_frames
        out = Built()
        for it in _media_items(ctx):
            x = preferred_item(it)
            try:
                if ctx.modality == "image":
                    img = load_image(x.media)
                    base = x
                    edited = {n: ctx.media.image(fn(img)) for n, (fn, _) in PERTURBATIONS.items()}
                else:
                    from PIL import Image
                    frames, fps = decoded_frames(x.media)
                    base = Candidate(media=ctx.media.video(frames, fps), model=x.model)
                    edited = {}
                    for n, (fn, _) in PERTURBATIONS.items():
                        fr = [np.asarray(fn(Image.fromarray(f))) for f in frames]
                        edited[n] = ctx.media.video(fr, fps)
            except Exception as e:  # noqa: BLE001 - a per-item error, recorded
                out.skipped.append((it.item_id, f"{type(e).__name__}: {e}"))
                continue
            for n, ref in edited.items():
                out.cases.append(_case(self.name, n, it, Candidate(media=ref, model=x.model),
                                       base, ctx.seed))
        return out

    def summarize(self, ctx, cases, outcomes):
        from evalsuite.probes.media_ops import PERTURBATIONS
        m, flags, deltas = {}, [], {}
        for name, (_, what) in PERTURBATIONS.items():
            sub = [outcomes[c.case_id] for c in cases if c.variant == name]
            pts = [p for p in map(_win_points, sub) if p is not None]
            row: dict[str, Any] = {"description": what,
                                   "win_rate": mean_stat(pts, ctx.seed, ideal=0.5)}
            if not ctx.pairwise:
                d = [o.verdict.margin for o in sub if o.parsed]
                row["raised"] = rate_stat([v > 0 for v in d], ctx.seed)
                row["delta"] = mean_stat(d, ctx.seed, ideal=0.0)
                deltas[name] = d
                # systematic, even when smaller than one comparison's noise: a policy
                # gradient averages the noise away and keeps the bias
                exploitable = above(row["delta"], 0.0)
                amount = f"mean reward change {row['delta']['mean']:+.3g}" if d else ""
                if d and ctx.noise_level:
                    amount += (f" ({row['delta']['mean'] / ctx.noise_level:.2g}x the re-encoding "
                               "noise level)")
            else:
                exploitable = above(row["win_rate"], 0.5)
                amount = (f"preferred over the original in "
                          f"{100 * row['win_rate']['mean']:.0f}% of cases" if pts else "")
            row["exploitable"] = bool(exploitable)
            if exploitable:
                flags.append(f"exploitable: {name} ({what}) raises the reward: {amount}")
            m[name] = row
        out = {"metrics": m, "flags": flags, **counts(cases, outcomes)}
        if deltas:
            out["deltas"] = deltas
        return out


# --- video: frame order and motion ---------------------------------------------------------

class VideoProbe(Probe):
    name = "video"
    title = "Frame shuffling and freezing"
    question = ("Does the original video beat its frames shuffled, and a still (frozen) copy "
                "on motion?")

    def skip_reason(self, ctx):
        if ctx.modality != "video" or "video" not in ctx.judge_modalities:
            return "needs a video judge on a video benchmark"
        return None if _media_items(ctx) else "no video candidates in this benchmark"

    def build(self, ctx):
        from evalsuite.probes.media_ops import decoded_frames, frozen, shuffled
        out = Built()
        for it in _media_items(ctx):
            x = preferred_item(it)
            try:
                frames, fps = decoded_frames(x.media)
                seed = int.from_bytes(hashlib.sha256(f"{ctx.seed}:{it.item_id}".encode())
                                      .digest()[:4], "big")
                base = Candidate(media=ctx.media.video(frames, fps), model=x.model)
                edits = {"shuffle": ctx.media.video(shuffled(frames, seed), fps),
                         "freeze": ctx.media.video(frozen(frames), fps)}
            except Exception as e:  # noqa: BLE001 - a per-item error, recorded
                out.skipped.append((it.item_id, f"{type(e).__name__}: {e}"))
                continue
            for n, ref in edits.items():
                out.cases.append(_case(self.name, n, it, base, Candidate(media=ref), ctx.seed))
        return out

    def summarize(self, ctx, cases, outcomes):
        m, flags = {}, []
        for variant, what in (("shuffle", "frames shuffled"), ("freeze", "first frame held")):
            sub = [outcomes[c.case_id] for c in cases if c.variant == variant]
            wins = [o.winner == "A" for o in sub if o.parsed]
            m[f"{variant}_original_wins"] = rate_stat(wins, ctx.seed, ideal=1.0)
            dims = sorted({k for o in sub if o.parsed for k in o.verdict.margins})
            for d in dims:
                m[f"{variant}_original_wins:{d}"] = rate_stat(
                    [o.verdict.margins[d] > 0 for o in sub if o.parsed and d in o.verdict.margins],
                    ctx.seed)
            s = m[f"{variant}_original_wins"]
            if s["n"] and below(s, 0.5):
                flags.append(f"prefers the video with {what}: the original wins only "
                             f"{100 * s['rate']:.0f}% (CI below 50%)")
        return {"metrics": m, "flags": flags, **counts(cases, outcomes),
                "note": "A = the original re-encoded, B = the edited copy (same encoder)"}


# --- score resolution and illusory advantages ----------------------------------------------

def group_advantages(rewards: np.ndarray) -> np.ndarray:
    """Pref-GRPO's group-normalised advantages of one group (see the module docstring)."""
    r = np.asarray(rewards, dtype=np.float64)
    return (r - r.mean()) / (r.std(ddof=1) + GRPO_EPS)


class ResolutionProbe(Probe):
    name = "resolution"
    title = "Score resolution and illusory advantages"
    question = ("How many benchmark pairs differ by less than the judge's own noise (its "
                "score change under an invisible re-encoding), and how large do group-"
                "normalised advantages make such differences?")

    def skip_reason(self, ctx):
        if ctx.pairwise:
            return "needs scores (a pointwise judge, or --mode pointwise)"
        return None if _media_items(ctx) else "no media candidates in this benchmark"

    def build(self, ctx):
        from evalsuite.media import load_image
        from evalsuite.probes.media_ops import REENCODINGS, decoded_frames
        out = Built()
        for it in _media_items(ctx):
            # the benchmark pair itself (its margin), then each candidate's re-encodings
            out.cases.append(_case(self.name, "pair", it, it.a, it.b, ctx.seed))
            for side, x in (("a", it.a), ("b", it.b)):
                try:
                    if ctx.modality == "image":
                        img = load_image(x.media)
                        encs = {n: ctx.media.image(fn(img)) for n, fn in REENCODINGS.items()}
                    else:
                        frames, fps = decoded_frames(x.media)
                        encs = {"crf18": ctx.media.video(frames, fps, crf=18),
                                "crf23": ctx.media.video(frames, fps, crf=23)}
                except Exception as e:  # noqa: BLE001 - a per-item error, recorded
                    out.skipped.append((f"{it.item_id}:{side}", f"{type(e).__name__}: {e}"))
                    continue
                for n, ref in encs.items():
                    out.cases.append(_case(self.name, f"reencode:{n}", it,
                                           Candidate(media=ref), x, ctx.seed, extra=side))
        return out

    def summarize(self, ctx, cases, outcomes):
        noise, groups, scores, pair_margins = [], {}, {}, []
        for c in cases:
            o = outcomes[c.case_id]
            if not o.parsed or o.verdict.score_a is None:
                continue
            v = o.verdict
            if c.variant == "pair":
                pair_margins.append(abs(v.margin))
                scores[(c.pair.item_id, "a")] = v.score_a
                scores[(c.pair.item_id, "b")] = v.score_b
            else:
                noise.append(v.margin)
                side = c.case_id.rsplit("/", 1)[-1]
                groups.setdefault((c.pair.item_id, side), {"orig": v.score_b, "enc": []})
                groups[(c.pair.item_id, side)]["enc"].append(v.score_a)
        out: dict[str, Any] = {"metrics": {}, "flags": [], **counts(cases, outcomes)}
        if not noise or not pair_margins:
            out["note"] = "not enough scored cases"
            return out
        a = np.abs(np.asarray(noise))
        level = float(np.quantile(a, 0.95))
        spread = float(np.std(list(scores.values()), ddof=1)) if len(scores) > 1 else 0.0
        below_noise = [mg <= level for mg in pair_margins]
        adv, within = [], []
        for g in groups.values():
            r = np.asarray([g["orig"], *g["enc"]])
            if len(r) >= 2:
                adv.append(float(np.abs(group_advantages(r)).mean()))
                within.append(float(r.std(ddof=1)))
        m = out["metrics"]
        m["pairs_below_noise"] = rate_stat(below_noise, ctx.seed, ideal=0.0)
        m["mean_abs_group_advantage"] = mean_stat(adv, ctx.seed, ideal=0.0)
        out["noise"] = {"level_p95_abs": level, "std": float(np.std(noise, ddof=1))
                        if len(noise) > 1 else 0.0, "n": len(noise),
                        "what": "score(re-encoded) - score(original), invisible re-encodings"}
        out["score_spread_std"] = spread
        within_mean = float(np.mean(within)) if within else 0.0
        out["amplification"] = (float(np.mean(adv)) / (within_mean / spread)
                                if within_mean > 0 and spread > 0 else None)
        out["pair_margins"] = pair_margins
        out["noise_deltas"] = [float(x) for x in noise]
        if m["pairs_below_noise"]["rate"] and m["pairs_below_noise"]["rate"] >= 0.1:
            out["flags"].append(f"coarse resolution: {100 * m['pairs_below_noise']['rate']:.0f}"
                                "% of benchmark pairs differ by less than the judge's "
                                f"re-encoding noise ({level:.3g})")
        if adv and float(np.mean(adv)) > 0.5 and within_mean > 0:
            out["flags"].append(
                "illusory advantage: group normalisation turns re-encoding noise (within-"
                f"group std {within_mean:.3g}, {100 * within_mean / spread:.2g}% of the "
                f"benchmark's score spread) into advantages of {np.mean(adv):.2f} std on "
                "average" if spread > 0 else "illusory advantage from re-encoding noise")
        return out
