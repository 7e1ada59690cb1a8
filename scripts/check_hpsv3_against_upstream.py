"""Check evalsuite's HPSv3 judge against HPSv3's own code, on random weights.

Two interpreters take part, because the released ``HPSv3.safetensors`` carries the flat
Qwen2-VL names of transformers 4.4x while evalsuite runs on current transformers:

1. ``--upstream-python`` (an environment with transformers 4.45/4.46) runs this file with
   ``--phase upstream``: from ``--upstream`` (a checkout of github MizzenAI/HPSv3: the
   package directory ``hpsv3/`` with ``model/qwen2vl_trainer.py``, ``dataset/utils.py`` and
   ``dataset/data_collator_qwen.py``) it imports ``Qwen2VLRewardModelBT``,
   ``process_vision_info``, ``INSTRUCTION`` and ``prompt_with_special_token``, builds the
   model the way ``hpsv3/train.py create_model_and_processor`` does for
   ``hpsv3/config/HPSv3_7B.yaml`` (on a tiny random base Qwen2-VL), saves its state dict as
   ``HPSv3.safetensors``, reloads it with ``load_state_dict(strict=True)`` and scores a few
   images with the steps of ``hpsv3/inference.py`` (``prepare_batch`` and ``reward``), as
   one batch and one by one.
2. This interpreter loads the same file with evalsuite's ``hpsv3`` judge (strict key check)
   and prints max |diff| of (mu, sigma) and of the processor's pixel values.

Shim: upstream's ``forward`` reads ``self.model.language_model.embed_tokens`` (the module
layout of transformers >= 4.52), while the checkpoint's key names need transformers 4.4x,
where the same module is ``self.model.embed_tokens``; on 4.4x the script aliases
``language_model`` to the text model itself. Everything runs in float32 on the CPU, SDPA
attention (as ``HPSv3_7B.yaml``'s ``disable_flash_attn2: True``).

    python scripts/check_hpsv3_against_upstream.py --upstream /path/to/HPSv3 \\
        --upstream-python /path/to/py446/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a red square on the left", "two green cats and three yellow dogs in a park",
           "a blue circle, 10 of them", "the quick brown fox jumps over the lazy dog",
           "a photo of a yellow triangle"]
# (width, height): landscape, portrait, tiny, square, very wide
SIZES = [(640, 480), (300, 512), (40, 30), (448, 448), (1024, 200)]


def write_images(work: Path) -> list[str]:
    from evalsuite.fixtures.media import shape_image

    out = []
    for i, size in enumerate(SIZES):
        p = work / f"img{i}.png"
        shape_image(("square", "circle", "triangle")[i % 3], ("red", "blue", "green")[i % 3],
                    ("left", "right")[i % 2], size=size, seed=i).save(p)
        out.append(str(p))
    return out


def upstream_phase(upstream: Path, work: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    sys.path.insert(0, str(upstream))
    from transformers import (AutoProcessor, Qwen2TokenizerFast, Qwen2VLConfig,
                              Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor,
                              Qwen2VLProcessor)
    from transformers.models.qwen2_vl import modeling_qwen2_vl

    from hpsv3.dataset.data_collator_qwen import INSTRUCTION, prompt_with_special_token
    from hpsv3.dataset.utils import process_vision_info
    from hpsv3.model.qwen2vl_trainer import Qwen2VLRewardModelBT

    from evalsuite.fixtures.qwen2vl_reward import CHAT_TEMPLATE, qwen2_vl_tokenizer

    if not hasattr(modeling_qwen2_vl.Qwen2VLModel, "language_model"):  # transformers 4.4x
        modeling_qwen2_vl.Qwen2VLModel.language_model = property(lambda self: self)

    torch.manual_seed(0)
    qwen2_vl_tokenizer().save_pretrained(work / "tokenizer")
    tok = Qwen2TokenizerFast.from_pretrained(work / "tokenizer")
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
        tie_word_embeddings=False)
    base = work / "base"
    Qwen2VLForConditionalGeneration(cfg).save_pretrained(base)
    improc = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    Qwen2VLProcessor(image_processor=improc, tokenizer=tok,
                     chat_template=CHAT_TEMPLATE).save_pretrained(base)

    def create_model_and_processor():  # hpsv3/train.py for HPSv3_7B.yaml, float32, SDPA
        processor = AutoProcessor.from_pretrained(base, padding_side="right")
        processor.tokenizer.add_special_tokens({"additional_special_tokens": ["<|Reward|>"]})
        special = processor.tokenizer.convert_tokens_to_ids(["<|Reward|>"])
        model = Qwen2VLRewardModelBT.from_pretrained(
            base, output_dim=2, reward_token="special", special_token_ids=special,
            torch_dtype=torch.float32, attn_implementation="sdpa", rm_head_type="ranknet",
            rm_head_kwargs=None, use_cache=False)
        model.resize_token_embeddings(len(processor.tokenizer))
        model.rm_head.to(torch.float32)
        model.config.tokenizer_padding_side = processor.tokenizer.padding_side
        model.config.pad_token_id = processor.tokenizer.pad_token_id
        return model, processor

    model, _ = create_model_and_processor()
    with torch.no_grad():  # trained weights stood in for by noise
        for p in model.rm_head.parameters():
            p.normal_(0, 0.5)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(work / "HPSv3.safetensors"), metadata={"format": "pt"})

    # hpsv3/inference.py: HPSv3RewardInferencer.__init__, prepare_batch, reward
    model, processor = create_model_and_processor()
    model.load_state_dict(load_file(str(work / "HPSv3.safetensors")), strict=True)
    model.eval()

    def prepare_batch(image_paths, prompts):
        max_pixels = 256 * 28 * 28
        message_list = [[{"role": "user", "content": [
            {"type": "image", "image": image, "min_pixels": max_pixels,
             "max_pixels": max_pixels},
            {"type": "text", "text": INSTRUCTION.format(text_prompt=text)
             + prompt_with_special_token}]}] for text, image in zip(prompts, image_paths)]
        image_inputs, _ = process_vision_info(message_list)
        return processor(text=processor.apply_chat_template(message_list, tokenize=False,
                                                            add_generation_prompt=True),
                         images=image_inputs, padding=True, return_tensors="pt",
                         videos_kwargs={"do_rescale": True})

    images = write_images(work)
    with torch.inference_mode():
        batch = prepare_batch(images, PROMPTS)
        batched = model(return_dict=True, **batch)["logits"].tolist()
        single = [model(return_dict=True, **prepare_batch([i], [p]))["logits"][0].tolist()
                  for i, p in zip(images, PROMPTS)]
    torch.save({"pixel_values": batch["pixel_values"], "input_ids": batch["input_ids"]},
               work / "upstream_inputs.pt")
    (work / "upstream.json").write_text(json.dumps(
        {"images": images, "batched": batched, "single": single}, indent=1))


def ours_phase(work: Path) -> dict:
    import torch

    from evalsuite.judges.hpsv3 import HPSv3
    from evalsuite.types import Candidate, MediaRef, PointItem

    up = json.loads((work / "upstream.json").read_text())
    judge = HPSv3(model_path=str(work), base_model=str(work / "base"), device="cpu",
                  dtype="float32")
    judge.load()
    items = [PointItem(f"i{i}", p, Candidate(media=MediaRef(kind="image", path=img)))
             for i, (img, p) in enumerate(zip(up["images"], PROMPTS))]
    scores = judge.score(items)
    prepared = judge.prepare_points(items)
    inputs = judge.processor(text=[p["text"] for p in prepared],
                             images=[p["image"] for p in prepared], padding=True,
                             return_tensors="pt", images_kwargs={"do_resize": False})
    ref = torch.load(work / "upstream_inputs.pt", weights_only=True)
    report = {
        "max_abs_diff_mu": max(abs(s.extras["mu"] - u[0]) for s, u in zip(scores, up["batched"])),
        "max_abs_diff_sigma": max(abs(s.extras["sigma"] - u[1])
                                  for s, u in zip(scores, up["batched"])),
        "max_abs_diff_mu_vs_upstream_one_by_one": max(abs(s.value - u[0])
                                                      for s, u in zip(scores, up["single"])),
        "input_ids_equal": bool(torch.equal(inputs["input_ids"], ref["input_ids"])),
        "max_abs_diff_pixel_values": float((inputs["pixel_values"]
                                            - ref["pixel_values"]).abs().max()),
        "mu_range": [min(u[0] for u in up["batched"]), max(u[0] for u in up["batched"])],
        "n_images": len(items),
    }
    print(json.dumps(report, indent=1))
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", type=Path, required=True,
                    help="checkout of MizzenAI/HPSv3 (the folder that contains hpsv3/)")
    ap.add_argument("--upstream-python", default=None,
                    help="interpreter with transformers 4.45/4.46 (phase 1)")
    ap.add_argument("--work", type=Path, default=None,
                    help="folder for the checkpoint, media and results (default: a new "
                         "temporary folder)")
    ap.add_argument("--phase", choices=["upstream", "ours", "both"], default="both")
    args = ap.parse_args(argv)
    if args.work is None:
        import tempfile
        args.work = Path(tempfile.mkdtemp(prefix="hpsv3-check-"))
    args.work.mkdir(parents=True, exist_ok=True)
    if args.phase == "upstream":
        upstream_phase(args.upstream.resolve(), args.work.resolve())
        return
    if args.phase == "both":
        if not args.upstream_python:
            ap.error("--upstream-python is required to run the upstream phase")
        subprocess.run([args.upstream_python, __file__, "--phase", "upstream", "--upstream",
                        str(args.upstream), "--work", str(args.work)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    ours_phase(args.work.resolve())


if __name__ == "__main__":
    main()
