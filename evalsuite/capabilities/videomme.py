"""Video-MME (Fu et al. 2024): 900 videos, 2,700 four-option questions, scored as lmms-eval's
``videomme`` / ``videomme_w_subtitle`` tasks score them (EvolvingLMMs-Lab/lmms-eval @
``75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3``, ``lmms_eval/tasks/videomme/utils.py`` and the
task yamls).

Data: the ``lmms-lab/Video-MME`` hub layout - ``videomme/test-*.parquet`` with fields
``video_id, duration, domain, sub_category, url, videoID, question_id, task_type, question,
options`` (``["A. ...", "B. ...", ...]``), ``answer`` (a letter) - the videos unpacked from its
zip parts as ``<data-path>/data/<videoID>.mp4`` and the subtitles as
``<data-path>/subtitle/<videoID>.srt``. The videos (~100 GB) are never downloaded by the
harness: pass ``--data-path`` to a local copy (``--bench-option video_dir=...`` /
``subtitle_dir=...`` if they live elsewhere). A ``.parquet`` / ``.json`` / ``.jsonl`` file is
accepted as ``--data-path`` too.

Prompt (``videomme_doc_to_text`` with the yaml's ``default`` kwargs): ``Select the best answer
to the following multiple-choice question based on the video and the subtitles. Respond with
only the letter (A, B, C, or D) of the correct option.`` / question / the options one per line
/ ``\\nAnswer with the option's letter from the given choices directly.`` (upstream says "and
the subtitles" without subtitles too). ``--bench-option subtitles=true`` is
``videomme_w_subtitle`` (``videomme_doc_to_text_subtitle``): ``This video's subtitles are
listed below: \\n``, the subtitle lines shown at ``subtitle_frames`` (default 32, the yaml's
``frame_num``) uniformly spaced frames (OpenCV's frame count and rate, as upstream), or ``No
subtitles available`` when the video has no ``.srt``; then the same instruction, question and
options and ``The best answer is:``. Frames: ``num_frames`` uniformly sampled
(``--bench-option num_frames=N``, default 32) through :func:`evalsuite.media.load_video`.

Answers: ``extract_characters_regex`` = ``extract_mcq_answer`` (choices A-D,
:func:`evalsuite.capabilities.letters.lmms_eval_letter`); an answer it cannot read is wrong and
counted. Scores (``videomme_aggregate_results``): accuracy overall and per duration, domain,
sub-category and task type, each name counted over the question keys
``{duration}_{domain}_{sub_category}_{task_type}`` that contain it, as upstream does;
``reference_log`` holds upstream's log lines (percent, one decimal). A question whose video
could not be read counts as answered wrong (upstream stops at a missing video). A row whose
duration, domain, sub-category or task type is not one of upstream's names (its aggregation
has no slot for it) is a per-row error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.policies.base import McqItem, PolicyBenchmark, metric
from evalsuite.capabilities.letters import LetterResult, lmms_eval_letter
from evalsuite.types import FrameSpec, ItemError, MediaRef, ParseStatus

REFERENCE = "EvolvingLMMs-Lab/lmms-eval@75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3"
OPTION_PROMPT = ("Select the best answer to the following multiple-choice question based on "
                 "the video and the subtitles. Respond with only the letter (A, B, C, or D) of "
                 "the correct option.")
POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
SUBTITLES_PROMPT = "This video's subtitles are listed below: \n"
NO_SUBTITLES = "No subtitles available"
SUBTITLE_POST_PROMPT = "The best answer is:"
SUBTITLE_TEXT = re.compile(r'<font color="white" size=".72c">(.*?)</font>')
CHOICES = ("A", "B", "C", "D")

DURATIONS = ("short", "medium", "long")
DOMAINS = ("Knowledge", "Film & Television", "Sports Competition", "Artistic Performance",
           "Life Record", "Multilingual")
SUB_CATEGORIES = (
    "Humanity & History", "Literature & Art", "Biology & Medicine", "Finance & Commerce",
    "Astronomy", "Geography", "Law", "Life Tip", "Technology", "Animation", "Movie & TV Show",
    "Documentary", "News Report", "Esports", "Basketball", "Football", "Athletics",
    "Other Sports", "Stage Play", "Magic Show", "Variety Show", "Acrobatics", "Handicraft",
    "Food", "Fashion", "Daily Life", "Travel", "Pet & Animal", "Exercise", "Multilingual")
TASK_TYPES = (
    "Temporal Perception", "Spatial Perception", "Attribute Perception", "Action Recognition",
    "Object Recognition", "OCR Problems", "Counting Problem", "Temporal Reasoning",
    "Spatial Reasoning", "Action Reasoning", "Object Reasoning", "Information Synopsis")
# (breakdown key, upstream's log label, names), in upstream's log order
FAMILIES = (("duration", "Evaluation on video Type", DURATIONS),
            ("domain", "Evaluation on Categories", DOMAINS),
            ("sub_category", "Evaluation on Video Sub Categories", SUB_CATEGORIES),
            ("task_type", "Evaluation on Task Categories", TASK_TYPES))


def build_prompt(question: str, options: list[str]) -> str:
    return OPTION_PROMPT + "\n" + question + "\n" + "\n".join(options) + "\n" + POST_PROMPT


def build_subtitle_prompt(question: str, options: list[str], subtitle: str) -> str:
    return (SUBTITLES_PROMPT + subtitle + "\n" + OPTION_PROMPT + "\n" + question + "\n"
            + "\n".join(options) + "\n" + SUBTITLE_POST_PROMPT)


def _srt_seconds(stamp: str) -> float:
    h, m, s_ms = stamp.split(":")
    s, ms = s_ms.split(",")
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def read_srt(path: Path) -> dict[tuple[float, float], str]:
    """(start s, end s) -> text, upstream's ``load_subtitles`` (a later block with the same
    times replaces an earlier one)."""
    subtitles: dict[tuple[float, float], str] = {}
    for section in path.read_text(encoding="utf-8").split("\n\n"):
        if section.strip():
            lines = section.split("\n")
            if len(lines) >= 3:
                start, end = lines[1].split(" --> ")
                subtitles[(_srt_seconds(start), _srt_seconds(end))] = " ".join(lines[2:])
    return subtitles


def video_fps_and_frames(path: Path) -> tuple[float, int]:
    """OpenCV's frame rate and frame count, the numbers upstream places subtitles with
    (0, 0 for a file OpenCV cannot open, as upstream)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        return cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def subtitle_text(video: Path, srt: Path, frame_num: int) -> str:
    """The subtitle lines on screen at ``frame_num`` uniformly spaced frames (all frames for
    -1), upstream's ``videomme_doc_to_text_subtitle``; ``No subtitles available`` without
    an ``.srt``."""
    import numpy as np

    if not srt.is_file():
        return NO_SUBTITLES
    fps, total = video_fps_and_frames(video)
    spans = [(int(a * fps), int(b * fps), text) for (a, b), text in read_srt(srt).items()]
    if frame_num == -1:
        frame_num = total
    sampled = np.linspace(0, total - 1, frame_num, dtype=int).tolist()
    shown = [i for f in sampled for i, (a, b, _) in enumerate(spans) if a <= f < b]
    lines = []
    for i in list(set(shown)):  # upstream's order: a set of ints, listed
        found = SUBTITLE_TEXT.findall(spans[i][2])
        if found:
            lines.append(found[0])
    return "\n".join(lines)


