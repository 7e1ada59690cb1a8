"""UniGenBench (Pref-GRPO, Wang et al. 2025; UniGenBench++): 600 prompts per set (English /
Chinese, short / long), each with 1-5 test points; 4 images per prompt judged by an MLLM.

Reference: github CodeGoat24/UniGenBench at commit 49d0bcebb0b9418d975d3957c2fee10f34811d14.

* Prompts: ``data/test_prompts_{en,en_long,zh,zh_long}.csv`` (columns ``index``,
  ``prompt_<lang>``, ``sub_dims_<lang>``: JSON with the test points and their per-prompt
  descriptions), fetched from raw.githubusercontent.com at the pinned commit or ``--data-path``
  a folder holding the same file names (a clone's ``data/``). The set is the split:
  ``--split en`` (default), ``en_long``, ``zh``, ``zh_long``.
* Generation: 4 images per prompt (``--images_per_prompt 4``), written as upstream's
  evaluation expects them, ``<run>/unigenbench/<split>/<index>_<k>.png``.
* Evaluation (``eval/src/eval_common.py``): per image one chat request to an OpenAI-compatible
  endpoint - the text part :func:`build_system_prompt` (the test points' definitions from
  ``EXPLANATION_DICT_*`` and the prompt's test-point descriptions in
  ``SYSTEM_PROMPT_*_TEMPLATE``, byte for byte) followed by the image file as a base64 data
  URL, ``max_tokens`` 4096, no temperature (the server's default), as
  ``call_evaluation_gemini``; :func:`parse_evaluation_response` reads the ``<analysis>`` /
  ``<score>`` Python lists; an answer that does not parse is asked again, up to
  ``max_retries`` (10) more times, as upstream; one still unparsed is counted and left out of
  the scores, never guessed. Scores (``calculate_scores``): per primary dimension (the test
  point's text before its first ``-``, whitespace stripped for the metric name) and per test
  point (sub-dimension), the fraction of (image, test point) pairs scored 1; ``overall`` is the
  mean over primary dimensions (the leaderboard's Overall; ``calculate_scores`` itself prints
  no overall).

The HTTP client is the ``openai`` judge's (:class:`evalsuite.judges.openai_judge.OpenAIJudge`:
retries with backoff, key from an environment variable, redacted errors). Options
(``--bench-option k=v``): ``judge_base_url`` (required to score), ``judge_model`` (the served
name; upstream default ``gemini-2.5-pro``), ``judge_api_key_env``, ``judge_concurrency``,
``judge_timeout``, ``judge_max_retries`` (HTTP-level), ``max_retries`` (re-asks of an unparsed
answer, 10), ``max_tokens`` (4096), ``temperature`` (unset), ``prompts`` (first N prompts).

The test-point definitions and judge templates below are upstream's (eval_common.py, CC BY 4.0,
Copyright (C) 2025 Tencent), unchanged: the judge must see exactly these bytes.
"""

from __future__ import annotations

import ast
import base64
import csv
import io
import json
import mimetypes
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.judges.openai_judge import transport_options
from evalsuite.capabilities.sources import pinned_text
from evalsuite.policies.base import GenItem, GenUnit, PolicyBenchmark, metric, unavailable
from evalsuite.types import ItemError, ParseStatus, Score

REPO = "CodeGoat24/UniGenBench"
COMMIT = "49d0bcebb0b9418d975d3957c2fee10f34811d14"
RAW = f"https://raw.githubusercontent.com/{REPO}/{COMMIT}/data/{{file}}"
SETS = ("en", "en_long", "zh", "zh_long")
OUTPUT_DIR = "unigenbench"

