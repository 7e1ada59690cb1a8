"""PickScore (Kirstain et al. 2023): a CLIP-H fine-tuned on Pick-a-Pic preferences.

Scoring as in the upstream README (github yuvalkirstain/PickScore, "Inference with
PickScore"): L2-normalised text and image embeddings, score = logit_scale.exp() * cosine;
probabilities across candidates = softmax of those scores.
"""

from __future__ import annotations

from typing import Any, ClassVar

from evalsuite.judges.base import Judge, prepare_each, raise_first, torch_dtype
from evalsuite.media import open_image
from evalsuite.types import PointItem, Score

# Upstream loads the processor from the LAION CLIP-H repo and the model from PickScore_v1.
PROCESSOR_ID = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
# Unpinned: no full commit SHA of the LAION repo was found (see models/README.md);
# --option processor_revision=<sha> pins it per run.
PROCESSOR_REVISION: str | None = None
# Newest commit seen whose listing has config.json, model.safetensors, tokenizer and
# preprocessor files: huggingface.co/yuvalkirstain/PickScore_v1/tree/<this SHA>.
PICKSCORE_REVISION = "a4e4367c6dfa7288a00c550414478f865b875800"


class PickScore(Judge):
    name: ClassVar[str] = "pickscore"
    # The options it reads (-o / --bench-option key=value); any other key is an error.
    option_help: ClassVar[dict[str, str]] = {
        "processor_path": "local CLIP processor folder (default: the checkpoint's, or LAION's)",
        "processor_revision": "hub revision of the processor",
    }
    pointwise: ClassVar[bool] = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation", "edit"})
    default_model: ClassVar[str] = "yuvalkirstain/PickScore_v1"
    companions: ClassVar[dict[str, tuple[str, str | None]]] = {
        "processor": (PROCESSOR_ID, PROCESSOR_REVISION)}
    fixture: ClassVar[str | None] = "pickscore"
    default_revision: ClassVar[str | None] = PICKSCORE_REVISION
    default_batch_size: ClassVar[int] = 32

    def load(self) -> None:
        import torch
        from transformers import AutoProcessor, CLIPModel

        if getattr(self, "model", None) is not None:
            return
        # A local checkpoint carries its processor files; the hub model uses LAION's.
        proc_src = self.options.get("processor_path") or (self.model_path or PROCESSOR_ID)
        self.processor = AutoProcessor.from_pretrained(
            proc_src, revision=None if self.model_path else self.options.get(
                "processor_revision", PROCESSOR_REVISION))
        self.model = CLIPModel.from_pretrained(
            self.source, revision=None if self.model_path else self.revision,
            dtype=torch_dtype(self.dtype)).to(self.device).eval()
        self._torch = torch

    def prepare_point(self, item: PointItem) -> dict[str, Any]:
        return raise_first(self.prepare_points([item]))[0]

    def prepare_points(self, items: list[PointItem]) -> list[Any]:
        """Decode per item, then one tokenizer and one image-processor call for the batch:
        the HF processor resizes and normalises same-size images as one tensor, bit-identical
        to one call per image and ~1.5x faster (tests/test_score_judges.py checks both)."""
        decoded = prepare_each(self._decode, items)
        ok = [d for d in decoded if not isinstance(d, Exception)]
        if not ok:
            return decoded
        pix = iter(self.processor.image_processor(images=[im for im, _ in ok],
                                                  return_tensors="pt")["pixel_values"])
        ids = iter(self.processor.tokenizer([p for _, p in ok], truncation=True,
                                            max_length=77)["input_ids"])
        return [d if isinstance(d, Exception) else {"pixel_values": next(pix),
                                                    "input_ids": next(ids)} for d in decoded]

    @staticmethod
    def _decode(item: PointItem) -> tuple[Any, str]:
        if item.candidate.media is None:
            raise ValueError("PickScore scores images; this candidate has none")
        # As upstream's README: the image as opened goes to the processor, whose
        # convert_to_rgb composites transparency onto white (a plain RGB conversion would
        # keep the colour under transparent pixels).
        return open_image(item.candidate.media), item.prompt

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        torch = self._torch
        pix = torch.stack([p["pixel_values"] for p in prepared]).to(self.device,
                                                                     self.model.dtype)
        text = self.processor.tokenizer.pad({"input_ids": [p["input_ids"] for p in prepared]},
                                            padding=True, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            img = _features(self.model.get_image_features(pixel_values=pix))
            txt = _features(self.model.get_text_features(**text))
            img = img / img.norm(dim=-1, keepdim=True)
            txt = txt / txt.norm(dim=-1, keepdim=True)
            scores = self.model.logit_scale.exp() * (txt * img).sum(-1)
        return [Score(value=float(s)) for s in scores.float().cpu()]

    def probabilities(self, scores: list[float]) -> list[float]:
        """Upstream's probabilities across candidates of one prompt: softmax of scores."""
        import torch
        return torch.softmax(torch.tensor(scores, dtype=torch.float64), dim=0).tolist()


def _features(out):
    """transformers >= 5 returns a model output (pooler_output = projected); 4.x a tensor."""
    return out.pooler_output if hasattr(out, "pooler_output") else out
