"""Judge report cards (`evalsuite probe`): each probe is checked on judges built to have (or
not have) the property it measures, so the right answer is known by construction; then the
command runs end to end on the fixture judges."""

from __future__ import annotations

import hashlib
import json
from typing import ClassVar

import numpy as np
import pytest

from evalsuite.judges.base import Judge
from evalsuite.types import PairItem, PointItem, Score, Verdict

pytest.importorskip("PIL")


# --- judges built to have one property -------------------------------------------------------

def _pixels(media) -> np.ndarray:
    from evalsuite.media import load_image, load_video
    from evalsuite.types import FrameSpec
    if media.kind == "video":
        return load_video(media, FrameSpec()).astype(np.float64)
    return np.asarray(load_image(media), dtype=np.float64)


def _saturation(px: np.ndarray) -> float:
    """Mean HSV saturation (max - min) / max over pixels."""
    mx, mn = px.max(-1), px.min(-1)
    return float(np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-9), 0).mean())


COLOURS = {"red": (220, 30, 30), "green": (30, 180, 60), "blue": (40, 60, 220),
           "yellow": (230, 210, 40), "purple": (140, 50, 170), "white": (245, 245, 245)}


def _colour_match(px: np.ndarray, prompt: str) -> float:
    """Share of pixels near the caption's colour (0 when the caption names none)."""
    named = [c for c in COLOURS if c in prompt.lower().split()]
    if not named:
        return 0.0
    d = np.abs(px - np.asarray(COLOURS[named[0]], dtype=np.float64)).sum(-1)
    return float((d < 60).mean())


class ScoreJudge(Judge):
    """A pointwise judge whose score is ``fn(pixels, prompt)``."""

    name: ClassVar[str] = "test-score"
    pointwise: ClassVar[bool] = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image", "video"})
    requires: ClassVar[tuple[str, ...]] = ()
    default_batch_size: ClassVar[int] = 4

    def __init__(self, fn, **kw):
        super().__init__(device="cpu", **kw)
        self.fn = fn

    def prepare_point(self, item: PointItem):
        if item.candidate.media is None:
            raise ValueError("no media")
        return _pixels(item.candidate.media), item.prompt

    def score_batch(self, prepared):
        return [Score(value=float(self.fn(px, prompt))) for px, prompt in prepared]


class PairJudge(Judge):
    """A pairwise judge: ``choose(pixels_a, pixels_b, prompt)`` -> "A" | "B" | "tie"."""

    name: ClassVar[str] = "test-pair"
    pairwise: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ()
    default_batch_size: ClassVar[int] = 4

    def __init__(self, choose, **kw):
        super().__init__(device="cpu", **kw)
        self.choose = choose

    def prepare_pair(self, item: PairItem):
        return _pixels(item.a.media), _pixels(item.b.media), item.prompt

    def compare_batch(self, prepared):
        return [Verdict.from_choice(self.choose(a, b, p), raw=None) for a, b, p in prepared]


def run_probes(tmp_path, judge, data, probes=None, sample=12, bench="genai-bench", seed=0,
               retry_errors=False):
    from evalsuite.probes.engine import ProbeConfig, execute_probes
    from evalsuite.registry import BENCHMARKS
    cfg = ProbeConfig(judge=judge.name, bench=bench, data_path=str(data),
                      out_dir=str(tmp_path), sample=sample, seed=seed, progress=False,
                      prefetch_workers=0, retry_errors=retry_errors,
                      **({"probes": probes} if probes else {}))
    return execute_probes(cfg, judge=judge, bench=BENCHMARKS.create(bench))


@pytest.fixture(scope="module")
def image_data(fx):
    return fx("genai-bench")


# --- position ----------------------------------------------------------------------------------

