"""MMBench (Liu et al. 2023): multiple-choice image questions, scored with CircularEval.

Data: the official TSV (``MMBench_DEV_EN.tsv``, the file VLMEvalKit downloads from
``https://opencompass.openxlab.space/utils/VLMEval/``; lmms-eval's ``lmms-lab/MMBench`` is a
parquet copy of it). Columns: ``index, question, hint, A, B, C, D, answer, category,
image`` (base64), ``source, l2-category, comment, split``. The dev file holds *circular
copies*: the options of a question rotated, with ``index = k * 1e6 + base`` (k = 1..n-1);
an ``image`` cell of at most 64 characters is the index of the row whose image it reuses
(VLMEvalKit ``ImageBaseDataset``).

CircularEval (lmms-eval ``lmms_eval/tasks/mmbench/mmbench_evals.py``, ``eval_result``: the
main rows are ``index < 1e6``, a question's copies are ``index % 1e6 == base``, a question
scores 1 only if every copy is answered right). Letters are extracted by
:mod:`evalsuite.policies.letters`, never by an API judge; an unparsed answer is wrong and
counted. Prompt (lmms-eval ``mmbench/en_utils.py`` ``mmbench_doc_to_text`` and the task yaml):
``{hint}\\n{question}\\nA. ...\\nB. ...`` then
``\\nAnswer with the option's letter from the given choices directly.``

``--data-path``: the TSV file, or a folder holding ``MMBench_DEV_EN.tsv`` /
``MMBench_TEST_EN.tsv``. Without it the TSV is downloaded (clear error when offline).
"""

from __future__ import annotations

import base64
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.policies.base import McqItem, PolicyBenchmark, metric
from evalsuite.types import ItemError, MediaRef, ParseStatus

URL = "https://opencompass.openxlab.space/utils/VLMEval/{file}"
FILES = {"dev": "MMBench_DEV_EN.tsv", "test": "MMBench_TEST_EN.tsv"}
POST_PROMPT = "\nAnswer with the option's letter from the given choices directly."
CIRCULAR = int(1e6)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v) in ("", "nan")


def build_prompt(question: str, hint: str | None, options: dict[str, str]) -> str:
    q = f"{hint}\n{question}" if hint else question
    opts = "\n".join(f"{k}. {v}" for k, v in options.items())
    return f"{q}\n{opts}{POST_PROMPT}"


