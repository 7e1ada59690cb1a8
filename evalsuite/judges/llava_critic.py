"""LLaVA-Critic (Xiong et al. 2024): LLaVA-OneVision fine-tuned as a judge of LMM answers.

``lmms-lab/llava-critic-7b`` (default) and ``lmms-lab/llava-critic-72b``. Prompts are the
model card's pairwise ranking and pointwise "score out of 100" prompts
(:data:`evalsuite.judges.prompts.CRITIC_PAIR` / ``CRITIC_POINT``) in LLaVA's ``qwen_1_5``
conversation with a ``<image>\\n`` prefix; greedy decoding with max_new_tokens 4096 as in
the card. Only image understanding (question + answers) has an upstream prompt; other
tasks raise in ``prepare_*`` (recorded per item).

**The hub checkpoints are in the original LLaVA-NeXT format** (``llava_qwen``), not
loadable by transformers: convert with transformers'
``models/llava_onevision/convert_llava_onevision_weights_to_hf.py`` and pass the result with
``--model-path`` (``--model lmms-lab/llava-critic-72b`` keeps the 72b settings).
The verdict is free text; :mod:`evalsuite.judges.parsing` scheme ``critic`` accepts only
explicit statements ("the first response is better", ...), else the verdict is unparsed.
"""

from __future__ import annotations

from typing import ClassVar

from evalsuite.judges.generative import ModelCard, card_revisions
from evalsuite.judges.unifiedreward import LlavaOnevisionJudge

# main's heads when seen (README-only commits after the weights' upload, #1); sources in
# models/README.md: https://huggingface.co/lmms-lab/llava-critic-7b/commits/main and
# https://huggingface.co/lmms-lab/llava-critic-72b/commits/main
_CRITIC_REVISIONS = {"lmms-lab/llava-critic-7b": "498f2d719b83e50e48787c6958afe7100503c23f",
                     "lmms-lab/llava-critic-72b": "00b9f2b06711d4f4cf0932e4aca20b9b62037b6d"}
CRITIC_CARDS: dict[str, ModelCard] = {
    m: ModelCard("llava-critic", {"default": 4096}, notes="original-LLaVA format on the hub",
                 revision=rev)
    for m, rev in _CRITIC_REVISIONS.items()
}


class LlavaCritic(LlavaOnevisionJudge):
    name: ClassVar[str] = "llava-critic"
    tasks: ClassVar[frozenset[str]] = frozenset({"understanding"})
    modalities: ClassVar[frozenset[str]] = frozenset({"image"})
    default_model: ClassVar[str] = "lmms-lab/llava-critic-7b"
    fixture: ClassVar[str | None] = "unifiedreward-llava"  # LLaVA-OneVision
    cards: ClassVar[dict[str, ModelCard]] = CRITIC_CARDS
    default_card: ClassVar[ModelCard] = CRITIC_CARDS["lmms-lab/llava-critic-7b"]
    pinned_revisions: ClassVar[dict[str, str]] = card_revisions(CRITIC_CARDS)