def test_a_judge_that_always_picks_the_first_candidate_is_flagged(tmp_path, image_data):
    card = run_probes(tmp_path, PairJudge(lambda a, b, p: "A"), image_data,
                      ["position", "identical"]).card
    pos = card["probes"]["position"]["metrics"]
    # every decided verdict goes to the candidate shown first, so every swap flips it
    assert pos["first_preferred"]["rate"] == 1.0 and pos["first_preferred"]["ci95"] == [1, 1]
    assert pos["flip_rate"]["rate"] == 1.0
    n_items = pos["flip_rate"]["n"]
    assert pos["first_preferred"]["n"] == 2 * n_items
    assert any("position-biased" in f for f in card["findings"])
    assert any("order-inconsistent" in f for f in card["findings"])
    # identical media: never a tie, the first side always wins
    ident = card["probes"]["identical"]["metrics"]
    assert ident["tie_rate"]["rate"] == 0.0
    assert ident["first_preferred_when_decided"]["rate"] == 1.0


def test_an_order_blind_judge_is_not_flagged_for_position(tmp_path, image_data):
    # picks the brighter image, whatever the order: no flips, first wins about half
    card = run_probes(tmp_path, PairJudge(
        lambda a, b, p: "A" if a.mean() > b.mean() else "B" if b.mean() > a.mean() else "tie"),
        image_data, ["position", "prompt"]).card
    pos = card["probes"]["position"]["metrics"]
    # it ignores the prompt too: of each couple judged under both captions, one is right
    swap = card["probes"]["prompt"]["metrics"]["swap_accuracy"]
    assert swap["n"] > 0 and swap["rate"] == 0.5
    assert "colour_accuracy" not in card["probes"]["prompt"]["metrics"]  # needs scores
    assert pos["flip_rate"]["rate"] == 0.0
    # each item contributes one first-side win and one second-side win (or two ties)
    assert pos["first_preferred"]["count"] * 2 == pos["first_preferred"]["n"]
    assert not any("position-biased" in f or "order-inconsistent" in f
                   for f in card["findings"])


# --- prompt sensitivity ----------------------------------------------------------------------

def test_a_judge_that_ignores_the_prompt_fails_prompt_sensitivity(tmp_path, image_data):
    card = run_probes(tmp_path, ScoreJudge(lambda px, p: _saturation(px)), image_data,
                      ["prompt"], sample=24).card
    m = card["probes"]["prompt"]["metrics"]
    # couples judged under both captions: one direction is right, the other wrong
    assert m["swap_accuracy"]["n"] > 0 and m["swap_accuracy"]["rate"] == 0.5
    # the same image under a changed caption scores the same: a tie, never a win
    assert m["colour_accuracy"]["n"] > 0 and m["colour_accuracy"]["rate"] == 0.0
    assert m["object_accuracy"]["rate"] == 0.0
    assert any("prompt-insensitive (swap)" in f for f in card["findings"])


def test_a_judge_that_reads_the_caption_passes(tmp_path, image_data):
    card = run_probes(tmp_path, ScoreJudge(_colour_match), image_data, ["prompt"],
                      sample=24).card
    m = card["probes"]["prompt"]["metrics"]
    # brute force: the judge applied directly to each sampled item's preferred image under
    # its caption and under the changed caption
    from evalsuite.probes.base import preferred_item
    from evalsuite.probes.checks import change_attribute
    wins = n = 0
    for it in _sampled(image_data, 24):
        if it.label.value == "tie":
            continue  # no candidate known to show the caption
        changed = change_attribute(it.prompt, "colour", 0)
        try:
            px = _pixels(preferred_item(it).media)
        except Exception:  # noqa: BLE001 - an undecodable fixture row: a judge error
            continue
        if changed is not None:
            n += 1
            wins += _colour_match(px, it.prompt) > _colour_match(px, changed)
    assert (m["colour_accuracy"]["count"], m["colour_accuracy"]["n"]) == (wins, n)
    assert wins >= 0.8 * n  # the odd-mode fixture images (grey, palette) lose their colour
    # swapped captions: right unless both captions name the same colour (then the larger
    # shape wins either way)
    assert m["swap_accuracy"]["rate"] >= 0.6
    assert not any("(colour)" in f for f in card["findings"])


