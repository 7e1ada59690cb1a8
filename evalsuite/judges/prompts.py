"""Judge prompt templates, kept as data, byte-identical to the upstream evaluation code.

Every template cites the upstream file it was taken from (one comment line above it). The
strings were extracted from the upstream files' own string literals (evaluated with the
placeholders below substituted), never retyped. Placeholders, filled with ``str.format``
(literal braces are doubled): ``{prompt}`` (generation caption / edit
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

# github CodeGoat24/UnifiedReward @ff6f520: inference_qwen/UnifiedReward-2.0-inference/point_score_APS_video_generation.py
QWEN2_POINT_VIDEO = 'You are presented with a generated video and its associated text caption. Your task is to analyze the video across multiple dimensions in relation to the caption. Specifically:\nProvide overall assessments for the video along the following axes (each rated from 1 to 5):\n- Alignment Score: How well the video matches the caption in terms of content.\n- Physics Score: How well the gravity, movements, collisions, and interactions make physical sense.\n- Style Score: How visually appealing the video looks, regardless of caption accuracy.\n\nOutput your evaluation using the format below:\n\nAlignment Score (1-5): X\nPhysics Score (1-5): Y\nStyle Score (1-5): Z\n\nYour task is provided as follows:\nText Caption: [{prompt}]'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: inference_qwen/UnifiedReward-2.0-inference/pair_score_image_generation.py
QWEN2_PAIR_SCORE_IMAGE = 'You are presented with two generated images (Image 1 and Image 2) along with a shared text caption. Your task is to comparatively evaluate the two images across three specific dimensions:\n\n- Alignment Score: How well each image matches the caption in terms of content.\n- Coherence Score: How logically consistent and visually coherent each image is (absence of visual glitches, distorted objects, etc.).\n- Style Score: How aesthetically appealing each image is, regardless of caption accuracy.\n\nFor each dimension, you must assign a relative score to Image 1 and Image 2, such that:\n- Each score is a float between 0 and 1 (inclusive).\n- The scores for Image 1 and Image 2 must sum to exactly 1.0 for each dimension.\n- The higher the score, the better that image is in the corresponding dimension *relative to the other*.\n\nThis format emphasizes comparative quality rather than absolute evaluation.\n\nPlease provide your evaluation in the format below:\n\nAlignment Score:\n Image 1: X\n Image 2: Y\n\nCoherence Score:\n Image 1: X\n Image 2: Y\n\nStyle Score:\n Image 1: X\n Image 2: Y\n\nYour task is provided as follows:\nText Caption: [{prompt}]'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: inference_qwen/UnifiedReward-2.0-inference/pair_score_video_generation.py
QWEN2_PAIR_SCORE_VIDEO = 'You are presented with two generated videos (Video 1 and Video 2) along with a shared text caption. Your task is to comparatively evaluate the two videos across three specific dimensions:\n\n- Alignment Score: How well each video matches the caption in terms of content.\n- Coherence Score: How logically consistent and visually coherent each video is (absence of visual glitches, distorted objects, etc.).\n- Style Score: How aesthetically appealing each video is, regardless of caption accuracy.\n\nFor each dimension, you must assign a relative score to Video 1 and Video 2, such that:\n- Each score is a float between 0 and 1 (inclusive).\n- The scores for Video 1 and Video 2 must sum to exactly 1.0 for each dimension.\n- The higher the score, the better that video is in the corresponding dimension *relative to the other*.\n\nThis format emphasizes comparative quality rather than absolute evaluation.\n\nPlease provide your evaluation in the format below:\n\nAlignment Score:\n Video 1: X\n Video 2: Y\n\nCoherence Score:\n Video 1: X\n Video 2: Y\n\nStyle Score:\n Video 1: X\n Video 2: Y\n\nYour task is provided as follows:\nText Caption: [{prompt}]'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Think/benchmark_evaluation/vLLM_qwen3_evaluation/test_qwen3vl_genai_image.py
THINK3_PAIR_IMAGE = 'You are an objective and precise evaluator for image quality comparison. I will provide you with a text caption and two images generated based on this caption. You must analyze the two images carefully and determine which image is better.\n\n        Evaluation procedure:\n\n        1. The caption for the generated images is: 「{prompt}」. You must evaluate the two images across these core dimensions:\n        - Semantic consistency (how closely the image content aligns with the caption)\n        - Aesthetics (composition, color usage, artistic expression)\n        - Authenticity (realism and attention to detail)\n\n        2. You are also encouraged to add up to two additional evaluation dimensions if they are relevant to the specific caption or images (e.g., creativity, spatial layout, fine-grained detail). If no extra dimensions are relevant, just keep the three core dimensions.\n\n        3. For each evaluation dimension:\n        - Provide a score between 1–10 for both Image 1 and Image 2\n        - Provide a short rationale for each score (2–5 short sentences)\n        - The evaluation must follow exactly this format with line breaks and indentation:\n            Dimension name: \n                Image 1 (x/10) - rationale; \n                Image 2 (y/10) - rationale\n\n        4. After evaluating all dimensions, calculate the total score for each image and show the calculation explicitly, following this exact format:\n            Total score:\n            Image 1: x+x+x=total\n            Image 2: y+y+y=total\n\n        5. Wrap all reasoning and scoring strictly within <think> and </think> tags.\n\n        6. After </think>, output the final judgment strictly inside <answer> and </answer> tags, containing only one of:\n        - Image 1 is better\n        - Image 2 is better\n\n        Constraints:\n        - You must strictly follow the line breaks, indentation, and formatting shown in the example below.\n        - Do not merge multiple dimensions into one line. Each dimension must follow the 3-line block format shown below.\n        - Do not use Markdown formatting, bullet points, bold text, or headings.\n        - Do not output explanations outside <think> and <answer>.\n        - The <answer> tag must contain only the final string with no extra words.\n\n        Required output format:\n\n        <think>\n        1. Semantic consistency: \n            Image 1 (9/10) - ...; \n            Image 2 (7/10) - ...\n        2. Aesthetics: \n            Image 1 (8/10) - ...; \n            Image 2 (8/10) - ...\n        3. Authenticity: \n            Image 1 (8/10) - ...; \n            Image 2 (5/10) - ...\n        [Additional dimension if any]: \n            Image 1 (7/10) - ...; \n            Image 2 (8/10) - ...\n        [Additional dimension if any]: \n            Image 1 (6/10) - ...; \n            Image 2 (7/10) - ...\n        Total score:\n        Image 1: 9+8+8+7+6=38\n        Image 2: 7+8+5+8+7=35\n        </think>\n        <answer>Image 1 is better</answer>\n\n        Note: The example above is only to illustrate the exact format (line breaks, indentation, symbols, and style). Your actual evaluation must follow this format exactly, but be based on the given caption and images.\n        '  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Think/benchmark_evaluation/vLLM_qwen3_evaluation/test_qwen3vl_genai_video.py
THINK3_PAIR_VIDEO = 'You are an objective and precise evaluator for video quality comparison. I will provide you with a text caption and a sequence of consecutive frames extracted from two generated videos based on this caption. The first half of the frames belong to Video 1, and the second half of the frames belong to Video 2. You must analyze these two videos carefully and determine which video is better.\n\n        Instructions (MUST follow strictly):\n        1. All reasoning, analysis, explanations, and scores MUST be written strictly inside <think> and </think> tags.\n        2. The <think> block must start immediately with the first evaluation dimension. Do NOT include any introduction, notes, or explanations before the first numbered dimension.\n        3. After </think>, output the final judgment strictly inside <answer> and </answer> tags, containing only one of:\n        - Video 1 is better\n        - Video 2 is better\n        4. Do NOT output anything outside <think> and <answer>. No extra explanations, notes, or prefaces.\n\n        Evaluation procedure:\n\n        1. The caption for the generated videos is: 「{prompt}」. The provided frames represent two candidate videos:\n        - First half: Video 1\n        - Second half: Video 2\n\n        2. You must evaluate the two videos across these core dimensions:\n        - Semantic consistency (how closely the video content aligns with the caption)\n        - Temporal coherence (smoothness and logical flow of motion across frames)\n        - Authenticity (realism and attention to detail)\n\n        3. You may also add up to two additional evaluation dimensions if they are clearly relevant (e.g., camera stability, lighting consistency, creativity). If no extra dimensions are relevant, keep only the three core dimensions.\n\n        4. For each evaluation dimension:\n        - Provide a score between 1–10 for both Video 1 and Video 2.\n        - Provide a short rationale for each score (2–5 short sentences).\n        - Each dimension must follow exactly this 3-line block format with numbering, line breaks, and indentation:\n            N. Dimension name: \n                Video 1 (x/10) - rationale; \n                Video 2 (y/10) - rationale\n\n        5. After evaluating all dimensions, calculate the total score for each video and show the calculation explicitly, following this exact format:\n            Total score:\n            Video 1: x+x+x(+...)=total\n            Video 2: y+y+y(+...)=total\n\n        6. All reasoning, analysis, scoring, and totals must be written strictly inside <think> and </think> tags. Nothing related to reasoning or scores may appear outside <think>.\n\n        Required output format (follow this exactly, including line breaks and indentation):\n\n        <think>\n        1. Semantic consistency: \n            Video 1 (9/10) - ...; \n            Video 2 (7/10) - ...\n        2. Temporal coherence: \n            Video 1 (8/10) - ...; \n            Video 2 (6/10) - ...\n        3. Authenticity: \n            Video 1 (7/10) - ...; \n            Video 2 (5/10) - ...\n        [Additional dimension if any]: \n            Video 1 (8/10) - ...; \n            Video 2 (6/10) - ...\n        [Additional dimension if any]: \n            Video 1 (7/10) - ...; \n            Video 2 (7/10) - ...\n        Total score:\n        Video 1: 9+8+7+8+7=39\n        Video 2: 7+6+5+6+7=31\n        </think>\n        <answer>Video 1 is better</answer>\n\n        Note: The example above is only to illustrate the exact format (numbering, line breaks, indentation, and style). Your actual evaluation must follow this format exactly, but be based on the given caption and the two provided videos (frames divided into two halves).\n        '  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Think/benchmark_evaluation/vLLM_qwen3_evaluation/test_qwen3vl_vlreward_bench.py
THINK3_PAIR_UNDERSTANDING = 'You are an objective and precise evaluator for image-based question answering. I will provide you with a question, a reference image, and two candidate answers. You must analyze the two answers carefully and determine which one is better.\n\n        Instructions (MUST follow strictly):\n        1. All reasoning, analysis, explanations, and scores MUST be written strictly inside <think> and </think> tags. \n        2. The <think> block must start immediately with the first evaluation dimension. Do NOT include any introduction, notes, or explanations before the first numbered dimension.\n        3. After </think>, output the final judgment strictly inside <answer> and </answer> tags, containing only one of:\n        - Answer 1 is better\n        - Answer 2 is better\n        4. Do NOT output anything outside <think> and <answer>. No extra explanations, notes, or prefaces.\n\n        Evaluation procedure:\n        1. The question is: 「{question}」. The reference image is provided. The two candidate answers are:\n        Answer 1: 「{answer1}」\nAnswer 2: 「{answer2}」\n\n2. You must evaluate the two answers across these core dimensions:\n        - Semantic accuracy (how well the answer reflects the visual content of the image)\n        - Correctness (whether the answer is logically and factually correct)\n        - Clarity (whether the answer is clearly and fluently expressed)\n\n        3. You are also encouraged to add up to two additional evaluation dimensions if they are relevant (e.g., reasoning ability, attention to detail, multimodal grounding). If no extra dimensions are relevant, just keep the three core dimensions.\n\n        4. For each evaluation dimension:\n        - Provide a score between 1–10 for both Answer 1 and Answer 2\n        - Provide a short rationale for each score (2–5 short sentences)\n        - Each dimension must follow exactly this 3-line block format with numbering, line breaks, and indentation:\n            N. Dimension name: \n                Answer 1 (x/10) - rationale; \n                Answer 2 (y/10) - rationale\n\n        5. After evaluating all dimensions, calculate the total score for each answer and show the calculation explicitly, following this exact format:\n            Total score:\n            Answer 1: x+x+x=total\n            Answer 2: y+y+y=total\n\n        Required output format:\n\n        <think>\n        1. Semantic accuracy: \n            Answer 1 (9/10) - ...; \n            Answer 2 (7/10) - ...\n        2. Correctness: \n            Answer 1 (8/10) - ...; \n            Answer 2 (7/10) - ...\n        3. Clarity: \n            Answer 1 (9/10) - ...; \n            Answer 2 (8/10) - ...\n        [Additional dimension if any]: \n            Answer 1 (6/10) - ...; \n            Answer 2 (7/10) - ...\n        [Additional dimension if any]: \n            Answer 1 (9/10) - ...; \n            Answer 2 (7/10) - ...\n        Total score:\n        Answer 1: 9+8+9+6+9=41\n        Answer 2: 7+7+8+7+7=36\n        </think>\n        <answer>Answer 1 is better</answer>\n\n        Note: The example above is only to illustrate the exact format (numbering, line breaks, indentation, and style). Your actual evaluation must follow this format exactly, but be based on the given question, reference image, and candidate answers.\n        '  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Edit/edit_pairwise_rank.py
EDIT_PAIR = 'You are tasked with comparing two edited images and determining which one is better based on the given criteria.\n\nThe evaluation will consider how well each model executed the instructions and the overall quality of the edit, including its visual appeal.\n\n**Inputs Provided:**\n- Source Image (before editing)\n- Edited Image 1 (after applying the instruction)\n- Edited Image 2 (after applying the instruction)\n- Text Instruction\n\n### Evaluation Criteria for Each Image:\n\n1. **Instruction Fidelity**  \nAssess how accurately the edits align with the given instruction. The following aspects should be considered:\n- **Semantic Accuracy:** Does the edited image reflect the correct objects and changes as described in the instruction? For example, if instructed to replace "apples with oranges," ensure that oranges appear instead of other fruits.\n- **Completeness of Changes:** Ensure all parts of the instruction are fully addressed. For multi-step instructions, verify that every change is made as specified.\n- **Exclusivity of Changes:** Confirm that only the specified changes were made. Other elements of the image should remain consistent with the original.\n\n2. **Visual Integrity & Realism**  \nEvaluate the visual quality of the edited image, taking into account technical accuracy and aesthetic appeal:\n- **Realism & Physical Consistency:** Does the edit respect the laws of physics and scene consistency, including lighting, shadows, and perspective?\n- **Artifact-Free Quality:** Look for any technical flaws such as blurring, pixel misalignment, unnatural textures, or visible seams. The image should be clean and free from distractions.\n- **Aesthetic Harmony:** The image should maintain a pleasing visual balance, with careful attention to composition, color harmony, and overall appeal. The changes should enhance the image rather than detract from it.\n\n### Final Output:\nBased on the above evaluation, determine which edited image is better.\n\nText instruction - {prompt}\n'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Edit/edit_paiwise_score.py
EDIT_PAIR_SCORE = 'You are tasked with assigning scores to two edited images, comparing each with the original source image. \n\nThe score should reflect both how well the model executed the instructions and the overall quality of the edit, including its visual appeal for both images.\n\n**Inputs Provided:**\n- Source Image (before editing)\n- Edited Image 1 (after applying the instruction)\n- Edited Image 2 (after applying the instruction)\n- Text Instruction\n\n### Evaluation Criteria for Each Image:\n\n1. **Instruction Fidelity**  \nAssess how accurately the edits align with the given instruction. The following aspects should be considered:\n- **Semantic Accuracy:** Does the edited image reflect the correct objects and changes as described in the instruction? For example, if instructed to replace "apples with oranges," ensure that oranges appear instead of other fruits.\n- **Completeness of Changes:** Ensure all parts of the instruction are fully addressed. For multi-step instructions, verify that every change is made as specified.\n- **Exclusivity of Changes:** Confirm that only the specified changes were made. Other elements of the image should remain consistent with the original.\n\n2. **Visual Integrity & Realism**  \nEvaluate the visual quality of the edited image, taking into account technical accuracy and aesthetic appeal:\n- **Realism & Physical Consistency:** Does the edit respect the laws of physics and scene consistency, including lighting, shadows, and perspective?\n- **Artifact-Free Quality:** Look for any technical flaws such as blurring, pixel misalignment, unnatural textures, or visible seams. The image should be clean and free from distractions.\n- **Aesthetic Harmony:** The image should maintain a pleasing visual balance, with careful attention to composition, color harmony, and overall appeal. The changes should enhance the image rather than detract from it.\n\n### Scoring Guidelines:\n- The score can range from **positive to negative** based on how well the edit follows the instruction and maintains visual quality.\n- A **higher score** indicates a strong adherence to the instruction, clean edits, and a high-quality final result.\n- A **negative score** reflects significant issues, such as errors in the edits, missing parts, over-editing, or visual artifacts that compromise the result.\n\nPlease provide the scores for each image based on the evaluation of the above aspects.\n\nText instruction - {prompt}\n'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Edit/edit_pointwise_instruction_following.py
EDIT_POINT_IF = 'You are a professional digital artist. You will have to evaluate the effectiveness of the AI-generated image(s) based on given rules.\nAll the input images are AI-generated. All human in the images are AI-generated too. so you need not worry about the privacy confidentials.\n\nIMPORTANT: You will have to give your output in this way (Keep your reasoning concise and short.):\n{{\n\n"reasoning" : "...",\n"score" : [...],\n}}\n\nRULES:\n\nTwo images will be provided: The first being the original AI-generated image and the second being an edited version of the first.\nThe objective is to evaluate how successfully the editing instruction has been executed in the second image.\n\nNote that sometimes the two images might look identical due to the failure of image edit.\n\n\nFrom scale 0 to 25: \nA score from 0 to 25 will be given based on the success of the editing. (0 indicates that the scene in the edited image does not follow the editing instruction at all. 25 indicates that the scene in the edited image follow the editing instruction text perfectly.)\nA second score from 0 to 25 will rate the degree of overediting in the second image. (0 indicates that the scene in the edited image is completely different from the original. 25 indicates that the edited image can be recognized as a minimal edited yet effective version of original.)\nPut the score in a list such that output score = [score1, score2], where \'score1\' evaluates the editing success and \'score2\' evaluates the degree of overediting.\n\nEditing instruction:{prompt}\n'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Edit/edit_pointwise_quality.py
EDIT_POINT_QUALITY = 'You are a professional digital artist. You will have to evaluate the effectiveness of the AI-generated image(s) based on given rules.\nAll the input images are AI-generated. All human in the images are AI-generated too. so you need not worry about the privacy confidentials.\n\nIMPORTANT: You will have to give your output in this way (Keep your reasoning concise and short.):\n{{\n\n"reasoning" : "...",\n"score" : [...],\n}}\n\nRULES:\n\nThe image is an AI-generated image.\nThe objective is to evaluate how successfully the image has been generated.\n\nFrom scale 0 to 25: \nA score from 0 to 25 will be given based on image naturalness. \n(\n    0 indicates that the scene in the image does not look natural at all or give a unnatural feeling such as wrong sense of distance, or wrong shadow, or wrong lighting. \n    25 indicates that the image looks natural.\n)\nA second score from 0 to 25 will rate the image artifacts. \n(\n    0 indicates that the image contains a large portion of distortion, or watermark, or scratches, or blurred faces, or unusual body parts, or subjects not harmonized. \n    25 indicates the image has no artifacts.\n)\nPut the score in a list such that output score = [naturalness, artifacts]\n'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Flex/flex_pair_rank_image_generation.py
FLEX_PAIR_IMAGE = '## Identity\nYou are a top-tier AI Image Content Evaluation Expert. Your task is to perform a hierarchical, multi-dimensional comparative analysis of Image 1 and Image 2 based on the provided Prompt.\n\n## Evaluation Framework\n\n### 1. Mandatory Starting Categories\nFor every evaluation, you MUST address these three core areas, but you should **independently define 3-5 sub-dimensions** for each based on what makes the images distinct:\n- **A. Semantic Alignment & Accuracy**: Evaluate how well the images capture the prompt\'s subjects, actions, and constraints.\n- **B. Image Quality & Realism**: Evaluate technical execution, physical logic, and visual clarity.\n- **C. Aesthetics & Artistry**: Evaluate artistic appeal, color harmony, and compositional mastery.\n*Note: If the prompt involves unique traits, you are encouraged to add a personalized Category D.*\n\n### 2. Scoring & Reasoning Rules\n- **Dynamic Dimensions**: Do not rely on a fixed list. Choose sub-dimensions that best highlight the differences between the two images.\n- **Sum-of-10 Constraint**: For every sub-dimension, the scores for Image 1 and Image 2 MUST total exactly 10 (e.g., 8+2, 5+5).\n- **Evidence-Based Reasoning**: Provide professional, critical analysis for each score. Avoid generic praise; point out specific visual evidence.\n\n## Input Data\n**Prompt:** [{prompt}]\n\n**Content to be Evaluated:**\n[Image 1] \n[Image 2] \n\n## Output Format\nOutput the results as a single, complete JSON object.\n\n```json\n{{\n  "prompt": "[Original Prompt]",\n  "categories": [\n    {{\n      "name": "[Category Name]",\n      "dims": [\n        {{\n          "name": "[Custom Sub-dimension]",\n          "reason_1": "[Specific evidence]",\n          "reason_2": "[Specific evidence]",\n          "score_1": 0-10,\n          "score_2": 0-10\n        }}\n      ],\n      "cat_reason": "[Category-level analysis]",\n      "cat_winner": "Image 1/2"\n    }}\n  ],\n  "reason": "[Overall analysis]",\n  "winner": "Image 1/2"\n}}\n'  # noqa: E501

# github CodeGoat24/UnifiedReward @ff6f520: UnifiedReward-Flex/flex_pair_rank_video_generation.py
FLEX_PAIR_VIDEO = '## Identity\nYou are a top-tier AI Video Evaluation Expert. Perform a hierarchical, multi-dimensional comparative analysis of Video 1 and Video 2 based on the provided Prompt.\n\n## Evaluation Framework\n\n### 1. Mandatory Categories\nFor each, independently define **3-5 specific sub-dimensions** based on the videos\' actual content:\n- **A. Semantic Alignment & Accuracy**: Accuracy of subjects, attributes, spatial relationships, and environment as defined by the prompt.\n- **B. Video Quality & Dynamic Realism**: Technical fidelity, temporal stability (no flickering/warping), subject identity persistence, and physical plausibility of motion.\n- **C. Narrative, Aesthetics & Cinematography**: Composition, color harmony, camera movement quality (smoothness/intent), and narrative flow.\n*Note: If the prompt involves unique traits, you are encouraged to add a personalized Category D.*\n\n### 2. Core Rules\n- **Dynamic Selection**: Do NOT simply copy a fixed list. Choose sub-dimensions that most effectively differentiate the two videos.\n- **Sum-of-10 Scoring**: For every sub-dimension, the total score (Video 1 + Video 2) MUST strictly equal 10 points (e.g., 6+4, 5+5).\n- **Evidence-Based Reasoning**: Provide professional, critical analysis pointing to specific visual/temporal evidence.\n\n## Input Data\n**Prompt:** [{prompt}]\n\n**Content to be Evaluated:**\n[Video 1] \n[Video 2] \n\n## Output Format\nReturn a single, valid JSON object in English.\n\n```json\n{{\n  "prompt": "[Original Prompt]",\n  "categories": [\n    {{\n      "name": "[Category Name]",\n      "dims": [\n        {{\n          "name": "[Custom Sub-dimension]",\n          "reason_1": "[Specific evidence]",\n          "reason_2": "[Specific evidence]",\n          "score_1": 0-10,\n          "score_2": 0-10\n        }}\n      ],\n      "cat_reason": "[Category-level analysis]",\n      "cat_winner": "Video 1/2"\n    }}\n  ],\n  "reason": "[Overall analysis]",\n  "winner": "Video 1/2"\n}}\n'  # noqa: E501

# LLaVA-Critic pairwise ranking: huggingface.co/lmms-lab/llava-critic-7b README "Quick Start"
CRITIC_PAIR = "Given an image and a corresponding question, please serve as an unbiased and fair judge to evaluate the quality of the answers provided by a Large Multimodal Model (LMM). Determine which answer is better and explain your reasoning with specific details. Your task is provided as follows:\nQuestion: [{question}]\nThe first response: [{answer1}]\nThe second response: [{answer2}]\nASSISTANT:\n"  # noqa: E501
# huggingface.co/lmms-lab/llava-critic-7b README, commented "pointwise scoring" (trailing space kept)
CRITIC_POINT = "Given an image and a corresponding question, please serve as an unbiased and fair judge to evaluate the quality of answer answers provided by a Large Multimodal Model (LMM). Score the response out of 100 and explain your reasoning with specific details. Your task is provided as follows:\nQuestion: [{question}]\nThe LMM response: [{answer}]\nASSISTANT:\n "  # noqa: E501

# LLaVA-NeXT llava/conversation.py conv_qwen ("qwen_1_5"), SeparatorStyle.CHATML get_prompt().
LLAVA_QWEN_SYSTEM = "<|im_start|>system\nYou are a helpful assistant."
LLAVA_IMAGE_TOKEN = "<image>"  # llava/constants.py DEFAULT_IMAGE_TOKEN

# Modes: pairwise x (image|video generation, image understanding, image editing), pointwise
# likewise; an edited image is scored pointwise by two prompts (instruction following and
# quality, UnifiedReward-Edit's two pointwise scripts).
MODES = ("pair-image", "pair-video", "pair-understanding", "pair-edit",
         "point-image", "point-video", "point-understanding", "point-edit")
POINT_EDIT_PARTS = ("point-edit-if", "point-edit-quality")


@dataclass(frozen=True)
class Template:
    """One prompt as one upstream script sends it: the text, how that script prepares the
    media, and how its answer is read (a verdict scheme for pairs, a score scheme)."""

    text: str
    source: str
    llava_prefix: str = "<image>\n"  # per image (or per video frame) unless ``llava_joint``
    llava_joint: str | None = None  # a fixed prefix for all images (LLaVA GenAI image script)
    verdict: str | None = None  # parsing.VERDICT_SCHEMES key
    score: str | None = None  # parsing.SCORE_SCHEMES key (a pair template: one per side)
    score_range: tuple[float, float] | None = None
    # Media, as the script prepares it. "qwen-vl-utils": transformers scripts calling
    # process_vision_info; "jpeg": the vLLM request scripts (RGB, JPEG quality 95, resized
    # by the served processor).
    media: str = "qwen-vl-utils"
    image_size: tuple[int, int] | None = None  # PIL resize first (Think GenAI image: 512x512)
    frames: int | None = None  # videos sent as this many frames, each an image
    frame_rule: str = "linspace"  # linspace(0, n-1, k).astype(int) | "stride": int(i*n/k)
    max_new_tokens: int | None = None  # None: the model card's


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
# UnifiedReward (llava) as its VideoGen-RewardBench script prompts it: pairwise video gets
# that script's own text (8 frames per video, one "<image>\n" per frame); the rest as
# "unifiedreward-llava". Selected with --option prompt_family=unifiedreward-llava-videogen.
FAMILIES["unifiedreward-llava-videogen"] = {
    **FAMILIES["unifiedreward-llava"],
    "pair-video": Template(LLAVA_PAIR_VIDEO_VIDEOGEN,
                           _UR + "LLaVA_evaluation/test_llava_videogen_reward_bench.py",
                           verdict="video"),
}

# UnifiedReward-Think on Qwen2.5-VL (transformers scripts, qwen-vl-utils): chain of thought,
# verdict in <answer>...</answer>, no tie. The GenAI-Bench image script resizes both images
# to 512x512 before process_vision_info; max_new_tokens 512 / 1024 / 4096.
_THINK = _UR + "UnifiedReward-Think/benchmark_evaluation/"
FAMILIES["unifiedreward-think-qwen"] = {
    "pair-image": Template(THINK_PAIR_IMAGE, _THINK + "GenAI-Bench-Image/test_qwen25_cot_genAI_bench_image.py",
                           verdict="image-think", image_size=(512, 512), max_new_tokens=512),
    "pair-video": Template(THINK_PAIR_VIDEO, _THINK + "GenAI-Bench-Video/test_qwen25_cot_genAI_bench_video.py",
                           verdict="video-think", max_new_tokens=1024),
    "pair-understanding": Template(THINK_PAIR_UNDERSTANDING,
                                   _THINK + "VL-RewardBench/test_qwen25_cot_vl_rewardbench.py",
                                   verdict="answer-think", max_new_tokens=4096),
}

# UnifiedReward-Think on LLaVA-OneVision (UnifiedReward-Think-7b): the same texts after the
# LLaVA image tokens; GenAI-Bench image resized to 512x512, 8 frames per video, 4096 tokens.
FAMILIES["unifiedreward-think-llava"] = {
    "pair-image": Template(THINK_PAIR_IMAGE, _THINK + "GenAI-Bench-Image/test_llava_cot_genAI_bench_image.py",
                           llava_joint="<image>\n <image>\n", verdict="image-think"),
    "pair-video": Template(THINK_PAIR_VIDEO, _THINK + "GenAI-Bench-Video/test_llava_cot_genAI_bench_video.py",
                           verdict="video-think"),
    "pair-understanding": Template(THINK_PAIR_UNDERSTANDING,
                                   _THINK + "VL-RewardBench/test_llava_cot_vl_rewardbench.py",
                                   verdict="answer-think"),
}

# The vLLM request scripts (vllm_qwen/vllm_request.py: RGB, JPEG quality 95, max_tokens
# 4096): UnifiedReward-2.0 benchmark scripts, Think-qwen3vl, Edit, Flex. Videos go as 8
# frames each (decord, linspace(0, n-1, 8).astype(int32)), Video 1's then Video 2's.
_JPEG: dict[str, Any] = {"media": "jpeg", "max_new_tokens": 4096}
_VLLM = _UR + "benchmark_evaluation/vLLM_evaluation/"
_V2 = _UR + "inference_qwen/UnifiedReward-2.0-inference/"
FAMILIES["unifiedreward-qwen-2.0"] = {
    "pair-image": Template(QWEN_PAIR_IMAGE, _VLLM + "test_qwen_genai_image.py", verdict="image",
                           **_JPEG),
    "pair-video": Template(QWEN_PAIR_VIDEO, _VLLM + "test_qwen_genai_video.py", verdict="video",
                           frames=8, **_JPEG),
    "pair-understanding": Template(QWEN_PAIR_UNDERSTANDING, _VLLM + "test_qwen_vlreward_bench.py",
                                   verdict="answer", **_JPEG),
    "point-image": Template(QWEN2_POINT_IMAGE, _V2 + "point_score_ACS_image_generation.py",
                            score="acs", score_range=(1, 5), **_JPEG),
    # read_video_frames(num_frames=16): frames int(i * n / 16), saved as JPEG by OpenCV
    "point-video": Template(QWEN2_POINT_VIDEO, _V2 + "point_score_APS_video_generation.py",
                            score="aps", score_range=(1, 5), frames=16, frame_rule="stride",
                            **_JPEG),
    "point-understanding": FAMILIES["unifiedreward-qwen"]["point-understanding"],
}
# 2.0 pairwise *scores* (each axis: Image 1 + Image 2 = 1); margin = mean(A) - mean(B).
# Selected with --option prompt_family=unifiedreward-qwen-2.0-pair-score.
FAMILIES["unifiedreward-qwen-2.0-pair-score"] = {
    **FAMILIES["unifiedreward-qwen-2.0"],
    "pair-image": Template(QWEN2_PAIR_SCORE_IMAGE, _V2 + "pair_score_image_generation.py",
                           score="pair-acs", score_range=(0, 1), **_JPEG),
    "pair-video": Template(QWEN2_PAIR_SCORE_VIDEO, _V2 + "pair_score_video_generation.py",
                           score="pair-acs", score_range=(0, 1), frames=8, frame_rule="stride",
                           **_JPEG),
}
_T3 = _THINK + "vLLM_qwen3_evaluation/"
FAMILIES["unifiedreward-think-qwen3"] = {
    "pair-image": Template(THINK3_PAIR_IMAGE, _T3 + "test_qwen3vl_genai_image.py",
                           verdict="image-think", **_JPEG),
    "pair-video": Template(THINK3_PAIR_VIDEO, _T3 + "test_qwen3vl_genai_video.py",
                           verdict="video-think", frames=8, **_JPEG),
    "pair-understanding": Template(THINK3_PAIR_UNDERSTANDING, _T3 + "test_qwen3vl_vlreward_bench.py",
                                   verdict="answer-think", **_JPEG),
}
# UnifiedReward-Edit: image editing (source image, then the edited ones); its text-to-image
# inference is that of UnifiedReward-2.0 ("T2I inference code is unchanged").
_EDIT = _UR + "UnifiedReward-Edit/"
FAMILIES["unifiedreward-edit"] = {
    **FAMILIES["unifiedreward-qwen-2.0"],
    "pair-edit": Template(EDIT_PAIR, _EDIT + "edit_pairwise_rank.py", verdict="edit", **_JPEG),
    "point-edit-if": Template(EDIT_POINT_IF, _EDIT + "edit_pointwise_instruction_following.py",
                              score="edit-if", score_range=(0, 25), **_JPEG),
    "point-edit-quality": Template(EDIT_POINT_QUALITY, _EDIT + "edit_pointwise_quality.py",
                                   score="edit-quality", score_range=(0, 25), **_JPEG),
}
# Edit pairwise *scores* (--option prompt_family=unifiedreward-edit-pair-score).
FAMILIES["unifiedreward-edit-pair-score"] = {
    **FAMILIES["unifiedreward-edit"],
    "pair-edit": Template(EDIT_PAIR_SCORE, _EDIT + "edit_paiwise_score.py", score="edit-pair",
                          **_JPEG),
}
# UnifiedReward-Flex: JSON answer with a "winner"; video as 8 OpenCV frames per video.
_FLEX = _UR + "UnifiedReward-Flex/"
FAMILIES["unifiedreward-flex"] = {
    "pair-image": Template(FLEX_PAIR_IMAGE, _FLEX + "flex_pair_rank_image_generation.py",
                           verdict="flex-image", **_JPEG),
    "pair-video": Template(FLEX_PAIR_VIDEO, _FLEX + "flex_pair_rank_video_generation.py",
                           verdict="flex-video", frames=8, **_JPEG),
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
        return "pair-edit"
    kinds = {c.media.kind for c in (item.a, item.b) if c.media is not None}
    if len(kinds) != 1 or item.a.media is None or item.b.media is None:
        raise ValueError("a generation pair needs media on both sides, of one kind")
    return "pair-" + kinds.pop()


def point_mode(item: PointItem) -> str:
    if item.task == "understanding":
        return "point-understanding"
    if item.task == "edit":
        return "point-edit"
    if item.candidate.media is None:
        raise ValueError("a generation item needs media")
    return "point-" + item.candidate.media.kind


def _answer(c: Candidate) -> str:
    if c.text is None:
        raise ValueError("an understanding candidate needs an answer text")
    return c.text


def _media(c: Candidate) -> MediaRef:
    if c.media is None:
        raise ValueError("this candidate has no media")
    return c.media


def fill(tpl: Template, item: PairItem | PointItem, mode: str | None = None
         ) -> tuple[str, list[MediaRef]]:
    """The user text and the media in the order the upstream scripts pass them."""
    if item.task in ("understanding", "edit") and item.context is None:
        what = "question image" if item.task == "understanding" else "source image"
        raise ValueError(f"an {item.task} item needs its {what} (context)")
    if isinstance(item, PairItem):
        if item.task == "understanding":
            return tpl.text.format(question=item.prompt, answer1=_answer(item.a),
                                   answer2=_answer(item.b)), [item.context]
        text = tpl.text.format(prompt=item.prompt)
        if item.task == "edit":  # source image, then Edited Image 1 and 2
            return text, [item.context, _media(item.a), _media(item.b)]
        return text, [_media(item.a), _media(item.b)]
    if item.task == "understanding":
        return tpl.text.format(question=item.prompt, answer=_answer(item.candidate)), \
            [item.context]
    if item.task == "edit":
        # instruction following sees the source and the edit; quality the edit alone
        if mode == "point-edit-quality":
            return tpl.text.format(), [_media(item.candidate)]
        return tpl.text.format(prompt=item.prompt), [item.context, _media(item.candidate)]
    return tpl.text.format(prompt=item.prompt), [_media(item.candidate)]


def build_messages(item: PairItem | PointItem, family: str = "unifiedreward-qwen",
                   mode: str | None = None) -> list[dict[str, Any]]:
    """Backend-independent chat messages: one user turn, media parts first, then the text
    (the order of every upstream script). Media parts are ``{"type": "image"|"video",
    "media": MediaRef}``; a backend turns them into pixels, base64 URLs, ..."""
    mode = mode or (pair_mode(item) if isinstance(item, PairItem) else point_mode(item))
    tpl = template_for(family, mode)
    text, media = fill(tpl, item, mode)
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
