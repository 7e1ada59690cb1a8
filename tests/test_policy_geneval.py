"""GenEval: the scoring rules against a test-only extract of upstream's evaluate_images.py /
summary_scores.py on thousands of generated detection results, mmdet's post-processing and
test-pipeline sizes by hand, the mmdet -> transformers checkpoint converter (key mapping,
patch-merging order against torch's Unfold, strictness), CLIP colour classification by hand,
and generation in GenEval's output layout end to end."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from evalsuite.capabilities.geneval import benchmark as ge
from tests.reference import geneval_evaluate as ref

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "geneval"


def _metadata() -> list[dict]:
    return [json.loads(x) for x in (SHARED / "evaluation_metadata.jsonl").read_text().splitlines()]


def _classnames() -> list[str]:
    return (SHARED / "object_names.txt").read_text().splitlines()


# --- prompts ------------------------------------------------------------------------------------

def test_prompts_real_file():
    bench = ge.GenEval()
    items = bench.load_items(str(SHARED), None)
    assert len(items) == 553 and bench.classnames == _classnames()
    counts: dict[str, int] = {}
    for it in items:
        counts[it.category] = counts.get(it.category, 0) + 1
    # GenEval's task sizes (prompts/create_prompts.py output at the pinned commit)
    assert counts == {"single_object": 80, "two_object": 99, "counting": 80, "colors": 94,
                      "position": 100, "color_attr": 100}
    assert items[0].item_id == "00000" and items[0].prompt == "a photo of a bench"
    assert items[0].meta["metadata"] == _metadata()[0]
    assert items[552].item_id == "00552"
    only = ge.GenEval(tags="counting").load_items(str(SHARED), None)
    assert {it.category for it in only} == {"counting"} and len(only) == 80
    with pytest.raises(ValueError):
        ge.GenEval(tags="colour").load_items(str(SHARED), None)


def test_bad_row_is_an_item_error(tmp_path):
    (tmp_path / "object_names.txt").write_text("cat\ndog\n")
    (tmp_path / "evaluation_metadata.jsonl").write_text(
        '{"tag": "single_object", "include": [{"class": "cat", "count": 1}], "prompt": "a cat"}\n'
        '{"tag": "single_object", "include": [{"class": "zebra", "count": 1}], "prompt": "z"}\n'
        'not json\n')
    items = ge.GenEval().load_items(str(tmp_path), None)
    assert items[0].prompt == "a cat"
    assert [type(x).__name__ for x in items[1:]] == ["ItemError", "ItemError"]
    assert "zebra" in items[1].reason


# --- the rules against upstream -----------------------------------------------------------------

def _random_detections(rng: random.Random, meta: dict, classnames: list[str], with_masks: bool):
    """Per-class (n, 5) arrays as mmdet's bbox2result returns them, and per-class mask lists."""
    wanted = {c["class"] for c in meta.get("include", []) + meta.get("exclude", [])}
    active = wanted | set(rng.sample(classnames, 2))
    score_pool = [0.3, 0.9, 0.2999, 0.3001, 0.8999, 0.9001, 0.95, 0.5, 0.1, 1.0]
    bboxes, masks = [], []
    for name in classnames:
        n = rng.choice([0, 1, 1, 2, 2, 3, 4, 5, 18]) if name in active else 0
        rows = []
        for _ in range(n):
            if rows and rng.random() < 0.15:  # duplicate / overlapping boxes (NMS, ties)
                x0, y0, x1, y1 = rows[-1][:4]
                dx = rng.choice([0, 1, 5])
                box = [x0 + dx, y0, x1 + dx, y1]
            elif rng.random() < 0.1:  # a box centred on the image (near-zero offsets)
                s = rng.randint(10, 200)
                box = [256 - s, 256 - s, 256 + s, 256 + s]
            else:
                x0, y0 = rng.randint(0, 500), rng.randint(0, 500)
                box = [x0, y0, x0 + rng.randint(0, 300), y0 + rng.randint(0, 300)]
            score = rng.choice(score_pool) if rng.random() < 0.5 else rng.random()
            rows.append([float(v) for v in box] + [score])
        bboxes.append(np.array(rows, dtype=np.float32).reshape(-1, 5))
        masks.append([f"mask-{name}-{i}" for i in range(n)] if with_masks else None)
    return bboxes, (masks if with_masks else None)