# fmt: off
EXPLANATION_DICT_EN = {
    "Relationship - Comparison": "Comparison of attributes between two entities",
    "Relationship - Composition": "An entity is composed of one or more other entities",
    "Relationship - Inclusion": "A container contains an entity; the container can also be a plane, e.g., a snake in a painting on a wall",
    "Relationship - Similarity": "Existence of similarities between different entities",

    "Compound - Imagination": "Things that are impossible in real life",
    "Compound - Feature Matching": "Different entities possess different types of attribute features",

    "Attribute - Size": "Assessment of the subject's size, height, length, thickness, width, or tallness/shortness",
    "Attribute - Expression": "Distinguishing expressions from facial actions; expressions must convey a clear emotion",
    "Attribute - Quantity": "Focuses on the challenge of depicting three or more items accurately",
    "Attribute - Material": "Evaluation of different material types and textures",
    "Attribute - Color": "Assessment of different colors",
    "Attribute - Shape": "Assessment of different shapes",

    "Entity Layout - Two-Dimensional Space": "Arrangement and positioning of entities in two-dimensional space",
    "Entity Layout - Three-Dimensional Space": "Arrangement and positioning of entities in three-dimensional space",

    "Action - Full-body (Character/Anthropomorphic)": "Full-body actions by characters or anthropomorphized entities, such as running, diving, breakdancing, swinging, or hanging upside down",
    "Action - Hand (Character/Anthropomorphic)": "Focuses on hand structure—checking if fingers are missing, broken, or distorted",
    "Action - Animal": "Actions performed by animals",
    "Action - Contact Interaction": "Physical interactions between entities",
    "Action - Non-contact Interaction": "For example, two people making eye contact—testing if the model can accurately depict such interactions",
    "Action - State": "A sustained state of an entity, typically expressed with a verb",

    "Grammar - Negation": "Tests the model's understanding of negation grammar",
    "Grammar - Pronoun Reference": "Tests if the model can resolve ambiguous pronoun references correctly",
    "Grammar - Consistency": "Evaluation of shared attributes among entities",

    "World Knowledge": "Covers knowledge of celebrities, architecture, basic domain knowledge, and internet slang. Celebrities with modern copyright risk should be avoided",

    "Style": "Art, painting, photography, design styles, and corresponding artist names",
    "Text Generation": "The text content model needed to accurately generate without any omissions or extra words",

    "Logical Reasoning": "Requires the model to deeply understand the intent and perform reasoning",
}

EXPLANATION_DICT_ZH = {
    "关系-比较关系": "两者的属性对比",
    "关系-构成关系": "一个实体由另一种或几种实体构成",
    "关系-包含关系": "容器对实体的包含关系，容器也可以是平面的，比如：墙上的画里有一只蛇",
    "关系-相似关系": "不同实体中存在的相似关系",

    "复合考点-想象力": "现实生活中不可能发生的事情",
    "复合考点-不同实体特征匹配": "不同实体拥有不同类的属性特征",

    "实体布局-三维空间": "对于三维空间实体的摆放布局",
    "实体布局-二维空间": "对于二维空间实体的摆放布局",

    "属性-大小": "对主体 大小/高低/长短/粗细/宽窄/高矮",
    "属性-表情": "区分表情和脸部动作，脸部动作组成表情，但表情是一定要体现出某种情绪的。",
    "属性-数量": "重点考察三个或三个以上的数字难点",
    "属性-材质": "考察不同材质",
    "属性-颜色": "考察不同颜色",
    "属性-形状": "考察不同形状",

    "动作-人物/拟人全身动作": "人物或拟人全身性的动作，比如奔跑、跳水、跳街舞、荡秋千、倒挂金钩等",
    "动作-人物/拟人手部动作": "针对手部结构的考点，考核手指是否有缺失、崩坏等问题",
    "动作-动物动作": "动物的动作",
    "动作-实体间有接触互动": "各种实体间的有接触互动",
    "动作-实体间无接触互动": "比如两个人对视，考核模型能否把对视关系画对",
    "动作-状态": "实体持续的状态，一般是一个动词。",

    "语法-否定": "考察模型对于否定语法的掌握程度",
    "语法-代词指代": "这里的代词通常是有一些迷惑性的，考察模型能否正确对应",
    "语法-统一性": "实体共同属性的考察",

    "世界知识": "名人、建筑、基础的领域知识、网络流行语。其中名人不要使用当代有版权风险的名人",

    "风格": "艺术、绘画、摄影、设计风格，及对应艺术家名称",

    "逻辑推理": "需要模型深入理解意图并进行一定的推理",

    "文本生成": "考察模型能否准确生成不同语言，字体和长、短文字",
}