def aggregate(results: list[tuple[str, str, str, str, bool]],
              ids: list[str] | None = None) -> dict[str, Any]:
    """``videomme_aggregate_results``: each (duration, domain, sub-category, task type,
    correct) result under the key ``d_c_s_t``; every name of each family scores the results
    whose key contains it. Returns the breakdown, the overall accuracy and upstream's log.
    ``ids`` (the items' ids, in order) make every metric bootstrappable per item."""
    ids = ids if ids is not None else [str(i) for i in range(len(results))]
    keyed = [(i, f"{d}_{c}_{s}_{t}", ok) for i, (d, c, s, t, ok) in zip(ids, results)]

    def score(hits: dict[str, bool]) -> tuple[dict[str, Any], str]:
        right, n = sum(hits.values()), len(hits)
        logged = f"{100 * right / n if n > 0 else 0: .1f}%"  # upstream's expression
        return metric(right / n if n else None, n, per_item=hits), logged

    breakdown: dict[str, dict[str, Any]] = {}
    log: list[str] = []
    for family, label, names in FAMILIES:
        for name in names:
            m, logged = score({i: ok for i, k, ok in keyed if name in k})
            log.append(f"{label}: {name}: {logged}")
            if m["n"]:
                breakdown[f"{family}:{name}"] = {"accuracy": m}
    overall, logged = score({i: ok for i, _, ok in keyed})
    log.append(f"Overall Performance: {logged}")
    return {"overall": overall, "breakdown": breakdown, "log": log}