def circular_groups(index: list[int]) -> dict[int, list[int]]:
    """base index -> all indices of its circular copies (``index % 1e6 == base``)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i in index:
        groups[i % CIRCULAR].append(i)
    return dict(groups)


def circular_eval(correct: dict[int, bool]) -> dict[int, bool]:
    """Per main question (base index present among the rows): right only if every circular
    copy is right. ``correct`` maps row index -> answered correctly (False for unparsed or
    failed answers)."""
    out = {}
    for base, members in circular_groups(list(correct)).items():
        if base not in correct:
            continue  # copies without their main row are not a question (upstream: same)
        out[base] = all(correct[i] for i in members)
    return out


class MMBench(PolicyBenchmark):
    name: ClassVar[str] = "mmbench"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "file": "TSV file name inside --data-path",
    }
    kind: ClassVar[str] = "mcq"
    policy_task: ClassVar[str] = "mcq"
    hub_id: ClassVar[str] = URL.format(file=FILES["dev"])
    splits: ClassVar[tuple[str, ...]] = ("dev", "test")
    default_split: ClassVar[str] = "dev"
    modality: ClassVar[str] = "image"
    requires: ClassVar[tuple[str, ...]] = ("pandas",)
    metric_notes: ClassVar[dict[str, str]] = {
        "circular_accuracy": "CircularEval: a question counts only if every circular copy "
                             "is answered right (lmms-eval mmbench_evals.py)",
        "vanilla_accuracy": "accuracy over the main rows (index < 1e6) only",
        "unparsed_rate": "answers with no extractable letter (counted wrong)",
    }

    def _path(self, data_path: str | None, split: str) -> Path:
        fname = self.options.get("file") or FILES[split]
        if data_path:
            p = Path(data_path)
            p = p / fname if p.is_dir() else p
            if not p.is_file():
                raise FileNotFoundError(f"MMBench TSV not found: {p}")
            return p
        import os
        import urllib.request
        cache = Path(os.environ.get("EVALSUITE_CACHE", Path.home() / ".cache" / "evalsuite"))
        dest = cache / "mmbench" / fname
        if not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            url = URL.format(file=fname)
            try:
                urllib.request.urlretrieve(url, dest.with_suffix(".part"))
            except OSError as e:
                raise ConnectionError(f"cannot download {url} ({e}); download it yourself "
                                      "and pass --data-path <file.tsv>") from e
            dest.with_suffix(".part").replace(dest)
        return dest

    def load_items(self, data_path: str | None, split: str | None
                   ) -> list[McqItem | ItemError]:
        import pandas as pd

        split = split or self.default_split
        if split not in self.splits:
            raise ValueError(f"mmbench split must be one of {self.splits}, got {split!r}")
        df = pd.read_csv(self._path(data_path, split), sep="\t", dtype={"image": str},
                         keep_default_na=True)
        required = {"index", "question", "A", "B", "answer", "image"}
        if not required <= set(df.columns):
            raise ValueError(f"not an MMBench TSV: missing columns "
                             f"{sorted(required - set(df.columns))}")
        rows = df.to_dict("records")
        images = {str(int(r["index"])): r["image"] for r in rows}
        out: list[McqItem | ItemError] = []
        for r in rows:
            idx = int(r["index"])
            iid = str(idx)
            try:
                options = {c: str(r[c]) for c in "ABCD" if c in r and not _missing(r[c])}
                ans = r.get("answer")
                if _missing(ans):
                    raise ValueError("no answer (test split: submit to the MMBench server)")
                ans = str(ans).strip()
                if ans not in options:
                    raise ValueError(f"answer {ans!r} is not one of the options {list(options)}")
                img = r["image"]
                if _missing(img):
                    raise ValueError("no image")
                img = str(img)
                if len(img) <= 64:  # a reference to another row's image
                    if img not in images or len(str(images[img])) <= 64:
                        raise ValueError(f"image reference {img!r} does not resolve")
                    img = str(images[img])
                data = base64.b64decode(img, validate=False)
                hint = None if _missing(r.get("hint")) else str(r["hint"])
                meta = {k: (None if _missing(r.get(k)) else r.get(k))
                        for k in ("l2-category", "source", "split", "comment")}
                meta["index"] = idx
                out.append(McqItem(
                    item_id=iid, question=str(r["question"]), options=options, answer=ans,
                    media=(MediaRef(kind="image", data=data),), hint=hint,
                    category=None if _missing(r.get("category")) else str(r["category"]),
                    group=str(idx % CIRCULAR),
                    prompt=build_prompt(str(r["question"]), hint, options), meta=meta))
            except (ValueError, TypeError, KeyError) as e:
                out.append(ItemError(iid, str(e), {"index": idx}))
        return out

    def metrics(self, items: list[McqItem], records: dict) -> dict[str, Any]:
        """CircularEval + vanilla accuracy, per category and l2-category."""
        correct: dict[int, bool] = {}
        unparsed = answered = 0
        for it in items:
            rec = records.get(("answer", it.item_id))
            ok = False
            if rec is not None and rec.error is None and rec.score is not None:
                answered += 1
                if rec.score.status == ParseStatus.UNPARSED:
                    unparsed += 1
                ok = rec.score.extras.get("letter") == it.answer
            correct[int(it.item_id)] = ok
        circ = circular_eval(correct)
        by_idx = {int(it.item_id): it for it in items}
        main = [i for i in correct if i < CIRCULAR]
        out: dict[str, Any] = {"metrics": {
            "circular_accuracy": metric(sum(circ.values()) / len(circ) if circ else None,
                                        len(circ)),
            "vanilla_accuracy": metric(sum(correct[i] for i in main) / len(main) if main
                                       else None, len(main)),
            "unparsed_rate": metric(unparsed / answered if answered else None, answered),
        }, "breakdown": {}}
        for key, get in (("category", lambda it: it.category),
                         ("l2-category", lambda it: it.meta.get("l2-category"))):
            groups: dict[str, list[bool]] = defaultdict(list)
            for base, hit in circ.items():
                groups[str(get(by_idx[base]))].append(hit)
            for g, hits in sorted(groups.items()):
                out["breakdown"][f"{key}:{g}"] = {"circular_accuracy": metric(
                    sum(hits) / len(hits), len(hits))}
        out["circular"] = {"questions": len(circ), "rows": len(correct),
                           "copies_per_question": _copies(circ, correct)}
        return out


def _copies(circ: dict[int, bool], correct: dict[int, bool]) -> dict[str, int]:
    from collections import Counter
    groups = circular_groups(list(correct))
    return {str(k): v for k, v in sorted(Counter(len(groups[b]) for b in circ).items())}