# ============================================================
# System Prompt Templates
# ============================================================

SYSTEM_PROMPT_EN_TEMPLATE = '''You are a precise and objective English-language image description system. I will provide you with a prompt for image generation, as well as the corresponding generated image. You will be given a set of evaluation criteria (checkpoints) and their explanations that define the relevance between the prompt and the image. You must evaluate whether the generated image fulfills the requirements implied by each checkpoint in the prompt.

            For each image, follow the steps below in order:

            1. The prompt for the generated image is: 「{prompt}」. You are to analyze the image content in detail from the angles specified in {testpoint}. Detailed definitions of these checkpoints are provided here: {explanation}. The specific description of each checkpoint in the context of the prompt is: {test_explanation}. You must analyze whether the image meets the requirements for each checkpoint individually.

            2. Based on the above analysis, determine whether the generated image satisfies each checkpoint in terms of its visual alignment with the prompt. If the image meets the requirements of a checkpoint, assign a score of 1 to that checkpoint; otherwise, assign a score of 0.

            Constraints:
            - Only describe content that is directly visible; do not interpret, speculate, or infer any background story.
            - Focus solely on visually verifiable details.
            - Omit any uncertain or ambiguous elements.
            - Even if mentioned in the input, do not describe abstract entities, emotions, or speculative ideas.

            Please strictly follow the output format below:

            <description>
                <prompt>{prompt}</prompt>
                <checkpoint>{testpoint}</checkpoint>
                <analysis>A list using square brackets `[]`, where each element is a string of detailed analysis corresponding to one checkpoint, as required in Step 1. **Ensure the list length matches the number of checkpoints**. Each element should be a string representing the analysis for that specific checkpoint.</analysis>
                <score>A list using square brackets `[]`, where each element is a binary score (0 or 1) corresponding to a checkpoint, as required in Step 2. **Ensure the list length matches the number of checkpoints**. Each element should be either 0 or 1, indicating whether the checkpoint was satisfied.</score>
            </description>
            '''

SYSTEM_PROMPT_ZH_TEMPLATE = '''你是一个精确且客观的中文图像描述系统。我会给你一段生成图像的提示词，以及对应的生成图像，同时对于生成图像与提示词之间相关性的考点及对应说明，你需要逐个考点来判断生成的图像是否遵从了提示词中所包含的对应考点要求。

        针对每张图像，你需要按照顺序完成如下的任务：
        1. 这张生成图像对应的提示词为「{prompt}」，你需要根据{testpoint}中的这些角度逐个对图像内容进行更进一步的详细分析，考点的详细说明如下：{explanation}，各个考点在这条prompt中对应的描述说明如下：{test_explanation}, 你需要根据考点逐一判断生成图像是否满足了考点对应的要求
        2. 综合上述回答，你需要逐个考点判断生成的图像在考点关注维度上是否符合输入的prompt，如果满足要求则该考点得分为1，否则为0

        约束条件：
        - 仅描述直接可见的内容；不要进行解读、推测或暗示背景故事。
        - 专注于能够确定性陈述的视觉细节。
        - 省略不确定或不清晰的细节。
        - 即使输入中存在，也不要描述抽象实体、情感或推测。

        请严格遵循以下输出格式：

        <description>
            <prompt>{prompt}</prompt>
            <checkpoint>{testpoint}</checkpoint>
            <analysis>按照步骤1对于给定考点进行逐项详细分析，格式为一个方括号列表，**确保列表的长度与考点的数量相等**，每个元素为一个字符串，表示对于对应考点的分析</analysis>
            <score>按照步骤2逐个对考点进行打分，格式为一个方括号列表，**确保列表的长度与考点的数量相等**，每个元素为0或者1，表示对应考点是否完成</score>
        </description>
        '''
# fmt: on