class VideoMME(PolicyBenchmark):
    name: ClassVar[str] = "video-mme"
    fixture: ClassVar[str | None] = "video-mme"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "video_dir": "folder of the videos (default <data-path>/data)",
        "num_frames": "frames sampled per video (32)",
        "subtitles": "true: the videomme_w_subtitle variant (subtitles in the prompt)",
        "subtitle_dir": "folder of the .srt files (default <data-path>/subtitle)",
        "subtitle_frames": "frames whose on-screen subtitle lines are shown (32)",
    }
    kind: ClassVar[str] = "mcq"
    policy_task: ClassVar[str] = "mcq"
    hub_id: ClassVar[str] = "lmms-lab/Video-MME"
    splits: ClassVar[tuple[str, ...]] = ("test",)
    default_split: ClassVar[str] = "test"
    modality: ClassVar[str] = "video"
    requires: ClassVar[tuple[str, ...]] = ("pandas", "av")
    metric_notes: ClassVar[dict[str, str]] = {
        "accuracy": "lmms-eval videomme_perception_score / 100 (unreadable answers and "
                    "unreadable videos count wrong)",
        "accuracy_<duration>": "the same within short / medium / long videos",
        "unparsed_rate": "answers extract_characters_regex cannot read",
    }

    def _rows(self, data_path: str | None, split: str) -> tuple[list[dict], Path]:
        import pandas as pd

        if not data_path:
            raise FileNotFoundError(
                "Video-MME needs a local copy: download lmms-lab/Video-MME (parquet + the "
                "videos_chunked_*.zip parts unpacked into <dir>/data/) and pass --data-path "
                "<dir>")
        p = Path(data_path)
        if p.is_dir():
            files = sorted((p / "videomme").glob(f"{split}-*.parquet")) or \
                sorted(p.glob(f"{split}-*.parquet"))
            if not files:
                raise FileNotFoundError(f"no videomme/{split}-*.parquet under {p}")
            df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
            root = p
        elif p.suffix == ".parquet":
            df, root = pd.read_parquet(p), p.parent
        elif p.suffix in (".json", ".jsonl"):
            df, root = pd.read_json(p, lines=p.suffix == ".jsonl"), p.parent
        else:
            raise FileNotFoundError(f"not a Video-MME copy: {p}")
        return df.to_dict("records"), root

    def load_items(self, data_path: str | None, split: str | None
                   ) -> list[McqItem | ItemError]:
        split = split or self.default_split
        rows, root = self._rows(data_path, split)
        vdir = Path(self.options.get("video_dir") or root / "data")
        subtitles = str(self.options.get("subtitles", "false")).lower() in ("1", "true", "yes")
        sdir = Path(self.options.get("subtitle_dir") or root / "subtitle")
        frame_num = int(self.options.get("subtitle_frames", 32))
        spec = FrameSpec(int(self.options.get("num_frames", 32)), rule="lmms-eval-qwen2.5-vl")
        shown: dict[str, str] = {}  # videoID -> its subtitle text (several questions each)
        out: list[McqItem | ItemError] = []
        for r in rows:
            qid = str(r.get("question_id"))
            try:
                opts = [str(o) for o in list(r["options"])]
                options = {}
                for o in opts:
                    letter, sep, text = o.partition(". ")
                    if not sep or letter not in CHOICES:
                        raise ValueError(f"option {o!r} is not 'X. text'")
                    options[letter] = text
                ans = str(r["answer"]).strip()
                if ans not in options:
                    raise ValueError(f"answer {ans!r} is not one of {list(options)}")
                for field, names in (("duration", DURATIONS), ("domain", DOMAINS),
                                     ("sub_category", SUB_CATEGORIES),
                                     ("task_type", TASK_TYPES)):
                    if str(r[field]) not in names:
                        raise ValueError(f"{field} {r[field]!r} is not one of Video-MME's")
                vid = str(r["videoID"])
                path = next((vdir / f"{vid}{ext}" for ext in (".mp4", ".MP4", ".mkv")
                             if (vdir / f"{vid}{ext}").is_file()), vdir / f"{vid}.mp4")
                question = str(r["question"])
                if subtitles:
                    if vid not in shown:
                        shown[vid] = subtitle_text(vdir / f"{vid}.mp4", sdir / f"{vid}.srt",
                                                   frame_num)
                    prompt = build_subtitle_prompt(question, opts, shown[vid])
                else:
                    prompt = build_prompt(question, opts)
                meta = {k: r.get(k) for k in ("video_id", "videoID", "domain", "sub_category",
                                              "task_type", "duration", "url")}
                out.append(McqItem(
                    item_id=qid, question=question, options=options, answer=ans,
                    media=(MediaRef(kind="video", path=path.name, root=str(vdir)),),
                    frames=spec, category=str(r["duration"]), prompt=prompt, meta=meta))
            except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
                out.append(ItemError(qid, f"{type(e).__name__}: {e}", {}))
        return out

    def extract(self, raw: str, item: McqItem) -> LetterResult:
        return lmms_eval_letter(raw, CHOICES)

    def metrics(self, items: list[McqItem], records: dict) -> dict[str, Any]:
        results = []
        unparsed: dict[str, bool] = {}  # answered item -> its answer was unparsed
        for it in items:
            rec = records.get(("answer", it.item_id))
            ok = False
            if rec is not None and rec.error is None and rec.score is not None:
                unparsed[it.item_id] = rec.score.status == ParseStatus.UNPARSED
                ok = rec.score.extras.get("letter") == it.answer
            m = it.meta
            results.append((str(m["duration"]), str(m["domain"]), str(m["sub_category"]),
                            str(m["task_type"]), ok))
        agg = aggregate(results, [it.item_id for it in items])
        out_m = {"accuracy": agg["overall"]}
        for d in DURATIONS:
            out_m[f"accuracy_{d}"] = agg["breakdown"].get(f"duration:{d}", {}).get(
                "accuracy", metric(None, 0))
        out_m["unparsed_rate"] = metric(
            sum(unparsed.values()) / len(unparsed) if unparsed else None, len(unparsed),
            per_item=unparsed)
        return {"metrics": out_m, "breakdown": agg["breakdown"],
                "reference_log": agg["log"]}
