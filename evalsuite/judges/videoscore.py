"""VideoScore (He et al. 2024): Idefics2 (Mantis-8B-Idefics2) + a linear regression head
with 5 outputs, one per dimension, read at the last token.

Re-implemented on current transformers (upstream needs an old Mantis). Facts from upstream:

* model: ``mantis/models/idefics2/modeling_idefics2.py`` (github TIGER-AI-Lab/Mantis)
  ``Idefics2ForSequenceClassification``: ``self.model = Idefics2Model(config)``,
  ``self.score = nn.Linear(text_config.hidden_size, num_labels)`` (with bias), logits pooled
  at the token before the first pad token (the last token without padding). Checkpoint keys
  ``model.*`` and ``score.*`` match transformers' ``Idefics2Model`` unchanged; we load them
  with a strict key check.
* prompt: ``REGRESSION_QUERY_PROMPT`` of ``examples/run_videoscore.py`` (also
  ``benchmark/utils_tools.py``) in github TIGER-AI-Lab/VideoScore, formatted with the text
  prompt, then ``"<image> "`` appended once per frame; kept byte-identical below as data.
* frames (``examples/run_videoscore.py``): ``MAX_NUM_FRAMES`` 16 for ``TIGER-Lab/VideoScore``,
  48 for ``TIGER-Lab/VideoScore-v1.1``; when the video has more frames, indices
  ``np.arange(0, total, total / MAX_NUM_FRAMES).astype(int)``, else every frame.
* output order: visual quality, temporal consistency, dynamic degree, text-to-video
  alignment, factual consistency (the prompt; ``benchmark/get_genaibench_pairwise_acc.py``
  ``aspects``); the overall score there is the mean of the five.
* pairwise ties (``benchmark/get_genaibench_pairwise_acc.py get_pairwise_acc``): a human tie
  counts as matched when ``|left - right| < 0.5``. Exposed as option ``tie_threshold``
  (:data:`UPSTREAM_TIE_THRESHOLD`), recorded in ``info()``; the harness's own metrics
  (tie-calibrated accuracy) do not use it.

Differences kept on purpose: upstream rounds each score to 3 digits (``ROUND_DIGIT``); we keep
full precision. Upstream scores one video per forward pass; we batch with right padding and
read each row at its last real token (identical to upstream's batch-of-one reading).
"""

from __future__ import annotations

from typing import Any, ClassVar

from evalsuite.judges.base import Judge, torch_dtype
from evalsuite.media import load_video
from evalsuite.types import FrameSpec, PointItem, Score

VERSIONS = {"v1": ("TIGER-Lab/VideoScore", 16), "v1.1": ("TIGER-Lab/VideoScore-v1.1", 48)}
# Pinned hub commits (sources in models/README.md):
# https://huggingface.co/TIGER-Lab/VideoScore/tree/5edbd035f3b52cb0a1a4421b28212a107270fe53
# https://huggingface.co/TIGER-Lab/VideoScore-v1.1/tree/dcecee6f43e27307a0fe97abe6faf67fc479badc
REVISIONS = {"TIGER-Lab/VideoScore": "5edbd035f3b52cb0a1a4421b28212a107270fe53",
             "TIGER-Lab/VideoScore-v1.1": "dcecee6f43e27307a0fe97abe6faf67fc479badc"}
DIMENSIONS = ("visual_quality", "temporal_consistency", "dynamic_degree",
              "text_to_video_alignment", "factual_consistency")
UPSTREAM_TIE_THRESHOLD = 0.5

# Byte-identical to REGRESSION_QUERY_PROMPT in TIGER-AI-Lab/VideoScore examples/run_videoscore.py
# (note the leading newline and the trailing space after "sub-score,").
REGRESSION_QUERY_PROMPT = (
    "\n"
    "Suppose you are an expert in judging and evaluating the quality of AI-generated videos,\n"
    "please watch the following frames of a given video and see the text prompt for generating"
    " the video,\n"
    "then give scores from 5 different dimensions:\n"
    "(1) visual quality: the quality of the video in terms of clearness, resolution, brightness,"
    " and color\n"
    "(2) temporal consistency, both the consistency of objects or humans and the smoothness of"
    " motion or movements\n"
    "(3) dynamic degree, the degree of dynamic changes\n"
    "(4) text-to-video alignment, the alignment between the text prompt and the video content\n"
    "(5) factual consistency, the consistency of the video content with the common-sense and"
    " factual knowledge\n"
    "\n"
    "for each dimension, output a float number from 1.0 to 4.0,\n"
    "the higher the number is, the better the video performs in that sub-score, \n"
    "the lowest 1.0 means Bad, the highest 4.0 means Perfect/Real (the video is like a real"
    " video)\n"
    "Here is an output example:\n"
    "visual quality: 3.2\n"
    "temporal consistency: 2.7\n"
    "dynamic degree: 4.0\n"
    "text-to-video alignment: 2.3\n"
    "factual consistency: 1.8\n"
    "\n"
    "For this video, the text prompt is \"{text_prompt}\",\n"
    "all the frames of video are as follows:\n"
)


def build_prompt(text_prompt: str, num_frames: int) -> str:
    """The upstream query: template + one ``"<image> "`` per frame (none are in the template)."""
    prompt = REGRESSION_QUERY_PROMPT.format(text_prompt=text_prompt)
    missing = num_frames - prompt.count("<image>")
    return prompt + "<image> " * max(missing, 0)