LANG = {
    "en": {"explanations": EXPLANATION_DICT_EN, "template": SYSTEM_PROMPT_EN_TEMPLATE,
           "prompt_column": "prompt_en", "subdim_column": "sub_dims_en",
           "testpoint_key": "Testpoints", "desc_key": "Testpoint Description",
           "checkpoint_header": "Checkpoints Defination",
           "checkpoint_desc_header": "Checkpoints Description",
           "primary_key": "Primary Categories", "secondary_key": "Secondary Categories"},
    "zh": {"explanations": EXPLANATION_DICT_ZH, "template": SYSTEM_PROMPT_ZH_TEMPLATE,
           "prompt_column": "prompt_zh", "subdim_column": "sub_dims_zh",
           "testpoint_key": "考点", "desc_key": "考点对应描述",
           "checkpoint_header": "考点说明", "checkpoint_desc_header": "考点描述说明",
           "primary_key": "一级垂类", "secondary_key": "二级垂类"},
}


def build_system_prompt(prompt: str, testpoints: list[str], descriptions: list[str],
                        lang: str) -> str:
    """The judge's text: definitions of the prompt's test points, their descriptions in this
    prompt, and the output format (``build_system_prompt``)."""
    cfg = LANG[lang]
    explanation = f"{cfg['checkpoint_header']}:\u300c"
    for point in testpoints:
        if point not in cfg["explanations"]:
            raise ValueError(f"test point {point!r} has no {lang} definition")
        explanation += f"\n{point}: {cfg['explanations'][point]}"
    explanation += "\n\u300d"
    described = f"{cfg['checkpoint_desc_header']}:\u300c"
    for i, point in enumerate(testpoints):
        described += f"\n{point}: {descriptions[i]}"
    described += "\n\u300d"
    return cfg["template"].format(prompt=prompt, testpoint=testpoints, explanation=explanation,
                                  test_explanation=described)


def parse_evaluation_response(text: str | None, testpoints: list[str]
                              ) -> tuple[list, list] | None:
    """(analysis, scores) from the ``<analysis>`` / ``<score>`` tags (Python literals of the
    test points' length), or None. Upstream crashes on a literal without a length and on
    literal_eval's other errors; here those are unparsed too."""
    if text is None:
        return None
    a = re.search(r"<analysis>(.*?)</analysis>", text, re.DOTALL)
    s = re.search(r"<score>(.*?)</score>", text, re.DOTALL)
    if a is None or s is None:
        return None
    try:
        analysis = ast.literal_eval(a.group(1).strip())
        scores = ast.literal_eval(s.group(1).strip())
        if len(testpoints) != len(analysis) or len(testpoints) != len(scores):
            return None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return analysis, scores


def counted_by_official_scorer(result: dict[str, Any]) -> bool:
    """``run_evaluation`` stores ``json.dumps(result_json, ensure_ascii=False, indent=4)`` and
    ``calculate_scores`` reads it back with ``ast.literal_eval``: a result whose JSON is not a
    Python literal (``true`` / ``false`` / ``null`` from True / False / None in the answer's
    lists) is skipped there with a warning. Mirrored, so the numbers agree."""
    try:
        ast.literal_eval(json.dumps(result, ensure_ascii=False, indent=4))
    except (ValueError, SyntaxError):
        return False
    return True


def primary_of(testpoint: str) -> str:
    """``calculate_scores``' primary dimension: the text before the first ``-`` (whole point
    otherwise); upstream keeps the trailing space of ``"Attribute - Size"`` -> ``"Attribute "``
    in its JSON keys, our metric names strip it."""
    return testpoint.split("-", 1)[0] if "-" in testpoint else testpoint


def calculate_scores(results: list[tuple[list[str], list]]) -> dict[str, dict[str, list[int]]]:
    """``calculate_scores`` on (test points, scores) of each counted image: per primary and
    sub dimension [correct, total], a score counting when it ``== 1``."""
    primary: dict[str, list[int]] = {}
    sub: dict[str, list[int]] = {}
    for points, scores in results:
        for cp, score in zip(points, scores):
            for table, key in ((primary, primary_of(cp)), (sub, cp)):
                row = table.setdefault(key, [0, 0])
                row[1] += 1
                if score == 1:
                    row[0] += 1
    return {"primary_dimensions": primary, "sub_dimensions": sub}


