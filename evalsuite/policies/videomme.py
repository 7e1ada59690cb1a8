"""Video-MME (Fu et al. 2024): 900 videos, 2,700 four-option questions, scored by letter
accuracy per duration (short / medium / long) and overall.

Data: the ``lmms-lab/Video-MME`` hub layout - ``videomme/test-*.parquet`` with fields
``video_id, duration, domain, sub_category, url, videoID, question_id, task_type, question,
options`` (``["A. ...", "B. ...", ...]``), ``answer`` (a letter) - and the videos unpacked
from its zip parts as ``<data-path>/data/<videoID>.mp4`` (the folder lmms-eval's
``videomme`` task reads). The videos (~100 GB) are never downloaded by the harness: pass
``--data-path`` to a local copy (``--bench-option video_dir=...`` if the videos live
elsewhere). A ``.parquet`` / ``.json`` / ``.jsonl`` file is accepted as ``--data-path`` too.

Prompt, without subtitles (the Video-MME README prompt, as lmms-eval formats it):
``Select the best answer to the following multiple-choice question based on the video.
Respond with only the letter (A, B, C, or D) of the correct option.`` / question / options /
``The best answer is:``. Frames: ``num_frames`` uniformly sampled (``--bench-option
num_frames=N``, default 32, lmms-eval's Qwen2.5-VL default ``max_num_frames``) through
:func:`evalsuite.media.load_video`. No API judge: letters come from
:mod:`evalsuite.policies.letters`; unparsed answers are wrong and counted.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.policies.base import McqItem, PolicyBenchmark, metric
from evalsuite.types import FrameSpec, ItemError, MediaRef, ParseStatus

PRE_PROMPT = ("Select the best answer to the following multiple-choice question based on the "
              "video. Respond with only the letter (A, B, C, or D) of the correct option.")
POST_PROMPT = "The best answer is:"
DURATIONS = ("short", "medium", "long")


def build_prompt(question: str, options: list[str]) -> str:
    return "\n".join([PRE_PROMPT, question, *options, POST_PROMPT])


class VideoMME(PolicyBenchmark):
    name: ClassVar[str] = "video-mme"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "video_dir": "folder of the videos (default <data-path>/data)",
        "num_frames": "frames sampled per video (32)",
    }
    kind: ClassVar[str] = "mcq"
    policy_task: ClassVar[str] = "mcq"
    hub_id: ClassVar[str] = "lmms-lab/Video-MME"
    splits: ClassVar[tuple[str, ...]] = ("test",)
    default_split: ClassVar[str] = "test"
    modality: ClassVar[str] = "video"
    requires: ClassVar[tuple[str, ...]] = ("pandas", "av")
    metric_notes: ClassVar[dict[str, str]] = {
        "accuracy": "letter accuracy over all questions (unparsed = wrong)",
        "accuracy_<duration>": "the same within short / medium / long videos",
        "unparsed_rate": "answers with no extractable letter",
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
        spec = FrameSpec(num_frames=int(self.options.get("num_frames", 32)))
        out: list[McqItem | ItemError] = []
        for r in rows:
            qid = str(r.get("question_id"))
            try:
                opts = [str(o) for o in list(r["options"])]
                options = {}
                for o in opts:
                    letter, sep, text = o.partition(". ")
                    if not sep or letter not in "ABCD" or len(letter) != 1:
                        raise ValueError(f"option {o!r} is not 'X. text'")
                    options[letter] = text
                ans = str(r["answer"]).strip()
                if ans not in options:
                    raise ValueError(f"answer {ans!r} is not one of {list(options)}")
                dur = str(r["duration"])
                if dur not in DURATIONS:
                    raise ValueError(f"unknown duration {dur!r}")
                vid = str(r["videoID"])
                path = next((vdir / f"{vid}{ext}" for ext in (".mp4", ".MP4", ".mkv")
                             if (vdir / f"{vid}{ext}").is_file()), vdir / f"{vid}.mp4")
                meta = {k: r.get(k) for k in ("video_id", "videoID", "domain", "sub_category",
                                              "task_type", "duration", "url")}
                out.append(McqItem(
                    item_id=qid, question=str(r["question"]), options=options, answer=ans,
                    media=(MediaRef(kind="video", path=path.name, root=str(vdir)),),
                    frames=spec, category=dur, prompt=build_prompt(str(r["question"]), opts),
                    meta=meta))
            except (KeyError, ValueError, TypeError) as e:
                out.append(ItemError(qid, str(e), {}))
        return out

    def metrics(self, items: list[McqItem], records: dict) -> dict[str, Any]:
        hits: dict[str, list[bool]] = defaultdict(list)
        domains: dict[str, list[bool]] = defaultdict(list)
        answered = unparsed = 0
        for it in items:
            rec = records.get(("answer", it.item_id))
            ok = False
            if rec is not None and rec.error is None and rec.score is not None:
                answered += 1
                unparsed += rec.score.status == ParseStatus.UNPARSED
                ok = rec.score.extras.get("letter") == it.answer
            hits["all"].append(ok)
            hits[it.category or "-"].append(ok)
            domains[str(it.meta.get("domain"))].append(ok)

        def acc(v):
            return metric(sum(v) / len(v) if v else None, len(v))

        m = {"accuracy": acc(hits["all"])}
        for d in DURATIONS:
            m[f"accuracy_{d}"] = acc(hits.get(d, []))
        m["unparsed_rate"] = metric(unparsed / answered if answered else None, answered)
        return {"metrics": m, "breakdown": {f"domain:{k}": {"accuracy": acc(v)}
                                            for k, v in sorted(domains.items())}}