def _fake_colors(seed: int):
    """A deterministic stand-in for the CLIP classifier: a colour per (class, box)."""
    def classify(classname, objs):
        out = []
        for box, _ in objs:
            h = hash((seed, classname, tuple(float(v) for v in box[:4]))) % 23
            out.append(ge.COLORS[h % 10] if h >= 10 else None)
        return out
    return classify


@pytest.mark.parametrize("options", [
    {}, {"threshold": 0.5, "counting_threshold": 0.7, "max_objects": 3, "max_overlap": 0.5,
         "position_threshold": 0.25}])
def test_selection_and_rules_match_upstream(options):
    metas, classnames = _metadata(), _classnames()
    t = ge.GenEval(**{k: str(v) for k, v in options.items()}).thresholds()
    rng = random.Random(1234)
    verdicts = {True: 0, False: 0}
    for case in range(1500):
        meta = metas[rng.randrange(len(metas))]
        bboxes, masks = _random_detections(rng, meta, classnames, with_masks=case % 2 == 0)
        fake = _fake_colors(case)

        def colors(classname, objs, meta=meta, fake=fake):
            got = fake(classname, objs)
            # bias towards the asked colour so both verdicts occur
            want = [c.get("color") for c in meta.get("include", []) if c["class"] == classname]
            return [w if (g is None and want) else (g or "red") for g, w in
                    zip(got, (want * len(got))[:len(got)] or [None] * len(got))]

        ref.configure(color_classification=lambda _im, objs, cls: colors(cls, objs), **options)
        want_sel = ref.select(bboxes, masks, classnames, meta)
        got_sel = ge.select_detections(bboxes, masks, classnames, meta["tag"], t)
        assert list(got_sel) == list(want_sel)
        for k in want_sel:
            assert len(got_sel[k]) == len(want_sel[k])
            for (gb, gm), (wb, wm) in zip(got_sel[k], want_sel[k]):
                assert np.array_equal(gb, wb) and gm == wm
        want = ref.evaluate(None, want_sel, meta)
        got = ge.evaluate(got_sel, meta, colors, t.position_threshold)
        assert got == want, (meta, got, want)
        verdicts[got[0]] += 1
    assert min(verdicts.values()) > 100  # both verdicts exercised


def test_relative_position_and_iou_match_upstream():
    rng = np.random.default_rng(7)
    for pt in (0.1, 0.0, 0.3):
        ref.configure(position_threshold=pt)
        for _ in range(3000):
            a = np.concatenate([rng.integers(0, 400, 2), rng.integers(0, 400, 2), [0.5]])
            a[2:4] += a[0:2]
            b = a.copy() if rng.random() < 0.1 else np.concatenate(
                [rng.integers(0, 400, 2), rng.integers(0, 400, 2), [0.5]])
            if b is not a:
                b[2:4] = np.maximum(b[2:4], b[0:2])
            assert ge.relative_position(a, b, pt) == ref.relative_position((a, None), (b, None))
            assert ge.compute_iou(a, b) == ref.compute_iou(a, b)


def test_relative_position_by_hand():
    # A centred 100 px left of B, both 20 px wide: shrunk offset 100 - 0.1*40 = 96 -> left of
    assert ge.relative_position([0, 0, 20, 20], [100, 0, 120, 20]) == {"left of"}
    assert ge.relative_position([0, 100, 20, 120], [0, 0, 20, 20]) == {"below"}  # y down
    # diagonal offset (100, 100): each component 96/141.4 = 0.68 > 0.5 -> both relations
    assert ge.relative_position([0, 0, 20, 20], [100, 100, 120, 120]) == {"left of", "above"}
    assert ge.relative_position([0, 0, 20, 20], [1, 0, 21, 20]) == set()  # inside the margin


