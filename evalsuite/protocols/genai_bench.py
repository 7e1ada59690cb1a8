r"""GenAI-Bench's own leaderboard protocol for generative judges (4-way verdicts).

Facts, from github TIGER-AI-Lab/GenAI-Bench @f0b0334 (read, not copied):

* prompts: ``genaibench/templates/<task>/pairwise.txt`` (kept below byte-identical; a test
  checks their git blob ids against the upstream tree). ``<key>`` placeholders are filled
  from the dataset row: text fields by plain replacement, in the order of
  ``inference_configs.json`` ``input_keys``; media fields split the prompt into interleaved
  text / media parts (``inference.py`` ``run_pairwise_example``). Left is always model A.
* the GPT-4o runner (``genaibench/mllm_tools/gpt4_eval.py``) sends one system message,
  "You are an AI assistant that helps people find information.", then one user turn with the
  interleaved parts, temperature 0.0, top_p 1.0.
* videos, for models without native video input (GPT-4o), become frames sent as images where
  the placeholder is; ``inference.py`` reads ``max_num_frames`` from the task's top-level
  config, where it is absent (the json nests it under a misspelled ``infernece_configs``), so
  the default of 8 frames applies; indices ``arange(0, n, n / 8).astype(int)`` over the
  stream's frame count (``genaibench/utils.py`` ``process_video_into_frames``).
* verdict (``inference.py`` ``parse_response``): the first match of the regular expression
  ``\[\[.*\]\]`` (no DOTALL: the leftmost ``[[`` that has a ``]]`` later on the same line,
  extended greedily to the last ``]]`` of that line); leftvote is right for ``[[A>>B]]`` /
  ``[[A>B]]``, rightvote for ``[[B>>A]]`` / ``[[B>A]]``, tievote for ``[[A=B]]`` /
  ``[[A=B=Good]]``, bothbad_vote for ``[[A=B]]`` / ``[[A=B=Bad]]``; no match is wrong.
* accuracy = mean of ``correct`` over all items (``show_results.py``); the leaderboard uses
  split ``test_v1`` (``inference.py`` ``main``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from evalsuite.types import MediaRef, PairItem

OFFICIAL_SPLIT = "test_v1"
CONFIG_OF_BENCH = {"genai-bench": "image_generation", "genai-bench-edit": "image_edition",
                   "genai-bench-video": "video_generation"}

# github TIGER-AI-Lab/GenAI-Bench @32fff1f: genaibench/templates/image_generation/pairwise.txt
TEMPLATE_IMAGE_GENERATION = "Please act as an impartial judge and a professional digital artist to evaluate the quality of the responses provided by two AI image generation models to the user inputs displayed below. You will be given model A's generated image and model B's generated image. Your job is to evaluate which assistant's generated image is better.\n\nText prompt: <prompt>\nModel A Generated Image: <left_image>\nModel B Generated Image: <right_image>\n\nWhen evaluating the quality of the generated images, you must identify the any inappropriateness in the edited images by considering the following criteria:\n1. Whether the text prompt has been followed successfully in the generated image.\n2. Whether the generated image looks natural, such as the sense of distance, shadow, and lighting.\n3. Whether the generated image contains any artifacts, such as distortion, watermark, scratches, blurred faces, unusual body parts, or subjects not harmonized.\n4. Whether the generated image is visually appealing and esthetically pleasing.\n\nAfter providing your explanation, you must output only one of the following choices as your final verdict with a label:\n\n1. Model A is better: [[A>B]]\n2. Model B is better: [[B>A]]\n3. Tie, relatively the same acceptable quality: [[A=B=Good]]\n4. Both are bad: [[A=B=Bad]]"  # noqa: E501

# github TIGER-AI-Lab/GenAI-Bench @32fff1f: genaibench/templates/image_edition/pairwise.txt
TEMPLATE_IMAGE_EDITION = "Please act as an impartial judge and a professional digital artist to evaluate the quality of the responses provided by two AI image edition models to the user inputs displayed below. You will be given model A's edited image and model B's edited image. Your job is to evaluate which assistant's edited image is better.\n\nSource Image prompt: <source_prompt>\nTarget Image prompt after editing: <target_prompt>\nEditing instruction: <instruct_prompt>\nSource Image: <source_image>\n\nModel A Edited Image: <left_output_image>\nModel B Edited Image: <right_output_image>\n    \nWhen evaluating the quality of the edited images, you must identify the any inappropriateness in the edited images by considering the following criteria:\n1. Whether the editing instruction has been followed successfully in the edited image.\n2. Whether the edited image is overedited, such as the scene in the edited image is completely different from the original.\n3. Whether the edited image looks natural, such as the sense of distance, shadow, and lighting.\n4. Whether the edited image contains any artifacts, such as distortion, watermark, scratches, blurred faces, unusual body parts, or subjects not harmonized.\n5. Whether the edited image is visually appealing and esthetically pleasing.\n\nAfter providing your explanation, you must output only one of the following choices as your final verdict with a label:\n\n1. Model A is better: [[A>B]]\n2. Model B is better: [[B>A]]\n3. Tie, relatively the same acceptable quality: [[A=B=Good]]\n4. Both are bad: [[A=B=Bad]]\n"  # noqa: E501

# github TIGER-AI-Lab/GenAI-Bench @32fff1f: genaibench/templates/video_generation/pairwise.txt
TEMPLATE_VIDEO_GENERATION = "Please act as an impartial judge and a professional digital artist to evaluate the quality of the responses provided by two AI video generation models to the user inputs displayed below. You will be given model A's generated video and model B's generated video. Your job is to evaluate which assistant's generated video is better.\n\nText prompt: <prompt>\nModel A Generated Video: <left_video>\nModel B Generated Video: <right_video>\n\nWhen evaluating the quality of the generated videos, you must identify the any inappropriateness in the edited videos by considering the following criteria:\n1. Whether the text prompt has been followed successfully in the generated video.\n2. Whether the generated video looks natural, such as the sense of distance, shadow, and lighting.\n3. Whether the generated video is good visual quality, such as clearness, resolution, brightness, and color.\n4. Whether the generated video is consistent and coherent in terms of the scene, objects, and characters.\n5. Whether the generated video is dynamic and not static like a single image.\n6. Whether the generated video is visually appealing and esthetically pleasing.\n\nAfter providing your explanation, you must output only one of the following choices as your final verdict with a label:\n\n1. Model A is better: [[A>B]]\n2. Model B is better: [[B>A]]\n3. Tie, relatively the same acceptable quality: [[A=B=Good]]\n4. Both are bad: [[A=B=Bad]]"  # noqa: E501

TEMPLATES = {"image_generation": TEMPLATE_IMAGE_GENERATION,
             "image_edition": TEMPLATE_IMAGE_EDITION,
             "video_generation": TEMPLATE_VIDEO_GENERATION}
# inference_configs.json input_keys (left then right, duplicates dropped) and their types.
INPUT_KEYS: dict[str, list[tuple[str, str]]] = {
    "image_generation": [("prompt", "str"), ("left_image", "image"), ("right_image", "image")],
    "image_edition": [("source_prompt", "str"), ("target_prompt", "str"),
                      ("instruct_prompt", "str"), ("source_image", "image"),
                      ("left_output_image", "image"), ("right_output_image", "image")],
    "video_generation": [("prompt", "str"), ("left_video", "video"), ("right_video", "video")],
}
# genaibench/mllm_tools/gpt4_eval.py (GPT4V.__call__): the system message of the GPT-4o runs.
SYSTEM_MESSAGE = "You are an AI assistant that helps people find information."
MAX_VIDEO_FRAMES = 8  # inference.py DEFAULT_MAX_VIDEO_FRAMES (see the module docstring)

# The labels the prompt offers, and the matching rule of inference.py parse_response.
OFFERED = ("[[A>B]]", "[[B>A]]", "[[A=B=Good]]", "[[A=B=Bad]]")
CORRECT_VOTES: dict[str, frozenset[str]] = {
    "leftvote": frozenset({"[[A>>B]]", "[[A>B]]"}),
    "rightvote": frozenset({"[[B>>A]]", "[[B>A]]"}),
    "tievote": frozenset({"[[A=B]]", "[[A=B=Good]]"}),
    "bothbad_vote": frozenset({"[[A=B]]", "[[A=B=Bad]]"}),
}
KNOWN_VOTES = frozenset().union(*CORRECT_VOTES.values())
_CHOICE = {"[[A>>B]]": "A", "[[A>B]]": "A", "[[B>>A]]": "B", "[[B>A]]": "B",
           "[[A=B]]": "tie", "[[A=B=Good]]": "tie", "[[A=B=Bad]]": "tie"}
_FLIP = {"[[A>>B]]": "[[B>>A]]", "[[A>B]]": "[[B>A]]", "[[B>>A]]": "[[A>>B]]",
         "[[B>A]]": "[[A>B]]"}
_VOTE_RE = re.compile(r"\[\[.*\]\]")  # same pattern and flags as upstream parse_response


def extract_vote(text: str | None) -> str | None:
    """The verdict string exactly as upstream reads it, or None when there is none."""
    if not text:
        return None
    m = _VOTE_RE.search(text)
    return m.group() if m else None


def vote_choice(vote: str | None) -> str | None:
    """"A" / "B" / "tie" for a recognised verdict, None otherwise (always wrong upstream)."""
    return _CHOICE.get(vote) if vote is not None else None


def unswap_vote(vote: str | None, swapped: bool) -> str | None:
    """A verdict given on the swapped presentation (B shown as A), in the original order."""
    if vote is None or not swapped:
        return vote
    return _FLIP.get(vote, vote)  # ties read the same both ways; unknown text stays wrong


def is_correct(vote: str | None, human_vote: str) -> bool:
    if human_vote not in CORRECT_VOTES:
        raise ValueError(f"unknown GenAI-Bench human vote {human_vote!r}")
    return vote is not None and vote in CORRECT_VOTES[human_vote]


@dataclass(frozen=True)
class Judged:
    """One item under the official protocol."""

    item_id: str
    human_vote: str
    vote: str | None  # in the original (left = A) order
    correct: bool
    error: str | None = None  # the run recorded an error for this item: no answer


def judge_answer(item_id: str, text: str | None, human_vote: str, swapped: bool = False,
                 error: str | None = None) -> Judged:
    vote = unswap_vote(extract_vote(text), swapped) if error is None else None
    return Judged(item_id, human_vote, vote, is_correct(vote, human_vote), error)


def summarize(judged: list[Judged]) -> dict[str, Any]:
    """Accuracy over all items (a missing or unrecognised verdict is wrong) plus counts."""
    n = len(judged)
    no_vote = sum(j.vote is None and j.error is None for j in judged)
    errors = sum(j.error is not None for j in judged)
    unknown = sum(j.vote is not None and j.vote not in KNOWN_VOTES for j in judged)
    parsed = n - no_vote - errors - unknown
    per_vote: dict[str, dict[str, Any]] = {}
    for hv in CORRECT_VOTES:
        sub = [j for j in judged if j.human_vote == hv]
        per_vote[hv] = {"n": len(sub),
                        "accuracy": (sum(j.correct for j in sub) / len(sub)) if sub else None}
    return {
        "protocol": "genai-bench-official",
        "accuracy": (sum(j.correct for j in judged) / n) if n else None,
        "items": n, "correct": sum(j.correct for j in judged),
        "parsed": parsed, "unparsed": n - parsed,
        "unparsed_detail": {"no_verdict": no_vote, "unrecognised_verdict": unknown,
                            "run_errors": errors},
        "by_human_vote": per_vote,
        "judge_votes": dict(sorted(Counter(j.vote or "<none>" for j in judged
                                           if j.vote in KNOWN_VOTES or j.vote is None).items())),
    }


# --- prompts ---------------------------------------------------------------------------------

def _text_fields(item: PairItem, config: str) -> dict[str, str]:
    meta = item.meta or {}
    if config == "image_edition":
        out = {}
        for k in ("source_prompt", "target_prompt", "instruct_prompt"):
            v = meta.get(k, item.prompt if k == "instruct_prompt" else None)
            if not isinstance(v, str):
                raise ValueError(f"GenAI-Bench edit item {item.item_id} lacks {k!r}")
            out[k] = v
        return out
    return {"prompt": item.prompt}


def _media_fields(item: PairItem, config: str) -> dict[str, MediaRef]:
    if item.a.media is None or item.b.media is None:
        raise ValueError(f"item {item.item_id}: both candidates need media")
    if config == "image_edition":
        if item.context is None:
            raise ValueError(f"GenAI-Bench edit item {item.item_id} lacks its source image")
        return {"source_image": item.context, "left_output_image": item.a.media,
                "right_output_image": item.b.media}
    side = "video" if config == "video_generation" else "image"
    return {f"left_{side}": item.a.media, f"right_{side}": item.b.media}


def config_for(item: PairItem) -> str:
    """The GenAI-Bench task of an item, from its task and media kind."""
    if item.task == "edit":
        return "image_edition"
    if item.task != "generation":
        raise ValueError("the GenAI-Bench protocol judges generation / editing pairs, not "
                         f"{item.task!r} pairs")
    kind = item.a.media.kind if item.a.media is not None else None
    return "video_generation" if kind == "video" else "image_generation"


def build_parts(item: PairItem, config: str | None = None) -> list[dict[str, Any]]:
    """The user turn as interleaved parts, in upstream order: ``{"type": "text", "text"}``
    and ``{"type": "image"|"video", "media": MediaRef}`` (a video part is sent as
    :data:`MAX_VIDEO_FRAMES` frames, see :func:`frame_indices`). Left is always A: the
    parts describe the item as given (the runner's position swap, if any, is mapped back
    by the caller)."""
    config = config or config_for(item)
    prompt = TEMPLATES[config]
    texts, media = _text_fields(item, config), _media_fields(item, config)
    for key, kind in INPUT_KEYS[config]:
        if kind == "str":
            prompt = prompt.replace(f"<{key}>", texts[key])
    slots = sorted(((prompt.find(f"<{k}>"), k) for k, kind in INPUT_KEYS[config]
                    if kind != "str"))
    parts: list[dict[str, Any]] = []
    for _, key in slots:
        pieces = prompt.split(f"<{key}>")
        if len(pieces) != 2:
            raise ValueError(f"placeholder <{key}> occurs {len(pieces) - 1} times in the prompt")
        parts.append({"type": "text", "text": pieces[0]})
        parts.append({"type": media[key].kind, "media": media[key]})
        prompt = pieces[1]
    parts.append({"type": "text", "text": prompt})
    return parts


def build_messages(item: PairItem, config: str | None = None, system: bool = True
                   ) -> list[dict[str, Any]]:
    """System message (as in the GPT-4o runs) + one user turn of :func:`build_parts`."""
    msgs: list[dict[str, Any]] = []
    if system:
        msgs.append({"role": "system", "content": [{"type": "text", "text": SYSTEM_MESSAGE}]})
    msgs.append({"role": "user", "content": build_parts(item, config)})
    return msgs


def frame_indices(n_frames: int, max_frames: int = MAX_VIDEO_FRAMES) -> list[int]:
    """Upstream frame choice: ``arange(0, n, n / max)`` truncated to int, or every frame."""
    if n_frames <= max_frames:
        return list(range(n_frames))
    step = n_frames / max_frames
    out, x = [], 0.0
    while x < n_frames:
        out.append(int(x))
        x = len(out) * step
    return out
