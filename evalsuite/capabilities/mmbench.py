"""MMBench (Liu et al. 2023): multiple-choice image questions, scored with CircularEval, as
VLMEvalKit scores it (open-compass/VLMEvalKit @ ``e8e78f05f3080fe28154f2130321f17951c3be94``).

Data: the official TSV (``MMBench_DEV_EN.tsv``, the file VLMEvalKit downloads). Columns:
``index, question, hint, A, B, C, D, answer, category, image`` (base64), ``source,
l2-category, comment, split``. The dev file holds *circular copies*: the options of a
question rotated, with ``index = k * 1e6 + base``; an ``image`` cell of at most 64 characters
is the index of the row whose image it reuses (``vlmeval/dataset/image_base.py``).

Prompt (``vlmeval/dataset/image_mcq.py``, ``ImageMCQDataset.build_prompt``), the image first,
then ``Hint: {hint}\\n`` (when there is one), ``Question: {question}\\n``, ``Options:\\n``,
one ``{letter}. {text}\\n`` per option (every non-empty column A-Z), and
``Please select the correct answer from the options above. \\n``. ``--bench-option
prompt=qwen2_vl`` is the prompt VLMEvalKit's Qwen2-VL / Qwen2.5-VL wrapper builds instead
(``vlmeval/vlm/qwen2_vl/prompt.py``: the same text, ``Please select the correct answer from
the options above.`` or ``请直接回答选项字母。`` when the text has Chinese, stripped), the
prompt behind VLMEvalKit's numbers for those models.

Answers (``vlmeval/dataset/utils/multiple_choice.py``): the prediction as VLMEvalKit reads it
back from its prediction file (pandas reads an empty cell or a missing-value word such as
``None`` / ``NA`` as NaN, which ``str`` turns into ``nan``), then exact matching
(``can_infer``, :func:`evalsuite.capabilities.letters.vlmevalkit_letter`). The second stage,
off by default, is VLMEvalKit's LLM answer extractor (``extract_answer_from_item``: its
prompt byte for byte, three tries, each reply read by ``can_infer``) through an
OpenAI-compatible endpoint::

    --bench-option extractor=openai --bench-option extractor_model=gpt-4o-mini-2024-07-18 \\
    --bench-option extractor_base_url=https://api.openai.com/v1

(``extractor_api_key_env`` names the key's environment variable, default
``OPENAI_API_KEY``; ``extractor_timeout`` / ``extractor_max_retries`` as the openai judge).
An answer the extractor cannot read either stays unparsed; VLMEvalKit then draws a random
letter, which only ``extractor_random=true`` does here (seeded by the row index, counted).

CircularEval (``mcq_circular_eval``): the questions are the main rows (``index < 1e6``);
a question is right only if every row of its group (``index % 1e6``) is read as its answer.
A row that failed to load or to be answered makes its question wrong, and is counted
(``circular.questions_with_failed_rows``). Report (``report_acc``): ``Overall``, each
l2-category under VLMEvalKit's abbreviation (``CP``, ``FP-S``, ...), each category, per
split, unrounded. ``vanilla_accuracy`` is VLMEvalKit's ``PRINT_VANILLA`` ``vanilla_0``
(rows with ``index <= 1e6``, each scored alone).

``--data-path``: the TSV file, or a folder holding ``MMBench_DEV_EN.tsv`` /
``MMBench_TEST_EN.tsv``. Without it the TSV is downloaded from VLMEvalKit's address and
checked against VLMEvalKit's MD5 (clear error when offline).
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import string
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.judges.openai_judge import transport_options
from evalsuite.policies.base import McqItem, PolicyBenchmark, metric
from evalsuite.capabilities.letters import LetterResult, unparsed, vlmevalkit_letter
from evalsuite.types import ItemError, MediaRef, ParseStatus

REFERENCE = "open-compass/VLMEvalKit@e8e78f05f3080fe28154f2130321f17951c3be94"
URL = "https://opencompass.openxlab.space/utils/benchmarks/MMBench/{file}"
FILES = {"dev": "MMBench_DEV_EN.tsv", "test": "MMBench_TEST_EN.tsv"}
MD5 = {"MMBench_DEV_EN.tsv": "b6caf1133a01c6bb705cf753bb527ed8",  # VLMEvalKit DATASET_MD5
       "MMBench_TEST_EN.tsv": "6939fadb0ce626fefc0bdc9c64efc528"}
INSTRUCTION = "Please select the correct answer from the options above. \n"
QWEN2_VL_EN = "Please select the correct answer from the options above."
QWEN2_VL_CN = "请直接回答选项字母。"
PROMPT_STYLES = ("dataset", "qwen2_vl")
CIRCULAR = int(1e6)
L2_ABBREVIATIONS = {
    "coarse_perception": "CP", "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C", "logic_reasoning": "LR",
    "relation_reasoning": "RR", "attribute_reasoning": "AR"}
# pandas' default missing-value strings: the predictions VLMEvalKit reads back as NaN
NA_STRINGS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                        "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                        "nan", "null"})


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def build_prompt(question: Any, hint: Any, options: dict[str, Any],
                 style: str = "dataset") -> str:
    """``ImageMCQDataset.build_prompt``'s text; ``style="qwen2_vl"``: the MCQ prompt
    VLMEvalKit's Qwen2-VL / Qwen2.5-VL wrapper builds instead (``vlmeval/vlm/qwen2_vl/
    prompt.py`` ``_build_mcq_prompt``: the same, with its own instruction, stripped)."""
    prompt = "" if _missing(hint) else f"Hint: {hint}\n"
    prompt += f"Question: {question}\n"
    if options:
        prompt += "Options:\n" + "".join(f"{k}. {v}\n" for k, v in options.items())
        if style == "dataset":
            prompt += INSTRUCTION
        else:
            prompt += QWEN2_VL_CN if _has_cjk(prompt) else QWEN2_VL_EN
    return prompt if style == "dataset" else prompt.rstrip()


def as_read_back(prediction: str | None) -> str:
    """The prediction as VLMEvalKit's evaluation sees it after its prediction-file round trip."""
    return "nan" if prediction is None or prediction in NA_STRINGS else prediction


