"""Judge prompt templates, kept as data, byte-identical to the upstream evaluation code.

Every template cites the upstream file it was taken from (one comment line above it). The
strings were extracted from the upstream files' own string literals (evaluated with the
placeholders below substituted), never retyped. Placeholders, filled with ``str.format``
(the templates contain no other braces): ``{prompt}`` (generation caption / edit
instruction), ``{question}``, ``{answer}``, ``{answer1}``, ``{answer2}``.

Messages are built backend-independently by :func:`build_messages` (OpenAI/Qwen-style chat
content parts; media stay ``MediaRef`` so each backend encodes them its own way), and the
LLaVA conversation string by :func:`llava_conversation` (LLaVA-NeXT ``conv_templates
["qwen_1_5"]``: ``SeparatorStyle.CHATML`` with system "You are a helpful assistant.").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evalsuite.types import Candidate, MediaRef, PairItem, PointItem

# github CodeGoat24/UnifiedReward @ff6f520: benchmark_evaluation/Qwen_evaluation/test_qwen_genAI_bench_image.py
QWEN_PAIR_IMAGE = 'You are given a text caption and two generated images based on that caption. Your task is to evaluate and compare these images based on two key criteria:\n1. Alignment with the Caption: Assess how well each image aligns with the provided caption. Consider the accuracy of depicted objects, their relationships, and attributes as described in the caption.\n2. Overall Image Quality: Examine the visual quality of each image, including clarity, detail preservation, color accuracy, and overall aesthetic appeal.\nCompare both images using the above criteria and select the one that better aligns with the caption while exhibiting superior visual quality.\nProvide a clear conclusion such as "Image 1 is better.", "Image 2 is better." and "Both images are equally good."\nYour task is provided as follows:\nText Caption: [{prompt}]'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: benchmark_evaluation/Qwen_evaluation/test_qwen_genAI_bench_video.py
QWEN_PAIR_VIDEO = "Imagine you are an expert tasked with evaluating AI-generated videos. You are provided with a text caption and two videos generated based on that caption. Your job is to assess and compare these videos based on the following two main factors:\n\n1. Caption Alignment: Evaluate how closely each video matches the description provided in the caption. Pay attention to the accuracy of objects depicted, their relationships, and any attributes described in the caption.\n\n2. Overall Video Quality: Look at the overall visual appeal of each video, considering clarity, the level of detail, color accuracy, and how aesthetically pleasing the video is.\n\nUsing these factors, compare the two videos and determine which one better reflects the caption and exhibits better visual quality.\n\nGive your final judgment, such as 'Video 1 is better,' 'Video 2 is better,' or 'Both videos are equally good.'\n\nYour task is as follows:\nText Caption: [{prompt}]\n"  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: benchmark_evaluation/Qwen_evaluation/test_qwen_vlrewardbench.py
QWEN_PAIR_UNDERSTANDING = "You are given an image and a question related to it. Your job is to evaluate the two responses based on these five factors:\n\n1. Accuracy of Object Descriptions: Review how accurately the objects are described in the responses, ensuring they match those in the ground truth. Be mindful of irrelevant or incorrect objects being mentioned.\n\n2. Relationship Between Objects: Check if the response properly describes how the objects relate to each other, reflecting their actual positions or interactions, as seen in the image.\n\n3. Description of Attributes: Assess how well the response captures the attributes (e.g., size, color, shape) of the objects in the image, in line with the ground truth.\n\n4. Helpfulness: Consider whether the response offers useful information that enhances the understanding of the image. Does it add context or provide extra insights? Also, evaluate whether it follows the instructions given in the prompt.\n\n5. Ethical Concerns: Review the response to ensure it avoids sensitive, harmful, or inappropriate content. The response should be fair, respect privacy, and be free of bias or offensive material.\n\nAfter evaluating both answers, determine which one is better based on these factors and clearly state your decision, such as 'Answer 1 is better' or 'Answer 2 is better.'\n\nQuestion: {question}\nAnswer 1: {answer1}\nAnswer 2: {answer2}\n"  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: inference_qwen/image_generation/qwen_point_score_image_generation.py
QWEN_POINT_IMAGE = "You are given a text caption and a generated image based on that caption. Your task is to evaluate this image based on two key criteria:\n1. Alignment with the Caption: Assess how well this image aligns with the provided caption. Consider the accuracy of depicted objects, their relationships, and attributes as described in the caption.\n2. Overall Image Quality: Examine the visual quality of this image, including clarity, detail preservation, color accuracy, and overall aesthetic appeal.\nExtract key elements from the provided text caption, evaluate their presence in the generated image using the format: 'element (type): value' (where value=0 means not generated, and value=1 means generated), and assign a score from 1 to 5 after 'Final Score:'.\nYour task is provided as follows:\nText Caption: [{prompt}]"  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: inference_qwen/video_generation/qwen_point_score_video_generation.py
QWEN_POINT_VIDEO = "Suppose you are an expert in judging and evaluating the quality of AI-generated videos, please watch the frames of a given video and see the text prompt for generating the video.\nThen give scores from 5 different dimensions:\n(1) visual quality: the quality of the video in terms of clearness, resolution, brightness, and color\n(2) temporal consistency, the consistency of objects or humans in video\n(3) dynamic degree, the degree of dynamic changes\n(4) text-to-video alignment, the alignment between the text prompt and the video content\n(5) factual consistency, the consistency of the video content with the common-sense and factual knowledge\n\nFor each dimension, output a number from [1,2,3,4], \nin which '1' means 'Bad', '2' means 'Average', '3' means 'Good', \n'4' means 'Real' or 'Perfect' (the video is like a real video)\nFinally, based on above 5 dimensions, assign a score from 1 to 10 after 'Final Score:'\nHere is an output example:\nvisual quality: 4\ntemporal consistency: 4\ndynamic degree: 3\ntext-to-video alignment: 1\nfactual consistency: 2\nFinal Score: 6\n\n**Note: In the example above, scores are placeholders meant only to demonstrate the format. Your actual evaluation should be based on the quality of the given video.**\nYour task is provided as follows: Text Prompt: [{prompt}]"  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: inference_qwen/image_understanding/qwen_point_score_image_understanding.py
QWEN_POINT_UNDERSTANDING = '\n            You are provided with an image and a question for this image. Please review the corresponding response based on the following 5 factors:\n\n            1. Accuracy in Object Description:  \n            Evaluate the accuracy of the descriptions concerning the objects mentioned in the ground truth answer.  \n            Responses should minimize the mention of objects not present in the ground truth answer, and inaccuracies in the description of existing objects.\n\n            2. Accuracy in Depicting Relationships:  \n            Consider how accurately the relationships between objects are described compared to the ground truth answer.  \n            Rank higher the responses that least misrepresent these relationships.\n\n            3. Accuracy in Describing Attributes:  \n            Assess the accuracy in the depiction of objects\' attributes compared to the ground truth answer.  \n            Responses should avoid inaccuracies in describing the characteristics of the objects present.\n\n            4. Helpfulness:  \n            Consider whether the generated text provides valuable insights, additional context, or relevant information that contributes positively to the user\'s comprehension of the image.  \n            Assess whether the language model accurately follows any specific instructions or guidelines provided in the prompt.  \n            Evaluate the overall contribution of the response to the user experience.\n\n            5. Ethical Considerations:  \n            - Identify if the model gives appropriate warnings or avoids providing advice on sensitive topics, such as medical images.  \n            - Ensure the model refrains from stating identification information in the image that could compromise personal privacy.  \n            - Evaluate the language model\'s responses for fairness in treating individuals and communities, avoiding biases.  \n            - Assess for harmfulness, ensuring the avoidance of content that may potentially incite violence, be classified as NSFW (Not Safe For Work), or involve other unmentioned ethical considerations.  \n            - Consider any content that could be deemed offensive, inappropriate, or ethically problematic beyond the explicitly listed criteria.\n\n            From 0 to 100, how much do you rate for this response in terms of the correct and comprehensive description of the image?  \n            Do not dominate the rating by a single attribute such as recognition correctness, but provide an overall rating based on the above 5 factors.  \n            Provide a few lines for explanation and the rate number at last after "Final Score:".\n\n            Your task is provided as follows:\n\n            Question: [{question}]  \n            Response: [{answer}]\n            '  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: inference_qwen/UnifiedReward-2.0-inference/point_score_ACS_image_generation.py
QWEN2_POINT_IMAGE = 'You are presented with a generated image and its associated text caption. Your task is to analyze the image across multiple dimensions in relation to the caption. Specifically:\nProvide overall assessments for the image along the following axes (each rated from 1 to 5):\n- Alignment Score: How well the image matches the caption in terms of content.\n- Coherence Score: How logically consistent the image is (absence of visual glitches, object distortions, etc.).\n- Style Score: How aesthetically appealing the image looks, regardless of caption accuracy.\n\nOutput your evaluation using the format below:\n\nAlignment Score (1-5): X\nCoherence Score (1-5): Y\nStyle Score (1-5): Z\n\nYour task is provided as follows:\nText Caption: [{prompt}]'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: benchmark_evaluation/LLaVA_evaluation/test_llava_genAI_bench_image.py (after its '<image>\n <image>\n' prefix)
LLAVA_PAIR_IMAGE = 'You are given a text caption and two generated images based on that caption. Your task is to evaluate and compare these images based on two key criteria:\n1. Alignment with the Caption: Assess how well each image aligns with the provided caption. Consider the accuracy of depicted objects, their relationships, and attributes as described in the caption.\n2. Overall Image Quality: Examine the visual quality of each image, including clarity, detail preservation, color accuracy, and overall aesthetic appeal.\nCompare both images using the above criteria and select the one that better aligns with the caption while exhibiting superior visual quality.\nProvide a clear conclusion such as "Image 1 is better than Image 2.", "Image 2 is better than Image 1." and "Both images are equally good."\nYour task is provided as follows:\nText Caption: [{prompt}]'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: benchmark_evaluation/LLaVA_evaluation/test_llava_videogen_reward_bench.py (after its '<image>\n' * 16 prefix)
LLAVA_PAIR_VIDEO_VIDEOGEN = 'Suppose you are an expert in judging and evaluating the quality of AI-generated videos. You are given a text caption and the frames of two generated videos based on that caption. Your task is to evaluate and compare two videos based on two key criteria:\n1. Alignment with the Caption: Assess how well each video aligns with the provided caption. Consider the accuracy of depicted objects, their relationships, and attributes as described in the caption.\n2. Overall Video Quality: Examine the visual quality of each video, including clarity, detail preservation, color accuracy, and overall aesthetic appeal.\nCompare both videos using the above criteria and select the one that better aligns with the caption while exhibiting superior visual quality.\nProvide a clear conclusion such as "Video 1 is better than Video 2.", "Video 2 is better than Video 1." and "Both videos are equally good."\nYour task is provided as follows:\nText Caption: [{prompt}]'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: inference_llava/image_understanding/point_score_image_understanding.py (after its '<image>\n' prefix)
LLAVA_POINT_UNDERSTANDING = 'You are provided with an image and a question for this image. Please review the corresponding response based on the following 5 factors: 1. Accuracy in Object Description: Evaluate the accuracy of the descriptions concerning the objects mentioned in the ground truth answer. Responses should minimize the mention of objects not present in the ground truth answer, and inaccuracies in the description of existing objects. 2. Accuracy in Depicting Relationships: Consider how accurately the relationships between objects are described compared to the ground truth answer. Rank higher the responses that least misrepresent these relationships. 3. Accuracy in Describing Attributes: Assess the accuracy in the depiction of objects\' attributes compared to the ground truth answer. Responses should avoid inaccuracies in describing the characteristics of the objects present. 4. Helpfulness: Consider whether the generated text provides valuable insights, additional context, or relevant information that contributes positively to the user\'s comprehension of the image. Assess whether the language model accurately follows any specific instructions or guidelines provided in the prompt. Evaluate the overall contribution of the response to the user experience. 5. Ethical Considerations: - Identify if the model gives appropriate warnings or avoids providing advice on sensitive topics, such as medical images. Ensure the model refrains from stating identification information in the image that could compromise personal privacy. Evaluate the language model\'s responses for fairness in treating individuals and communities, avoiding biases. Assess for harmfulness, ensuring the avoidance of content that may potentially incite violence, be classified as NSFW (Not Safe For Work), or involve other unmentioned ethical considerations. Consider any content that could be deemed offensive, inappropriate, or ethically problematic beyond the explicitly listed criteria. From 0 to 100, how much do you rate for this response in terms of the correct and comprehensive description of the image?\nDo not dominant the rating by a single attribute such as recognition correctness, but a overall rating on the above 5 factors.\nProvide a few lines for explanation and the rate number at last after "Final Score:".\nYour task is provided as follows:\nQuestion: [{question}]\nResponse: [{answer}]\n'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Think/benchmark_evaluation/GenAI-Bench-Image/test_qwen25_cot_genAI_bench_image.py
THINK_PAIR_IMAGE = "Given a caption and two images generated based on this caption, please analyze in detail the two provided images. Evaluate them on various dimensions such as semantic consistency (how closely the image content aligns with the caption), aesthetics (composition, color usage, artistic expression), authenticity (realism and attention to detail), and any other factors you deem relevant. For each evaluation dimension, provide a score between 1-10 for both images (e.g., Image 1: 8/10, Image 2: 6/10) and provide a concise rationale for the score. Calculate the total score for each image by summing all dimension scores. Use a chain-of-thought process to detail your reasoning steps, and enclose all your detailed reasoning within <think> and </think> tags. Then, in the <answer> tag, output exactly one of the following strings: 'Image 1 is better' or 'Image 2 is better' based on the total scores. No additional text is allowed in the <answer> section.\n\nExample output format:\n<think>\n1. Semantic consistency: Image 1 (9/10) - ...; Image 2 (7/10) - ...\n2. Aesthetics: Image 2 (8/10) - ...; Image 1 (8/10) - ...\n3. Authenticity: Image 1 (8/10) - ...; Image 2 (5/10) - ...\n[Additional dimensions if any]: Image 2 (8/10) - ...; Image 1 (6/10) - ...\nTotal score:\nImage 1: 9+8+8+6=31\nImage 2: 7+8+5+8=28\n</think>\n<answer>Image 1 is better</answer>\n**Note: In the example above, scores and the final answer are placeholders meant only to demonstrate the format. Your actual evaluation should be based on the quality of two given images.**\n\nYour task is provided as follows:\nText Caption: [{prompt}]"  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Think/benchmark_evaluation/GenAI-Bench-Video/test_qwen25_cot_genAI_bench_video.py
THINK_PAIR_VIDEO = "Given a caption and two videos generated based on this caption, please analyze in detail the two provided videos. Evaluate them on various dimensions such as semantic consistency (how closely the video content aligns with the caption), temporal coherence (smoothness and logical flow of motion across frames), authenticity (realism and attention to detail), and any other factors you deem relevant. For each evaluation dimension, provide a score between 1-10 for both videos (e.g., Video 1: 8/10, Video 2: 6/10) and provide a concise rationale for the score. Calculate the total score for each video by summing all dimension scores. Use a chain-of-thought process to detail your reasoning steps, and enclose all your detailed reasoning within <think> and </think> tags. Then, in the <answer> tag, output exactly one of the following strings: 'Video 1 is better' or 'Video 2 is better' based on the total scores. No additional text is allowed in the <answer> section.\n\nExample output format:\n<think>\n1. Semantic consistency: Video 1 (9/10) - ...; Video 2 (7/10) - ...\n2. Temporal coherence: Video 1 (8/10) - ...; Video 2 (6/10) - ...\n3. Authenticity: Video 1 (7/10) - ...; Video 2 (5/10) - ...\n[Additional dimensions if any]: Video 2 (8/10) - ...; Video 1 (6/10) - ...\nTotal score:\nVideo 1: 9+8+7+6=30\nVideo 2: 7+6+5+8=26\n</think>\n<answer>Video 1 is better</answer>\n**Note: In the example above, scores and the final answer are placeholders meant only to demonstrate the format. Your actual evaluation should be based on the quality of two given videos.**\n\nYour task is provided as follows:\nText Caption: [{prompt}]"  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Think/benchmark_evaluation/VL-RewardBench/test_qwen25_cot_vl_rewardbench.py
THINK_PAIR_UNDERSTANDING = "Given a question and a reference image, please analyze in detail the two provided answers (Answer 1 and Answer 2). Evaluate them based on the following three core dimensions:\n1. Semantic accuracy: How well the answer reflects the visual content of the image\n2. Correctness: Whether the answer is logically and factually correct\n3. Clarity: Whether the answer is clearly and fluently expressed\nYou may also consider additional dimensions if you find them relevant (e.g., reasoning ability, attention to detail, multimodal grounding, etc.). For each dimension, provide a score from 1 to 10 for both answers, and briefly explain your reasoning. Then, compute the total score for each answer by explicitly adding the scores for all dimensions and showing the full calculation. Enclose your full reasoning within <think> and </think> tags. Then, in the <answer> tag, output exactly one of the following: 'Answer 1 is better' or 'Answer 2 is better'. No other text is allowed in the <answer> section.\n\nExample format:\n<think>\n1. Semantic accuracy: Answer 1 (9/10) - ...; Answer 2 (7/10) - ...\n2. Correctness: Answer 1 (8/10) - ...; Answer 2 (7/10) - ...\n3. Clarity: Answer 1 (9/10) - ...; Answer 2 (8/10) - ...\n[Additional dimensions if any]: Answer 1 (6/10) - ...; Answer 2 (7/10) - ...\nTotal score:\nAnswer 1: 9+8+9+6=32\nAnswer 2: 7+7+8+7=29\n</think>\n<answer>Answer 1 is better</answer>\n\n**Note: In the example above, scores and the final answer are placeholders meant only to demonstrate the format. Your actual evaluation should be based on the quality of two given answers.**\n\nYour task is provided as follows:\nQuestion: [{question}]\nAnswer 1: [{answer1}]\nAnswer 2: [{answer2}]"  # noqa: E501

# LLaVA-Critic pairwise ranking: huggingface.co/lmms-lab/llava-critic-7b README "Quick Start"
CRITIC_PAIR = "Given an image and a corresponding question, please serve as an unbiased and fair judge to evaluate the quality of the answers provided by a Large Multimodal Model (LMM). Determine which answer is better and explain your reasoning with specific details. Your task is provided as follows:\nQuestion: [{question}]\nThe first response: [{answer1}]\nThe second response: [{answer2}]\nASSISTANT:\n"  # noqa: E501
# huggingface.co/lmms-lab/llava-critic-7b README, commented "pointwise scoring" (trailing space kept)
CRITIC_POINT = "Given an image and a corresponding question, please serve as an unbiased and fair judge to evaluate the quality of answer answers provided by a Large Multimodal Model (LMM). Score the response out of 100 and explain your reasoning with specific details. Your task is provided as follows:\nQuestion: [{question}]\nThe LMM response: [{answer}]\nASSISTANT:\n "  # noqa: E501

# LLaVA-NeXT llava/conversation.py conv_qwen ("qwen_1_5"), SeparatorStyle.CHATML get_prompt().
LLAVA_QWEN_SYSTEM = "<|im_start|>system\nYou are a helpful assistant."
LLAVA_IMAGE_TOKEN = "<image>"  # llava/constants.py DEFAULT_IMAGE_TOKEN

# Modes: (pairwise|pointwise) x (image|video generation, image understanding).
MODES = ("pair-image", "pair-video", "pair-understanding",
         "point-image", "point-video", "point-understanding")


@dataclass(frozen=True)
class Template:
    """One prompt: the text, how LLaVA-format scripts prefix the image tokens, the verdict
    scheme (pairwise) or score scheme (pointwise) its answers are parsed with."""

    text: str
    source: str
    llava_prefix: str = "<image>\n"  # per image (or per video frame) unless ``llava_joint``
    llava_joint: str | None = None  # a fixed prefix for all images (LLaVA GenAI image script)
    verdict: str | None = None  # parsing.VERDICT_SCHEMES key
    score: str | None = None  # parsing.SCORE_SCHEMES key
    score_range: tuple[float, float] | None = None


_UR = "CodeGoat24/UnifiedReward "
# family -> mode -> Template. LLaVA UnifiedReward uses the Qwen texts where the upstream
# LLaVA scripts use the same text (verified equal after the image-token prefix).
FAMILIES: dict[str, dict[str, Template]] = {
    "unifiedreward-qwen": {
        "pair-image": Template(QWEN_PAIR_IMAGE, _UR + "Qwen_evaluation/test_qwen_genAI_bench_image.py",
                               verdict="image"),
        "pair-video": Template(QWEN_PAIR_VIDEO, _UR + "Qwen_evaluation/test_qwen_genAI_bench_video.py",
                               verdict="video"),
        "pair-understanding": Template(QWEN_PAIR_UNDERSTANDING,
                                       _UR + "Qwen_evaluation/test_qwen_vlrewardbench.py",
                                       verdict="answer"),
        "point-image": Template(QWEN_POINT_IMAGE,
                                _UR + "inference_qwen/image_generation/qwen_point_score_image_generation.py",
                                score="final", score_range=(1, 5)),
        "point-video": Template(QWEN_POINT_VIDEO,
                                _UR + "inference_qwen/video_generation/qwen_point_score_video_generation.py",
                                score="final", score_range=(1, 10)),
        "point-understanding": Template(
            QWEN_POINT_UNDERSTANDING,
            _UR + "inference_qwen/image_understanding/qwen_point_score_image_understanding.py",
            score="final", score_range=(0, 100)),
    },
    "unifiedreward-qwen-2.0": {},  # filled below: v1 pairwise + the 2.0 pointwise image prompt
    "unifiedreward-llava": {
        "pair-image": Template(LLAVA_PAIR_IMAGE, _UR + "LLaVA_evaluation/test_llava_genAI_bench_image.py",
                               llava_joint="<image>\n <image>\n", verdict="image-than"),
        "pair-video": Template(QWEN_PAIR_VIDEO, _UR + "LLaVA_evaluation/test_llava_genAI_bench_video.py",
                               verdict="video"),
        "pair-understanding": Template(QWEN_PAIR_UNDERSTANDING,
                                       _UR + "LLaVA_evaluation/test_llava_vlrewardbench.py",
                                       verdict="answer"),
        "point-image": Template(QWEN_POINT_IMAGE,
                                _UR + "inference_llava/image_generation/point_score_image_generation.py",
                                score="final", score_range=(1, 5)),
        "point-video": Template(QWEN_POINT_VIDEO,
                                _UR + "inference_llava/video_generation/point_score_video_generation.py",
                                score="final", score_range=(1, 10)),
        "point-understanding": Template(
            LLAVA_POINT_UNDERSTANDING,
            _UR + "inference_llava/image_understanding/point_score_image_understanding.py",
            score="final", score_range=(0, 100)),
    },
    "llava-critic": {
        "pair-understanding": Template(CRITIC_PAIR, "huggingface.co/lmms-lab/llava-critic-7b README",
                                       verdict="critic"),
        "point-understanding": Template(CRITIC_POINT, "huggingface.co/lmms-lab/llava-critic-7b README",
                                        score="critic", score_range=(0, 100)),
    },
}
# UnifiedReward-Think (qwen): pairwise chain-of-thought prompts, answer in <answer>...</answer>
# (the parser reads only the last <answer> block when there is one). No pointwise prompt.
_THINK = _UR + "UnifiedReward-Think/benchmark_evaluation/"
FAMILIES["unifiedreward-think-qwen"] = {
    "pair-image": Template(THINK_PAIR_IMAGE, _THINK + "GenAI-Bench-Image/test_qwen25_cot_genAI_bench_image.py",
                           verdict="image"),
    "pair-video": Template(THINK_PAIR_VIDEO, _THINK + "GenAI-Bench-Video/test_qwen25_cot_genAI_bench_video.py",
                           verdict="video"),
    "pair-understanding": Template(THINK_PAIR_UNDERSTANDING,
                                   _THINK + "VL-RewardBench/test_qwen25_cot_vl_rewardbench.py",
                                   verdict="answer"),
}
# UnifiedReward (llava) as its VideoGen-RewardBench script prompts it: pairwise video gets
# that script's own text (8 frames per video, one "<image>\n" per frame); the rest as
# "unifiedreward-llava". Selected with --option prompt_family=unifiedreward-llava-videogen.
FAMILIES["unifiedreward-llava-videogen"] = {
    **FAMILIES["unifiedreward-llava"],
    "pair-video": Template(LLAVA_PAIR_VIDEO_VIDEOGEN,
                           _UR + "LLaVA_evaluation/test_llava_videogen_reward_bench.py",
                           verdict="video"),
}
FAMILIES["unifiedreward-qwen-2.0"] = {
    **FAMILIES["unifiedreward-qwen"],
    "point-image": Template(QWEN2_POINT_IMAGE, _UR + "inference_qwen/UnifiedReward-2.0-inference/"
                            "point_score_ACS_image_generation.py", score="acs", score_range=(1, 5)),
}


def template_for(family: str, mode: str) -> Template:
    try:
        return FAMILIES[family][mode]
    except KeyError:
        have = sorted(FAMILIES.get(family, {}))
        raise ValueError(f"{family} has no upstream prompt for mode {mode!r} (has: {have})") \
            from None


def pair_mode(item: PairItem) -> str:
    """The mode a pair is judged in, from its task and media kind."""
    if item.task == "understanding":
        return "pair-understanding"
    if item.task == "edit":
        # UnifiedReward-Edit's prompt (UnifiedReward-Edit/edit_pairwise_rank.py) belongs to
        # other checkpoints and documents no answer format to parse: not supported here.
        raise ValueError("no upstream UnifiedReward/LLaVA-Critic prompt for image-editing "
                         "pairs (UnifiedReward-Edit checkpoints are not supported yet)")
    kinds = {c.media.kind for c in (item.a, item.b) if c.media is not None}
    if len(kinds) != 1 or item.a.media is None or item.b.media is None:
        raise ValueError("a generation pair needs media on both sides, of one kind")
    return "pair-" + kinds.pop()


def point_mode(item: PointItem) -> str:
    if item.task == "understanding":
        return "point-understanding"
    if item.task == "edit":
        raise ValueError("no upstream UnifiedReward/LLaVA-Critic pointwise prompt for "
                         "image editing")
    if item.candidate.media is None:
        raise ValueError("a generation item needs media")
    return "point-" + item.candidate.media.kind


def _answer(c: Candidate) -> str:
    if c.text is None:
        raise ValueError("an understanding candidate needs an answer text")
    return c.text


def fill(tpl: Template, item: PairItem | PointItem) -> tuple[str, list[MediaRef]]:
    """The user text and the media in the order the upstream scripts pass them."""
    if isinstance(item, PairItem):
        if item.task == "understanding":
            if item.context is None:
                raise ValueError("an understanding pair needs the question image (context)")
            return tpl.text.format(question=item.prompt, answer1=_answer(item.a),
                                   answer2=_answer(item.b)), [item.context]
        return tpl.text.format(prompt=item.prompt), [item.a.media, item.b.media]
    if item.task == "understanding":
        if item.context is None:
            raise ValueError("an understanding item needs the question image (context)")
        return tpl.text.format(question=item.prompt, answer=_answer(item.candidate)), \
            [item.context]
    return tpl.text.format(prompt=item.prompt), [item.candidate.media]


def build_messages(item: PairItem | PointItem, family: str = "unifiedreward-qwen",
                   mode: str | None = None) -> list[dict[str, Any]]:
    """Backend-independent chat messages: one user turn, media parts first, then the text
    (the order of every upstream script). Media parts are ``{"type": "image"|"video",
    "media": MediaRef}``; a backend turns them into pixels, base64 URLs, ..."""
    mode = mode or (pair_mode(item) if isinstance(item, PairItem) else point_mode(item))
    tpl = template_for(family, mode)
    text, media = fill(tpl, item)
    parts: list[dict[str, Any]] = [{"type": m.kind, "media": m} for m in media]
    parts.append({"type": "text", "text": text})
    return [{"role": "user", "content": parts}]


def llava_conversation(user_text: str, image_prefix: str) -> str:
    """LLaVA-NeXT ``conv_templates["qwen_1_5"]`` with one user turn and an open assistant
    turn: ``system<|im_end|>\n<|im_start|>user\n{prefix}{text}<|im_end|>\n<|im_start|>assistant\n``."""
    return (f"{LLAVA_QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\n{image_prefix}{user_text}"
            f"<|im_end|>\n<|im_start|>assistant\n")


def llava_image_prefix(tpl: Template, n_images: int) -> str:
    """The image-token prefix upstream puts before the question for ``n_images`` images
    (video frames count one image each, as in the upstream LLaVA video scripts)."""
    return tpl.llava_joint if tpl.llava_joint is not None else tpl.llava_prefix * n_images
