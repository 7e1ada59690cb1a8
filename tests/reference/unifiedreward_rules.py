"""Test-only extract of the answer-reading rules of the UnifiedReward evaluation scripts.

Source: github CodeGoat24/UnifiedReward, commit ff6f520247a2d36e2aff7b2ba53a935afd437f66.
Each function restates one script's rule, nothing more (paths relative to the repo root):

* ``answer_in_output`` - ``if answer in output_text: correct += 1`` in
  benchmark_evaluation/Qwen_evaluation/test_qwen_genAI_bench_image.py,
  test_qwen_vlrewardbench.py, LLaVA_evaluation/test_llava_genAI_bench_image.py, every
  benchmark_evaluation/vLLM_evaluation/*.py, UnifiedReward-Think/benchmark_evaluation/
  GenAI-Bench-Image/test_qwen25_cot_genAI_bench_image.py, VL-RewardBench/
  test_qwen25_cot_vl_rewardbench.py and vLLM_qwen3_evaluation/*.py. The script counts an
  answer right when the gold phrase is a (case-sensitive) substring, so one answer can be
  "read" as several sides at once: the reading is the set of sides whose phrase occurs.
* ``if_elif_same`` - ``if 'Video 1 is better' in output: pred = 'A' elif 'Video 2 is
  better' in output: pred = 'B' else: pred = 'same'`` in
  benchmark_evaluation/Qwen_evaluation/test_qwen_genAI_bench_video.py,
  test_qwen_videogen_reward_bench.py and UnifiedReward-Think/benchmark_evaluation/
  GenAI-Bench-Video/test_qwen25_cot_genAI_bench_video.py.
* ``final_score`` - ``output.split('Final Score:')[-1].strip()`` then
  ``re.findall(r"\\d+", output)``, the first match or 0, in DiffusionDPO/sift_dpo_data.py.
* ``edit_pair_scores`` - the commented extraction of UnifiedReward-Edit/
  edit_paiwise_score.py: ``re.findall(r"([0-9]+\\.[0-9]+)", output)``, scores[0], scores[1].
"""

from __future__ import annotations

import re

PHRASES = {
    "image": {"A": "Image 1 is better", "B": "Image 2 is better",
              "tie": "Both images are equally good"},
    "answer": {"A": "Answer 1 is better", "B": "Answer 2 is better"},
    "video": {"A": "Video 1 is better", "B": "Video 2 is better"},
}


def answer_in_output(output: str, unit: str) -> str:
    """Sides the ``answer in output`` test counts right, joined with '+'; '' for none."""
    return "+".join(side for side, ph in PHRASES[unit].items() if ph in output)


def if_elif_same(output: str) -> str:
    if "Video 1 is better" in output:
        return "A"
    elif "Video 2 is better" in output:
        return "B"
    return "tie"  # 'same'


def final_score(output: str) -> float:
    output = output.split("Final Score:")[-1].strip()
    found = re.findall(r"\d+", output)
    return float(found[0]) if len(found) > 0 else 0.0


def edit_pair_scores(output: str) -> tuple[float, float] | None:
    scores = re.findall(r"([0-9]+\.[0-9]+)", output)
    if len(scores) < 2:
        return None  # upstream raises IndexError
    return float(scores[0]), float(scores[1])


# scheme (evalsuite.judges.parsing) -> the upstream rule that reads it, or None when no
# upstream script reads that family's answers (LLaVA-Critic, Edit pairwise rank, Flex).
def upstream_verdict(text: str, scheme: str) -> str:
    if scheme in ("image", "image-than", "image-think"):
        return answer_in_output(text, "image") or "none"
    if scheme in ("answer", "answer-think"):
        return answer_in_output(text, "answer") or "none"
    if scheme in ("video", "video-think"):
        return if_elif_same(text)
    return "n/a"