def circular_eval(row_hits: dict[int, bool]) -> dict[int, bool]:
    """Per question (main row ``index < 1e6`` among the rows): right only if every row of its
    group (``index % 1e6``) is right. Rows without their main row are not a question."""
    groups: dict[int, list[bool]] = defaultdict(list)
    for idx, hit in row_hits.items():
        groups[idx % CIRCULAR].append(hit)
    return {q: all(groups[q]) for q in sorted(groups) if q in row_hits}


# --- the LLM answer extractor -------------------------------------------------------------

def extractor_prompt(question: str, options: dict[str, Any], prediction: str) -> str:
    """VLMEvalKit's ``build_prompt`` (or ``build_prompt_cn`` for a question with CJK
    characters) with ``build_option_str``."""
    option_str = "There are several options: \n" + "".join(
        f"{c}. {v}\n" for c, v in options.items() if not _missing(v))
    if _has_cjk(question):
        tmpl = ("你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。"
                "你会被提供：一个问题，多个选项，一个答案。你的任务是找到与答案意义最相近的选项。"
                "如果所有选项的意义都与答案显著不同，则输出 Z。"
                "你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。"
                "例 1:"
                "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n"
                "答案: 一只可爱的泰迪熊\n输出: A\n"
                "例 2: \n"
                "问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n"
                "答案: 蜘蛛\n输出: Z\n"
                "例 3: \n"
                "问题: {}?\n选项: {}\n答案: {}\n输出: ")
    else:
        tmpl = ("You are an AI assistant who will help me to match an answer with several "
                "options of a single-choice question. You are provided with a question, several "
                "options, and an answer, and you need to find which option is most similar to "
                "the answer. If the meaning of all options are significantly different from the "
                "answer, output Z. Your should output a single uppercase character in A, B, C, "
                "D (if they are valid options), and Z. \n"
                "Example 1: \n"
                "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit "
                "C. cat D. dog\nAnswer: a cute teddy bear\nYour output: A\n"
                "Example 2: \n"
                "Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit "
                "C. cat D. dog\nAnswer: Spider\nYour output: Z\n"
                "Example 3: \n"
                "Question: {}?\nOptions: {}\nAnswer: {}\nYour output: ")
    return tmpl.format(question, option_str, prediction)


