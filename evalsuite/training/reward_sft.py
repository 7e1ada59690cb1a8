"""SFT of a Qwen2.5-VL judge (UnifiedReward-style) on a judgment JSONL.

Dataset format (one JSON object per line)::

    {"mode": "pair-image" | "pair-video" | "pair-understanding" |
             "point-image" | "point-video" | "point-understanding",
     "prompt": "caption (generation)",  "question": "...", "answer1"/"answer2"/"answer": "...",
     "images": ["relative/or/absolute.png", ...], "videos": ["clip.mp4", ...],
     "target": "Image 1 is better."}

The user turn is built exactly as the judge builds it at inference
(:func:`evalsuite.judges.prompts.template_for` + ``fill`` order: media first, then the
template text), so a checkpoint trained here runs with
``evalsuite run --judge unifiedreward --model-path <out>``. Loss is on the answer tokens only.

Trainer: transformers ``Trainer`` with the collator below (not TRL ``SFTTrainer``): the
prompt text must come from our templates and the prompt tokens must be masked per example,
which a plain collator does directly; SFTTrainer's VLM path was not verified on CPU with
TRL 1.16 in this session. LoRA through peft (merged before saving) or full fine-tuning.
Video entries are passed to the processor as ``videos=`` (frames decoded by the processor);
only the image path is covered by tests so far.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.training.trainer import (Job, Outcome, Recipe, Trainer, TrainError,
                                        check_source, find)


def user_text(row: dict[str, Any], family: str = "unifiedreward-qwen") -> str:
    from evalsuite.judges.prompts import template_for
    tpl = template_for(family, row["mode"])
    keys = {k: row[k] for k in ("prompt", "question", "answer", "answer1", "answer2")
            if k in row}
    return tpl.text.format(**keys)


def messages(row: dict[str, Any], family: str = "unifiedreward-qwen") -> list[dict[str, Any]]:
    parts = [{"type": "image"} for _ in row.get("images", [])]
    parts += [{"type": "video"} for _ in row.get("videos", [])]
    parts.append({"type": "text", "text": user_text(row, family)})
    return [{"role": "user", "content": parts}]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    for i, r in enumerate(rows):
        if "mode" not in r or "target" not in r:
            raise ValueError(f"{path}:{i + 1}: a row needs 'mode' and 'target'")
    return rows


class Collator:
    def __init__(self, processor, root: Path, family: str = "unifiedreward-qwen"):
        self.processor, self.root, self.family = processor, Path(root), family

    def _media(self, row):
        from PIL import Image
        imgs = [Image.open(self.root / p).convert("RGB") for p in row.get("images", [])]
        vids = [str(self.root / p) for p in row.get("videos", [])]
        return imgs or None, vids or None

    def __call__(self, rows):
        proc = self.processor
        tok = proc.tokenizer
        ids, labels = [], []
        pix, grids = [], []
        for row in rows:
            prompt = proc.apply_chat_template(messages(row, self.family), tokenize=False,
                                              add_generation_prompt=True)
            full = prompt + row["target"] + "<|im_end|>\n"
            imgs, vids = self._media(row)
            kw = {"images": imgs} if imgs else {}
            if vids:
                kw["videos"] = vids
            enc_p = proc(text=[prompt], return_tensors="pt", **kw)
            enc = proc(text=[full], return_tensors="pt", **kw)
            n_p = enc_p["input_ids"].shape[1]
            x = enc["input_ids"][0]
            y = x.clone()
            y[:n_p] = -100
            ids.append(x)
            labels.append(y)
            if "pixel_values" in enc:
                pix.append(enc["pixel_values"])
                grids.append(enc["image_grid_thw"])
        import torch
        n = max(len(x) for x in ids)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        batch = {"input_ids": torch.full((len(ids), n), pad, dtype=torch.long),
                 "attention_mask": torch.zeros((len(ids), n), dtype=torch.long),
                 "labels": torch.full((len(ids), n), -100, dtype=torch.long)}
        for i, (x, y) in enumerate(zip(ids, labels)):  # right padding for training
            batch["input_ids"][i, :len(x)] = x
            batch["attention_mask"][i, :len(x)] = 1
            batch["labels"][i, :len(y)] = y
        if pix:
            batch["pixel_values"] = torch.cat(pix)
            batch["image_grid_thw"] = torch.cat(grids)
        return batch


def train_reward_sft(base: str, data: Path, out: Path, steps: int = 10, lr: float = 1e-4,
                     batch_size: int = 1, lora: bool = True, lora_r: int = 8,
                     save_steps: int = 5, seed: int = 0, progress: bool = True,
                     resume: bool = True) -> Path:
    """Fine-tune ``base`` (a local or hub Qwen2.5-VL) and save a loadable checkpoint in out."""
    import torch
    from transformers import (AutoProcessor, Qwen2_5_VLForConditionalGeneration, Trainer,
                              TrainingArguments)
    from transformers.trainer_utils import get_last_checkpoint

    rows = read_jsonl(Path(data))
    processor = AutoProcessor.from_pretrained(base)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(base, dtype=torch.float32)
    if lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(
            r=lora_r, lora_alpha=2 * lora_r, lora_dropout=0.0,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    out = Path(out)
    args = TrainingArguments(output_dir=str(out / "trainer"), max_steps=steps,
                             per_device_train_batch_size=batch_size, learning_rate=lr,
                             logging_steps=1, save_steps=save_steps, save_total_limit=2,
                             report_to=[], remove_unused_columns=False, seed=seed,
                             disable_tqdm=not progress, use_cpu=not torch.cuda.is_available())
    trainer = Trainer(model=model, args=args, train_dataset=rows,
                      data_collator=Collator(processor, Path(data).parent))
    last = get_last_checkpoint(str(out / "trainer")) if resume and (out / "trainer").exists() \
        else None
    trainer.train(resume_from_checkpoint=last)
    with open(out / "metrics.jsonl", "w") as f:
        for r in trainer.state.log_history:
            f.write(json.dumps(r) + "\n")
    final = trainer.model.merge_and_unload() if lora else trainer.model
    final.save_pretrained(out)
    processor.save_pretrained(out)
    return out


class RewardSftTrainer(Trainer):
    """``kind: qwen-vl-sft``: `train reward` fine-tunes a Qwen2.5-VL judge on judgments."""
    kind: ClassVar[str] = "qwen-vl-sft"
    verbs: ClassVar[tuple[str, ...]] = ("reward",)
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers", "peft")
    extra: ClassVar[str | None] = "train"

    def reward(self, recipe: Recipe, job: Job) -> Outcome:
        model = job.base or recipe.raw["base"]
        check_source(model, "--base")
        data = find(recipe.raw["data"], recipe.folder)
        if not data.is_file():
            raise TrainError(f"no judgment file at {recipe.raw['data']} (the recipe's `data`)")
        settings = {**recipe.section("train"), **({"steps": job.steps} if job.steps else {})}
        path = train_reward_sft(model, data, job.out, seed=recipe.seed, progress=job.progress,
                                **settings)
        return Outcome([f"reward model: {path}  (evalsuite run --judge unifiedreward "
                        f"--model-path {path} ...)"])
