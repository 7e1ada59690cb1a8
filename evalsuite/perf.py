"""Harness overhead, measured honestly (DESIGN.md "Measuring speed honestly").

In one process, on the same items and the same loaded model, three ways to score them:

(a) ``bare``     - the shortest plain loop doing the harness's work: for each batch of
                   ``batch_size`` items, ``judge.prepare_points`` (decode + preprocess) then
                   one batched ``judge.score_batch``; no run store, registry or progress bar;
(b) ``harness``  - :func:`evalsuite.runner.execute` into a fresh temporary run directory
                   (prefetch threads, fsynced run store, resume bookkeeping, metrics with
                   bootstrap CIs, results.json/samples.jsonl) - timed end to end;
(c) ``upstream`` - the papers' scripts' loop: batch size 1, decoding inside the loop
                   (``judge.prepare_point``: one processor call per item).

Items are synthetic pairs whose two candidates are distinct images (so a pointwise judge
scores 2 x pairs unique images); items/s counts scored images everywhere. Each mode is run
``repeats`` times, interleaved, after a warm-up; the best time is kept (on a shared machine
the best run is the one least disturbed by others). ``harness`` is also reported with
``workers=0`` (no prefetch) so the gain of decode/compute overlap is visible on its own, and
the harness's fixed per-run cost (loading items + metrics + writing results) is reported
separately from its batch loop.

The fixture model (tiny random-weight CLIP in PickScore's format) runs anywhere. ``--model
vit-h-14`` builds a random-weight CLIP with ViT-H-14's shapes (PickScore's real size, ~1B
parameters) from a config - for a GPU; its numbers are NOT YET MEASURED in this repository.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any, ClassVar

from evalsuite.benchmarks.base import Benchmark
from evalsuite.types import Candidate, Label, MediaRef, PairItem


@dataclass
class PerfConfig:
    judge: str = "pickscore"
    model: str = "fixture"  # fixture | vit-h-14 | a local checkpoint directory
    pairs: int = 512  # -> 2 x pairs scored images
    batch_size: int = 32
    workers: int = 2
    repeats: int = 3
    image_size: tuple[int, int] = (64, 48)  # the genai-bench fixture's image size
    device: str | None = None
    dtype: str | None = None
    threads: int | None = None  # torch intra-op threads (default: torch's)
    upstream_items: int | None = 128  # (c) is slow: time it on the first N images only
    fixtures: str | None = None
    modes: tuple[str, ...] = ("bare", "harness", "harness_workers0", "upstream")
    extra: dict[str, Any] = field(default_factory=dict)


class SyntheticBench(Benchmark):
    """In-memory pairs, so (a), (b) and (c) see exactly the same items."""

    name: ClassVar[str] = "perf-synthetic"

    def __init__(self, items: list[PairItem]):
        super().__init__()
        self.items = items

    def load(self, data_path=None, split=None):
        yield from self.items

    def info(self, data_path, split):
        return {"benchmark": self.name, "items": len(self.items)}


def make_pairs(n: int, size: tuple[int, int] = (64, 48), seed: int = 0) -> list[PairItem]:
    """``n`` pairs of distinct PNG images (the fixture generator's shapes), bytes in memory."""
    from evalsuite.fixtures.media import shape_image

    shapes, colors, pos = ["square", "circle", "triangle"], ["red", "green", "blue",
                                                             "yellow"], ["left", "right"]
    out = []
    for i in range(n):
        s, c, p = shapes[i % 3], colors[i % 4], pos[(i // 3) % 2]
        a = shape_image(s, c, p, size=size, seed=seed + 2 * i)
        b = shape_image(shapes[(i + 1) % 3], c, p, size=size, seed=seed + 2 * i + 1)
        out.append(PairItem(f"perf/{i}", f"a {c} {s} on the {p} #{i}",
                            Candidate(media=MediaRef.from_pil(a)),
                            Candidate(media=MediaRef.from_pil(b)), Label.A))
    return out


def build_vit_h14_clip(out: Path, seed: int = 0) -> Path:
    """A random-weight transformers CLIPModel with the shapes of laion CLIP-ViT-H-14 (the
    PickScore_v1 architecture: vision 32 x 1280, patch 14; text 24 x 1024; projection 1024),
    saved with the fixture tokenizer/processor. ~1B parameters, written in bf16."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from evalsuite.fixtures.clip import CLIP_MEAN, CLIP_STD
    from evalsuite.fixtures.tokenizers import clip_tokenizer

    if (out / "config.json").exists():
        return out
    torch.manual_seed(seed)
    tok = clip_tokenizer()
    v = len(tok)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=v, hidden_size=1024, intermediate_size=4096,
                         num_hidden_layers=24, num_attention_heads=16,
                         max_position_embeddings=77, bos_token_id=v - 2, eos_token_id=v - 1,
                         pad_token_id=v - 1, hidden_act="gelu"),
        vision_config=dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                           num_attention_heads=16, image_size=224, patch_size=14,
                           hidden_act="gelu"),
        projection_dim=1024, logit_scale_init_value=4.6052)
    model = CLIPModel(cfg).to(torch.bfloat16).eval()
    improc = CLIPImageProcessor(do_resize=True, size={"shortest_edge": 224},
                                do_center_crop=True, crop_size={"height": 224, "width": 224},
                                do_normalize=True, image_mean=CLIP_MEAN, image_std=CLIP_STD,
                                do_convert_rgb=True, resample=3)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    CLIPProcessor(image_processor=improc, tokenizer=tok).save_pretrained(out)
    return out


def model_path_for(cfg: PerfConfig) -> str:
    root = Path(cfg.fixtures or os.environ.get("EVALSUITE_FIXTURES")
                or Path(tempfile.gettempdir()) / "evalsuite-fixtures")
    if cfg.model == "fixture":
        from evalsuite.fixtures import build
        return str(build(cfg.judge, root))
    if cfg.model == "vit-h-14":
        if cfg.judge != "pickscore":
            raise ValueError("--model vit-h-14 is PickScore's architecture; use --judge pickscore")
        return str(build_vit_h14_clip(root / "perf-vit-h-14"))
    return cfg.model


# --- the three loops ----------------------------------------------------------------------------

def bare_loop(judge, points, batch_size: int) -> None:
    """(a) the same work as the harness, as the shortest plain loop."""
    for i in range(0, len(points), batch_size):
        judge.score(points[i:i + batch_size])  # prepare_points + score_batch


def upstream_loop(judge, points) -> None:
    """(c) one item at a time, decoding inside the loop, as the papers' scripts do."""
    for p in points:
        judge.score_batch([judge.prepare_point(p)])


def harness_run(judge, bench, cfg: PerfConfig, workers: int) -> tuple[float, float]:
    """(b) runner.execute into a fresh run dir: (total seconds, batch-loop seconds)."""
    from evalsuite.runner import RunConfig, execute

    tmp = tempfile.mkdtemp(prefix="evalsuite-perf-")
    try:
        rc = RunConfig(judge=cfg.judge, bench=bench.name, model_path="perf", out_dir=tmp,
                       batch_size=cfg.batch_size, prefetch_workers=workers, progress=False,
                       max_error_rate=0.0)
        t0 = time.perf_counter()
        out = execute(rc, judge=judge, bench=bench)
        total = time.perf_counter() - t0
        if out.errors:
            raise RuntimeError(f"harness run had {out.errors} errors: "
                               f"{out.results['errors_sample'][:3]}")
        meta = json.loads((out.run_dir / "run.json").read_text())
        return total, meta["invocations"][-1]["seconds"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def hardware(device: str) -> dict[str, Any]:
    import torch

    hw: dict[str, Any] = {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                          "processor": _cpu_name(), "torch_threads": torch.get_num_threads(),
                          "torch": torch.__version__, "python": platform.python_version()}
    if device.startswith("cuda") and torch.cuda.is_available():
        hw["gpu"] = torch.cuda.get_device_name()
    return hw


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_perf(cfg: PerfConfig) -> dict[str, Any]:
    import torch

    from evalsuite.registry import JUDGES
    from evalsuite.runner import point_items

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    path = model_path_for(cfg)
    judge = JUDGES.create(cfg.judge, model_path=path, device=cfg.device, dtype=cfg.dtype)
    if not judge.pointwise:
        raise ValueError(f"perf measures pointwise judges; {cfg.judge} is not one")
    judge.load()
    pairs = make_pairs(cfg.pairs, cfg.image_size)
    points, _ = point_items(pairs)
    bench = SyntheticBench(pairs)
    n = len(points)
    n_up = min(n, cfg.upstream_items or n)
    sync = (torch.cuda.synchronize if judge.device.startswith("cuda") else (lambda: None))

    # Warm-up: first forward passes (allocator, kernels, lazy imports) at both batch sizes,
    # and one small harness run (imports of the run store/metrics code).
    warm = points[:cfg.batch_size]
    bare_loop(judge, warm, cfg.batch_size)
    upstream_loop(judge, warm[:4])
    harness_run(judge, SyntheticBench(pairs[:max(1, cfg.batch_size // 2)]), cfg, cfg.workers)
    sync()

    best: dict[str, float] = {}
    loop_s: dict[str, float] = {}
    for _ in range(cfg.repeats):
        for mode in cfg.modes:
            t0 = time.perf_counter()
            if mode == "bare":
                bare_loop(judge, points, cfg.batch_size)
            elif mode == "upstream":
                upstream_loop(judge, points[:n_up])
            elif mode in ("harness", "harness_workers0"):
                w = cfg.workers if mode == "harness" else 0
                _total, inner = harness_run(judge, bench, cfg, w)
                loop_s[mode] = min(loop_s.get(mode, inner), inner)
            sync()
            dt = time.perf_counter() - t0
            best[mode] = min(best.get(mode, dt), dt)

    def rate(mode):
        return (n_up if mode == "upstream" else n) / best[mode] if mode in best else None

    rates = {m: rate(m) for m in cfg.modes}
    res: dict[str, Any] = {
        "judge": cfg.judge, "model": cfg.model, "model_path": path, "device": judge.device,
        "dtype": judge.dtype, "batch_size": cfg.batch_size, "prefetch_workers": cfg.workers,
        "items": n, "items_unit": "scored images (2 per pair)", "upstream_items": n_up,
        "image_size": list(cfg.image_size), "repeats": cfg.repeats,
        "hardware": hardware(judge.device), "items_per_s": rates,
        "seconds_best": best,
        "harness_batch_loop_items_per_s": {m: n / s for m, s in loop_s.items()},
        "harness_fixed_seconds": {m: best[m] - loop_s[m] for m in loop_s},
    }
    ratios = {}
    if rates.get("harness") and rates.get("bare"):
        ratios["harness/bare"] = rates["harness"] / rates["bare"]
    if rates.get("harness") and rates.get("upstream"):
        ratios["harness/upstream"] = rates["harness"] / rates["upstream"]
    if rates.get("bare") and rates.get("upstream"):
        ratios["bare/upstream"] = rates["bare"] / rates["upstream"]
    if rates.get("harness") and rates.get("harness_workers0"):
        ratios["prefetch_gain"] = rates["harness"] / rates["harness_workers0"]
    res["ratios"] = ratios
    res["config"] = {k: v for k, v in asdict(cfg).items() if k != "extra"}
    return res


def format_report(res: dict[str, Any]) -> str:
    hw = res["hardware"]
    dev = hw.get("gpu") or f"{hw['processor']} ({hw['cpu_count']} cores, " \
                           f"{hw['torch_threads']} torch threads)"
    lines = [f"{res['judge']} [{res['model']}] on {res['device']} - {dev}; dtype "
             f"{res['dtype']}, batch size {res['batch_size']}, prefetch workers "
             f"{res['prefetch_workers']}, {res['items']} {res['items_unit']}, image "
             f"{res['image_size'][0]}x{res['image_size'][1]}, best of {res['repeats']}"]
    labels = {"bare": "(a) bare batched loop", "harness": "(b) harness (runner.execute)",
              "harness_workers0": "    harness, no prefetch",
              "upstream": "(c) upstream-style, batch 1"}
    for m, r in res["items_per_s"].items():
        if r is not None:
            lines.append(f"  {labels.get(m, m):32s} {r:9.1f} items/s")
    for m, r in res["harness_batch_loop_items_per_s"].items():
        lines.append(f"  {m + ' batch loop only':32s} {r:9.1f} items/s  (fixed per-run cost "
                     f"{res['harness_fixed_seconds'][m]:.2f} s: load items, metrics, results)")
    for k, v in res["ratios"].items():
        lines.append(f"  {k:32s} {v:9.2f}x")
    return "\n".join(lines)


def write_json(res: dict[str, Any], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(res, indent=2, default=str) + "\n")




# --- harness cost at scale (`evalsuite perf --scale`) -------------------------------------------
#
# A trivial in-memory judge on generated pairs: no model, no media, so what is measured is
# the harness alone - items, sharding, batching, the run store, resume, metrics with their
# bootstrap CIs, results.json and samples.jsonl. Each size runs in a fresh subprocess so its
# peak RSS is its own.

SCALE_SIZES = (10_000, 100_000, 1_000_000)


class GeneratedPairs(Benchmark):
    """``n`` text pairs made from their index, never all in memory at once.

    Pair ``i``: candidate A is ``i % 7`` characters long, B ``i % 5``; the human label
    cycles A, B, tie with ``i % 3``; every 10th pair falls in category ``odd`` when ``i`` is
    odd, else ``even`` (so the breakdown has two groups)."""

    name: ClassVar[str] = "generated-pairs"
    requires: ClassVar[tuple[str, ...]] = ()

    def __init__(self, n: int = 1000, **options: Any):
        super().__init__(**options)
        self.n = int(n)

    def load(self, data_path=None, split=None):
        labels = (Label.A, Label.B, Label.TIE)
        for i in range(self.n):
            yield PairItem(f"g{i}", f"prompt {i % 1000}", Candidate(text="x" * (i % 7)),
                           Candidate(text="x" * (i % 5)), labels[i % 3],
                           category=("odd" if i % 2 else "even") if i % 10 == 0 else None)

    def info(self, data_path, split):
        return {"benchmark": self.name, "pairs": self.n}


class LengthJudge:
    """A judge without a model: the longer text wins (pairwise: margin = len(A) - len(B);
    pointwise: score = len). Built on :class:`evalsuite.judges.base.Judge`."""

    def __new__(cls, pairwise: bool = True):
        from evalsuite.judges.base import Judge
        from evalsuite.types import Score, Verdict

        class _LengthJudge(Judge):
            name = "length"
            requires = ()
            modalities = frozenset({"image", "video"})
            tasks = frozenset({"generation", "understanding", "edit"})
            default_batch_size = 256

            def prepare_pair(self, item):
                return len(item.a.text or ""), len(item.b.text or "")

            def compare_batch(self, prepared):
                return [Verdict.from_margin(float(a - b)) for a, b in prepared]

            def prepare_point(self, item):
                return len(item.candidate.text or "")

            def score_batch(self, prepared):
                return [Score(float(x)) for x in prepared]

        _LengthJudge.pairwise, _LengthJudge.pointwise = pairwise, not pairwise
        return _LengthJudge(device="cpu", dtype="float32")


def _rss_kb() -> int:
    """Peak resident set size of this process so far, in KiB (Linux ru_maxrss)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _current_rss_kb() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return _rss_kb()


def scale_once(pairs: int, out_dir: str, batch_size: int = 256, workers: int = 2,
               pairwise: bool = True, phase: str = "run") -> dict[str, Any]:
    """One invocation, in this process: ``phase="run"`` runs ``pairs`` pairs into
    ``out_dir`` from scratch; ``"resume"`` invokes the same run again once it has finished
    (nothing left to compute: records read back, results rewritten), as a user re-running
    the command would. Returns its time, the process's peak RSS above its RSS before the
    run, and the sha256 of the files it wrote."""
    import hashlib

    from evalsuite.runner import RunConfig, execute

    judge, bench = LengthJudge(pairwise), GeneratedPairs(pairs)
    cfg = RunConfig(judge="length", bench=bench.name, out_dir=out_dir, run_name="r",
                    batch_size=batch_size, prefetch_workers=workers, progress=False,
                    mode="pairwise" if pairwise else "pointwise", max_error_rate=1.0,
                    bench_options={"n": pairs})
    base = _current_rss_kb()
    t0 = time.perf_counter()
    out = execute(cfg, judge=judge, bench=bench)
    seconds = time.perf_counter() - t0
    peak = _rss_kb()
    return {"phase": phase, "pairs": pairs, "mode": cfg.mode, "batch_size": batch_size,
            "prefetch_workers": workers, "seconds": seconds, "computed": out.computed,
            "counts": out.results["counts"],
            "rss_before_mb": base / 1024, "peak_rss_mb": peak / 1024,
            "bytes_per_pair": (peak - base) * 1024 / pairs,
            "store_bytes": sum(p.stat().st_size for p in out.run_dir.glob("records-r*.jsonl")),
            "samples_bytes": (out.run_dir / "samples.jsonl").stat().st_size,
            "sha256": {f: hashlib.sha256((out.run_dir / f).read_bytes()).hexdigest()
                       for f in ("results.json", "samples.jsonl")}}


def run_scale(sizes: Sequence[int] = SCALE_SIZES, batch_size: int = 256, workers: int = 2,
              pairwise: bool = True, tmp: str | None = None) -> dict[str, Any]:
    """Every size run, then resumed, each invocation in a fresh subprocess (so its time and
    peak RSS are its own, as for a user running the command twice), in a temporary folder
    removed afterwards; the machine's load average before and after."""
    import subprocess
    import sys

    rows = []
    load_before = os.getloadavg()
    code = ("import json, sys; from evalsuite.perf import scale_once; "
            "print(json.dumps(scale_once(*json.loads(sys.argv[1]))))")
    for n in sizes:
        d = tempfile.mkdtemp(prefix="evalsuite-scale-", dir=tmp)
        try:
            phases = {}
            for phase in ("run", "resume"):
                args = json.dumps([n, d, batch_size, workers, pairwise, phase])
                p = subprocess.run([sys.executable, "-c", code, args], capture_output=True,
                                   text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
                if p.returncode != 0:
                    raise RuntimeError(f"scale {phase} of {n} pairs failed:\n"
                                       f"{p.stderr[-3000:]}")
                phases[phase] = json.loads(p.stdout.strip().splitlines()[-1])
        finally:
            shutil.rmtree(d, ignore_errors=True)
        run, resume = phases["run"], phases["resume"]
        rows.append({
            "pairs": n, "mode": run["mode"], "batch_size": batch_size,
            "prefetch_workers": workers, "seconds": run["seconds"],
            "pairs_per_s": n / run["seconds"], "computed": run["computed"],
            "resume_seconds": resume["seconds"], "resume_computed": resume["computed"],
            "results_identical_on_resume": run["sha256"] == resume["sha256"],
            "counts": run["counts"],
            "peak_rss_mb": max(run["peak_rss_mb"], resume["peak_rss_mb"]),
            "bytes_per_pair": max(run["bytes_per_pair"], resume["bytes_per_pair"]),
            "run": run, "resume": resume})
    return {"kind": "harness-scale", "judge": "length (no model)",
            "benchmark": "generated-pairs (in memory)", "sizes": rows,
            "hardware": {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                         "processor": _cpu_name(), "python": platform.python_version()},
            "load_average_before": list(load_before),
            "load_average_after": list(os.getloadavg())}


def format_scale(res: dict[str, Any]) -> str:
    hw = res["hardware"]
    lines = [f"harness at scale: {res['judge']} on {res['benchmark']}; {hw['processor']} "
             f"({hw['cpu_count']} cores), load average "
             f"{res['load_average_before'][0]:.1f} -> {res['load_average_after'][0]:.1f}",
             f"  {'pairs':>9} {'pairs/s':>9} {'run s':>8} {'resume s':>9} {'peak RSS MB':>12}"
             f" {'B/pair':>8}  (peak RSS, B/pair: run | resume)"]
    for r in res["sizes"]:
        lines.append(f"  {r['pairs']:>9} {r['pairs_per_s']:>9.0f} {r['seconds']:>8.2f} "
                     f"{r['resume_seconds']:>9.2f} {r['peak_rss_mb']:>12.1f} "
                     f"{r['bytes_per_pair']:>8.0f}  ({r['run']['peak_rss_mb']:.0f} MB, "
                     f"{r['run']['bytes_per_pair']:.0f} | {r['resume']['peak_rss_mb']:.0f} MB, "
                     f"{r['resume']['bytes_per_pair']:.0f})")
    return "\n".join(lines)


__all__ = ["PerfConfig", "run_perf", "format_report", "write_json", "make_pairs",
           "SyntheticBench", "build_vit_h14_clip", "bare_loop", "upstream_loop",
           "GeneratedPairs", "LengthJudge", "scale_once", "run_scale", "format_scale"]