def test_change_attribute_replaces_one_word_of_the_same_kind():
    from evalsuite.probes.checks import ATTRIBUTES, change_attribute
    for seed in range(20):
        out = change_attribute("A red square on the left, red again", "colour", seed)
        head, tail = out.split(" square on the left, ")
        assert tail == "red again"  # only the first one changes
        assert head.split()[1] in ATTRIBUTES["colour"] and head.split()[1] != "red"
        assert change_attribute("Red square", "colour", seed).split()[0][0].isupper()
    assert change_attribute("a photo of the sea", "count", 0) is None
    assert change_attribute("a redwood forest", "colour", 0) is None  # whole words only


# --- perturbations ---------------------------------------------------------------------------

def test_a_saturation_loving_judge_is_exploitable_by_saturation(tmp_path, image_data):
    card = run_probes(tmp_path, ScoreJudge(lambda px, p: _saturation(px)), image_data,
                      ["perturbation", "resolution"], sample=12).card
    per = card["probes"]["perturbation"]["metrics"]
    assert per["saturation"]["exploitable"] and per["saturation"]["delta"]["mean"] > 0
    assert per["saturation"]["raised"]["rate"] > 0.5
    # a white border and a grey watermark desaturate: they lower this reward
    assert per["border"]["delta"]["ci95"][1] < 0 and not per["border"]["exploitable"]
    assert per["watermark"]["delta"]["mean"] < 0
    assert any("exploitable: saturation" in f for f in card["findings"])
    # the change is also expressed in units of the judge's re-encoding noise
    level = card["probes"]["resolution"]["noise"]["level_p95_abs"]
    assert per["saturation"]["delta_over_noise"] == pytest.approx(
        per["saturation"]["delta"]["mean"] / level, rel=1e-12)


def test_a_pairwise_judge_that_likes_borders_is_exploitable_by_borders(tmp_path, image_data):
    def edge(px):  # brightness of the outer 6% frame
        b = max(1, round(min(px.shape[:2]) * 0.06))
        return np.concatenate([px[:b].ravel(), px[-b:].ravel(), px[:, :b].ravel(),
                               px[:, -b:].ravel()]).mean()
    card = run_probes(tmp_path, PairJudge(lambda a, b, p: "A" if edge(a) > edge(b) else "B"),
                      image_data, ["perturbation"], sample=12).card
    per = card["probes"]["perturbation"]["metrics"]
    assert per["border"]["win_rate"]["mean"] == 1.0 and per["border"]["exploitable"]
    assert "delta" not in per["border"]  # a pairwise judge has no score to report


# --- identical media and resolution ----------------------------------------------------------

def test_identical_media_ties_for_a_deterministic_score_judge(tmp_path, image_data):
    card = run_probes(tmp_path, ScoreJudge(lambda px, p: px.mean()), image_data,
                      ["identical"]).card
    ident = card["probes"]["identical"]
    assert ident["metrics"]["tie_rate"]["rate"] == 1.0
    assert ident["margin_abs"]["max"] == 0.0 and not ident["flags"]


def test_a_judge_that_scores_copies_differently_is_flagged(tmp_path, image_data):
    class Jitter(ScoreJudge):
        def prepare_point(self, item):  # a deterministic "kernel effect" per media identity
            h = hashlib.sha256(item.candidate.media.identity().encode()).digest()[0]
            return super().prepare_point(item), h / 255 * 1e-3

        def score_batch(self, prepared):
            return [Score(value=float(px.mean() + j)) for (px, _), j in prepared]
    card = run_probes(tmp_path, Jitter(None), image_data, ["identical"]).card
    ident = card["probes"]["identical"]
    assert 0 < ident["margin_abs"]["max"] <= 1e-3
    assert any("nondeterministic scores" in f for f in ident["flags"])


def test_group_advantages_follow_pref_grpo():
    from evalsuite.probes.checks import group_advantages
    # mean 2, unbiased std 1 (hand computation)
    np.testing.assert_allclose(group_advantages(np.array([1.0, 2.0, 3.0])), [-1, 0, 1],
                               rtol=0, atol=1e-7)
    # differences of 1e-6 become advantages of the same size as differences of 1: the
    # "illusory advantage" (a scale-free normalisation), up to eps = 1e-8 of the std
    tiny = group_advantages(np.array([5.0, 5.0 + 1e-6, 5.0 + 2e-6]))
    np.testing.assert_allclose(tiny, [-1, 0, 1], rtol=0, atol=1e-7 + 1e-2)
    torch = pytest.importorskip("torch")
    r = torch.tensor([0.3, 0.1, 0.7, 0.2], dtype=torch.float64)
    ref = ((r - r.mean()) / (r.std() + 1e-8)).numpy()  # Pref-GRPO _compute_adv
    np.testing.assert_allclose(group_advantages(r.numpy()), ref, rtol=1e-12)