def test_summary_matches_summary_scores():
    metas = _metadata()
    rng = random.Random(5)
    for trial in range(20):
        records = []
        for i in rng.sample(range(len(metas)), rng.randint(1, 60)):
            for _ in range(4):
                records.append({"tag": metas[i]["tag"], "correct": rng.random() < 0.4,
                                "metadata": json.dumps(metas[i])})
        want = ref.summary(records)
        got = ge.summarize([{"tag": r["tag"], "correct": r["correct"], "prompt": r["metadata"]}
                            for r in records])
        n = len(records)
        tol = 4 * n * np.finfo(float).eps
        assert got["overall"] == pytest.approx(want["overall"], abs=tol)
        assert got["correct_images"] == pytest.approx(want["correct_images"], abs=tol)
        assert got["correct_prompts"] == pytest.approx(want["correct_prompts"], abs=tol)
        assert got["prompts"] == want["prompts"] and got["images"] == want["images"]
        assert {k: v for k, (v, _) in got["tags"].items()} == pytest.approx(want["tags"])


# --- mmdet post-processing and test pipeline by hand ---------------------------------------------

def test_mask2bbox_by_hand():
    import torch

    from evalsuite.capabilities.geneval.detector import mask2bbox
    m = torch.zeros(2, 5, 6, dtype=torch.bool)
    m[0, 1:3, 3] = True  # rows 1-2, column 3
    m[0, 4, 5] = True
    assert mask2bbox(m).tolist() == [[3.0, 1.0, 6.0, 5.0], [0.0, 0.0, 0.0, 0.0]]


def test_instance_postprocess_by_hand():
    """Top-k over (query, class) pairs of the softmax without the no-object column; mask =
    logit > 0; score = class prob x mean sigmoid inside the mask; box = the mask's extent."""
    import torch

    from evalsuite.capabilities.geneval.detector import instance_postprocess
    g = torch.Generator().manual_seed(0)
    q, c, h, w = 4, 3, 6, 7
    cls = torch.randn(q, c + 1, generator=g) * 2
    masks = torch.randn(q, h, w, generator=g) * 3
    masks[2] = -1.0  # an empty mask: score 0, box zeros
    k = 5
    labels, boxes, binary = instance_postprocess(cls, masks, (h, w), (h, w), (h, w), c, k)
    p = np.exp(cls.numpy().astype(np.float64))
    p = p / p.sum(1, keepdims=True)
    pairs = sorted(((p[i, j], i, j) for i in range(q) for j in range(c)), reverse=True)[:k]
    want = {}
    for prob, i, j in pairs:
        m = masks[i].numpy().astype(np.float64)
        inside = m > 0
        sig = 1 / (1 + np.exp(-m))
        score = prob * (sig * inside).sum() / (inside.sum() + 1e-6)
        ys, xs = np.nonzero(inside)
        box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(xs) else [0, 0, 0, 0]
        want[(i, j)] = (score, box, inside)
    assert len(labels) == k
    got = {}
    for lab, box, b in zip(labels.tolist(), boxes.numpy(), binary.numpy()):
        i = next(i for i, j in want if j == lab and np.array_equal(want[(i, j)][2], b))
        got[(i, lab)] = (box[4], list(box[:4]))
    assert set(got) == set(want)
    for key, (score, box, _) in want.items():
        assert got[key][0] == pytest.approx(score, rel=1e-5, abs=1e-7)
        assert got[key][1] == [float(v) for v in box]


