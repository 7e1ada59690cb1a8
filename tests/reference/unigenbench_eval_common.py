# -*- coding: utf-8 -*-
# Test-only extract of UniGenBench's evaluation protocol, the oracle for
# evalsuite.capabilities.unigenbench.
#
# Source: github CodeGoat24/UniGenBench, commit 49d0bcebb0b9418d975d3957c2fee10f34811d14,
# eval/src/eval_common.py: EXPLANATION_DICT_EN / _ZH, SYSTEM_PROMPT_EN_TEMPLATE / _ZH_TEMPLATE,
# LANG_CONFIGS, build_system_prompt, parse_evaluation_response, calculate_scores - unchanged.
# License of the source repository: see its License.txt.
# ruff: noqa
import ast
import json
import os
import re
from collections import defaultdict

import pandas as pd


EXPLANATION_DICT_EN = {
    "Relationship - Comparison": "Comparison of attributes between two entities",
    "Relationship - Composition": "An entity is composed of one or more other entities",
    "Relationship - Inclusion": "A container contains an entity; the container can also be a plane, e.g., a snake in a painting on a wall",
    "Relationship - Similarity": "Existence of similarities between different entities",

    "Compound - Imagination": "Things that are impossible in real life",
    "Compound - Feature Matching": "Different entities possess different types of attribute features",

    "Attribute - Size": "Assessment of the subject's size, height, length, thickness, width, or tallness/shortness",
    "Attribute - Expression": "Distinguishing expressions from facial actions; expressions must convey a clear emotion",
    "Attribute - Quantity": "Focuses on the challenge of depicting three or more items accurately",
    "Attribute - Material": "Evaluation of different material types and textures",
    "Attribute - Color": "Assessment of different colors",
    "Attribute - Shape": "Assessment of different shapes",

    "Entity Layout - Two-Dimensional Space": "Arrangement and positioning of entities in two-dimensional space",
    "Entity Layout - Three-Dimensional Space": "Arrangement and positioning of entities in three-dimensional space",

    "Action - Full-body (Character/Anthropomorphic)": "Full-body actions by characters or anthropomorphized entities, such as running, diving, breakdancing, swinging, or hanging upside down",
    "Action - Hand (Character/Anthropomorphic)": "Focuses on hand structure—checking if fingers are missing, broken, or distorted",
    "Action - Animal": "Actions performed by animals",
    "Action - Contact Interaction": "Physical interactions between entities",
    "Action - Non-contact Interaction": "For example, two people making eye contact—testing if the model can accurately depict such interactions",
    "Action - State": "A sustained state of an entity, typically expressed with a verb",

    "Grammar - Negation": "Tests the model's understanding of negation grammar",
    "Grammar - Pronoun Reference": "Tests if the model can resolve ambiguous pronoun references correctly",
    "Grammar - Consistency": "Evaluation of shared attributes among entities",

    "World Knowledge": "Covers knowledge of celebrities, architecture, basic domain knowledge, and internet slang. Celebrities with modern copyright risk should be avoided",

    "Style": "Art, painting, photography, design styles, and corresponding artist names",
    "Text Generation": "The text content model needed to accurately generate without any omissions or extra words",

    "Logical Reasoning": "Requires the model to deeply understand the intent and perform reasoning",
}

EXPLANATION_DICT_ZH = {
    "关系-比较关系": "两者的属性对比",
    "关系-构成关系": "一个实体由另一种或几种实体构成",
    "关系-包含关系": "容器对实体的包含关系，容器也可以是平面的，比如：墙上的画里有一只蛇",
    "关系-相似关系": "不同实体中存在的相似关系",

    "复合考点-想象力": "现实生活中不可能发生的事情",
    "复合考点-不同实体特征匹配": "不同实体拥有不同类的属性特征",

    "实体布局-三维空间": "对于三维空间实体的摆放布局",
    "实体布局-二维空间": "对于二维空间实体的摆放布局",

    "属性-大小": "对主体 大小/高低/长短/粗细/宽窄/高矮",
    "属性-表情": "区分表情和脸部动作，脸部动作组成表情，但表情是一定要体现出某种情绪的。",
    "属性-数量": "重点考察三个或三个以上的数字难点",
    "属性-材质": "考察不同材质",
    "属性-颜色": "考察不同颜色",
    "属性-形状": "考察不同形状",

    "动作-人物/拟人全身动作": "人物或拟人全身性的动作，比如奔跑、跳水、跳街舞、荡秋千、倒挂金钩等",
    "动作-人物/拟人手部动作": "针对手部结构的考点，考核手指是否有缺失、崩坏等问题",
    "动作-动物动作": "动物的动作",
    "动作-实体间有接触互动": "各种实体间的有接触互动",
    "动作-实体间无接触互动": "比如两个人对视，考核模型能否把对视关系画对",
    "动作-状态": "实体持续的状态，一般是一个动词。",

    "语法-否定": "考察模型对于否定语法的掌握程度",
    "语法-代词指代": "这里的代词通常是有一些迷惑性的，考察模型能否正确对应",
    "语法-统一性": "实体共同属性的考察",

    "世界知识": "名人、建筑、基础的领域知识、网络流行语。其中名人不要使用当代有版权风险的名人",

    "风格": "艺术、绘画、摄影、设计风格，及对应艺术家名称",

    "逻辑推理": "需要模型深入理解意图并进行一定的推理",

    "文本生成": "考察模型能否准确生成不同语言，字体和长、短文字",
}