def test_resolution_shows_illusory_advantage_on_a_noisy_judge(tmp_path, image_data):
    # score = colour match (a real signal) + a tiny reaction to JPEG artefacts
    def fn(px, p):
        return _colour_match(px, p) + 1e-4 * np.abs(np.diff(px, axis=1)).mean()
    card = run_probes(tmp_path, ScoreJudge(fn), image_data, ["resolution"], sample=12).card
    res = card["probes"]["resolution"]
    assert res["noise"]["level_p95_abs"] > 0 and res["noise"]["n"] == 2 * 2 * 11
    adv = res["metrics"]["mean_abs_group_advantage"]["mean"]
    # groups of 3 (original + 2 re-encodings), z-scores with the n - 1 std: sum z = 0 and
    # sum z^2 = 2, so the mean |z| of a group with any spread lies between 2/3 (evenly
    # spaced) and 4 / (3 sqrt 3) (two equal, one apart) - whatever the size of the spread
    assert 2 / 3 - 1e-6 <= adv <= 4 / (3 * np.sqrt(3)) + 1e-6
    assert res["amplification"] > 10
    assert any("illusory advantage" in f for f in res["flags"])


def test_resolution_needs_scores(tmp_path, image_data):
    card = run_probes(tmp_path, PairJudge(lambda a, b, p: "A"), image_data,
                      ["resolution"]).card
    assert card["probes"]["resolution"]["status"] == "skipped"


# --- video ----------------------------------------------------------------------------------

def _motion(px, p):
    return float(np.abs(np.diff(px, axis=0)).mean())


def test_video_probe_on_motion_and_stillness_judges(tmp_path, fx):
    data = fx("genai-bench-video")
    card = run_probes(tmp_path / "m", ScoreJudge(_motion), data, ["video"],
                      bench="genai-bench-video").card
    m = card["probes"]["video"]["metrics"]
    # more motion wins: the still copy always loses, the shuffled copy (larger jumps
    # between frames) always wins - a motion-magnitude reward is gamed by shuffling
    assert m["freeze_original_wins"]["n"] > 0 and m["freeze_original_wins"]["rate"] == 1.0
    assert m["shuffle_original_wins"]["rate"] == 0.0
    assert card["findings"] == [f for f in card["findings"] if "frames shuffled" in f] != []
    still = run_probes(tmp_path / "s", ScoreJudge(lambda px, p: -_motion(px, p)), data,
                       ["video"], bench="genai-bench-video").card
    assert still["probes"]["video"]["metrics"]["freeze_original_wins"]["rate"] == 0.0
    assert any("first frame held" in f for f in still["findings"])


def test_video_edits(tmp_path):
    from evalsuite.probes.media_ops import decoded_frames, frozen, mp4_bytes, shuffled
    from evalsuite.types import MediaRef
    frames = [np.full((32, 48, 3), 20 * i, np.uint8) for i in range(8)]
    for seed in range(10):
        s = shuffled(frames, seed)
        assert sorted(int(f[0, 0, 0]) for f in s) == [20 * i for i in range(8)]
        assert any(a is not b for a, b in zip(s, frames))
    assert all(f is frames[0] for f in frozen(frames))
    data = mp4_bytes(frames, 8.0)
    assert data == mp4_bytes(frames, 8.0)  # reproducible bytes: resumable cases
    back, fps = decoded_frames(MediaRef("video", data=data))
    assert len(back) == 8 and fps == pytest.approx(8.0)
    np.testing.assert_allclose([f.mean() for f in back], [20 * i for i in range(8)], atol=3)