def test_postprocess_crops_padding_before_resizing():
    """Logits on the padded canvas: the padded band is cut off before the resize to the
    original size (a positive band only in the padding leaves no mask)."""
    import torch

    from evalsuite.capabilities.geneval.detector import instance_postprocess
    cls = torch.tensor([[5.0, -5.0]])
    masks = -torch.ones(1, 8, 8)
    masks[0, :, 6:] = 4.0  # columns 6-7: padding only
    _, boxes, binary = instance_postprocess(cls, masks, (8, 8), (8, 6), (16, 12), 1, 1)
    assert binary.shape == (1, 16, 12) and not binary.any()
    masks[0, :, 3:] = 4.0  # right half of the real image: columns 3-5 of 6
    _, boxes, binary = instance_postprocess(cls, masks, (8, 8), (8, 6), (16, 12), 1, 1)
    # bilinear x2 (align_corners=False): output column j samples source (j + 0.5) / 2 - 0.5;
    # j = 5 -> 2.25 -> -1 + 0.25 * 5 = 0.25 > 0, j = 4 -> 1.75 -> -1
    assert binary[0, :, 5:].all() and not binary[0, :, :5].any()
    assert boxes[0, :4].tolist() == [5.0, 0.0, 12.0, 16.0]


def test_test_pipeline_sizes_by_hand():
    from evalsuite.capabilities.geneval.detector import MEAN, STD, preprocess, rescale_size
    assert rescale_size(512, 512) == (800, 800)
    assert rescale_size(1024, 768) == (1067, 800)  # 1024 * 800/768 = 1066.7
    assert rescale_size(2000, 500) == (1333, 333)  # long edge bound: 500 * 0.6665 = 333.25
    x, resized, orig = preprocess(np.zeros((768, 1024, 3), np.uint8))
    assert resized == (800, 1067) and orig == (768, 1024) and tuple(x.shape) == (3, 800, 1088)
    pad = (128 - np.array(MEAN)) / np.array(STD)  # pad value 128 before normalisation
    assert x[:, 5, 1070].numpy() == pytest.approx(pad, rel=1e-6)
    assert x[:, 5, 10].numpy() == pytest.approx(-np.array(MEAN) / np.array(STD), rel=1e-6)


# --- the checkpoint converter ---------------------------------------------------------------------

def test_patch_merging_order_against_unfold():
    """mmdet's PatchMerging (nn.Unfold 2x2 -> LayerNorm -> Linear) equals transformers'
    SwinPatchMerging after the converter's channel re-order."""
    import torch
    from transformers.models.swin.modeling_swin import SwinPatchMerging

    from evalsuite.capabilities.geneval.detector import unfold_to_concat_order
    g = torch.Generator().manual_seed(0)
    c, h, w = 5, 6, 4
    x = torch.randn(2, h * w, c, generator=g)
    norm_w, norm_b = torch.randn(4 * c, generator=g), torch.randn(4 * c, generator=g)
    red = torch.randn(2 * c, 4 * c, generator=g)
    # mmdet: (B, L, C) -> (B, C, H, W) -> Unfold -> (B, L', 4C)
    u = torch.nn.functional.unfold(x.transpose(1, 2).reshape(2, c, h, w), 2, stride=2)
    want = torch.nn.functional.layer_norm(u.transpose(1, 2), (4 * c,), norm_w, norm_b) @ red.T
    idx = unfold_to_concat_order(c)
    hf = SwinPatchMerging(c)
    with torch.no_grad():
        hf.norm.weight.copy_(norm_w[idx])
        hf.norm.bias.copy_(norm_b[idx])
        hf.reduction.weight.copy_(red[:, idx])
    got = hf(x, (h, w))
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5)


