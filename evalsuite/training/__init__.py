"""Training: UnifiedReward-style judge SFT, judge-built preference pairs, DPO policies.

Modules (all import torch & co. lazily, inside functions):

* :mod:`.diffusion_dpo` - the Diffusion-DPO loss (Wallace et al. 2023) and one training step
  for any diffusers denoiser (image latents 4-D, video latents 5-D: any rank).
* :mod:`.loop` - a small resumable training loop (checkpoints, JSONL metrics, progress bar).
* :mod:`.pairs` - N candidates per prompt -> pair ranking -> point sifting -> DPO JSONL.
* :mod:`.reward_sft` - SFT of a Qwen2.5-VL judge on a judgment JSONL (transformers Trainer).
* :mod:`.vlm_dpo` - TRL ``DPOTrainer`` for VLM policies.
* :mod:`.synthetic` - the offline end-to-end recipe on a computable toy domain.
* :mod:`.trainer` - the trainer-kind interface (a recipe's ``kind`` names one in
  :data:`evalsuite.registry.TRAINERS`).
"""