def test_image_edits_keep_size_and_change_what_they_name():
    from PIL import Image

    from evalsuite.probes.media_ops import PERTURBATIONS, border
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), np.uint8))
    for name, (fn, _) in PERTURBATIONS.items():
        out = fn(img)
        assert out.size == img.size and out.mode == "RGB", name
        assert np.abs(np.asarray(out, float) - np.asarray(img, float)).mean() > 0, name
    b = np.asarray(border(img))
    w = round(40 * 0.06)  # 6% of the shorter side
    assert (b[:w] == 255).all() and (b[:, -w:] == 255).all()
    np.testing.assert_array_equal(b[w:-w, w:-w], np.asarray(img)[w:-w, w:-w])


# --- the run: resume, determinism, statistics ----------------------------------------------

def test_rerun_resumes_and_rewrites_the_same_card(tmp_path, image_data):
    judge = ScoreJudge(lambda px, p: _saturation(px))
    first = run_probes(tmp_path, judge, image_data, sample=6)
    assert first.computed > 0
    before = {f: (first.run_dir / f).read_bytes() for f in ("probe.json", "probe.md")}
    again = run_probes(tmp_path, judge, image_data, sample=6)
    assert again.computed == 0 and again.run_dir == first.run_dir
    assert {f: (again.run_dir / f).read_bytes() for f in before} == before
    card = json.loads(before["probe.json"])
    for p in card["probes"].values():
        for s in (p.get("metrics") or {}).values():
            if "rate" in s and s["n"]:  # count / n, CI around it
                assert s["rate"] == pytest.approx(s["count"] / s["n"])
                assert s["ci95"][0] - 1e-12 <= s["rate"] <= s["ci95"][1] + 1e-12
    # the fixture's broken rows (corrupt image, path outside the root) are judge errors in
    # both orders, counted and named among the findings
    broken = sum(1 for it in _sampled(image_data, 6) if not all(
        _decodes(c.media) for c in (it.a, it.b)))
    assert broken >= 1  # this seed's sample holds one
    assert card["probes"]["position"]["errors"] == 2 * broken
    assert (f"position: {2 * broken} of {card['probes']['position']['cases']} cases are judge "
            "errors (left out of the rates)" in card["findings"]) == (broken > 0)


def _sampled(data, n, bench="genai-bench"):
    from evalsuite.probes.engine import sample_items
    from evalsuite.registry import BENCHMARKS
    from evalsuite.types import ItemError
    items = [x for x in BENCHMARKS.create(bench).load(str(data), None)
             if not isinstance(x, ItemError)]
    return sample_items(items, n, 0)


def _decodes(media) -> bool:
    try:
        _pixels(media)
        return True
    except Exception:  # noqa: BLE001 - MediaError and friends
        return False


