"""Test-only extracts of upstream frame-index code, the oracles of tests/test_media.py.
Each function is the upstream lines with only the decoder calls removed (they take the frame
count the upstream reader would have read). qwen-vl-utils itself is imported by the tests.

* ``lmms_eval_load_video_decord`` - github EvolvingLMMs-Lab/lmms-eval,
  lmms_eval/models/model_utils/load_video.py, ``load_video_decord``,
  commit 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3.
* ``lmms_eval_qwen2_5_vl_subsample`` - same repository and commit,
  lmms_eval/models/simple/qwen2_5_vl.py, ``generate_until`` (after ``process_vision_info``).
* ``videoscore_indices`` - github TIGER-AI-Lab/VideoScore, examples/run_videoscore.py,
  commit 8e449734bbeb4aba327b82f2269e7247633a7abc.
* ``vbench_get_frame_indices`` - github Vchitect/VBench, vbench/utils.py
  ``get_frame_indices`` (the ``middle`` branch), commit
  45e79ec14e69a2187202c675d2dbce1a71843d53.
"""

import numpy as np


def lmms_eval_load_video_decord(total_frame_num, max_frames_num):
    uniform_sampled_frames = np.linspace(0, total_frame_num - 1, max_frames_num, dtype=int)
    frame_idx = uniform_sampled_frames.tolist()
    return frame_idx


def lmms_eval_qwen2_5_vl_subsample(total_frames, max_num_frames):
    """Positions kept among the ``total_frames`` frames qwen-vl-utils returned."""
    indices = np.linspace(0, total_frames - 1, max_num_frames, dtype=int)
    # Ensure unique indices if linspace produces duplicates for few frames
    indices = np.unique(indices)
    # Append the last frame index if not already included
    if total_frames - 1 not in indices:
        indices = np.append(indices, total_frames - 1)
        indices = np.unique(indices)  # Ensure uniqueness again
    return indices


def videoscore_indices(total_frames, MAX_NUM_FRAMES):
    if total_frames > MAX_NUM_FRAMES:
        indices = np.arange(0, total_frames, total_frames / MAX_NUM_FRAMES).astype(int)
    else:
        indices = np.arange(total_frames)
    return indices


def vbench_get_frame_indices(num_frames, vlen, sample='middle'):
    if sample in ["rand", "middle"]: # uniform sampling
        acc_samples = min(num_frames, vlen)
        # split the video into `acc_samples` intervals, and sample from each interval.
        intervals = np.linspace(start=0, stop=vlen, num=acc_samples + 1).astype(int)
        ranges = []
        for idx, interv in enumerate(intervals[:-1]):
            ranges.append((interv, intervals[idx + 1] - 1))
        if sample == 'middle':
            frame_indices = [(x[0] + x[1]) // 2 for x in ranges]
        else:
            raise NotImplementedError

        if len(frame_indices) < num_frames:  # padded with last frame
            padded_frame_indices = [frame_indices[-1]] * num_frames
            padded_frame_indices[:len(frame_indices)] = frame_indices
            frame_indices = padded_frame_indices
    return frame_indices
