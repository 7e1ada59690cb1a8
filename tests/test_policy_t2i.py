"""T2I-CompBench / VBench with diffusers policies: the upstream score formulas by hand, the
prompt files (real ones from ../shared/data), batched generation with per-prompt seeds,
resume after a kill, and the CLI end to end on tiny pipelines."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from evalsuite.capabilities.t2i_compbench.benchmark import (T2ICompBench, blip_questions,
                                                             blip_vqa_score, round4,
                                                             split_and_noun_phrases, three_in_one,
                                                             yes_probability)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "t2i-compbench"


def test_yes_probability_by_hand():
    import torch
    # softmax weights 1 : 3 : 6 : 0.5 -> P(yes)/(P(yes)+P(no)) = 3 / (3 + 6)
    logits = torch.log(torch.tensor([1.0, 3.0, 6.0, 0.5]))
    assert yes_probability(logits, yes_id=1, no_id=2) == pytest.approx(1 / 3)


def test_blip_vqa_product_by_hand():
    assert blip_vqa_score([0.5, 0.8]) == pytest.approx(0.4)
    assert blip_vqa_score([0.5, 0.8, 0.9], np_num=2) == pytest.approx(0.4)  # first np_num only
    assert blip_vqa_score([]) == 1.0  # no noun phrase: every factor is 1 upstream
    # 4-decimal answers, float32 product, 4-decimal image score: 1/3 -> 0.3333, and
    # 0.3333 * 0.3333 = 0.11108889 -> 0.1111
    assert round4(1 / 3) == 0.3333 and blip_vqa_score([0.3333, 0.3333]) == 0.1111
    assert blip_vqa_score([0.99995]) == 0.9999  # float32(0.99995) = 0.99994999...


def test_blip_questions_by_hand():
    chunks = ["A green bench", "top", "the left", "The left", "the left side", "the side",
              "a \"tall\" vase (blue)", "the right"]
    assert blip_questions(chunks) == ["a green bench?", "the left?", "the left side?",
                                      "a tall vase blue?"]
    assert blip_questions([f"n{i}" for i in range(10)], np_num=8)[-1] == "n7?"


def test_three_in_one_by_hand():
    assert three_in_one(0.6, None, 0.2, "action") == pytest.approx(0.4)
    assert three_in_one(0.6, 0.3, None, "spatial") == pytest.approx(0.45)
    assert three_in_one(0.6, 0.3, 0.0, "spatial+action") == pytest.approx(0.3)
    assert three_in_one(0.6, None, 0.2, "spatial") is None  # UniDet term missing: no number
    assert three_in_one(0.6, None, 0.2, "spatial+action") is None


def test_split_and_substitute():
    assert split_and_noun_phrases("a green bench and a blue bowl") == ["a green bench",
                                                                       "a blue bowl"]


def test_prompt_files_real_copies():
    items = T2ICompBench().load_items(str(SHARED), None)
    cats = {}
    for it in items:
        cats[it.category] = cats.get(it.category, 0) + 1
    assert cats == {c: 300 for c in ("color", "shape", "texture", "spatial", "non_spatial",
                                     "complex", "3d_spatial", "numeracy")}
    cx = {it.prompt: it.meta["complex_type"] for it in items if it.category == "complex"}
    assert set(cx.values()) == {"spatial", "action", "spatial+action"}
    assert items[0].item_id == "color:000" and items[0].prompt == "a green bench and a blue bowl"


def test_clipscore_is_plain_cosine(fx):
    """non_spatial score = cosine of the normalised CLIP embeddings, computed independently."""
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor

    from evalsuite.policies.base import GenItem, GenUnit

    path = fx("t2i-compbench-scorers")
    bench = T2ICompBench(categories="non_spatial", scorer_path=str(path))
    sc = bench.scorer("cpu", "float32")
    sc.load()
    img_path = Path(str(path)) / "img.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(img_path)
    unit = GenUnit(GenItem("non_spatial:000", "a man is reading a book", "non_spatial"), 0, 1)
    got = sc.score_batch([sc.prepare(unit, img_path)])[0].extras["clipscore"]
    model, proc = CLIPModel.from_pretrained(path / "clip"), CLIPProcessor.from_pretrained(
        path / "clip")
    x = proc(text=["a man is reading a book"], images=[Image.open(img_path).convert("RGB")],
             return_tensors="pt", padding=True)
    with torch.no_grad():
        ie = model.get_image_features(pixel_values=x["pixel_values"])
        te = model.get_text_features(input_ids=x["input_ids"], attention_mask=x["attention_mask"])
    ie = getattr(ie, "pooler_output", ie)
    te = getattr(te, "pooler_output", te)
    want = float(torch.nn.functional.cosine_similarity(ie, te).item())
    assert got == pytest.approx(want, abs=1e-5)


def _cli(args):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    return CliRunner().invoke(app, ["eval-policy", "--no-progress", *args])


def test_t2i_compbench_end_to_end(fx, tmp_path):
    args = ["--policy", str(fx("policy-t2i")), "--bench", "t2i-compbench",
            "--data-path", str(SHARED), "--bench-option", "categories=color,non_spatial",
            "--bench-option", "prompts_per_category=1", "--bench-option", "np_backend=split-and",
            "--bench-option", f"scorer_path={fx('t2i-compbench-scorers')}",
            "--samples-per-prompt", "2", "-o", "num_inference_steps=2", "-B", "4",
            "--out", str(tmp_path), "--run-name", "t2i"]
    r = _cli(args)
    assert r.exit_code == 0, r.output
    run = tmp_path / "t2i"
    res = json.loads((run / "results.json").read_text())
    assert res["policy"]["policy"] == "sd-t2i" and res["counts"]["generated"] == 4
    m = res["metrics"]  # the UniDet categories: tests/test_t2i_unidet.py
    assert m["non_spatial/clipscore"]["n"] == 2 and -1 <= m["non_spatial/clipscore"]["value"] <= 1
    blip = m["color/blip_vqa[np=split-and]"]  # the substitute is named apart
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    color = [x for x in rows if x["category"] == "color"]
    for x in color:  # per image: product of the 4-decimal yes-probabilities, to 4 decimals
        assert x["scores"]["questions"] == ["a green bench?", "a blue bowl?"]
        assert all(p == round(p, 4) for p in x["scores"]["p_yes"])
        assert x["scores"]["blip_vqa"] == pytest.approx(math.prod(x["scores"]["p_yes"]),
                                                        abs=5e-5 + 1e-7)
    assert blip["value"] == pytest.approx(sum(x["scores"]["blip_vqa"] for x in color) / 2)
    man = [json.loads(x) for x in (run / "manifest.jsonl").read_text().splitlines()]
    assert len(man) == 4 and all((run / x["path"]).is_file() for x in man)
    assert {"prompt", "seed", "path"} <= set(man[0])


def test_t2i_compbench_refuses_without_spacy_before_generating(fx, tmp_path):
    pytest.importorskip("evalsuite")
    from evalsuite.registry import missing_modules
    if not missing_modules(["spacy", "en_core_web_sm"]):
        pytest.skip("spaCy model installed here")
    r = _cli(["--policy", str(fx("policy-t2i")), "--bench", "t2i-compbench", "--data-path",
              str(SHARED), "--bench-option", "categories=complex", "--out", str(tmp_path),
              "--run-name", "x"])
    assert r.exit_code == 2 and "en_core_web_sm" in r.output
    assert not (tmp_path / "x" / "manifest.jsonl").exists()


class _Stop(BaseException):
    """Simulates a kill (not an Exception, so the runner does not record it as an error)."""


def test_generation_killed_midway_resumes_without_regenerating(fx, tmp_path):
    from evalsuite.policies.diffusion import DiffusersTextToImage
    from evalsuite.policies.runner import PolicyRunConfig, execute_policy

    calls: list[list[str]] = []

    class Counting(DiffusersTextToImage):
        stop_after: int | None = None

        def generate_batch(self, units):
            if self.stop_after is not None and len(calls) >= self.stop_after:
                raise _Stop()
            calls.append([u.unit_id for u in units])
            return super().generate_batch(units)

    def cfg(out, bs):
        return PolicyRunConfig(policy="sd-t2i", bench="t2i-compbench",
                               model_path=str(fx("policy-t2i")), data_path=str(SHARED),
                               batch_size=bs, samples_per_prompt=2, out_dir=str(out),
                               run_name="gen", progress=False, prefetch_workers=0,
                               policy_options={"num_inference_steps": 2},
                               bench_options={"categories": "color,non_spatial",
                                              "prompts_per_category": 2,
                                              "np_backend": "split-and",
                                              "scorer_path": str(fx("t2i-compbench-scorers"))})

    def hashes(run):
        return {x["unit_id"]: hashlib.sha1((run / x["path"]).read_bytes()).hexdigest()
                for x in map(json.loads, (run / "manifest.jsonl").read_text().splitlines())}

    p1 = Counting(model_path=str(fx("policy-t2i")), num_inference_steps=2)
    p1.stop_after = 2
    with pytest.raises(_Stop):
        execute_policy(cfg(tmp_path, 3), policy=p1)
    run = tmp_path / "gen"
    first = hashes(run)
    assert len(first) == 6 and not (run / "results.json").exists()
    calls.clear()
    p2 = Counting(model_path=str(fx("policy-t2i")), num_inference_steps=2)
    out = execute_policy(cfg(tmp_path, 3), policy=p2)
    regenerated = [u for b in calls for u in b]
    assert sorted(regenerated) == sorted(set(regenerated))
    assert len(regenerated) == 2 and not set(regenerated) & set(first)  # only the missing
    after = hashes(run)
    assert len(after) == 8 and all(after[k] == v for k, v in first.items())
    assert out.results["counts"]["generated"] == 8 and out.results["counts"]["errors"] == 0
    # same seeds per prompt: a fresh run with another batch size gives the same pixels
    import numpy as np
    from PIL import Image
    calls.clear()
    execute_policy(cfg(tmp_path / "again", 1),
                   policy=Counting(model_path=str(fx("policy-t2i")), num_inference_steps=2))
    again = tmp_path / "again" / "gen"
    for x in map(json.loads, (run / "manifest.jsonl").read_text().splitlines()):
        a = np.asarray(Image.open(run / x["path"]), dtype=int)
        b = np.asarray(Image.open(again / x["path"]), dtype=int)
        assert np.abs(a - b).max() <= 1, x["unit_id"]


def test_vbench_prompt_suite_and_generation(fx, tmp_path):
    """The prompt suite filtered by dimension, generation, VBench file names; the selected
    dimensions as numbers, the official scores only partial (tests/test_policy_vbench.py
    covers the dimensions in depth)."""
    r = _cli(["--policy", str(fx("policy-t2v")), "--bench", "vbench", "--data-path",
              str(fx("vbench")), "--bench-option", "dimensions=subject_consistency,object_class,"
              "color", "--bench-option", f"scorer_path={fx('vbench') / 'scorers'}",
              "--samples-per-prompt", "1", "-o", "num_inference_steps=2",
              "-o", "num_frames=4", "-o", "height=32", "-o", "width=32", "--out", str(tmp_path),
              "--run-name", "vb"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "vb" / "results.json").read_text())
    selected = {"subject_consistency", "object_class", "color"}
    suite = json.loads((fx("vbench") / "VBench_full_info.json").read_text())
    per_dim = {d: sum(d in r["dimension"] for r in suite) for d in selected}
    assert res["policy"]["policy"] == "diffusers-t2v"
    assert res["counts"]["generated"] == sum(bool(selected & set(r["dimension"])) for r in suite)
    m = res["metrics"]
    assert set(m) == {"videos_decodable"} | selected
    for d in selected:  # color leaves out videos where GRiT saw no coloured object
        assert 0 <= m[d]["value"] <= 1, d
        assert m[d]["n"] + m[d].get("videos_without_object", 0) == per_dim[d], (d, m[d])
    ns = res["normalised_scores"]  # a few dimensions scored: every score only partial
    assert ns["total_score"]["value"] is None
    assert "scene" in ns["total_score"]["unavailable"]
    assert ns["quality_score[partial]"]["value"] == pytest.approx(
        (m["subject_consistency"]["value"] - 0.1462) / (1.0 - 0.1462))
    # object_class and color: official Min 0, Max 1 (scripts/constant.py), equal weights
    assert ns["semantic_score[partial]"]["value"] == pytest.approx(
        (m["object_class"]["value"] + m["color"]["value"]) / 2)
    assert (tmp_path / "vb" / "vbench_videos" / "a cat-0.mp4").exists()


# --- BLIP-VQA bookkeeping against the official script -------------------------------------------

CHUNK_POOL = ("a green bench", "a blue bowl", "top", "the side", "the left", "the right",
              "The left", "the left side", "the top", "Top", "the right of a car", "a dog",
              "the side table", "a \"red\" box", "a cat (small)", "Mr. Smith's hat", "it",
              "a wooden chair; a metal fork", "the sky!", "two #1 apples", "a vase ~ish",
              "the left ", " the left", "a man reading a book", "a circle*", "THE SIDE")


class _Chunks:
    """A stand-in for spaCy's ``nlp`` (CI has no en_core_web_sm): each prompt's noun chunks
    are fixed by the test, so both sides get the same chunks and only the bookkeeping after
    them is compared."""

    def __init__(self, table):
        self.table = table

    def __call__(self, text):
        from types import SimpleNamespace
        return SimpleNamespace(noun_chunks=[SimpleNamespace(text=c) for c in self.table[text]])


def _generated_prompts():
    import random

    rng = random.Random(7)
    real = []
    for cat in ("color", "shape", "texture", "complex"):
        real += (SHARED / f"{cat}_val.txt").read_text().splitlines()[:40]
    prompts, table = [], {}
    for n, prompt in enumerate(p for p in real if p.strip()):
        k = rng.choice([0, 1, 2, 3, 4, 6, 8, 9, 12])
        chunks = [rng.choice(CHUNK_POOL) for _ in range(k)]
        if n % 17 == 0:
            chunks.append(" ".join(["word"] * 60))  # longer than pre_question's 50 words
        table[prompt] = chunks
        prompts.append(prompt)
    return prompts, table


def test_blip_vqa_equals_the_official_script():
    """Many real prompts with generated noun chunks (dropped ones, near misses, punctuation,
    more than 8, none, over 50 words) and generated answer logits: the questions asked, the
    per-answer and per-image rounding, the float32 product and the category mean equal the
    upstream script's (tests/reference/t2i_compbench_blip_vqa.py) exactly."""
    import hashlib

    import torch
    from reference.t2i_compbench_blip_vqa import main as upstream_main

    from evalsuite.policies.base import GenItem
    from evalsuite.types import RunRecord, Score

    prompts, table = _generated_prompts()
    samples, yes_id, no_id = 3, 5, 9

    def logits(image: str, question: str):
        seed = int.from_bytes(hashlib.sha256(f"{image}|{question}".encode()).digest()[:4], "big")
        g = torch.Generator().manual_seed(seed)
        return torch.randn(64, generator=g) * 3

    def upstream_answer(image, question):  # blip_vqa.py vqa_prob: float32 softmax ratio
        prob = torch.softmax(logits(image, question)[None], dim=1)
        return (prob[:, yes_id] / (prob[:, yes_id] + prob[:, no_id]))[0]

    files = [f"{p}_{n * samples + k:06}.png" for n, p in enumerate(prompts)
             for k in range(samples)]
    up_rows, up_score, up_questions = upstream_main(list(reversed(files)), _Chunks(table),
                                                    upstream_answer)
    items = [GenItem(f"color:{n:03d}", p, "color") for n, p in enumerate(prompts)]
    records = {}
    for j, name in enumerate(files):
        prompt = prompts[j // samples]
        questions = blip_questions(table[prompt])
        assert questions == [q[j] for q in up_questions if q[j] != ""], prompt
        answers = [round4(yes_probability(logits(name, q), yes_id, no_id)) for q in questions]
        ours = blip_vqa_score(answers)
        assert ours == float(up_rows[j]["answer"]), (prompt, answers)
        uid = f"{items[j // samples].item_id}#{j % samples}"
        records[("eval", uid)] = RunRecord(uid, "eval", score=Score(
            value=ours, extras={"category": "color", "blip_vqa": ours}))
    assert sum(len(q) for q in table.values()) > 500
    assert any(not blip_questions(c) for c in table.values())  # images with no question
    shuffled = dict(sorted(records.items(), key=lambda kv: hashlib.sha1(
        kv[0][1].encode()).hexdigest()))
    m = T2ICompBench().metrics(items, shuffled)["metrics"]["color/blip_vqa"]
    assert m["value"] == up_score and m["n"] == len(files)


# --- VBench normalised Quality / Semantic / Total -----------------------------------------------

VBENCH_VALUES = {
    "subject_consistency": 0.95, "background_consistency": 0.96, "temporal_flickering": 0.97,
    "motion_smoothness": 0.98, "dynamic_degree": 0.6, "aesthetic_quality": 0.55,
    "imaging_quality": 0.65, "object_class": 0.85, "multiple_objects": 0.5,
    "human_action": 0.9, "color": 0.8, "spatial_relationship": 0.6, "scene": 0.4,
    "appearance_style": 0.22, "temporal_style": 0.24, "overall_consistency": 0.26,
}


def test_vbench_final_scores_by_hand():
    """scripts/cal_final_score.py with scripts/constant.py's Min/Max and weights (VBench
    @45e79ec), written out by hand."""
    from evalsuite.capabilities.vbench.suite import final_scores

    quality = ((0.95 - 0.1462) / (1.0 - 0.1462) + (0.96 - 0.2615) / (1.0 - 0.2615)
               + (0.97 - 0.6293) / (1.0 - 0.6293) + (0.98 - 0.706) / (0.9975 - 0.706)
               + 0.55 + 0.65 + 0.6 * 0.5) / 6.5
    semantic = (0.85 + 0.5 + 0.9 + 0.8 + 0.6 + 0.4 / 0.8222
                + (0.22 - 0.0009) / (0.2855 - 0.0009) + 0.24 / 0.364 + 0.26 / 0.364) / 9
    out = final_scores(VBENCH_VALUES)
    tol = 1e-14  # a few roundings of values of order 1
    assert out["quality_score"]["value"] == pytest.approx(quality, rel=tol)
    assert out["semantic_score"]["value"] == pytest.approx(semantic, rel=tol)
    assert out["total_score"]["value"] == pytest.approx((4 * quality + semantic) / 5, rel=tol)
    assert out["normalised"]["dynamic_degree"] == pytest.approx(0.3, rel=tol)
    assert not any(k.endswith("[partial]") for k in out)


def test_vbench_partial_scores_name_what_is_missing():
    """Five semantic dimensions missing (models that could not be loaded, say): Semantic and
    Total are partial, never numbers under their own names; Quality, complete, is official."""
    from evalsuite.capabilities.vbench.suite import final_scores

    missing = ["object_class", "multiple_objects", "color", "spatial_relationship", "scene"]
    values = {d: (None if d in missing else v) for d, v in VBENCH_VALUES.items()}
    out = final_scores(values)
    assert out["quality_score"]["value"] == final_scores(VBENCH_VALUES)["quality_score"]["value"]
    for name in ("semantic_score", "total_score"):
        assert out[name]["value"] is None
        assert out[name]["unavailable"] == "partial: missing " + ", ".join(missing)
        assert out[f"{name}[partial]"]["missing"] == missing
    semantic = (0.9 + (0.22 - 0.0009) / (0.2855 - 0.0009) + 0.24 / 0.364 + 0.26 / 0.364) / 4
    assert out["semantic_score[partial]"]["value"] == pytest.approx(semantic, rel=1e-14)
    assert out["total_score[partial]"]["value"] == pytest.approx(
        (4 * out["quality_score"]["value"] + semantic) / 5, rel=1e-14)
    assert out["total_score[partial]"]["n"] == 11