def _read(data_path: str | None, fname: str) -> str:
    return pinned_text(data_path, fname, RAW.format(file=fname),
                       missing="UniGenBench prompt file not found: {path}",
                       offline=f"clone {REPO} at {COMMIT} and pass --data-path <clone>/data")


class UniGenBench(PolicyBenchmark):
    name: ClassVar[str] = "unigenbench"
    fixture: ClassVar[str | None] = "unigenbench"
    kind: ClassVar[str] = "generation"
    policy_task: ClassVar[str] = "text-to-image"
    hub_id: ClassVar[str] = f"github.com/{REPO}@{COMMIT}"
    revision: ClassVar[str | None] = COMMIT
    splits: ClassVar[tuple[str, ...]] = SETS
    default_split: ClassVar[str] = "en"
    modality: ClassVar[str] = "image"
    samples_per_prompt: ClassVar[int] = 4  # eval_common.py images_per_prompt=4
    availability_note: ClassVar[str | None] = ("scoring needs an OpenAI-compatible MLLM "
                                               "endpoint (--bench-option judge_base_url=...)")
    option_help: ClassVar[dict[str, str]] = {
        **transport_options("judge_", "the MLLM judge (judge_base_url is required to score)"),
        "judge_model": "the judge's served model name (gemini-2.5-pro)",
        "max_retries": "re-asks of an unparsable answer (10, as upstream)",
        "max_tokens": "answer token cap (4096)",
        "temperature": "judge sampling temperature (server default)",
        "prompts": "score only the first N prompts of the set",
    }
    metric_notes: ClassVar[dict[str, str]] = {
        "primary/<dim>": "fraction of (image, test point) pairs scored 1 (calculate_scores)",
        "sub/<test point>": "the same per test point (sub-dimension)",
        "overall": "mean over primary dimensions (leaderboard Overall)",
    }

    def load_items(self, data_path: str | None, split: str | None
                   ) -> list[GenItem | ItemError]:
        split = split or self.default_split
        if split not in SETS:
            raise ValueError(f"unigenbench splits are {SETS}, got {split!r}")
        cfg = LANG[split.split("_")[0]]
        text = _read(data_path, f"test_prompts_{split}.csv")
        rows = list(csv.DictReader(io.StringIO(text)))
        limit = self.options.get("prompts")
        out: list[GenItem | ItemError] = []
        for n, row in enumerate(rows[:int(limit)] if limit is not None else rows):
            rid = f"{split}:{row.get('index', n)}"
            try:
                index = int(row["index"])
                sub = json.loads(row[cfg["subdim_column"]])
                points, desc = sub[cfg["testpoint_key"]], sub[cfg["desc_key"]]
                if not isinstance(points, list) or not isinstance(desc, list) or \
                        len(desc) < len(points):
                    raise ValueError("test points and descriptions do not pair up")
                unknown = [p for p in points if p not in cfg["explanations"]]
                if unknown:
                    raise ValueError(f"test points without a definition: {unknown}")
                prompt = row[cfg["prompt_column"]]
            except (KeyError, ValueError, TypeError) as e:
                out.append(ItemError(rid, f"row {n + 1}: {type(e).__name__}: {e}"))
                continue
            out.append(GenItem(f"{split}:{index}", prompt, sub.get(cfg["primary_key"]), {
                "index": index, "lang": split.split("_")[0], "testpoints": points,
                "descriptions": desc, "secondary": sub.get(cfg["secondary_key"]),
                "sample_path": f"{OUTPUT_DIR}/{split}/{index}_{{k}}.{{ext}}"}))
        return out

    def preflight(self) -> None:
        if not self.options.get("judge_base_url"):
            raise ValueError("UniGenBench is scored by an MLLM judge: pass --bench-option "
                             "judge_base_url=http://host:port/v1 and --bench-option "
                             "judge_model=<served name> (upstream: gemini-2.5-pro or "
                             "CodeGoat24/UniGenBench-EvalModel-qwen3vl-32b-v1 on vLLM)")

    def scorer(self, device: str, dtype: str) -> "UniGenBenchJudge":
        return UniGenBenchJudge(self)

    def metrics(self, items: list[GenItem], records: dict) -> dict[str, Any]:
        counted, unparsed, skipped = [], 0, 0
        for key, rec in records.items():
            if key[0] != "eval" or rec.error is not None or rec.score is None:
                continue
            ex = rec.score.extras
            if rec.score.status == ParseStatus.UNPARSED:
                unparsed += 1
            elif not ex.get("counted", True):
                skipped += 1
            else:
                counted.append((ex["testpoints"], ex["scores"]))
        table = calculate_scores(counted)
        m: dict[str, Any] = {}
        prim = {k.strip(): v for k, v in table["primary_dimensions"].items()}
        m["overall"] = (metric(sum(c / t for c, t in prim.values()) / len(prim), len(counted))
                        if prim else (unavailable("no judged image") if not counted
                                      else metric(None, 0)))
        for k, (c, t) in sorted(prim.items()):
            m[f"primary/{k}"] = metric(c / t, t, correct=c)
        for k, (c, t) in sorted(table["sub_dimensions"].items()):
            m[f"sub/{k}"] = metric(c / t, t, correct=c)
        return {"metrics": m, "breakdown": {},
                "judge": {"counted_images": len(counted), "unparsed_images": unparsed,
                          "skipped_by_official_scorer": skipped,
                          "model": self.options.get("judge_model")}}


