"""DPO of a vision-language policy (Qwen2.5-VL; any ``AutoModelForImageTextToText`` that TRL's
vision collator handles) with TRL's ``DPOTrainer`` - the last step of the UnifiedReward
recipe (judge-built pairs -> DPO).

Dataset: a JSONL file, or a folder holding ``pairs.jsonl``. One object per line::

    {"prompt": "What colour is the square?", "chosen": "Red.", "rejected": "Blue.",
     "images": ["img/a.png"]}

* ``images`` (a list) or ``image`` (one path): the prompt's images, relative to the JSONL's
  folder (or absolute). Every row has at least one image, or no row has any (text-only DPO).
* ``prompt`` / ``chosen`` / ``rejected`` are plain strings (the prompt becomes one user turn:
  the images first, then the text - the order the judge prompts use; the answers become one
  assistant turn each), or already conversational lists of ``{"role", "content"}`` messages;
  string contents are wrapped as text blocks and, where the user turn has no
  ``{"type": "image"}`` placeholder, one per image is put before its text.
* Rows written by ``evalsuite train pairs`` (``pairs.jsonl``: prompt, chosen, rejected,
  chosen_score, rejected_score, dropped, audit) read as the plain form; the other keys are
  not passed to the trainer. Their answers must be text: a pairs file whose chosen/rejected
  are generated images or videos (a diffusion policy's) is refused - that is Diffusion-DPO.

Trainer (checked against TRL 1.16 in this repo's environment): ``DPOConfig`` +
``DPOTrainer(model, ref_model, args, train_dataset, processing_class=processor)``; a dataset
with an ``images`` column makes TRL use ``DataCollatorForVisionPreference`` (tokenises and
processes images on the fly, completion mask over the chosen/rejected tokens only); loss
``sigmoid`` = -logsigmoid(beta * ((logp_c - ref_c) - (logp_r - ref_r))) with per-token
log-probabilities summed over the completion. The reference is frozen: for full fine-tuning
a second copy of the base (eval mode, ``requires_grad=False``); with LoRA the base itself
(adapters disabled by TRL).

Output under ``out``: the policy (LoRA merged) + processor, loadable with
``from_pretrained(out)``; ``metrics.jsonl`` (one line per logged step, plus
``{"event": "resume", ...}`` lines); ``run.json`` (the arguments); ``trainer/checkpoint-<n>``
(transformers Trainer checkpoints). Re-running the same command resumes from the last
complete checkpoint (``get_last_checkpoint`` + ``resume_from_checkpoint``). Full fine-tuning
weights are restored through ``from_pretrained`` (see :func:`_trainer_class`: transformers
5.23's own resume silently skips Qwen2.5-VL's renamed keys).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Sequence

from evalsuite.training.pairs import pairs_file, read_pairs, resolve_path
from evalsuite.training.trainer import Job, Outcome, Recipe, Trainer, check_source

MEDIA_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".mp4", ".avi", ".mov",
                  ".webm", ".mkv"}


def _is_media_file(root: Path, value: Any) -> bool:
    return (isinstance(value, str) and Path(value).suffix.lower() in MEDIA_SUFFIXES
            and resolve_path(root, value).is_file())


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [dict(b) for b in content]
    raise ValueError(f"message content must be a string or a list of blocks, got {content!r}")


def _conversation(value: Any, role: str, n_images: int = 0) -> list[dict[str, Any]]:
    """A plain string or a message list as structured messages (uniform for Arrow)."""
    if isinstance(value, str):
        msgs = [{"role": role, "content": [{"type": "text", "text": value}]}]
    elif isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value):
        msgs = [{"role": m["role"], "content": _blocks(m.get("content", ""))} for m in value]
    else:
        raise ValueError(f"expected a string or a list of messages, got {value!r}")
    if role == "user":
        n_slots = sum(1 for m in msgs for b in m["content"] if b.get("type") == "image")
        if n_slots == 0 and n_images:
            first = next((m for m in msgs if m["role"] == "user"), None)
            if first is None:
                raise ValueError("the prompt has no user turn to attach its images to")
            first["content"] = [{"type": "image"} for _ in range(n_images)] + first["content"]
        elif n_slots != n_images:
            raise ValueError(f"the prompt has {n_slots} image placeholders for {n_images} images")
    return msgs


def read_rows(path: Path) -> list[dict[str, Any]]:
    """DPO rows (conversational, image paths made absolute) from a JSONL file or a folder with
    ``pairs.jsonl``. Raises on a malformed row; nothing is skipped silently."""
    src = pairs_file(path)
    root = src.parent
    rows = []
    for i, r in enumerate(read_pairs(src)):
        where = f"{src}:{i + 1}"
        for k in ("prompt", "chosen", "rejected"):
            if r.get(k) in (None, "", []):
                raise ValueError(f"{where}: '{k}' is missing or empty")
        if r.get("dropped"):
            raise ValueError(f"{where}: row is marked dropped ({r['dropped']}); pairs.jsonl "
                             "should hold kept pairs only")
        if _is_media_file(root, r["chosen"]) or _is_media_file(root, r["rejected"]):
            raise ValueError(f"{where}: chosen/rejected are media files ({r['chosen']!r}); VLM "
                             "DPO needs text answers (generated media -> Diffusion-DPO)")
        imgs = r.get("images")
        if imgs is None:
            imgs = [r["image"]] if r.get("image") else []
        if not isinstance(imgs, list):
            raise ValueError(f"{where}: 'images' must be a list of paths")
        paths = [resolve_path(root, x) for x in imgs]
        for x in paths:
            if not x.is_file():
                raise ValueError(f"{where}: image not found: {x}")
        try:
            row = {"prompt": _conversation(r["prompt"], "user", len(paths)),
                   "chosen": _conversation(r["chosen"], "assistant"),
                   "rejected": _conversation(r["rejected"], "assistant")}
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        row["images"] = [str(x) for x in paths]
        rows.append(row)
    if not rows:
        raise ValueError(f"no DPO rows in {src}")
    with_img = sum(1 for r in rows if r["images"])
    if 0 < with_img < len(rows):
        raise ValueError(f"{src}: {with_img} of {len(rows)} rows have images; mixed image and "
                         "text-only rows are not supported (TRL's collator picks one path)")
    if with_img == 0:
        for r in rows:
            del r["images"]
    return rows


def to_dataset(rows: list[dict[str, Any]]):
    """A ``datasets.Dataset``; image paths decode lazily (``List(Image())``)."""
    from datasets import Dataset, Image, List

    ds = Dataset.from_list(rows)
    if "images" in ds.column_names:
        ds = ds.cast_column("images", List(Image()))
    return ds


def last_complete_checkpoint(trainer_dir: Path) -> tuple[str | None, list[str]]:
    """(last checkpoint with ``trainer_state.json`` - the file transformers writes last -,
    names of newer incomplete ones, e.g. from a kill during a save)."""
    from transformers.trainer_utils import get_last_checkpoint

    d = Path(trainer_dir)
    skipped: list[str] = []
    if not d.is_dir():
        return None, skipped
    last = get_last_checkpoint(str(d))
    if last is None or (Path(last) / "trainer_state.json").is_file():
        return last, skipped
    done = [p for p in d.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
            and (p / "trainer_state.json").is_file()]
    skipped = sorted(p.name for p in d.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
                     and not (p / "trainer_state.json").is_file())
    best = max(done, key=lambda p: int(p.name.split("-")[-1])) if done else None
    return (str(best) if best else None), skipped


def _callbacks(out: Path, stop_after: int | None):
    from transformers import TrainerCallback

    from evalsuite.training.loop import MetricsLog, Stopped

    class JsonlMetrics(TrainerCallback):
        """Append every Trainer log to ``out/metrics.jsonl`` as it happens."""

        def __init__(self):
            self.log = MetricsLog(out)

        def on_log(self, args, state, control, logs=None, **kw):
            if state.is_world_process_zero and logs:
                self.log.write({"step": state.global_step, **logs})

    class StopAfter(TrainerCallback):
        """Kill hook for tests: raise once ``stop_after`` optimizer steps of this invocation
        are done (their logs and periodic checkpoints written), before the next one starts."""

        def on_train_begin(self, args, state, control, **kw):
            self.start = state.global_step

        def on_step_begin(self, args, state, control, **kw):
            if state.global_step - self.start >= stop_after:
                raise Stopped(f"stopped after step {state.global_step}")

    cbs = [JsonlMetrics()]
    if stop_after is not None:
        cbs.append(StopAfter())
    return cbs


def _trainer_class():
    from trl import DPOTrainer

    class VlmDPOTrainer(DPOTrainer):
        """DPOTrainer whose resume loads full (non-PEFT) weights with key conversion.

        transformers 5.23 ``Trainer._load_from_checkpoint`` reads ``checkpoint-*/model.safetensors``
        with a plain non-strict ``load_state_dict``, but ``save_pretrained`` writes Qwen2.5-VL
        keys in the legacy layout (``visual.*``, ``model.layers.*``; the module is
        ``model.visual.*``, ``model.language_model.*``): almost nothing loads and training
        silently restarts from the base weights (seen here: resumed losses differed from an
        uninterrupted run). ``from_pretrained`` applies the key conversion, so load through
        it and copy strictly. PEFT adapters resume through the parent (verified identical).
        """

        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            m = self.model if model is None else model
            if hasattr(m, "peft_config") or self.is_deepspeed_enabled or self.is_fsdp_enabled:
                return super()._load_from_checkpoint(resume_from_checkpoint, model)
            m = self.accelerator.unwrap_model(m)
            src = type(m).from_pretrained(resume_from_checkpoint, dtype=m.dtype)
            m.load_state_dict(src.state_dict(), strict=True)
            del src

    return VlmDPOTrainer


def make_trainer(base: str, pairs: Path, out: Path, steps: int = 10, lr: float = 1e-5,
                 batch_size: int = 1, grad_accum: int = 1, beta: float = 0.1,
                 loss_type: str = "sigmoid", lora: bool = True, lora_r: int = 8,
                 lora_alpha: int | None = None,
                 lora_targets: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj"),
                 save_steps: int = 5, save_total_limit: int = 2, logging_steps: int = 1,
                 max_length: int | None = None, gradient_checkpointing: bool = True,
                 dtype: str = "auto", seed: int = 0, progress: bool = True,
                 stop_after: int | None = None):
    """(trainer, processor) for ``base`` (local folder or hub id) on the DPO rows at ``pairs``.

    ``max_length=None`` (no truncation) because truncating a VLM sequence can cut image
    placeholder tokens; ``dtype="auto"`` is bfloat16 on CUDA, float32 on CPU.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import DPOConfig

    ds = to_dataset(read_rows(Path(pairs)))
    cuda = torch.cuda.is_available()
    if dtype == "auto":
        dtype = "bfloat16" if cuda else "float32"
    tdtype = getattr(torch, dtype)
    processor = AutoProcessor.from_pretrained(base)
    model = AutoModelForImageTextToText.from_pretrained(base, dtype=tdtype)
    ref_model, peft_config = None, None
    if lora:
        from peft import LoraConfig
        peft_config = LoraConfig(r=lora_r, lora_alpha=lora_alpha or 2 * lora_r,
                                 lora_dropout=0.0, target_modules=list(lora_targets))
    else:
        ref_model = AutoModelForImageTextToText.from_pretrained(base, dtype=tdtype)
        ref_model.eval().requires_grad_(False)
    out = Path(out)
    args = DPOConfig(
        output_dir=str(out / "trainer"), max_steps=steps, per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum, learning_rate=lr, beta=beta,
        loss_type=[loss_type], max_length=max_length, logging_steps=logging_steps,
        save_steps=save_steps, save_total_limit=save_total_limit, report_to=[], seed=seed,
        # transformers 5.2x: `gradient_checkpointing` is a deprecated alias of this
        data_seed=seed, activation_checkpointing=gradient_checkpointing,
        bf16=tdtype is torch.bfloat16, disable_tqdm=not progress, use_cpu=not cuda)
    trainer = _trainer_class()(model=model, ref_model=ref_model, args=args, train_dataset=ds,
                                 processing_class=processor, peft_config=peft_config,
                                 callbacks=_callbacks(out, stop_after))
    return trainer, processor


