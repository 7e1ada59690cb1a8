"""Check evalsuite's VideoReward judge against VideoAlign's own code, on random weights.

Two interpreters take part, because the released checkpoint and VideoAlign's model code need
the flat Qwen2-VL layout of transformers 4.4x while evalsuite runs on current transformers:

1. ``--upstream-python`` (an environment with transformers 4.45-4.46; VideoAlign pins
   4.45.2) runs this file with ``--phase upstream``: it imports VideoAlign's modules from
   ``--upstream`` (a checkout of github KwaiVGI/VideoAlign), builds a tiny random base
   Qwen2-VL, builds the reward model with VideoAlign's ``create_model_and_processor`` (LoRA
   included), saves its state dict as ``checkpoint-<step>/model.pth`` next to a
   ``model_config.json`` (the released layout), and scores a few generated videos with
   VideoAlign's ``VideoVLMRewardInference.reward`` (one batch, and one by one). It also saves
   the frames VideoAlign's ``fetch_video`` returns.
2. This interpreter then loads the same folder with ``evalsuite``'s ``videoreward`` judge
   (strict key check) and prints max |diff| of the rewards and of the frames.

Import stubs, because of what cannot be installed here: ``decord`` is replaced by a reader
backed by PyAV (all frames, average frame rate); ``trl`` (its releases that still import on
transformers 4.4x are not installed) by the three names VideoAlign imports, with quantisation
off; VideoAlign asks for FlashAttention-2 at inference, replaced by SDPA. Everything runs on
the CPU, in float32 unless ``--dtype bfloat16`` (VideoAlign's inference dtype; the adapters
stay float32 on both sides, as PEFT keeps them).

    python scripts/check_videoreward_against_upstream.py --upstream /path/to/VideoAlign \\
        --upstream-python /path/to/py445/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEP = 7
PROMPTS = ["a red square moving right", "two green cats and three yellow dogs in a park",
           "a blue circle", "the quick brown fox jumps over the lazy dog"]
# (frames, fps, colour, (width, height)): odd sizes and rates exercise resize and sampling
VIDEOS = [(12, 8, "red", (96, 64)), (30, 24, "blue", (160, 90)), (9, 3, "green", (64, 64)),
          (50, 25, "yellow", (120, 200))]


def write_videos(work: Path) -> list[str]:
    from evalsuite.fixtures.media import write_mp4

    out = []
    for i, (n, fps, color, size) in enumerate(VIDEOS):
        out.append(str(write_mp4(work / f"v{i}.mp4", num_frames=n, fps=fps, color=color,
                                 size=size, seed=i)))
    return out


def stub_decord() -> None:
    """A ``decord`` whose VideoReader decodes every frame with PyAV."""
    import av
    import numpy as np
    import torch

    class Batch:
        def __init__(self, arr):
            self.arr = arr

        def asnumpy(self):
            return self.arr

    class VideoReader:
        def __init__(self, path):
            with av.open(path) as c:
                s = c.streams.video[0]
                self.fps = float(s.average_rate)
                self.frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]

        def __len__(self):
            return len(self.frames)

        def get_avg_fps(self):
            return self.fps

        def get_batch(self, idx):
            return Batch(np.stack([self.frames[i] for i in idx]))

    import importlib.machinery

    mod = types.ModuleType("decord")
    mod.__spec__ = importlib.machinery.ModuleSpec("decord", None)
    mod.VideoReader = VideoReader
    sys.modules["decord"] = mod
    del torch


def stub_trl() -> None:
    """The three names VideoAlign takes from TRL (whose current release needs a newer
    transformers): quantisation off, and RewardTrainer only as a base class."""
    import importlib.machinery

    from transformers import Trainer

    mod = types.ModuleType("trl")
    mod.__spec__ = importlib.machinery.ModuleSpec("trl", None)
    mod.get_kbit_device_map = lambda: None
    mod.get_quantization_config = lambda cfg: None  # no 4/8-bit loading requested
    mod.RewardTrainer = Trainer
    sys.modules["trl"] = mod


def upstream_phase(upstream: Path, work: Path, dtype: str) -> None:
    import torch

    sys.path.insert(0, str(upstream))
    stub_decord()
    stub_trl()
    import inference
    import train_reward
    import vision_process
    from transformers import (Qwen2TokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration,
                              Qwen2VLImageProcessor, Qwen2VLProcessor)

    from evalsuite.fixtures.qwen2vl_reward import (CHAT_TEMPLATE, qwen2_vl_tokenizer,
                                                   videoreward_config)

    torch.manual_seed(0)
    qwen2_vl_tokenizer().save_pretrained(work / "tokenizer")
    tok = Qwen2TokenizerFast.from_pretrained(work / "tokenizer")  # the class Qwen2-VL expects
    ids = {t: tok.convert_tokens_to_ids(t) for t in
           ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>",
            "<|endoftext|>", "<|im_end|>")}
    cfg = Qwen2VLConfig(
        vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
        vocab_size=len(tok) + 8, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32768,
        rope_theta=1000000.0, rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True)
    base = work / "base"
    Qwen2VLForConditionalGeneration(cfg).save_pretrained(base)
    improc = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    Qwen2VLProcessor(image_processor=improc, tokenizer=tok,
                     chat_template=CHAT_TEMPLATE).save_pretrained(base)

    config = videoreward_config(base=str(base))
    config["model_config"]["torch_dtype"] = None  # float32 throughout
    (work / "model_config.json").write_text(json.dumps(config, indent=4))

    def sdpa(model_config, peft_lora_config, training_args, **kw):  # no FlashAttention-2 here
        training_args.disable_flash_attn2 = True
        return train_reward.create_model_and_processor(model_config, peft_lora_config,
                                                       training_args, **kw)

    inference.create_model_and_processor = sdpa
    # the "released" checkpoint: VideoAlign's model, trained weights stood in for by noise
    model, _proc, _ = sdpa(inference.ModelConfig(**config["model_config"]),
                           inference.PEFTLoraConfig(**config["peft_lora_config"]),
                           inference.TrainingConfig(output_dir=str(work), bf16=False,
                                                    gradient_checkpointing=False))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name or "rm_head" in name:
                p.normal_(0, 0.05 if "lora_B" in name else 1.0)
    (work / f"checkpoint-{STEP}").mkdir(exist_ok=True)
    torch.save(model.state_dict(), work / f"checkpoint-{STEP}" / "model.pth")

    videos = write_videos(work)
    infer = inference.VideoVLMRewardInference(str(work), device="cpu",
                                              dtype=getattr(torch, dtype))
    with torch.no_grad():
        batched = infer.reward(videos, PROMPTS, use_norm=True)
        single = [infer.reward([v], [p], use_norm=True)[0] for v, p in zip(videos, PROMPTS)]
        raw = infer.reward(videos, PROMPTS, use_norm=False)
    frames = [vision_process.fetch_video({"video": f"file://{v}", "fps": 2.0,
                                          "max_pixels": config["data_config"]["max_frame_pixels"],
                                          "sample_type": "uniform"}) for v in videos]
    torch.save(frames, work / "upstream_frames.pt")
    (work / "upstream.json").write_text(json.dumps(
        {"videos": videos, "batched": batched, "single": single, "raw": raw}, indent=1))


def ours_phase(work: Path, dtype: str) -> dict:
    import numpy as np
    import torch

    from evalsuite.judges.videoreward import VideoReward, sample_video
    from evalsuite.media import decode_frames
    from evalsuite.types import Candidate, MediaRef, PointItem

    up = json.loads((work / "upstream.json").read_text())
    judge = VideoReward(model_path=str(work), device="cpu", dtype=dtype)
    judge.load()
    items = [PointItem(f"v{i}", p, Candidate(media=MediaRef(kind="video", path=v)))
             for i, (v, p) in enumerate(zip(up["videos"], PROMPTS))]
    batched = judge.score(items)
    raw_judge = VideoReward(model_path=str(work), device="cpu", dtype=dtype, use_norm=False)
    raw_judge.load()
    raw = raw_judge.score(items)
    keys = ("VQ", "MQ", "TA")

    def diff(ours, theirs):
        return max(abs(o.extras["dims"][k] - t[k]) for o, t in zip(ours, theirs) for k in keys)

    frames_up = torch.load(work / "upstream_frames.pt", weights_only=True)
    frame_diff = []
    for v, fu in zip(up["videos"], frames_up):
        fr, fps, _ = decode_frames(MediaRef(kind="video", path=v))
        ours_frames = sample_video(fr, fps, 2.0, None, 200704).float()
        frame_diff.append(float((ours_frames - fu).abs().max()) if ours_frames.shape == fu.shape
                          else float("inf"))
    report = {
        "max_abs_diff_dims_normalised_batched": diff(batched, up["batched"]),
        "max_abs_diff_dims_normalised_upstream_one_by_one": diff(batched, up["single"]),
        "max_abs_diff_dims_raw": diff(raw, up["raw"]),
        "max_abs_diff_overall": max(abs(o.value - t["Overall"])
                                    for o, t in zip(batched, up["batched"])),
        "max_abs_diff_frames_0_255": max(frame_diff),
        "reward_magnitude": float(np.max([abs(t["Overall"]) for t in up["batched"]])),
        "n_videos": len(items), "dtype": dtype,
    }
    print(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", type=Path, required=True, help="checkout of VideoAlign")
    ap.add_argument("--upstream-python", default=None,
                    help="interpreter with transformers 4.45/4.46 (phase 1)")
    ap.add_argument("--work", type=Path, default=None,
                    help="folder for the checkpoint, media and results (default: a new "
                         "temporary folder)")
    ap.add_argument("--phase", choices=["upstream", "ours", "both"], default="both")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="inference dtype on both sides (the checkpoint is float32)")
    args = ap.parse_args(argv)
    if args.work is None:
        import tempfile
        args.work = Path(tempfile.mkdtemp(prefix="videoreward-check-"))
    args.work.mkdir(parents=True, exist_ok=True)
    if args.phase == "upstream":
        upstream_phase(args.upstream.resolve(), args.work.resolve(), args.dtype)
        return
    if args.phase == "both":
        if not args.upstream_python:
            ap.error("--upstream-python is required to run the upstream phase")
        subprocess.run([args.upstream_python, __file__, "--phase", "upstream", "--upstream",
                        str(args.upstream), "--work", str(args.work), "--dtype", args.dtype],
                       check=True,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    ours_phase(args.work.resolve(), args.dtype)


if __name__ == "__main__":
    main()