def test_converter_maps_every_key_strictly(fx):
    import torch
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation

    from evalsuite.capabilities.geneval.detector import (CHECKPOINT_NAME,
                                                         convert_mmdet_state_dict,
                                                         read_mmdet_checkpoint)
    det = Path(fx("geneval-scorers")) / "detector"
    sd, meta = read_mmdet_checkpoint(det / CHECKPOINT_NAME)
    assert meta["mmdet_version"] == "2.28.2"
    model = Mask2FormerForUniversalSegmentation(
        Mask2FormerConfig.from_dict(json.loads((det / "config.json").read_text())))
    out = convert_mmdet_state_dict(sd, model)
    model.load_state_dict(out, strict=True)
    pre = "model.pixel_level_module.encoder.swin.encoder.layers.2.blocks.1.attention."
    qkv = sd["backbone.stages.2.blocks.1.attn.w_msa.qkv.weight"]
    d = qkv.shape[1]
    assert torch.equal(out[pre + "q_proj.weight"], qkv[:d])
    assert torch.equal(out[pre + "v_proj.weight"], qkv[2 * d:])
    dec = "model.transformer_module.decoder.layers.1."
    ip = sd["panoptic_head.transformer_decoder.layers.1.attentions.1.attn.in_proj_weight"]
    f = ip.shape[1]
    assert torch.equal(out[dec + "self_attn.k_proj.weight"], ip[f:2 * f])
    assert torch.equal(out[dec + "cross_attn.in_proj_weight"],
                       sd["panoptic_head.transformer_decoder.layers.1.attentions.0.attn."
                          "in_proj_weight"])
    assert torch.equal(out[dec + "cross_attn_layer_norm.weight"],
                       sd["panoptic_head.transformer_decoder.layers.1.norms.0.weight"])
    assert torch.equal(out["model.transformer_module.decoder.mask_predictor.mask_embedder.2.0."
                           "bias"], sd["panoptic_head.mask_embed.4.bias"])
    assert torch.equal(out["model.pixel_level_module.decoder.input_projections.0.0.weight"],
                       sd["panoptic_head.pixel_decoder.input_convs.0.conv.weight"])
    # strict both ways
    extra = dict(sd, **{"panoptic_head.unknown.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="no transformers counterpart"):
        convert_mmdet_state_dict(extra, model)
    short = {k: v for k, v in sd.items() if k != "panoptic_head.query_feat.weight"}
    with pytest.raises(ValueError, match="missing"):
        convert_mmdet_state_dict(short, model)
    bad = dict(sd)
    key = "backbone.stages.0.blocks.0.attn.w_msa.relative_position_index"
    bad[key] = bad[key].flip(0)
    with pytest.raises(ValueError, match="relative position index"):
        convert_mmdet_state_dict(bad, model)


# --- colour classification by hand ---------------------------------------------------------

def test_colour_crops_and_zero_shot_by_hand(fx):
    import open_clip
    import torch
    from PIL import Image

    clip_dir = Path(fx("geneval-scorers")) / "clip"
    bench = ge.GenEval(clip_path=str(clip_dir))
    sc = ge.GenEvalScorer(bench, "cpu", "float32")
    sc.torch = torch
    name = f"local-dir:{clip_dir}"
    sc.clip, _, sc.transform = open_clip.create_model_and_transforms(name, device="cpu")
    sc.clip.eval()
    sc.tokenizer = open_clip.get_tokenizer(name)
    img = Image.new("RGB", (40, 30), (200, 20, 20))
    mask = np.zeros((30, 40), bool)
    mask[5:15, 10:20] = True
    box = np.array([8.0, 4.0, 22.0, 16.0, 0.9])
    crop = sc.crops(img, [(box, mask)])[0]
    # by hand: mask over a #999 canvas, cropped to the box
    canvas = np.full((30, 40, 3), 0x99, np.uint8)
    canvas[mask] = (200, 20, 20)
    want = sc.transform(Image.fromarray(canvas).crop((8, 4, 22, 16)))
    assert torch.equal(crop, want)
    # zero-shot classifier: mean of normalised template embeddings, renormalised
    got = sc.classify_colors(img, "car", [(box, mask)])
    with torch.no_grad():
        cols = []
        for c in ge.COLORS:
            texts = [f"a photo of a {c} car", f"a photo of a {c}-colored car",
                     f"a photo of a {c} object"]
            e = torch.nn.functional.normalize(sc.clip.encode_text(sc.tokenizer(texts)), dim=-1)
            e = e.mean(0)
            cols.append(e / e.norm())
        feat = torch.nn.functional.normalize(sc.clip.encode_image(want[None]), dim=-1)
        logits = 100 * feat @ torch.stack(cols, 1)
    assert got == [ge.COLORS[int(logits.argmax())]]


# --- end to end: GenEval's output layout ---------------------------------------------------------

def test_generation_in_geneval_layout_and_scoring(fx, tmp_path):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    scorers = Path(fx("geneval-scorers"))
    args = ["eval-policy", "--no-progress", "--policy", str(fx("policy-t2i")), "--bench",
            "geneval", "--data-path", str(fx("geneval")), "--bench-option", "tags=position",
            "--bench-option", f"detector_path={scorers / 'detector'}",
            "--bench-option", f"clip_path={scorers / 'clip'}", "--limit", "1",
            "-o", "num_inference_steps=2", "--out", str(tmp_path), "--run-name", "g"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    run = tmp_path / "g"
    res = json.loads((run / "results.json").read_text())
    assert res["counts"]["generated"] == 4 and res["counts"]["scored"] == 4
    assert res["counts"]["errors"] == 0
    m = res["metrics"]
    assert set(m) == {"overall", "position", "correct_images", "correct_prompts"}
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    want = sum(x["scores"]["correct"] for x in rows) / 4
    assert m["position"]["value"] == pytest.approx(want) and m["overall"]["value"] == \
        pytest.approx(want)
    # upstream's evaluate_images.py main(): digit folders, json.load(metadata.jsonl), \d+.png
    root = run / "geneval"
    folders = [p for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    assert len(folders) == 1
    meta = json.load(open(folders[0] / "metadata.jsonl"))
    first_position = next(x for x in map(json.loads, (Path(fx("geneval")) /
                          "evaluation_metadata.jsonl").read_text().splitlines())
                          if x["tag"] == "position")
    assert meta == first_position
    names = sorted(p.name for p in (folders[0] / "samples").iterdir()
                   if re.match(r"\d+\.png", p.name))
    assert names == ["0000.png", "0001.png", "0002.png", "0003.png"]
    # resumed: nothing regenerated or rescored
    r2 = CliRunner().invoke(app, args)
    assert r2.exit_code == 0, r2.output
    assert json.loads((run / "run.json").read_text())["invocations"][-1]["computed"] == 0


# --- published numbers and the leaderboard's policy section ------------------------------------

def test_published_geneval_numbers_are_consistent():
    """Transcription check: each overall is the mean of its six tags (both rounded to whole
    points in the paper: at most 0.5 + 0.5 apart)."""
    from evalsuite.leaderboard import load_published
    pub = [p for p in load_published()["policy_entries"] if p["benchmark"] == "geneval"]
    assert len(pub) >= 2
    for p in pub:
        tags = [p["metrics"][t] for t in ge.TAGS]
        assert abs(p["metrics"]["overall"] - sum(tags) / 6) <= 1.0, p["model"]


def test_leaderboard_shows_policy_runs_beside_paper_numbers(tmp_path):
    from evalsuite.leaderboard import build_board, load_published, render_markdown
    run = tmp_path / "results" / "sdxl-geneval"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps({
        "policy": {"policy": "sd-t2i", "model": "stabilityai/stable-diffusion-xl-base-1.0",
                   "model_path": None},
        "benchmark": {"benchmark": "geneval", "split": "test", "data_path": None},
        "metrics": {"overall": {"value": 0.5, "n": 553}, "position": {"value": 0.2, "n": 100}}}))
    board = build_board(tmp_path / "results", load_published())
    md = render_markdown(board)
    line = next(x for x in md.splitlines() if "| overall |" in x)
    # ours 50.0, paper 55 -> gap -5.0
    assert "| 50.0 | 55.0 | -5.0 | [geneval-paper] |" in line
    assert "| position | 20.0 | 15.0 | +5.0 |" in md
    assert "[geneval-paper] Ghosh" in md
