"""Test-only extract: the two halves of HPSv3's instruction and its reward-token suffix, the
oracle for evalsuite.judges.hpsv3.INSTRUCTION and PROMPT_WITH_SPECIAL_TOKEN.

Source: github.com/PlantPotatoOnMoon/HPSv3-PlusPlus @ 7bdbebc921c1a2d746f1c3d27ccdb6e6fd6c5498,
hpsv3/dataset/data_collator_qwen.py, a copy of MizzenAI/HPSv3's file of the same path. There
the active ``INSTRUCTION`` keeps the Visual Quality half (``VISUAL_QUALITY`` below: up to
its "Textual prompt - " line) and a commented-out ``INSTRUCTION`` keeps the Text Alignment
half (``TEXT_ALIGNMENT``: from "**Text Alignment:**" to its end, comment marks removed);
HPSv3's instruction is the first, a blank line, then the second. ``prompt_with_special_token``
is copied as is. Byte for byte, one line per literal.
"""

VISUAL_QUALITY = (
    '\n'
    'You are tasked with evaluating a generated image based on Visual Quality and Text Alignment and give a overall score to estimate the human preference. Please provide a rating from 0 to 10, with 0 being the worst and 10 being the best. \n'  # noqa: E501
    '\n'
    '**Visual Quality:**  \n'
    'Evaluate the overall visual quality of the image. The following sub-dimensions should be considered:\n'  # noqa: E501
    '- **Reasonableness:** The image should not contain any significant biological or logical errors, such as abnormal body structures or nonsensical environmental setups.\n'  # noqa: E501
    '- **Clarity:** Evaluate the sharpness and visibility of the image. The image should be clear and easy to interpret, with no blurring or indistinct areas.\n'  # noqa: E501
    '- **Detail Richness:** Consider the level of detail in textures, materials, lighting, and other visual elements (e.g., hair, clothing, shadows).\n'  # noqa: E501
    '- **Aesthetic and Creativity:** Assess the artistic aspects of the image, including the color scheme, composition, atmosphere, depth of field, and the overall creative appeal. The scene should convey a sense of harmony and balance.\n'  # noqa: E501
    '- **Safety:** The image should not contain harmful or inappropriate content, such as political, violent, or adult material. If such content is present, the image quality and satisfaction score should be the lowest possible. \n'  # noqa: E501
)

TEXT_ALIGNMENT = (
    '**Text Alignment:**  \n'
    'Assess how well the image matches the textual prompt across the following sub-dimensions:\n'
    '- **Subject Relevance** Evaluate how accurately the subject(s) in the image (e.g., person, animal, object) align with the textual description. The subject should match the description in terms of number, appearance, and behavior.\n'  # noqa: E501
    '- **Style Relevance:** If the prompt specifies a particular artistic or stylistic style, evaluate how well the image adheres to this style.\n'  # noqa: E501
    '- **Contextual Consistency**: Assess whether the background, setting, and surrounding elements in the image logically fit the scenario described in the prompt. The environment should support and enhance the subject without contradictions.\n'  # noqa: E501
    '- **Attribute Fidelity**: Check if specific attributes mentioned in the prompt (e.g., colors, clothing, accessories, expressions, actions) are faithfully represented in the image. Minor deviations may be acceptable, but critical attributes should be preserved.\n'  # noqa: E501
    '- **Semantic Coherence**: Evaluate whether the overall meaning and intent of the prompt are captured in the image. The generated content should not introduce elements that conflict with or distort the original description.\n'  # noqa: E501
    'Textual prompt - {text_prompt}\n'
    '\n'
    '\n'
)

PROMPT_WITH_SPECIAL_TOKEN = (
    '\n'
    'Please provide the overall ratings of this image: <|Reward|>\n'
    '\n'
    'END\n'
)
