"""VLM DPO with TRL's DPOTrainer on the tiny random-weight Qwen2.5-VL fixture: data reading,
TRL's loss vs a hand computation, frozen reference, kill + resume, CLI, reloadable output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from _tolerance import f32_atol, fan_ins

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

COLOURS = ["red", "blue", "green", "yellow"]
RECIPE = Path(__file__).resolve().parents[1] / "training" / "vlm_dpo_tiny.yaml"


def _pairs_dir(root: Path) -> Path:
    """4 image preference rows in the `train pairs` layout (pairs.jsonl + media), with the
    prompt's image under `images` (relative paths)."""
    from evalsuite.fixtures.media import shape_image
    d = root / "pairs"
    (d / "media").mkdir(parents=True)
    rows = []
    for i, c in enumerate(COLOURS):
        shape_image("square", c, size=(56, 56), seed=i).save(d / "media" / f"{c}.png")
        rows.append({"prompt": "What colour is the square?", "chosen": f"It is {c}.",
                     "rejected": "It is purple.", "chosen_score": 5.0, "rejected_score": 1.0,
                     "dropped": None, "audit": {}, "images": [f"media/{c}.png"]})
    (d / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def test_read_rows_formats_and_refusals(tmp_path):
    from evalsuite.training.pairs import PairResult, Sample, write_pairs
    from evalsuite.training.vlm_dpo import read_rows, to_dataset
    from evalsuite.types import Candidate, MediaRef
    d = _pairs_dir(tmp_path)
    rows = read_rows(d)
    assert len(rows) == 4
    r = rows[0]
    assert r["prompt"] == [{"role": "user", "content": [
        {"type": "image"}, {"type": "text", "text": "What colour is the square?"}]}]
    assert r["chosen"] == [{"role": "assistant", "content": [{"type": "text",
                                                              "text": "It is red."}]}]
    assert r["images"] == [str(d / "media" / "red.png")] and "audit" not in r
    ds = to_dataset(rows)
    assert ds[0]["images"][0].size == (56, 56)  # decoded lazily from the path

    # conversational rows pass through; placeholders must match the images
    conv = {"prompt": [{"role": "user", "content": [{"type": "text", "text": "Q?"},
                                                    {"type": "image"}]}],
            "chosen": [{"role": "assistant", "content": "A."}],
            "rejected": [{"role": "assistant", "content": "B."}],
            "image": "media/red.png"}
    f = d / "conv.jsonl"
    f.write_text(json.dumps(conv) + "\n")
    got = read_rows(f)[0]
    assert got["prompt"][0]["content"][1] == {"type": "image"}  # placeholder kept in place
    assert got["chosen"][0]["content"] == [{"type": "text", "text": "A."}]
    f.write_text(json.dumps({**conv, "images": ["media/red.png", "media/blue.png"]}) + "\n")
    with pytest.raises(ValueError, match="1 image placeholders for 2 images"):
        read_rows(f)

    # `train pairs` output (write_pairs) with text answers: text-only DPO rows
    res = PairResult("Q?", Sample(Candidate(text="good"), 0), Sample(Candidate(text="bad"), 1),
                     5.0, 1.0)
    write_pairs([res], tmp_path / "textpairs")
    (t,) = read_rows(tmp_path / "textpairs")
    assert "images" not in t and t["rejected"][0]["content"][0]["text"] == "bad"

    # a diffusion policy's pairs (generated images as answers) are refused, not trained on
    img = str(d / "media" / "red.png")
    res = PairResult("a red square", Sample(Candidate(media=MediaRef("image", path=img)), 0),
                     Sample(Candidate(media=MediaRef("image", path=img)), 1), 5.0, 1.0)
    write_pairs([res], tmp_path / "imgpairs")
    with pytest.raises(ValueError, match="Diffusion-DPO"):
        read_rows(tmp_path / "imgpairs")
    # missing image, mixed image/text-only rows
    f.write_text(json.dumps({"prompt": "Q", "chosen": "a", "rejected": "b",
                             "images": ["nope.png"]}) + "\n")
    with pytest.raises(ValueError, match="image not found"):
        read_rows(f)
    f.write_text(json.dumps({"prompt": "Q", "chosen": "a", "rejected": "b", "image": img})
                 + "\n" + json.dumps({"prompt": "Q", "chosen": "a", "rejected": "b"}) + "\n")
    with pytest.raises(ValueError, match="mixed"):
        read_rows(f)


def _completion_logps(model, processor, row) -> tuple[float, float]:
    """Hand computation: sum of log p(token) over the completion tokens only, for the chosen
    and the rejected answer (prompt = chat template with generation prompt + image)."""
    from PIL import Image
    imgs = [Image.open(p).convert("RGB") for p in row["images"]]
    prompt = processor.apply_chat_template(row["prompt"], tokenize=False,
                                           add_generation_prompt=True)
    enc_p = processor(images=imgs, text=[prompt], return_tensors="pt", add_special_tokens=False)
    n_p = enc_p["input_ids"].shape[1]
    out = []
    for side in ("chosen", "rejected"):
        full = processor.apply_chat_template(row["prompt"] + row[side], tokenize=False)
        assert full.startswith(prompt)
        comp = processor.tokenizer(full[len(prompt):], add_special_tokens=False,
                                   return_tensors="pt")["input_ids"]
        enc = dict(enc_p)
        enc["input_ids"] = torch.cat([enc_p["input_ids"], comp], dim=1)
        enc["attention_mask"] = torch.ones_like(enc["input_ids"])
        if "mm_token_type_ids" in enc:
            enc["mm_token_type_ids"] = torch.cat(
                [enc_p["mm_token_type_ids"], torch.zeros_like(comp)], dim=1)
        with torch.no_grad():
            logits = model(**enc).logits[0, :-1].double()
        ids = enc["input_ids"][0, 1:]
        lp = torch.log_softmax(logits, -1).gather(1, ids[:, None])[:, 0]
        out.append(float(lp[n_p - 1:].sum()))  # targets at positions >= n_p: completion only
    return out[0], out[1]


def test_trl_dpo_loss_matches_hand_computation_and_reference_is_frozen(fx, tmp_path):
    """Full fine-tuning with an explicit reference: TRL's logged step-1 numbers equal the
    hand-computed completion log-prob sums (policy == reference: loss log 2); after moving
    the policy, TRL's loss equals -logsigmoid(beta * margin) from the hand computation; the
    reference's weights do not change and it has no trainable parameter."""
    import yaml

    from evalsuite.training.vlm_dpo import make_trainer, read_rows
    base = fx("unifiedreward-qwen")
    d = _pairs_dir(tmp_path)
    cfg = {**yaml.safe_load(RECIPE.read_text())["dpo"], "lora": False, "steps": 1,
           "batch_size": 4, "save_steps": 1}
    trainer, processor = make_trainer(str(base), d, tmp_path / "out", progress=False, **cfg)
    ref = trainer.ref_model
    assert ref is not None and ref is not trainer.model
    assert not any(p.requires_grad for p in ref.parameters()) and not ref.training
    ref0 = {k: v.clone() for k, v in ref.state_dict().items()}
    pol0 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    rows = read_rows(d)
    hand = [_completion_logps(trainer.model, processor, r) for r in rows]

    # Batched (padded) vs one-by-one forward passes differ only in float32 rounding; the
    # log-probs of a completion share one sign, so the bound is relative (tests/_tolerance.py)
    seq = max(len(processor.tokenizer(str(r)).input_ids) for r in rows)
    rel = f32_atol(1.0, *fan_ins(trainer.model), seq)
    trainer.train()
    log = trainer.state.log_history[0]
    assert log["step"] == 1 and log["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert log["logps/chosen"] == pytest.approx(sum(c for c, _ in hand) / 4, rel=rel)
    assert log["logps/rejected"] == pytest.approx(sum(r for _, r in hand) / 4, rel=rel)
    assert log["rewards/margins"] == pytest.approx(0.0, abs=1e-6)

    # the reference stayed frozen; the policy moved
    assert all(torch.equal(ref0[k], v) for k, v in ref.state_dict().items())
    assert any(not torch.equal(pol0[k], v) for k, v in trainer.model.state_dict().items())

    # TRL's loss on the moved policy = sigmoid DPO loss from hand-computed log-probs
    beta = cfg["beta"]
    now = [_completion_logps(trainer.model, processor, r) for r in rows]
    refl = [_completion_logps(ref, processor, r) for r in rows]
    assert [x for t in refl for x in t] == pytest.approx([x for t in hand for x in t], rel=rel)
    want = sum(-torch.nn.functional.logsigmoid(torch.tensor(
        beta * ((c - rc) - (r - rr)), dtype=torch.float64)).item()
        for (c, r), (rc, rr) in zip(now, refl)) / 4
    batch = trainer.data_collator([dict(x) for x in trainer.train_dataset])
    trainer.model.eval()
    with torch.no_grad():
        got = float(trainer.compute_loss(trainer.model, batch))
    assert got == pytest.approx(want, rel=1e-4) and got < math.log(2)

    # resume restores full fine-tuned weights exactly (checkpoint keys are in the legacy
    # Qwen2.5-VL layout; transformers' own non-strict load would skip them)
    after = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.zero_()
    trainer._load_from_checkpoint(str(tmp_path / "out" / "trainer" / "checkpoint-1"))
    assert all(torch.equal(after[k], v) for k, v in trainer.model.state_dict().items())


def test_vlm_dpo_kill_resume_cli_and_reload(fx, tmp_path):
    """The tiny recipe (LoRA): a run killed after step 2 resumes from checkpoint-2 through
    `evalsuite train dpo` and continues with steps 3, 4; loss finite; the merged output loads
    with Qwen2_5_VLForConditionalGeneration.from_pretrained and differs from the base."""
    import yaml
    from transformers import Qwen2_5_VLForConditionalGeneration
    from typer.testing import CliRunner

    from evalsuite.cli import app
    from evalsuite.training.loop import Stopped, read_metrics
    from evalsuite.training.vlm_dpo import train_vlm_dpo
    base = fx("unifiedreward-qwen")
    d = _pairs_dir(tmp_path)
    recipe = yaml.safe_load(RECIPE.read_text())
    assert recipe["kind"] == "vlm-dpo" and recipe["dpo"]["steps"] == 4
    out = tmp_path / "run"
    with pytest.raises(Stopped):
        train_vlm_dpo(str(base), d, out, seed=recipe["seed"], progress=False, stop_after=2,
                      **recipe["dpo"])
    assert (out / "trainer" / "checkpoint-2" / "trainer_state.json").exists()
    assert not (out / "model.safetensors").exists()  # no final save after a kill
    # a half-written newer checkpoint (killed mid-save) is not resumed from
    (out / "trainer" / "checkpoint-3").mkdir()

    res = CliRunner().invoke(app, ["train", "dpo", "--recipe", str(RECIPE), "--policy",
                                   str(base), "--pairs", str(d), "--out", str(out),
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    rows = read_metrics(out)
    ev = [r for r in rows if r.get("event") == "resume"]
    assert ev == [{"event": "resume", "from_step": 2, "checkpoint": "checkpoint-2",
                   "skipped_incomplete": ["checkpoint-3"]}]
    i = rows.index(ev[0])
    steps_before = [r["step"] for r in rows[:i] if "loss" in r]
    steps_after = [r["step"] for r in rows[i:] if "loss" in r]
    assert steps_before == [1, 2] and steps_after == [3, 4]  # continued from 2, not from 0
    assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
    losses = [r["loss"] for r in rows if "loss" in r]
    assert losses[0] == pytest.approx(math.log(2), abs=1e-6)  # LoRA B = 0: policy == reference
    # the adapter came back on resume: a fresh one would give log 2 again at step 3
    assert losses[0] > losses[1] > losses[2] > losses[3]
    state = json.loads((out / "trainer" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4

    m = Qwen2_5_VLForConditionalGeneration.from_pretrained(out)
    b = Qwen2_5_VLForConditionalGeneration.from_pretrained(base)
    ms, bs = m.state_dict(), b.state_dict()
    assert set(ms) == set(bs) and not any("lora" in k for k in ms)  # merged, plain keys
    q = "model.language_model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(ms[q], bs[q])  # the merged LoRA update is in the weights
    v = "model.visual.blocks.0.attn.qkv.weight"
    assert torch.equal(ms[v], bs[v])  # untouched where no adapter was put
    assert (out / "preprocessor_config.json").exists() or (out / "processor_config.json").exists()
