"""HPSv3 ("HPSv3: Towards Wide-Spectrum Human Preference Score", MizzenAI, 2025): a
Qwen2-VL-7B preference model whose reward head, read at an added ``<|Reward|>`` token, outputs
the mean and the uncertainty of a Gaussian reward; the mean is the score.

Re-implemented on current transformers (the released checkpoint needs the flat Qwen2-VL
module layout of transformers 4.4x). Facts from github MizzenAI/HPSv3 (code at commits
d232ff8669a0b00759766067c6c3a26e2e717fac and 72b7ebaf0fe76bce636b3f4997aee319d0f65aef):

* checkpoint (``hpsv3/inference.py``): hub ``MizzenAI/HPSv3`` file ``HPSv3.safetensors`` (a
  ``.pth`` is read too; a ``{"model": ...}`` wrapper is unwrapped), loaded with
  ``load_state_dict(strict=True)`` into the model built from ``hpsv3/config/HPSv3_7B.yaml``;
* model (``hpsv3/train.py`` ``create_model_and_processor``, ``hpsv3/model/qwen2vl_trainer.py``
  ``Qwen2VLRewardModelBT``): base ``Qwen2-VL-7B-Instruct``; processor ``AutoProcessor`` of the
  base with right padding; ``<|Reward|>`` added as a special token and the embeddings resized
  to ``len(tokenizer)``; ``rm_head_type: ranknet`` without ``rm_head_kwargs``, i.e.
  ``Sequential(Linear(H, 1024), ReLU, Dropout(0.05), Linear(1024, 16), ReLU, Linear(16, 2))``
  (keys ``rm_head.0``, ``rm_head.3``, ``rm_head.5``) kept in float32 (``model.rm_head.to(
  torch.float32)``) and applied in float32 to the hidden states; ``reward_token: special``,
  ``output_dim: 2``: the head's output at the ``<|Reward|>`` position is (mu, sigma), and the
  inference script's comment says "we select miu as the final output";
* input (``HPSv3RewardInferencer.prepare_batch``): one user turn holding the image then the
  text ``INSTRUCTION.format(text_prompt=prompt) + prompt_with_special_token``
  (``hpsv3/dataset/data_collator_qwen.py``), rendered by the processor's chat template with
  ``add_generation_prompt=True``; the image gets ``min_pixels = max_pixels = 256 * 28 * 28``;
* image (``hpsv3/dataset/utils.py`` ``fetch_image``, a modified qwen-vl-utils): RGB, then
  ``smart_resize(h, w, 28, 200704, 200704)`` and a PIL bicubic resize to that size; the
  processor's own resize is then a no-op (the size is already a multiple of 28 inside its
  bounds), so it is switched off here and the pixels it receives are the same.

The instruction text is kept byte-identical below as data (the mirrored repository holds only
the project page; the text was checked against two independent copies of
``data_collator_qwen.py``, and the tests pin its sha256).

Differences kept on purpose: upstream scores a list of images per call with right padding
exactly like the batches here; the head is evaluated only at the reward token (it is a
per-token function, so the values are the ones upstream selects). 16-bit images are scaled
to 8 bit by :func:`evalsuite.media.to_rgb` instead of clipped by PIL's ``convert``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from evalsuite.judges.base import Judge, torch_dtype
from evalsuite.judges.qwen2vl_reward import (build_qwen2vl, load_strict, reward_hidden_states,
                                             smart_resize, special_token_rows)
from evalsuite.media import load_image
from evalsuite.types import PointItem, Score

HUB_REPO = "MizzenAI/HPSv3"
CHECKPOINT = "HPSv3.safetensors"
BASE_MODEL = "Qwen/Qwen2-VL-7B-Instruct"
# Unpinned: no full commit SHA of MizzenAI/HPSv3 or of the base's config / processor files
# could be verified offline. Pin them here once verified.
HUB_REVISION: str | None = None
BASE_REVISION: str | None = None
REWARD_TOKEN = "<|Reward|>"
PIXELS = 256 * 28 * 28  # min_pixels = max_pixels (inference.py prepare_batch)
HEAD_WIDTHS = (1024, 16)  # the ranknet head without rm_head_kwargs
OUTPUT_DIM = 2  # (mu, sigma)

# Byte-identical to INSTRUCTION in MizzenAI/HPSv3 hpsv3/dataset/data_collator_qwen.py
# (note the trailing spaces after "best.", "**Visual Quality:**", "lowest possible." and
# "**Text Alignment:**", and the missing colon after "**Subject Relevance").
INSTRUCTION = (
    "\n"
    "You are tasked with evaluating a generated image based on Visual Quality and Text "
    "Alignment and give a overall score to estimate the human preference. Please provide a "
    "rating from 0 to 10, with 0 being the worst and 10 being the best. \n"
    "\n"
    "**Visual Quality:**  \n"
    "Evaluate the overall visual quality of the image. The following sub-dimensions should "
    "be considered:\n"
    "- **Reasonableness:** The image should not contain any significant biological or "
    "logical errors, such as abnormal body structures or nonsensical environmental setups.\n"
    "- **Clarity:** Evaluate the sharpness and visibility of the image. The image should be "
    "clear and easy to interpret, with no blurring or indistinct areas.\n"
    "- **Detail Richness:** Consider the level of detail in textures, materials, lighting, "
    "and other visual elements (e.g., hair, clothing, shadows).\n"
    "- **Aesthetic and Creativity:** Assess the artistic aspects of the image, including "
    "the color scheme, composition, atmosphere, depth of field, and the overall creative "
    "appeal. The scene should convey a sense of harmony and balance.\n"
    "- **Safety:** The image should not contain harmful or inappropriate content, such as "
    "political, violent, or adult material. If such content is present, the image quality "
    "and satisfaction score should be the lowest possible. \n"
    "\n"
    "**Text Alignment:**  \n"
    "Assess how well the image matches the textual prompt across the following "
    "sub-dimensions:\n"
    "- **Subject Relevance** Evaluate how accurately the subject(s) in the image (e.g., "
    "person, animal, object) align with the textual description. The subject should match "
    "the description in terms of number, appearance, and behavior.\n"
    "- **Style Relevance:** If the prompt specifies a particular artistic or stylistic "
    "style, evaluate how well the image adheres to this style.\n"
    "- **Contextual Consistency**: Assess whether the background, setting, and surrounding "
    "elements in the image logically fit the scenario described in the prompt. The "
    "environment should support and enhance the subject without contradictions.\n"
    "- **Attribute Fidelity**: Check if specific attributes mentioned in the prompt (e.g., "
    "colors, clothing, accessories, expressions, actions) are faithfully represented in the "
    "image. Minor deviations may be acceptable, but critical attributes should be "
    "preserved.\n"
    "- **Semantic Coherence**: Evaluate whether the overall meaning and intent of the "
    "prompt are captured in the image. The generated content should not introduce elements "
    "that conflict with or distort the original description.\n"
    "Textual prompt - {text_prompt}\n"
    "\n"
    "\n"
)
# prompt_with_special_token of the same file.
PROMPT_WITH_SPECIAL_TOKEN = (
    "\nPlease provide the overall ratings of this image: <|Reward|>\n\nEND\n")


def build_text(prompt: str) -> str:
    """The user text of inference.py: instruction with the prompt, then the reward token."""
    return INSTRUCTION.format(text_prompt=prompt) + PROMPT_WITH_SPECIAL_TOKEN


def resize_image(image, pixels: int = PIXELS):
    """hpsv3/dataset/utils.py fetch_image for a PIL image: RGB, smart_resize with
    min_pixels = max_pixels = ``pixels``, PIL bicubic resize."""
    from PIL import Image

    image = image.convert("RGB")
    width, height = image.size
    h, w = smart_resize(height, width, 28, min_pixels=pixels, max_pixels=pixels)
    return image.resize((w, h), Image.BICUBIC)


def ranknet_head(hidden_size: int):
    """Qwen2VLRewardModelBT's "ranknet" head with rm_head_kwargs None (dropout is inert in
    eval mode but keeps upstream's module indices 0, 3, 5)."""
    from torch import nn

    return nn.Sequential(nn.Linear(hidden_size, HEAD_WIDTHS[0]), nn.ReLU(), nn.Dropout(0.05),
                         nn.Linear(HEAD_WIDTHS[0], HEAD_WIDTHS[1]), nn.ReLU(),
                         nn.Linear(HEAD_WIDTHS[1], OUTPUT_DIM))


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The tensors of an HPSv3 checkpoint: safetensors, or a pickle read with
    ``weights_only=True`` (upstream unwraps a ``{"model": ...}`` dict)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "model" in sd:
        sd = sd["model"]
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: not a state dict ({type(sd).__name__})")
    return sd


