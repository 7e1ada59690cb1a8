"""Test-only extract of Flow-GRPO's per-prompt advantage, the oracle for
evalsuite.serve.rewards.zscores(normalizer="flow-grpo").

Source: github.com/yifan123/flow_grpo @ ac4c86e8cae021841f1fde853d340e0db67690dd,
flow_grpo/stat_tracking.py, ``PerPromptStatTracker.update`` (type "grpo", global_std False),
on a fresh tracker (one call = one batch of groups).
"""

import numpy as np


def per_prompt_advantages(prompts, rewards):
    stats = {}
    prompts = np.array(prompts)
    rewards = np.array(rewards, dtype=np.float64)
    unique = np.unique(prompts)
    advantages = np.empty_like(rewards) * 0.0
    for prompt in unique:
        prompt_rewards = rewards[prompts == prompt]
        if prompt not in stats:
            stats[prompt] = []
        stats[prompt].extend(prompt_rewards)
    for prompt in unique:
        stats[prompt] = np.stack(stats[prompt])
        prompt_rewards = rewards[prompts == prompt]
        mean = np.mean(stats[prompt], axis=0, keepdims=True)
        std = np.std(stats[prompt], axis=0, keepdims=True) + 1e-4
        advantages[prompts == prompt] = (prompt_rewards - mean) / std
    return advantages