class AnswerExtractor:
    """VLMEvalKit's second stage through the openai judge's HTTP client (retries, backoff,
    key from the environment, redaction): the request VLMEvalKit's ``OpenAIWrapper`` sends
    (one user message, ``temperature`` 0, ``max_tokens`` 2048), asked up to three times."""

    TRIES = 3

    def __init__(self, options: dict[str, Any], random_fallback: bool = False):
        from evalsuite.judges.openai_judge import OpenAIJudge

        opts = dict(options)
        self.client = OpenAIJudge(model=opts.pop("model", None), **opts)
        self.client.load()
        self.random_fallback = random_fallback

    def info(self) -> dict[str, Any]:
        return {"model": self.client.model_id, "endpoint": self.client.base_url,
                "prompt": f"{REFERENCE} vlmeval/dataset/utils/multiple_choice.py build_prompt",
                "random_fallback": self.random_fallback}

    def ask(self, prompt: str) -> str:
        body: dict[str, Any] = {
            "model": self.client.model_id,
            "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
            "temperature": 0, "max_tokens": 2048}
        if "openai.com" in self.client.base_url:
            body["n"] = 1
        return self.client._post(body)

    def extract(self, item: McqItem, prediction: str) -> LetterResult:
        from evalsuite.judges.openai_judge import EndpointError

        prompt = extractor_prompt(item.question, item.options, prediction)
        failures = 0
        for _ in range(self.TRIES):
            try:
                reply = self.ask(prompt)
            except EndpointError:
                failures += 1
                continue
            # can_infer_text lower-cased the options in place during the first stage
            r = vlmevalkit_letter(reply, {k: str(v).lower() for k, v in item.options.items()})
            if r.letter is not None:
                return LetterResult(r.letter, "extractor", ParseStatus.PARSED)
        why = "extractor:failed" if failures == self.TRIES else "extractor:unreadable"
        if self.random_fallback:
            letters = [*item.options, "Z"] if "Z" not in item.options else []
            letter = random.Random(item.item_id).choice(letters)
            return LetterResult(letter, f"{why}:random", ParseStatus.PARSED)
        return unparsed(why)


# --- the benchmark -------------------------------------------------------------------------

@dataclass(frozen=True)
class RowInfo:
    answer: str | None
    category: str | None
    l2_category: str | None
    split: str | None