def train_vlm_dpo(base: str, pairs: Path, out: Path, resume: bool = True,
                  **kw: Any) -> Path:
    """Train (or resume) and save the merged policy in ``out``; returns ``out``.

    Keyword arguments: those of :func:`make_trainer` (the recipe's ``dpo:`` section).
    ``stop_after=k`` raises :class:`evalsuite.training.loop.Stopped` after k steps (kill hook
    for tests); re-running then resumes from the last complete checkpoint.
    """
    from evalsuite.training.loop import MetricsLog

    read_rows(Path(pairs))  # a bad dataset fails before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps(
        {"trainer": "trl.DPOTrainer", "base": str(base), "pairs": str(pairs), **kw},
        indent=2, default=str))
    trainer, processor = make_trainer(base, Path(pairs), out, **kw)
    last, skipped = last_complete_checkpoint(out / "trainer") if resume else (None, [])
    if last is not None:
        MetricsLog(out).write({"event": "resume", "from_step": int(last.split("-")[-1]),
                               "checkpoint": Path(last).name, "skipped_incomplete": skipped})
    trainer.train(resume_from_checkpoint=last)
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):  # LoRA: save a plain transformers checkpoint
        model = model.merge_and_unload()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


class VlmDpoTrainer(Trainer):
    """``kind: vlm-dpo``: `train dpo` runs TRL's DPOTrainer on a VLM policy."""
    kind: ClassVar[str] = "vlm-dpo"
    verbs: ClassVar[tuple[str, ...]] = ("dpo",)
    requires: ClassVar[tuple[str, ...]] = ("torch", "transformers", "trl", "peft")
    extra: ClassVar[str | None] = "train"

    def dpo(self, recipe: Recipe, job: Job) -> Outcome:
        check_source(job.policy, "--policy")
        return Outcome([str(train_vlm_dpo(job.policy, job.pairs, job.out, seed=recipe.seed,
                                          progress=job.progress, **recipe.section("dpo")))])
