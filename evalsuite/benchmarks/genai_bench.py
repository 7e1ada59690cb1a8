"""GenAI-Bench (TIGER-Lab/GenAI-Bench): image generation, image editing, video generation.

Hub layout (dataset card ``configs``): ``<config>/<split>-00000-of-00001.parquet`` for the
configs ``image_generation``, ``image_edition`` and ``video_generation`` and the splits
``test`` (the larger later set) and ``test_v1`` (the official leaderboard set).
Columns: image_generation ``prompt, left_model, left_image, right_model, right_image,
vote_type``; image_edition ``source_prompt, target_prompt, instruct_prompt, source_image,
left_model, left_output_image, right_model, right_output_image, vote_type``;
video_generation ``prompt, left_model, left_video, right_model, right_video, vote_type``
where the video cells are URL strings.

Human votes map as the official leaderboard does: ``leftvote`` -> A (left), ``rightvote`` ->
B, ``tievote`` and ``bothbad_vote`` -> tie (both are ties for the accuracies; the raw vote is
kept so the 4-way official protocol can tell them apart).

Videos: the hub stores URLs and evalsuite never fetches them. A local copy keeps the hub
parquet unchanged and puts each video under ``<data-path>/video_generation/videos/<file
name of the URL>`` (the file names the UnifiedReward scripts use); a file found directly
under ``<data-path>/<file name>`` instead is used too (checked in that order, per file).
``--bench-option media_root=DIR`` reads the metadata from the hub and the videos from
``DIR`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.benchmarks.base import LABEL_FROM_VOTE, Benchmark
from evalsuite.benchmarks.hub import (CellError, load_table, raw_media_column, require_columns,
                                      rows, text_cell)
from evalsuite.types import Candidate, ItemError, MediaRef, PairItem

# Per config: (candidate columns, prompt column, modality, task).
CONFIGS: dict[str, dict[str, Any]] = {
    "image_generation": {"left": "left_image", "right": "right_image", "prompt": "prompt",
                         "modality": "image", "task": "generation"},
    "image_edition": {"left": "left_output_image", "right": "right_output_image",
                      "prompt": "instruct_prompt", "modality": "image", "task": "edit"},
    "video_generation": {"left": "left_video", "right": "right_video", "prompt": "prompt",
                         "modality": "video", "task": "generation"},
}
VIDEO_DIR = "video_generation/videos"  # local layout for the URL-addressed videos


class VideoSourceMissing(FileNotFoundError):
    """GenAI-Bench video rows are URLs: a local folder of the videos is required."""


class GenAIBench(Benchmark):
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "media_root": "folder holding the videos of a local copy",
    }
    hub_id: ClassVar[str] = "TIGER-Lab/GenAI-Bench"
    # Unpinned: the dataset's latest main commit seen (7981a19, "Rename video_generation/
    # train_v1-... to test_v1-...") is known only by its short hash; no full SHA could be
    # verified offline. Pin it here once verified.
    revision: ClassVar[str | None] = None
    splits: ClassVar[tuple[str, ...]] = ("test", "test_v1")
    default_split: ClassVar[str] = "test"
    FIXTURES: ClassVar[dict[str, str]] = {"image_generation": "genai-bench",
                                          "video_generation": "genai-bench-video",
                                          "image_edition": "genai-bench-edit"}

    @classmethod
    def fixture_for(cls, config: str = "image_generation", **preset: Any) -> str | None:
        return cls.FIXTURES.get(config)

    def __init__(self, config: str = "image_generation", media_root: str | None = None,
                 **options: Any):
        super().__init__(**options)
        if config not in CONFIGS:
            raise ValueError(f"unknown GenAI-Bench config {config!r}; one of {list(CONFIGS)}")
        self.config = config
        self.media_root = media_root
        if media_root:
            self.options["media_root"] = media_root
        spec = CONFIGS[config]
        self.name = {"image_generation": "genai-bench", "image_edition": "genai-bench-edit",
                     "video_generation": "genai-bench-video"}[config]
        self.modality, self.task = spec["modality"], spec["task"]

    def info(self, data_path, split):
        return {**super().info(data_path, split), "config": self.config}

    def load(self, data_path: str | None = None, split: str | None = None
             ) -> Iterator[PairItem | ItemError]:
        split = split or self.default_split
        if split not in self.splits:
            raise ValueError(f"{self.name}: unknown split {split!r} (has {list(self.splits)})")
        spec = CONFIGS[self.config]
        video_roots = self._video_roots(data_path)
        ds = load_table(self.hub_id, self.config, split, self.revision, data_path)
        media_cols = [spec["left"], spec["right"]] + (
            ["source_image"] if self.config == "image_edition" else [])
        require_columns(ds, [spec["prompt"], *media_cols, "vote_type"])
        for col in media_cols:
            ds = raw_media_column(ds, col)
        root = str(data_path) if data_path else None
        for idx, row in rows(ds):
            item_id = f"{self.config}/{split}/{idx}"
            if isinstance(row, CellError):
                yield ItemError(item_id, str(row), {"idx": idx})
                continue
            vote = row.get("vote_type")
            # Every upstream field is kept except image bytes (URL strings are kept).
            meta = {k: v for k, v in row.items()
                    if k not in media_cols or isinstance(v, str)}
            meta["idx"] = idx
            if not isinstance(vote, str) or vote not in LABEL_FROM_VOTE:
                yield ItemError(item_id, f"unknown vote_type {vote!r}", meta)
                continue
            try:
                prompt = text_cell(row, spec["prompt"])
            except CellError as e:
                yield ItemError(item_id, str(e), meta)
                continue
            try:
                if self.modality == "video":
                    a_ref = self._video(row[spec["left"]], video_roots)
                    b_ref = self._video(row[spec["right"]], video_roots)
                else:
                    a_ref = self._image(row[spec["left"]], root)
                    b_ref = self._image(row[spec["right"]], root)
                context = (self._image(row["source_image"], root)
                           if self.config == "image_edition" else None)
            except (KeyError, TypeError, ValueError) as e:
                yield ItemError(item_id, f"bad media field: {e}", meta)
                continue
            yield PairItem(item_id=item_id, prompt=prompt,
                           a=Candidate(media=a_ref, model=row.get("left_model")),
                           b=Candidate(media=b_ref, model=row.get("right_model")),
                           label=LABEL_FROM_VOTE[vote], raw_label=vote, context=context,
                           task=self.task, meta=meta)

    def _video_roots(self, data_path: str | None) -> list[str]:
        if self.modality != "video":
            return []
        if self.media_root:
            return [str(self.media_root)]
        if data_path:
            return [str(Path(data_path) / VIDEO_DIR), str(data_path)]
        raise VideoSourceMissing(
            f"{self.name}: the hub copy of GenAI-Bench video_generation stores the videos as "
            "URLs, which evalsuite does not download. Download them, then either pass "
            f"--data-path <root> with the hub parquet under <root>/video_generation/ and the "
            f"videos under <root>/{VIDEO_DIR}/<file name>, or keep the hub metadata and pass "
            "--bench-option media_root=<folder of the videos>.")

    @staticmethod
    def _image(value: Any, root: str | None) -> MediaRef:
        if isinstance(value, dict):  # datasets Image feature, undecoded
            if value.get("bytes"):
                return MediaRef(kind="image", data=value["bytes"])
            if value.get("path"):
                return MediaRef(kind="image", path=value["path"], root=root)
            raise ValueError("empty image cell")
        if isinstance(value, str) and value:
            return MediaRef(kind="image", path=value, root=root)
        raise ValueError(f"unsupported image cell of type {type(value).__name__}")

    @staticmethod
    def _video(value: Any, roots: list[str]) -> MediaRef:
        if not isinstance(value, str) or not value:
            raise ValueError(f"unsupported video cell {value!r}")
        # A URL resolves to its file name under the video folder; a relative path stays
        # relative to (and confined to) that folder. The first root holding the file wins;
        # none: the first root (the error then names the expected place).
        name = value.split("?", 1)[0].rsplit("/", 1)[-1] if "://" in value else value
        if not name:
            raise ValueError(f"video URL without a file name: {value!r}")
        root = next((r for r in roots if (Path(r) / name).is_file()), roots[0])
        return MediaRef(kind="video", path=name, root=root)
