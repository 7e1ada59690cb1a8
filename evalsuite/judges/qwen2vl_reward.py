"""Qwen2-VL reward models read at special tokens: what HPSv3 and VideoReward share.

Both released models are ``Qwen2VLRewardModelBT`` (github MizzenAI/HPSv3
``hpsv3/model/qwen2vl_trainer.py``; github KwaiVGI/VideoAlign ``trainer.py``, commit
219ab9db64c045e5181a2202d11f686439351292): a ``Qwen2VLForConditionalGeneration`` plus a
reward head ``rm_head`` applied to the last hidden state of every token, read at the
positions of added special tokens (``<|Reward|>``; ``<|VQ_reward|>``, ``<|MQ_reward|>``,
``<|TA_reward|>``). Their ``forward`` builds the input embeddings itself (token embeddings
with the vision tower's output scattered over the image / video pad tokens) and calls the
language model with ``position_ids=None``: the language model then uses plain sequential
positions ``0..L-1`` for all three M-RoPE sections, not Qwen2-VL's 3-D vision positions
(``get_rope_index`` is never called). The models were trained that way, so
:func:`reward_logits` does the same.

Checkpoints were saved with transformers 4.4x, whose ``Qwen2VLForConditionalGeneration``
had the flat layout (``visual.*``, ``model.layers.*``, ``model.embed_tokens``); current
transformers nests them (``model.visual.*``, ``model.language_model.*``).
:func:`current_key` maps one layout to the other (the renaming transformers itself applies
when it loads an old Qwen2-VL checkpoint) and leaves current names unchanged;
:func:`load_strict` then refuses any missing or unexpected key.

``smart_resize`` is qwen-vl-utils' ``smart_resize`` (``vision_process.py``), which both
repositories copy unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

IMAGE_FACTOR = 28  # patch 14 x merge 2
MAX_RATIO = 200
# Strings of the flat (transformers <= 4.51) Qwen2-VL layout -> current names.
_LEGACY = ((re.compile(r"^visual\."), "model.visual."),
           (re.compile(r"^model\.(?!visual\.|language_model\.)"), "model.language_model."))
PEFT_PREFIX = "base_model.model."


def smart_resize(height: int, width: int, factor: int = IMAGE_FACTOR,
                 min_pixels: int = 4 * 28 * 28, max_pixels: int = 16384 * 28 * 28
                 ) -> tuple[int, int]:
    """(height, width) rounded to multiples of ``factor`` with the pixel count inside
    [min_pixels, max_pixels], aspect ratio kept as closely as possible (qwen-vl-utils)."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(f"absolute aspect ratio must be smaller than {MAX_RATIO}, "
                         f"got {max(height, width) / min(height, width)}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def current_key(key: str) -> str:
    """A Qwen2-VL state-dict key in the current transformers layout (a PEFT wrapper's
    ``base_model.model.`` prefix is kept in front)."""
    prefix = PEFT_PREFIX if key.startswith(PEFT_PREFIX) else ""
    rest = key[len(prefix):]
    for pattern, repl in _LEGACY:
        rest = pattern.sub(repl, rest, count=1)
    return prefix + rest


def legacy_key(key: str) -> str:
    """The inverse of :func:`current_key`: the name transformers 4.4x saved."""
    prefix = PEFT_PREFIX if key.startswith(PEFT_PREFIX) else ""
    rest = key[len(prefix):]
    if rest.startswith("model.visual."):
        rest = rest[len("model."):]
    elif rest.startswith("model.language_model."):
        rest = "model." + rest[len("model.language_model."):]
    return prefix + rest


def load_strict(module, tensors: Mapping[str, Any], what: str) -> None:
    """Load ``tensors`` (either Qwen2-VL layout) into ``module``; any missing or unexpected
    key, or a shape mismatch, is an error naming the file."""
    renamed = {current_key(k): v for k, v in tensors.items()}
    if len(renamed) != len(tensors):
        raise ValueError(f"{what}: both the old and the new name of a tensor are present")
    own = module.state_dict()
    missing = sorted(set(own) - set(renamed))
    unexpected = sorted(set(renamed) - set(own))
    if missing or unexpected:
        raise ValueError(f"{what}: checkpoint does not match the model: "
                         f"missing {missing[:8]} ({len(missing)}), "
                         f"unexpected {unexpected[:8]} ({len(unexpected)})")
    bad = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in renamed.items()
           if tuple(v.shape) != tuple(own[k].shape)]
    if bad:
        raise ValueError(f"{what}: tensor shapes differ from the model (name, file, model): "
                         f"{bad[:5]}")
    module.load_state_dict(renamed, strict=True)


def build_qwen2vl(config, rm_head):
    """``Qwen2VLForConditionalGeneration(config)`` with ``rm_head`` attached, without random
    initialisation (every tensor then comes from the checkpoint)."""
    from transformers import Qwen2VLForConditionalGeneration
    from transformers.initialization import no_init_weights

    with no_init_weights():
        model = Qwen2VLForConditionalGeneration(config)
    model.rm_head = rm_head
    return model


def reward_hidden_states(model, input_ids, attention_mask, pixel_values=None,
                         image_grid_thw=None, pixel_values_videos=None, video_grid_thw=None):
    """The last hidden state (B, L, D) the way ``Qwen2VLRewardModelBT.forward`` computes it:
    token embeddings, vision features scattered over the pad tokens, sequential positions.
    Call it under ``torch.inference_mode()``."""
    inner = model.model
    embeds = inner.language_model.embed_tokens(input_ids)
    for pix, grid, token_id in ((pixel_values, image_grid_thw, model.config.image_token_id),
                                (pixel_values_videos, video_grid_thw,
                                 model.config.video_token_id)):
        if pix is None:
            continue
        feats = inner.visual(pix.to(inner.visual.dtype), grid_thw=grid).pooler_output
        mask = (input_ids == token_id).unsqueeze(-1).expand_as(embeds)
        if int(mask[..., 0].sum()) != feats.shape[0]:
            raise ValueError(f"{int(mask[..., 0].sum())} vision tokens in the text for "
                             f"{feats.shape[0]} vision features")
        embeds = embeds.masked_scatter(mask, feats.to(embeds.device, embeds.dtype))
    out = inner.language_model(inputs_embeds=embeds, attention_mask=attention_mask,
                               position_ids=None, use_cache=False)
    return out.last_hidden_state


def special_token_rows(input_ids, special_ids: list[int]):
    """(batch index, position) of every special token, in order; each row must hold exactly
    one of each (upstream reshapes them to (B, n) and would misread a row otherwise)."""
    import torch

    mask = torch.zeros_like(input_ids, dtype=torch.bool)
    for sid in special_ids:
        mask |= input_ids == sid
    counts = mask.sum(-1).tolist()
    if any(c != len(special_ids) for c in counts):
        raise ValueError(f"expected {len(special_ids)} reward token(s) per input, found "
                         f"{counts} (a prompt must not contain the reward tokens itself)")
    return mask