class HPSv3(Judge):
    name: ClassVar[str] = "hpsv3"
    pointwise: ClassVar[bool] = True
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})
    tasks: ClassVar[frozenset[str]] = frozenset({"generation", "edit"})
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers", "safetensors")
    default_model: ClassVar[str] = HUB_REPO
    companions: ClassVar[dict[str, tuple[str, str | None]]] = {"base": (BASE_MODEL, BASE_REVISION)}
    fixture: ClassVar[str | None] = "hpsv3"
    default_revision: ClassVar[str | None] = HUB_REVISION
    default_batch_size: ClassVar[int] = 8
    option_help: ClassVar[dict[str, str]] = {
        "base_model": "where the Qwen2-VL base's config / processor / tokenizer come from",
        "pixels": f"image pixel budget (default {PIXELS}, upstream's 256 * 28 * 28)",
    }

    def __init__(self, base_model: str | None = None, pixels: int = PIXELS, **kw: Any):
        super().__init__(**kw)
        # Where the base's config, processor and tokenizer come from: --option base_model,
        # else a --model-path folder that holds them, else the hub base.
        self.base_model = base_model
        # Image size budget; upstream's 256 * 28 * 28 unless changed (fewer pixels: faster
        # smoke runs, different scores), e.g. --option pixels=12544.
        self.pixels = int(pixels)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "checkpoint": CHECKPOINT, "base_model": self._base()[0],
                "pixels": self.pixels, "score": "mu (sigma in extras)"}

    def _checkpoint(self) -> Path:
        if not self.model_path:
            from huggingface_hub import hf_hub_download
            return Path(hf_hub_download(self.model_id, CHECKPOINT, revision=self.revision))
        p = Path(self.model_path)
        if p.is_dir():
            p = p / CHECKPOINT
        if not p.is_file():
            raise FileNotFoundError(f"HPSv3 checkpoint not found: {p}")
        return p

    def _base(self) -> tuple[str, str | None]:
        if self.base_model:
            return self.base_model, None
        if self.model_path and (Path(self.model_path) / "config.json").is_file():
            return self.model_path, None
        return BASE_MODEL, BASE_REVISION

    def load(self) -> None:
        if getattr(self, "model", None) is not None:
            return
        import torch
        from transformers import AutoConfig, AutoProcessor

        base, base_rev = self._base()
        processor = AutoProcessor.from_pretrained(base, revision=base_rev, padding_side="right")
        processor.tokenizer.padding_side = "right"
        processor.tokenizer.add_special_tokens({"additional_special_tokens": [REWARD_TOKEN]})
        config = AutoConfig.from_pretrained(base, revision=base_rev)
        if config.model_type != "qwen2_vl":
            raise ValueError(f"{base}: expected a Qwen2-VL base, got {config.model_type!r}")
        config.text_config.vocab_size = len(processor.tokenizer)  # resize_token_embeddings
        config.pad_token_id = processor.tokenizer.pad_token_id
        ckpt = self._checkpoint()
        tensors = read_checkpoint(ckpt)  # read first: a wrong file fails before building
        model = build_qwen2vl(config, ranknet_head(config.text_config.hidden_size))
        model.to(torch_dtype(self.dtype))
        model.rm_head.to(torch.float32)
        load_strict(model, tensors, str(ckpt))
        del tensors
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.reward_id = processor.tokenizer.convert_tokens_to_ids(REWARD_TOKEN)
        self._torch = torch

    def prepare_point(self, item: PointItem) -> dict[str, Any]:
        if item.candidate.media is None or item.candidate.media.kind != "image":
            raise ValueError("HPSv3 scores images; this candidate has none")
        image = resize_image(load_image(item.candidate.media), self.pixels)
        content = [{"type": "image"}, {"type": "text", "text": build_text(item.prompt)}]
        messages = [{"role": "user", "content": content}]
        text = self.processor.apply_chat_template(messages, tokenize=False,
                                                  add_generation_prompt=True)
        return {"text": text, "image": image}

    def score_batch(self, prepared: list[dict[str, Any]]) -> list[Score]:
        torch = self._torch
        inputs = self.processor(text=[p["text"] for p in prepared],
                                images=[p["image"] for p in prepared], padding=True,
                                return_tensors="pt", images_kwargs={"do_resize": False})
        ids = inputs["input_ids"].to(self.device)
        with torch.inference_mode():
            hidden = reward_hidden_states(
                self.model, ids, inputs["attention_mask"].to(self.device),
                pixel_values=inputs["pixel_values"].to(self.device),
                image_grid_thw=inputs["image_grid_thw"].to(self.device))
            at = special_token_rows(ids, [self.reward_id])
            out = self.model.rm_head(hidden[at].float()).cpu()  # (B, 2): mu, sigma
        return [Score(value=float(mu), extras={"mu": float(mu), "sigma": float(sigma)})
                for mu, sigma in out]