# ============================================================
# System Prompt Templates
# ============================================================

SYSTEM_PROMPT_EN_TEMPLATE = '''You are a precise and objective English-language image description system. I will provide you with a prompt for image generation, as well as the corresponding generated image. You will be given a set of evaluation criteria (checkpoints) and their explanations that define the relevance between the prompt and the image. You must evaluate whether the generated image fulfills the requirements implied by each checkpoint in the prompt.

            For each image, follow the steps below in order:

            1. The prompt for the generated image is: 「{prompt}」. You are to analyze the image content in detail from the angles specified in {testpoint}. Detailed definitions of these checkpoints are provided here: {explanation}. The specific description of each checkpoint in the context of the prompt is: {test_explanation}. You must analyze whether the image meets the requirements for each checkpoint individually.

            2. Based on the above analysis, determine whether the generated image satisfies each checkpoint in terms of its visual alignment with the prompt. If the image meets the requirements of a checkpoint, assign a score of 1 to that checkpoint; otherwise, assign a score of 0.

            Constraints:
            - Only describe content that is directly visible; do not interpret, speculate, or infer any background story.
            - Focus solely on visually verifiable details.
            - Omit any uncertain or ambiguous elements.
            - Even if mentioned in the input, do not describe abstract entities, emotions, or speculative ideas.

            Please strictly follow the output format below:

            <description>
                <prompt>{prompt}</prompt>
                <checkpoint>{testpoint}</checkpoint>
                <analysis>A list using square brackets `[]`, where each element is a string of detailed analysis corresponding to one checkpoint, as required in Step 1. **Ensure the list length matches the number of checkpoints**. Each element should be a string representing the analysis for that specific checkpoint.</analysis>
                <score>A list using square brackets `[]`, where each element is a binary score (0 or 1) corresponding to a checkpoint, as required in Step 2. **Ensure the list length matches the number of checkpoints**. Each element should be either 0 or 1, indicating whether the checkpoint was satisfied.</score>
            </description>
            '''

SYSTEM_PROMPT_ZH_TEMPLATE = '''你是一个精确且客观的中文图像描述系统。我会给你一段生成图像的提示词，以及对应的生成图像，同时对于生成图像与提示词之间相关性的考点及对应说明，你需要逐个考点来判断生成的图像是否遵从了提示词中所包含的对应考点要求。

        针对每张图像，你需要按照顺序完成如下的任务：
        1. 这张生成图像对应的提示词为「{prompt}」，你需要根据{testpoint}中的这些角度逐个对图像内容进行更进一步的详细分析，考点的详细说明如下：{explanation}，各个考点在这条prompt中对应的描述说明如下：{test_explanation}, 你需要根据考点逐一判断生成图像是否满足了考点对应的要求
        2. 综合上述回答，你需要逐个考点判断生成的图像在考点关注维度上是否符合输入的prompt，如果满足要求则该考点得分为1，否则为0

        约束条件：
        - 仅描述直接可见的内容；不要进行解读、推测或暗示背景故事。
        - 专注于能够确定性陈述的视觉细节。
        - 省略不确定或不清晰的细节。
        - 即使输入中存在，也不要描述抽象实体、情感或推测。

        请严格遵循以下输出格式：

        <description>
            <prompt>{prompt}</prompt>
            <checkpoint>{testpoint}</checkpoint>
            <analysis>按照步骤1对于给定考点进行逐项详细分析，格式为一个方括号列表，**确保列表的长度与考点的数量相等**，每个元素为一个字符串，表示对于对应考点的分析</analysis>
            <score>按照步骤2逐个对考点进行打分，格式为一个方括号列表，**确保列表的长度与考点的数量相等**，每个元素为0或者1，表示对应考点是否完成</score>
        </description>
        '''


LANG_CONFIGS = {
    "en": {
        "explanation_dict": EXPLANATION_DICT_EN,
        "system_prompt_template": SYSTEM_PROMPT_EN_TEMPLATE,
        "prompt_column": "prompt_en",
        "subdim_column": "sub_dims_en",
        "testpoint_key": "Testpoints",
        "desc_key": "Testpoint Description",
        "checkpoint_header": "Checkpoints Defination",
        "checkpoint_desc_header": "Checkpoints Description",
    },
    "zh": {
        "explanation_dict": EXPLANATION_DICT_ZH,
        "system_prompt_template": SYSTEM_PROMPT_ZH_TEMPLATE,
        "prompt_column": "prompt_zh",
        "subdim_column": "sub_dims_zh",
        "testpoint_key": "考点",
        "desc_key": "考点对应描述",
        "checkpoint_header": "考点说明",
        "checkpoint_desc_header": "考点描述说明",
    },
}


