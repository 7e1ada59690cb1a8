"""Test-only extract: the VideoScore regression prompt, the oracle for
evalsuite.judges.videoscore.REGRESSION_QUERY_PROMPT.

Source: github.com/TIGER-AI-Lab/VideoScore @ 8e449734bbeb4aba327b82f2269e7247633a7abc,
examples/run_videoscore.py ``REGRESSION_QUERY_PROMPT`` (benchmark/utils_tools.py holds the
same string). Copied byte for byte, one line per literal.
"""

REGRESSION_QUERY_PROMPT = (
    '\n'
    'Suppose you are an expert in judging and evaluating the quality of AI-generated videos,\n'
    'please watch the following frames of a given video and see the text prompt for generating the video,\n'  # noqa: E501
    'then give scores from 5 different dimensions:\n'
    '(1) visual quality: the quality of the video in terms of clearness, resolution, brightness, and color\n'  # noqa: E501
    '(2) temporal consistency, both the consistency of objects or humans and the smoothness of motion or movements\n'  # noqa: E501
    '(3) dynamic degree, the degree of dynamic changes\n'
    '(4) text-to-video alignment, the alignment between the text prompt and the video content\n'
    '(5) factual consistency, the consistency of the video content with the common-sense and factual knowledge\n'  # noqa: E501
    '\n'
    'for each dimension, output a float number from 1.0 to 4.0,\n'
    'the higher the number is, the better the video performs in that sub-score, \n'
    'the lowest 1.0 means Bad, the highest 4.0 means Perfect/Real (the video is like a real video)\n'  # noqa: E501
    'Here is an output example:\n'
    'visual quality: 3.2\n'
    'temporal consistency: 2.7\n'
    'dynamic degree: 4.0\n'
    'text-to-video alignment: 2.3\n'
    'factual consistency: 1.8\n'
    '\n'
    'For this video, the text prompt is "{text_prompt}",\n'
    'all the frames of video are as follows:\n'
)