class MMBench(PolicyBenchmark):
    name: ClassVar[str] = "mmbench"
    fixture: ClassVar[str | None] = "mmbench"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "file": "TSV file name inside --data-path",
        "prompt": "dataset (VLMEvalKit build_prompt, default) | qwen2_vl (its Qwen2-VL prompt)",
        "extractor": "openai: VLMEvalKit's LLM answer extractor for unread answers (off)",
        "extractor_model": "the extractor's served model name",
        **transport_options("extractor_", "the extractor"),
        "extractor_random": "true: VLMEvalKit's seeded random letter when still unread (off)",
    }
    kind: ClassVar[str] = "mcq"
    policy_task: ClassVar[str] = "mcq"
    hub_id: ClassVar[str] = URL.format(file=FILES["dev"])
    splits: ClassVar[tuple[str, ...]] = ("dev", "test")
    default_split: ClassVar[str] = "dev"
    modality: ClassVar[str] = "image"
    requires: ClassVar[tuple[str, ...]] = ("pandas",)
    metric_notes: ClassVar[dict[str, str]] = {
        "circular_accuracy": "CircularEval (VLMEvalKit mcq_circular_eval / report_acc "
                             "Overall): a question counts only if every circular copy is "
                             "read as its answer; a failed copy makes it wrong",
        "vanilla_accuracy": "VLMEvalKit PRINT_VANILLA vanilla_0: rows index <= 1e6 alone",
        "unparsed_rate": "answers no rule (nor the extractor, when on) could read: wrong",
    }

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._rows: dict[int, RowInfo] = {}
        self.prompt_style = str(options.get("prompt", "dataset"))
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt must be one of {PROMPT_STYLES}, got {self.prompt_style!r}")
        self.extractor: AnswerExtractor | None = None
        kind = options.get("extractor")
        if kind not in (None, "", "none", "openai"):
            raise ValueError(f"extractor must be openai (or none), got {kind!r}")
        if kind == "openai":
            for need in ("extractor_model", "extractor_base_url"):
                if not options.get(need):
                    raise ValueError(f"extractor=openai needs --bench-option {need}=...")
            sub = {k[len("extractor_"):]: v for k, v in options.items()
                   if k.startswith("extractor_") and k != "extractor_random"}
            self.extractor = AnswerExtractor(
                sub, random_fallback=str(options.get("extractor_random", "false")).lower()
                in ("1", "true", "yes"))
        elif any(k.startswith("extractor_") for k in options):
            raise ValueError("extractor_* options need --bench-option extractor=openai")

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
            part = dest.with_suffix(".part")
            digest = hashlib.md5(part.read_bytes()).hexdigest()
            if fname in MD5 and digest != MD5[fname]:
                part.unlink()
                raise ValueError(f"{url}: md5 {digest}, expected {MD5[fname]} (VLMEvalKit's)")
            part.replace(dest)
        return dest

    def load_items(self, data_path: str | None, split: str | None
                   ) -> list[McqItem | ItemError]:
        import pandas as pd

        split = split or self.default_split
        if split not in self.splits:
            raise ValueError(f"mmbench split must be one of {self.splits}, got {split!r}")
        df = pd.read_csv(self._path(data_path, split), sep="\t", dtype={"image": str})
        required = {"index", "question", "A", "B", "answer", "image"}
        if not required <= set(df.columns):
            raise ValueError(f"not an MMBench TSV: missing columns "
                             f"{sorted(required - set(df.columns))}")
        letters = [c for c in string.ascii_uppercase if c in df.columns]
        rows = df.to_dict("records")
        images = {str(r["index"]): r["image"] for r in rows}
        self._rows = {}
        out: list[McqItem | ItemError] = []
        for r in rows:
            idx = int(r["index"])
            iid = str(idx)

            def text(key: str) -> str | None:
                v = r.get(key)
                return None if _missing(v) else str(v)

            self._rows[idx] = RowInfo(text("answer"), text("category"), text("l2-category"),
                                      text("split") if "split" in df.columns else None)
            try:
                options = {c: r[c] for c in letters if not _missing(r[c])}
                ans = text("answer")
                if ans is None:
                    raise ValueError("no answer (test split: submit to the MMBench server)")
                if ans not in options:
                    raise ValueError(f"answer {ans!r} is not one of the options {list(options)}")
                img = r["image"]
                if _missing(img) or not str(img):
                    raise ValueError("no image")
                img = str(img)
                if len(img) <= 64:  # the index of the row whose image this row reuses
                    target = images.get(img)
                    if _missing(target) or len(str(target)) <= 64:
                        raise ValueError(f"image reference {img!r} does not resolve")
                    img = str(target)
                data = base64.b64decode(img, validate=False)
                meta = {k: text(k) for k in ("l2-category", "source", "split", "comment")}
                meta["index"] = idx
                out.append(McqItem(
                    item_id=iid, question=str(r["question"]),
                    options={k: str(v) for k, v in options.items()}, answer=ans,
                    media=(MediaRef(kind="image", data=data),), hint=text("hint"),
                    category=text("category"), group=str(idx % CIRCULAR),
                    prompt=build_prompt(r["question"], r.get("hint"), options, self.prompt_style),
                    meta=meta))
            except (ValueError, TypeError, KeyError) as e:
                out.append(ItemError(iid, str(e), {"index": idx}))
        return out

    def extract(self, raw: str, item: McqItem) -> LetterResult:
        prediction = as_read_back(raw)
        r = vlmevalkit_letter(prediction, item.options)
        if r.letter is None and self.extractor is not None:
            r = self.extractor.extract(item, prediction)
        return r

    def metrics(self, items: list[McqItem], records: dict) -> dict[str, Any]:
        """CircularEval over the rows of the run: the loaded items and the rows that failed
        to load (their ``answer`` records), each row's category from the TSV."""
        info = dict(self._rows)
        for it in items:  # metrics without load_items (tests): the items alone
            info.setdefault(int(it.item_id), RowInfo(it.answer, it.category,
                                                     it.meta.get("l2-category"),
                                                     it.meta.get("split")))
        good = {int(it.item_id) for it in items}
        run_rows = good | {int(i) for kind, i in records
                           if kind == "answer" and i.isdigit() and int(i) in info}
        letters: dict[int, str | None] = {}
        failed: set[int] = set()
        unparsed: dict[str, bool] = {}  # answered row -> its answer was unparsed
        rules: Counter = Counter()
        for idx in run_rows:
            rec = records.get(("answer", str(idx)))
            if idx not in good or rec is None or rec.error is not None or rec.score is None:
                failed.add(idx)
                continue
            unparsed[str(idx)] = rec.score.status == ParseStatus.UNPARSED
            letters[idx] = rec.score.extras.get("letter")
            rules[rec.score.extras.get("rule")] += 1
        hit = {i: i not in failed and letters[i] is not None and letters[i] == info[i].answer
               for i in run_rows}
        circ = circular_eval(hit)
        vanilla = {str(i): hit[i] for i in run_rows if i <= CIRCULAR}
        groups: dict[int, list[int]] = defaultdict(list)
        for i in run_rows:
            groups[i % CIRCULAR].append(i)
        out: dict[str, Any] = {"metrics": {
            "circular_accuracy": metric(_mean(circ.values()), len(circ),
                                        per_item={str(q): h for q, h in circ.items()}),
            "vanilla_accuracy": metric(_mean(vanilla.values()), len(vanilla), per_item=vanilla),
            "unparsed_rate": metric(_mean(unparsed.values()), len(unparsed), per_item=unparsed),
        }, "breakdown": {}}
        for key, attr in (("l2-category", "l2_category"), ("category", "category")):
            by: dict[str, dict[str, bool]] = defaultdict(dict)
            for q, h in circ.items():
                by[_label(key, getattr(info[q], attr))][str(q)] = h
            for label, hs in sorted(by.items()):
                out["breakdown"][f"{key}:{label}"] = {"circular_accuracy": metric(
                    _mean(hs.values()), len(hs), per_item=hs)}
        out["reference_table"] = report_acc(circ, info)
        out["circular"] = {
            "questions": len(circ), "rows": len(run_rows),
            "copies_per_question": {str(k): v for k, v in sorted(
                Counter(len(groups[q]) for q in circ).items())},
            "questions_with_failed_rows": sum(any(i in failed for i in groups[q])
                                              for q in circ),
            "failed_rows": len(failed)}
        out["rules"] = {str(k): v for k, v in sorted(rules.items(), key=lambda kv: str(kv[0]))}
        if self.extractor is not None:
            out["extractor"] = {**self.extractor.info(), "asked": sum(
                v for k, v in rules.items() if k and str(k).startswith("extractor"))}
        return out


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def _label(key: str, value: str | None) -> str:
    value = str(value)
    return L2_ABBREVIATIONS.get(value, value) if key == "l2-category" else value


def report_acc(circ: dict[int, bool], info: dict[int, RowInfo]) -> dict[str, dict[str, Any]]:
    """VLMEvalKit's ``report_acc`` table: per split, ``Overall``, then each l2-category
    (abbreviated) and each category in sorted order; means of the question hits."""
    splits = sorted({str(info[q].split) if info[q].split is not None else "none"
                     for q in circ})
    table: dict[str, dict[str, Any]] = {}
    for sp in splits:
        qs = [q for q in circ if (str(info[q].split) if info[q].split is not None
                                  else "none") == sp]
        row: dict[str, Any] = {"Overall": _mean(circ[q] for q in qs)}
        for key, attr in (("l2-category", "l2_category"), ("category", "category")):
            values = sorted({str(getattr(info[q], attr)) for q in circ
                             if getattr(info[q], attr) is not None})
            for v in values:
                row[_label(key, v)] = _mean(circ[q] for q in qs
                                            if str(getattr(info[q], attr)) == v)
        table[sp] = row
    return table