def build_system_prompt(prompt, testpoint, test_desc, lang):
    """Build the full system prompt for a single evaluation task."""
    config = LANG_CONFIGS[lang]
    explanation_dict = config["explanation_dict"]

    # Build checkpoint explanation
    explanation = f"{config['checkpoint_header']}:\u300c"
    for point in testpoint:
        if point not in explanation_dict:
            raise ValueError(f"Checkpoint '{point}' not found in {lang} explanation dict")
        explanation += f"\n{point}: {explanation_dict[point]}"
    explanation += "\n\u300d"

    # Build checkpoint description
    test_explanation = f"{config['checkpoint_desc_header']}:\u300c"
    for idx, point in enumerate(testpoint):
        test_explanation += f"\n{point}: {test_desc[idx]}"
    test_explanation += "\n\u300d"

    return config["system_prompt_template"].format(
        prompt=prompt,
        testpoint=testpoint,
        explanation=explanation,
        test_explanation=test_explanation,
    )


def parse_evaluation_response(text, testpoint):
    """Parse XML-formatted model response to extract analysis and score.

    Returns:
        (analysis, score) tuple on success, None on failure.
    """
    if text is None:
        return None

    analysis_match = re.search(r"<analysis>(.*?)</analysis>", text, re.DOTALL)
    score_match = re.search(r"<score>(.*?)</score>", text, re.DOTALL)

    if analysis_match is None or score_match is None:
        print("Warning: <analysis> or <score> tags not found in response")
        return None

    try:
        analysis = ast.literal_eval(analysis_match.group(1).strip())
        score = ast.literal_eval(score_match.group(1).strip())
    except (ValueError, SyntaxError) as e:
        print(f"Warning: failed to parse response: {e}")
        return None

    if len(testpoint) != len(analysis) or len(testpoint) != len(score):
        print(
            f"Warning: length mismatch - testpoint({len(testpoint)}) "
            f"vs analysis({len(analysis)}) vs score({len(score)})"
        )
        return None

    return analysis, score


def calculate_scores(csv_path_or_df, json_path=None):
    """Calculate and print accuracy statistics grouped by dimension.

    Args:
        csv_path_or_df: Path to a result CSV file, or a pandas DataFrame.
        json_path:      If provided, save the score summary to this JSON file.

    Returns:
        dict with "primary_dimensions" and "sub_dimensions" score breakdowns.
    """
    if isinstance(csv_path_or_df, str):
        df = pd.read_csv(csv_path_or_df)
    else:
        df = csv_path_or_df

    big_class_stats = defaultdict(lambda: [0, 0])
    small_class_stats = defaultdict(lambda: [0, 0])

    for _, row in df.iterrows():
        try:
            checkpoints = ast.literal_eval(row["testpoint"])
            if isinstance(row["result_json"], str):
                scores = ast.literal_eval(row["result_json"])["score"]
            else:
                scores = row["score"]
            if not isinstance(scores, list):
                scores = ast.literal_eval(row["score"])

            for cp, score in zip(checkpoints, scores):
                if "-" in cp:
                    big_class = cp.split("-", 1)[0]
                    small_class = cp
                else:
                    big_class = small_class = cp

                big_class_stats[big_class][1] += 1
                small_class_stats[small_class][1] += 1
                if score == 1:
                    big_class_stats[big_class][0] += 1
                    small_class_stats[small_class][0] += 1
        except Exception as e:
            print(f"Warning: skipping row due to error: {e}")
            continue

    # Build structured result
    result = {"primary_dimensions": {}, "sub_dimensions": {}}

    print("\n\U0001f4d8 Primary Dimension Evaluation Results:")
    for big_class, (correct, total) in big_class_stats.items():
        acc = correct / total if total > 0 else 0
        print(f"  - {big_class}: {correct}/{total} = {acc:.2%}")
        result["primary_dimensions"][big_class] = {
            "correct": correct, "total": total, "accuracy": round(acc, 4),
        }

    print("\n\U0001f4d7 Sub Dimension Evaluation Results:")
    for small_class in sorted(small_class_stats.keys()):
        correct, total = small_class_stats[small_class]
        acc = correct / total if total > 0 else 0
        print(f"  - {small_class}: {correct}/{total} = {acc:.2%}")
        result["sub_dimensions"][small_class] = {
            "correct": correct, "total": total, "accuracy": round(acc, 4),
        }

    # Save to JSON
    if json_path:
        os.makedirs(os.path.dirname(json_path) or ".", exist_ok=True)
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(result, f, ensure_ascii=False, indent=4)
        print(f"\nScore summary saved to: {json_path}")

    return result
