"""Writes tests/data/unifiedreward_prompts.json: the prompt strings of the UnifiedReward
scripts, read from a local git copy of github CodeGoat24/UnifiedReward at a pinned commit.

    python tests/data/extract_upstream_prompts.py <path to a clone or bare git dir>

Each script's prompt is the longest string expression in the file (f-string, literal or a
``+`` of them) evaluated with the script's own variable names bound to placeholder
sentinels, so the JSON holds each prompt exactly as the script sends it. tests check that
``evalsuite.judges.prompts`` builds the same string for the same inputs.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = "github.com/CodeGoat24/UnifiedReward"
COMMIT = "ff6f520247a2d36e2aff7b2ba53a935afd437f66"
# The inputs each script formats into its prompt, bound to these sentinels.
SENTINELS = {"prompt": "<<PROMPT>>", "instruction": "<<PROMPT>>", "Query": "<<QUESTION>>",
             "R1": "<<ANSWER1>>", "R2": "<<ANSWER2>>", "Response": "<<ANSWER>>"}

SCRIPTS = {
    "v1/pair-image": "benchmark_evaluation/Qwen_evaluation/test_qwen_genAI_bench_image.py",
    "v1/pair-video": "benchmark_evaluation/Qwen_evaluation/test_qwen_genAI_bench_video.py",
    "v1/pair-understanding": "benchmark_evaluation/Qwen_evaluation/test_qwen_vlrewardbench.py",
    "vllm/pair-image": "benchmark_evaluation/vLLM_evaluation/test_qwen_genai_image.py",
    "vllm/pair-video": "benchmark_evaluation/vLLM_evaluation/test_qwen_genai_video.py",
    "vllm/pair-video-videogen":
        "benchmark_evaluation/vLLM_evaluation/test_qwen_videogen_rewardbench.py",
    "vllm/pair-understanding": "benchmark_evaluation/vLLM_evaluation/test_qwen_vlreward_bench.py",
    "2.0/pair-score-image": "inference_qwen/UnifiedReward-2.0-inference/"
                            "pair_score_image_generation.py",
    "2.0/pair-score-video": "inference_qwen/UnifiedReward-2.0-inference/"
                            "pair_score_video_generation.py",
    "2.0/point-image": "inference_qwen/UnifiedReward-2.0-inference/"
                       "point_score_ACS_image_generation.py",
    "2.0/point-video": "inference_qwen/UnifiedReward-2.0-inference/"
                       "point_score_APS_video_generation.py",
    "v1/point-image": "inference_qwen/image_generation/qwen_point_score_image_generation.py",
    "v1/point-video": "inference_qwen/video_generation/qwen_point_score_video_generation.py",
    "v1/point-understanding":
        "inference_qwen/image_understanding/qwen_point_score_image_understanding.py",
    "think-qwen25/pair-image": "UnifiedReward-Think/benchmark_evaluation/GenAI-Bench-Image/"
                               "test_qwen25_cot_genAI_bench_image.py",
    "think-qwen25/pair-video": "UnifiedReward-Think/benchmark_evaluation/GenAI-Bench-Video/"
                               "test_qwen25_cot_genAI_bench_video.py",
    "think-qwen25/pair-understanding": "UnifiedReward-Think/benchmark_evaluation/"
                                       "VL-RewardBench/test_qwen25_cot_vl_rewardbench.py",
    "think-qwen3/pair-image": "UnifiedReward-Think/benchmark_evaluation/vLLM_qwen3_evaluation/"
                              "test_qwen3vl_genai_image.py",
    "think-qwen3/pair-video": "UnifiedReward-Think/benchmark_evaluation/vLLM_qwen3_evaluation/"
                              "test_qwen3vl_genai_video.py",
    "think-qwen3/pair-video-videogen": "UnifiedReward-Think/benchmark_evaluation/"
                                       "vLLM_qwen3_evaluation/"
                                       "test_qwen3vl_videogen_rewardbench.py",
    "think-qwen3/pair-understanding": "UnifiedReward-Think/benchmark_evaluation/"
                                      "vLLM_qwen3_evaluation/test_qwen3vl_vlreward_bench.py",
    "think-llava/pair-image": "UnifiedReward-Think/benchmark_evaluation/GenAI-Bench-Image/"
                              "test_llava_cot_genAI_bench_image.py",
    "think-llava/pair-video": "UnifiedReward-Think/benchmark_evaluation/GenAI-Bench-Video/"
                              "test_llava_cot_genAI_bench_video.py",
    "think-llava/pair-understanding": "UnifiedReward-Think/benchmark_evaluation/"
                                      "VL-RewardBench/test_llava_cot_vl_rewardbench.py",
    "edit/pair-edit": "UnifiedReward-Edit/edit_pairwise_rank.py",
    "edit/pair-score-edit": "UnifiedReward-Edit/edit_paiwise_score.py",
    "edit/point-edit-if": "UnifiedReward-Edit/edit_pointwise_instruction_following.py",
    "edit/point-edit-quality": "UnifiedReward-Edit/edit_pointwise_quality.py",
    "flex/pair-image": "UnifiedReward-Flex/flex_pair_rank_image_generation.py",
    "flex/pair-video": "UnifiedReward-Flex/flex_pair_rank_video_generation.py",
    "llava/pair-image": "benchmark_evaluation/LLaVA_evaluation/test_llava_genAI_bench_image.py",
    "llava/pair-video-videogen": "benchmark_evaluation/LLaVA_evaluation/"
                                 "test_llava_videogen_reward_bench.py",
    "llava/pair-video": "benchmark_evaluation/LLaVA_evaluation/test_llava_genAI_bench_video.py",
    "llava/pair-understanding": "benchmark_evaluation/LLaVA_evaluation/"
                                "test_llava_vlrewardbench.py",
    "llava/point-image": "inference_llava/image_generation/point_score_image_generation.py",
    "llava/point-video": "inference_llava/video_generation/point_score_video_generation.py",
    "llava/point-understanding": "inference_llava/image_understanding/"
                                 "point_score_image_understanding.py",
}


def prompt_of(source: str) -> str:
    best = ""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.JoinedStr, ast.Constant, ast.BinOp)):
            continue
        try:
            value = eval(compile(ast.Expression(node), "<prompt>", "eval"),  # noqa: S307
                         {"__builtins__": {}}, dict(SENTINELS))
        except Exception:  # noqa: BLE001 - a node that needs other names is not the prompt
            continue
        if isinstance(value, str) and len(value) > len(best):
            best = value
    return best


def checkpoints(readme: str) -> list[str]:
    """Every checkpoint the README links (huggingface.co/CodeGoat24/UnifiedReward-*)."""
    return sorted(set(re.findall(r"huggingface\.co/(CodeGoat24/UnifiedReward-[\w.-]+)",
                                 readme)))


def main(git_dir: str) -> None:
    out = {"repo": REPO, "commit": COMMIT, "sentinels": SENTINELS, "prompts": {}}
    readme = subprocess.run(["git", "-C", git_dir, "show", f"{COMMIT}:README.md"],
                            check=True, capture_output=True, text=True).stdout
    out["readme_checkpoints"] = checkpoints(readme)
    for key, path in SCRIPTS.items():
        src = subprocess.run(["git", "-C", git_dir, "show", f"{COMMIT}:{path}"], check=True,
                             capture_output=True, text=True).stdout
        out["prompts"][key] = {"path": path, "text": prompt_of(src)}
    dest = Path(__file__).with_name("unifiedreward_prompts.json")
    dest.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(dest, len(out["prompts"]))


if __name__ == "__main__":
    main(sys.argv[1])
