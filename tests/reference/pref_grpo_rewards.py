"""Test-only extract of Pref-GRPO's reward arithmetic, the oracle for evalsuite.serve.rewards.

Source: github.com/CodeGoat24/Pref-GRPO @ 3e787f6dd5a3051b40d61f07e9578468ac26130a
* ``_pairwise_win_rate`` and ``_extract_answer``: fastvideo/rewards/unifiedreward_think.py
  (the pairs come from ``itertools.combinations`` in ``cal_win_rate_images``);
* ``group_advantages``: the ``use_group`` branch of ``_compute_adv`` inside
  ``compute_weighted_advantages``, fastvideo/rewards/dispatcher.py.
Kept as upstream computes them (device argument dropped).
"""

import re
from collections import defaultdict

import torch


def _extract_answer(text):
    final_match = re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)
    return final_match.group(1).strip() if final_match else None


def _pairwise_win_rate(*, num_items, responses, better_1, better_2):
    win_count = {"overall": defaultdict(int)}
    compare_count = {"overall": defaultdict(int)}

    for result in responses:
        idx1 = result["first_index"]
        idx2 = result["second_index"]

        compare_count["overall"][idx1] += 1
        compare_count["overall"][idx2] += 1

        output = result.get("model_output", "")
        final_conclusion = _extract_answer(output)

        if final_conclusion:
            if better_1 in final_conclusion:
                win_count["overall"][idx1] += 1
            elif better_2 in final_conclusion:
                win_count["overall"][idx2] += 1
            else:
                win_count["overall"][idx1] += 0.5
                win_count["overall"][idx2] += 0.5
        else:
            win_count["overall"][idx1] += 0.5
            win_count["overall"][idx2] += 0.5

    overall_win_rate = [
        torch.tensor(
            round(win_count["overall"][idx] / compare_count["overall"][idx], 3),
        ).unsqueeze(0)
        if compare_count["overall"][idx] > 0
        else torch.tensor(0.0).unsqueeze(0)
        for idx in range(num_items)
    ]
    return overall_win_rate


def group_advantages(rewards, num_generations):
    n = len(rewards) // num_generations
    adv_local = torch.zeros_like(rewards)
    for i in range(n):
        start_idx = i * num_generations
        end_idx = (i + 1) * num_generations
        group_rewards = rewards[start_idx:end_idx]
        group_mean = group_rewards.mean()
        group_std = group_rewards.std() + 1e-8
        adv_local[start_idx:end_idx] = (group_rewards - group_mean) / group_std
    return adv_local
