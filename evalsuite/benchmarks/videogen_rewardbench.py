"""VideoGen-RewardBench (KwaiVGI/VideoGen-RewardBench, now also at KlingTeam/...).

Hub layout: ``videogen-rewardbench.csv`` (the README ``configs`` maps split ``eval`` to it)
plus ``videos.zip`` (13.4 GB) holding ``videos/<model>/<model>_<n>.mp4``. The CSV columns
(VideoAlign ``eval_videogen_rewardbench.py`` and the dataset card): ``path_A, path_B,
A_model, B_model, prompt, fps_A, num_frames_A, fps_B, num_frames_B`` and one label per
dimension, ``Overall, VQ, MQ, TA``, each ``A`` / ``B`` / ``same``. ``path_*`` is relative to
the dataset root (VideoAlign joins it with its data folder), so a local copy is the CSV with
the zip extracted beside it: ``<data-path>/videogen-rewardbench.csv`` and
``<data-path>/videos/...``. ``--bench-option media_root=DIR`` reads the CSV from the hub
(pinned) and the videos from ``DIR`` (the folder that contains ``videos/``).

The primary label is ``Overall``; VQ, MQ and TA are reported as dimensions (a judge that
gives per-dimension scores is compared per dimension, others by their overall margin), as
the VideoAlign leaderboard does: accuracy with ties (tie-calibrated) and without ties. Each
video appears in many pairs; pointwise judges score each unique video once (the runner).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from evalsuite.benchmarks.base import Benchmark
from evalsuite.benchmarks.hub import CellError, load_csv_table, require_columns, rows, text_cell
from evalsuite.types import Candidate, ItemError, Label, MediaRef, PairItem

CSV_NAME = "videogen-rewardbench.csv"
LABELS = {"A": Label.A, "B": Label.B, "same": Label.TIE}  # VideoAlign: {'A': 1, 'B': -1, 'same': 0}
DIMENSIONS = ("VQ", "MQ", "TA")


class VideoSourceMissing(FileNotFoundError):
    pass


class VideoGenRewardBench(Benchmark):
    name: ClassVar[str] = "videogen-rewardbench"
    fixture: ClassVar[str | None] = "videogen-rewardbench"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "media_root": "folder holding the videos (the extracted zip)",
    }
    hub_id: ClassVar[str] = "KwaiVGI/VideoGen-RewardBench"
    # Unpinned: the latest main commit seen (89761f4, "Update README.md") is known only by
    # its short hash; no full SHA could be verified offline. Pin it here once verified.
    revision: ClassVar[str | None] = None
    splits: ClassVar[tuple[str, ...]] = ("eval",)
    default_split: ClassVar[str] = "eval"
    modality: ClassVar[str] = "video"
    task: ClassVar[str] = "generation"
    dimensions: ClassVar[tuple[str, ...]] = DIMENSIONS

    def __init__(self, media_root: str | None = None, **options: Any):
        super().__init__(**options)
        self.media_root = media_root
        if media_root:
            self.options["media_root"] = media_root

    def load(self, data_path: str | None = None, split: str | None = None
             ) -> Iterator[PairItem | ItemError]:
        split = split or self.default_split
        if split not in self.splits:
            raise ValueError(f"{self.name}: unknown split {split!r} (has {list(self.splits)})")
        root = self.media_root or data_path
        if root is None:
            raise VideoSourceMissing(
                f"{self.name}: the videos ship as videos.zip (13.4 GB) in the hub repository "
                "and evalsuite does not download them. Download the repository, unzip "
                "videos.zip next to videogen-rewardbench.csv and pass --data-path <that "
                "folder>, or keep the hub CSV and pass --bench-option media_root=<folder "
                "that contains videos/>.")
        ds = load_csv_table(self.hub_id, split, self.revision, data_path, CSV_NAME)
        require_columns(ds, ("path_A", "path_B", "prompt", "Overall", *DIMENSIONS))
        root = str(root)
        for idx, row in rows(ds):
            item_id = f"{split}/{idx}"
            if isinstance(row, CellError):
                yield ItemError(item_id, str(row), {"idx": idx})
                continue
            meta = dict(row)
            meta["idx"] = idx
            raw = {d: row.get(d) for d in ("Overall", *DIMENSIONS)}
            bad = {d: v for d, v in raw.items() if not isinstance(v, str) or v not in LABELS}
            if bad:
                yield ItemError(item_id, "unknown label " + ", ".join(
                    f"{d}={v!r}" for d, v in bad.items()) + " (expected A, B or same)", meta)
                continue
            paths = (row.get("path_A"), row.get("path_B"))
            if not all(isinstance(p, str) and p for p in paths):
                yield ItemError(item_id, f"bad video path(s) {paths!r}", meta)
                continue
            try:
                prompt = text_cell(row, "prompt")
            except CellError as e:
                yield ItemError(item_id, str(e), meta)
                continue
            yield PairItem(
                item_id=item_id, prompt=prompt,
                a=Candidate(media=MediaRef(kind="video", path=paths[0], root=root),
                            model=row.get("A_model")),
                b=Candidate(media=MediaRef(kind="video", path=paths[1], root=root),
                            model=row.get("B_model")),
                label=LABELS[raw["Overall"]], raw_label=raw["Overall"],
                labels={d: LABELS[raw[d]] for d in DIMENSIONS}, task="generation",
                meta={**meta, "raw_labels": raw})