def frame_indices(total: int, max_frames: int) -> list[int]:
    """examples/run_videoscore.py: ``np.arange(0, total, total / max).astype(int)`` when the
    video is longer than ``max_frames``, else every frame."""
    import numpy as np

    if total > max_frames:
        return np.arange(0, total, total / max_frames).astype(int).tolist()
    return list(range(total))


def sequence_classifier_class():
    """Mantis' Idefics2ForSequenceClassification, on transformers' Idefics2Model."""
    from torch import nn
    from transformers import Idefics2Model
    from transformers.models.idefics2.modeling_idefics2 import Idefics2PreTrainedModel

    class Idefics2ForSequenceClassification(Idefics2PreTrainedModel):
        def __init__(self, config):
            super().__init__(config)
            self.num_labels = config.num_labels
            self.model = Idefics2Model(config)
            self.score = nn.Linear(config.text_config.hidden_size, self.num_labels)
            self.post_init()

        def forward(self, input_ids, attention_mask, pixel_values=None,
                    pixel_attention_mask=None, **kw):
            import torch

            out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                             pixel_values=pixel_values, pixel_attention_mask=pixel_attention_mask,
                             use_cache=False, **kw)
            logits = self.score(out.last_hidden_state)
            last = attention_mask.long().sum(-1) - 1  # right padding: the last real token
            return logits[torch.arange(logits.shape[0], device=logits.device), last]

    return Idefics2ForSequenceClassification


class VideoScore(Judge):
    name: ClassVar[str] = "videoscore"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "max_frames": "frames sampled per video (v1: 16, v1.1: 48)",
        "tie_threshold": "upstream's tie threshold on score differences",
    }
    pointwise: ClassVar[bool] = True
    modalities: ClassVar[frozenset[str]] = frozenset({"video"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation"})
    default_model: ClassVar[str] = VERSIONS["v1"][0]
    pinned_revisions: ClassVar[dict[str, str]] = REVISIONS
    fixture: ClassVar[str | None] = "videoscore"  # Idefics2, as both versions
    default_batch_size: ClassVar[int] = 2

    def __init__(self, version: str = "v1", **kw: Any):
        if version not in VERSIONS:
            raise ValueError(f"unknown VideoScore version {version!r}; one of {list(VERSIONS)}")
        repo, frames = VERSIONS[version]
        if not kw.get("model"):
            kw["model"] = repo
        super().__init__(**kw)
        self.version = version
        self.name = "videoscore" if version == "v1" else "videoscore-v1.1"  # type: ignore[misc]
        self.max_frames = int(self.options.get("max_frames", frames))
        self.tie_threshold = float(self.options.get("tie_threshold", UPSTREAM_TIE_THRESHOLD))

    def info(self) -> dict[str, Any]:
        return {**super().info(), "version": self.version, "max_frames": self.max_frames,
                "dimensions": list(DIMENSIONS), "overall": "mean of dimensions",
                "upstream_tie_threshold": self.tie_threshold}

    def upstream_pair_match(self, score_left: float, score_right: float, human: int) -> bool:
        """Upstream's pairwise correctness (get_genaibench_pairwise_acc.py get_pairwise_acc):
        human +1 (left preferred) / -1 (right) must match the score order; a human tie (0)
        is matched when the scores differ by less than ``tie_threshold`` (upstream 0.5)."""
        if human > 0:
            return score_left > score_right
        if human < 0:
            return score_left < score_right
        return abs(score_left - score_right) < self.tie_threshold

    def load(self) -> None:
        if getattr(self, "model", None) is not None:
            return
        import torch
        from transformers import AutoProcessor

        rev = None if self.model_path else self.revision
        self.processor = AutoProcessor.from_pretrained(self.source, revision=rev)
        self.processor.tokenizer.padding_side = "right"
        cls = sequence_classifier_class()
        model, info = cls.from_pretrained(self.source, revision=rev,
                                          dtype=torch_dtype(self.dtype),
                                          output_loading_info=True)
        bad = {k: list(v) for k, v in info.items()
               if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
        if bad:
            raise ValueError(f"{self.source}: checkpoint does not match "
                             f"Idefics2ForSequenceClassification: {bad}")
        if model.num_labels != len(DIMENSIONS):
            raise ValueError(f"{self.source}: expected {len(DIMENSIONS)} outputs, "
                             f"got {model.num_labels}")
        self.model = model.to(self.device).eval()
        self._torch = torch

    def prepare_point(self, item: PointItem) -> dict[str, Any]:
        from PIL import Image

        media = item.candidate.media
        if media is None or media.kind != "video":
            raise ValueError("VideoScore scores videos; this candidate has none")
        clip = load_video(media, FrameSpec(num_frames=self.max_frames, rule="arange-trunc"))
        frames = [Image.fromarray(clip[i]) for i in frame_indices(len(clip), self.max_frames)]
        return {"text": build_prompt(item.prompt, len(frames)), "images": frames}

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        torch = self._torch
        inputs = self.processor(text=[p["text"] for p in prepared],
                                images=[p["images"] for p in prepared],
                                padding=True, return_tensors="pt")
        inputs = {k: (v.to(self.device, self.model.dtype) if v.is_floating_point()
                      else v.to(self.device)) for k, v in inputs.items()}
        with torch.inference_mode():
            logits = self.model(**inputs).float().cpu()
        out = []
        for row in logits:
            dims = {d: float(v) for d, v in zip(DIMENSIONS, row)}
            out.append(Score(value=float(row.mean()), extras={"dims": dims}))
        return out