class UniGenBenchJudge:
    """Asks the endpoint about each image; re-asks unparsed answers as upstream."""

    def __init__(self, bench: UniGenBench):
        self.bench = bench
        o = bench.options
        self.max_retries = int(o.get("max_retries", 10))
        self.max_tokens = int(o.get("max_tokens", 4096))
        self.temperature = o.get("temperature")

    def load(self) -> None:
        from evalsuite.judges.openai_judge import OpenAIJudge

        o = self.bench.options
        client_opts = {k[len("judge_"):]: v for k, v in o.items()
                       if k.startswith("judge_") and k != "judge_model"}
        self.client = OpenAIJudge(model=o.get("judge_model", "gemini-2.5-pro"), **client_opts)
        self.client.load()

    def prepare(self, unit: GenUnit, path: Path) -> dict[str, Any]:
        meta = unit.item.meta
        text = build_system_prompt(unit.item.prompt, meta["testpoints"],
                                   meta["descriptions"], meta["lang"])
        mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
        url = f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('utf-8')}"
        body: dict[str, Any] = {"model": self.client.model_id, "messages": [{
            "role": "user", "content": [{"type": "text", "text": text},
                                        {"type": "image_url", "image_url": {"url": url}}]}],
            "max_tokens": self.max_tokens}
        if self.temperature is not None:
            body["temperature"] = float(self.temperature)
        return {"unit": unit, "body": body}

    def _judge(self, p: dict[str, Any]) -> Score:
        unit: GenUnit = p["unit"]
        points = unit.item.meta["testpoints"]
        text = None
        for attempt in range(1, self.max_retries + 2):
            text = self.client._post(p["body"])  # retries HTTP failures itself
            parsed = parse_evaluation_response(text, points)
            if parsed is not None:
                analysis, scores = parsed
                result = {"prompt": unit.item.prompt, "testpoint": points,
                          "analysis": analysis, "score": scores}
                try:
                    ok = counted_by_official_scorer(result)
                    analysis, scores = json.loads(json.dumps([list(analysis), list(scores)]))
                except (TypeError, ValueError):  # e.g. bytes literals: upstream crashes here
                    continue
                return Score(value=sum(s == 1 for s in scores) / len(points) if points else None,
                             raw=text, extras={"testpoints": points, "scores": scores,
                                               "analysis": analysis, "attempts": attempt,
                                               "counted": ok, "prompt_id": unit.item.item_id})
        return Score(value=None, status=ParseStatus.UNPARSED, raw=text,
                     extras={"testpoints": points, "attempts": self.max_retries + 1,
                             "prompt_id": unit.item.item_id})

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        if len(prepared) == 1:
            return [self._judge(prepared[0])]
        with ThreadPoolExecutor(max_workers=min(self.client.concurrency, len(prepared)),
                                thread_name_prefix="unigenbench") as pool:
            return list(pool.map(self._judge, prepared))