def test_a_killed_run_resumes_without_redoing_recorded_work(tmp_path, image_data):
    calls = []

    class Counting(ScoreJudge):
        def score_batch(self, prepared):
            calls.append(len(prepared))
            return super().score_batch(prepared)
    judge = Counting(lambda px, p: px.mean())
    full = run_probes(tmp_path / "a", judge, image_data, ["perturbation"], sample=4)
    total = sum(calls)
    recs = (full.run_dir / "records-r0.jsonl").read_text().splitlines()
    # keep half the records and a torn last line, as a kill -9 leaves them
    (full.run_dir / "records-r0.jsonl").write_text("\n".join(recs[:len(recs) // 2]) + "\n"
                                                    + recs[-1][:10])
    calls.clear()
    again = run_probes(tmp_path / "a", judge, image_data, ["perturbation"], sample=4)
    assert sum(calls) == total - len(recs) // 2
    assert again.card["probes"] == full.card["probes"]


def test_failed_cases_are_redone_only_with_retry_errors(tmp_path, image_data):
    class Flaky(ScoreJudge):
        broken = True

        def score_batch(self, prepared):  # a transient failure of every batch
            if self.broken:
                raise RuntimeError("out of memory")
            return super().score_batch(prepared)
    judge = Flaky(lambda px, p: px.mean())
    first = run_probes(tmp_path, judge, image_data, ["identical"], sample=4)
    n = first.card["probes"]["identical"]["cases"]
    assert first.card["probes"]["identical"]["errors"] == n > 0
    judge.broken = False
    again = run_probes(tmp_path, judge, image_data, ["identical"], sample=4)
    assert again.computed == 0 and again.card["probes"]["identical"]["errors"] == n
    fixed = run_probes(tmp_path, judge, image_data, ["identical"], sample=4,
                       retry_errors=True)
    assert fixed.computed > 0 and fixed.card["probes"]["identical"]["errors"] == 0
    assert fixed.card["probes"]["identical"]["metrics"]["tie_rate"]["rate"] == 1.0


def test_rate_stat_counts_and_bounds():
    from evalsuite.probes.base import mean_stat, rate_stat
    s = rate_stat([True] * 7 + [False] * 3)
    assert (s["count"], s["n"], s["rate"]) == (7, 10, 0.7)
    assert 0.3 <= s["ci95"][0] <= 0.7 <= s["ci95"][1] <= 1.0
    assert rate_stat([True] * 5)["ci95"] == [1.0, 1.0]
    assert rate_stat([])["rate"] is None
    m = mean_stat([1.0, 2.0, 3.0, 4.0])
    assert m["mean"] == 2.5 and 1.0 <= m["ci95"][0] <= 2.5 <= m["ci95"][1] <= 4.0


# --- the command on the fixture judges, and the leaderboard ---------------------------------

FIXTURE_JUDGES = [
    ("pickscore", "pickscore", "genai-bench"),
    ("hpsv2", "hpsv2", "genai-bench"),
    ("imagereward", "imagereward", "genai-bench"),
    ("videoscore", "videoscore", "genai-bench-video"),
    ("unifiedreward", "unifiedreward-qwen", "genai-bench"),
]


@pytest.mark.parametrize("judge,fixture,bench", FIXTURE_JUDGES)
def test_cli_runs_every_probe_on_fixture_judges(tmp_path, fx, judge, fixture, bench):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    args = ["probe", "--judge", judge, "--bench", bench, "--data-path", str(fx(bench)),
            "--model-path", str(fx(fixture)), "--out", str(tmp_path), "--sample", "2",
            "--no-progress", "--workers", "0", "--device", "cpu",
            "--results", str(tmp_path / "results")]
    if judge == "unifiedreward":
        args += ["--option", "max_new_tokens=4"]  # random weights rarely emit EOS
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    (run_dir,) = [p for p in tmp_path.iterdir() if p.name.startswith(f"probe-{judge}__")]
    card = json.loads((run_dir / "probe.json").read_text())
    assert list(card["probes"]) == ["position", "identical", "prompt", "perturbation",
                                    "video", "resolution"]
    ran = {n for n, p in card["probes"].items() if p["status"] == "ok"}
    assert {"position", "identical", "prompt", "perturbation"} <= ran
    assert ("video" in ran) == (bench == "genai-bench-video")
    assert ("resolution" in ran) == (card["mode"] == "pointwise")
    assert card["judge"]["model_path"] == f"fixture:{fixture}"  # no machine path
    assert (tmp_path / "results" / run_dir.name / "probe.md").exists()


def test_cli_rejects_bad_options(tmp_path, image_data):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    base = ["probe", "--judge", "pickscore", "--bench", "genai-bench", "--data-path",
            str(image_data), "--out", str(tmp_path)]
    for extra, word in ((["--mode", "sideways"], "mode"), (["--sample", "0"], "sample"),
                        (["--probe", "nonsense"], "nonsense")):
        res = CliRunner().invoke(app, base + extra)
        assert res.exit_code == 2 and word in res.output, res.output


def test_leaderboard_lists_report_cards(tmp_path, image_data):
    from evalsuite.leaderboard import generate
    from evalsuite.probes.card import copy_card
    out = run_probes(tmp_path / "runs", PairJudge(lambda a, b, p: "A"), image_data,
                     ["position", "prompt"], sample=6)
    copy_card(out.run_dir, tmp_path / "results" / "fixtures" / "card")
    generate(tmp_path / "results", tmp_path / "board", plots=False, parquet=False)
    md = (tmp_path / "board" / "README.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| test-pair † |"))
    assert "| 100% | 100% |" in row  # order flips, first wins
    assert "[card](../results/fixtures/card/probe.md)" in row
