"""VideoReward judge: prompt bytes, frame sampling, checkpoint format, LoRA, head, norm, runs.

Oracles: VideoAlign's prompt template (tests/reference/); a test-only extract of VideoAlign's
``smart_nframes`` (tests/reference/) and qwen-vl-utils' ``smart_resize``; hand-written 4.4x
PEFT key names; LoRA and the reward head recomputed in float64 from the checkpoint tensors;
the normalisation by hand from model_config.json; per-dimension accuracies recomputed from
samples.jsonl. The model itself was checked against VideoAlign's code by
``scripts/check_videoreward_against_upstream.py``.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from evalsuite.fixtures.media import broken_bytes, shape_image, write_mp4  # noqa: E402
from evalsuite.types import Candidate, MediaRef, PointItem  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)
SMALL = 28 * 28 * 16  # per-frame pixel budget for fast model tests (upstream: 200704)


def _reference():
    path = Path(__file__).parent / "reference" / "videoalign_vision_process.py"
    spec = importlib.util.spec_from_file_location("videoalign_vision_process", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def judge(fx):
    from evalsuite.registry import JUDGES

    j = JUDGES.create("videoreward", model_path=str(fx("videoreward")), device="cpu",
                      max_pixels=SMALL)
    j.load()
    return j


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("vr_videos")
    return [write_mp4(d / f"v{i}.mp4", num_frames=n, fps=fps, size=size, color=c, seed=i)
            for i, (n, fps, size, c) in enumerate([(12, 8, (64, 48), "red"),
                                                   (30, 24, (96, 54), "blue"),
                                                   (9, 3, (48, 48), "green")])]


def _items(videos, prompts=("a square moving right", "a blue block drifts", "a green ball")):
    return [PointItem(f"v{i}", p, Candidate(media=MediaRef(kind="video", path=str(v))))
            for i, (v, p) in enumerate(zip(videos, prompts))]


def test_registry():
    from evalsuite.registry import JUDGES
    from evalsuite.judges.videoreward import VideoReward

    assert JUDGES.entry("videoreward").target == "evalsuite.judges.videoreward:VideoReward"
    j = VideoReward()
    assert (j.model_id, j.revision) == ("KlingTeam/VideoReward",
                                        "b8e421fe21aec3dde5f61fdd1dc44e1d603b9727")


def test_prompt_is_upstream_bytes():
    from evalsuite.judges.videoreward import PROMPT_TEMPLATE, build_text

    from tests.reference.videoalign_prompt import DETAILED_PROMPT_WITH_SPECIAL_TOKEN

    assert PROMPT_TEMPLATE == DETAILED_PROMPT_WITH_SPECIAL_TOKEN
    t = build_text('a {x} "cat"')
    assert "Textual prompt - a {x} \"cat\"\nPlease provide the ratings of Text Alignment: " \
           "<|TA_reward|>\nEND\n" in t
    order = [t.index(s) for s in ("<|VQ_reward|>", "<|MQ_reward|>", "<|TA_reward|>")]
    assert order == sorted(order) and all(t.count(s) == 1 for s in
                                          ("<|VQ_reward|>", "<|MQ_reward|>", "<|TA_reward|>"))


def test_frame_count_matches_videoalign_extract():
    from evalsuite.judges.videoreward import frame_count, frame_indices

    ref = _reference()
    rng = np.random.default_rng(0)
    cases = [(t, f) for t in (1, 2, 3, 4, 5, 7, 8, 9, 48, 49, 121, 1000, 2000)
             for f in (1, 3, 7.5, 8, 15, 23.976, 24, 25, 29.97, 30, 60)]
    cases += [(int(rng.integers(1, 3000)), float(rng.uniform(0.5, 120))) for _ in range(300)]
    for total, video_fps in cases:
        for mode in ({"fps": 2.0}, {"fps": 0.5}, {"fps": 8.0}, {"nframes": 6},
                     {"nframes": 7}, {"nframes": 16}, {"nframes": 1}):
            try:
                want = ref.smart_nframes(dict(mode), total_frames=total, video_fps=video_fps)
            except ValueError:
                with pytest.raises(ValueError):
                    frame_count(total, video_fps, mode.get("fps"), mode.get("nframes"))
                continue
            got = frame_count(total, video_fps, mode.get("fps"), mode.get("nframes"))
            assert got == want, (total, video_fps, mode)
            assert frame_indices(total, got) == ref.uniform_indices(total, want)
    # VideoAlign rounds to an even count where qwen-vl-utils (0.0.14) floors: 27 frames at
    # 3 fps and 2 fps target -> 18 (VideoAlign) vs 18; 33 at 6 fps -> 11 -> 12 vs 10.
    assert frame_count(33, 6.0, fps=2.0) == 12
    qvu = pytest.importorskip("qwen_vl_utils.vision_process")
    assert qvu.smart_nframes({"fps": 2.0}, total_frames=33, video_fps=6.0) == 10


def _hand_dims(h, w, lo, hi):
    """smart_resize by hand, VideoAlign's copy (no min <= max assertion: the max branch is
    tested first)."""
    hb, wb = max(28, round(h / 28) * 28), max(28, round(w / 28) * 28)
    if hb * wb > hi:
        beta = math.sqrt(h * w / hi)
        return math.floor(h / beta / 28) * 28, math.floor(w / beta / 28) * 28
    if hb * wb < lo:
        beta = math.sqrt(lo / (h * w))
        return math.ceil(h * beta / 28) * 28, math.ceil(w * beta / 28) * 28
    return hb, wb


def test_sample_video_pixels(videos):
    """Frames at the extract's indices, resized to smart_resize(h, w, 28, 128*28*28,
    max_pixels) by torchvision's bicubic antialiased resize of uint8 frames."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    from evalsuite.judges.videoreward import sample_video
    from evalsuite.media import decode_frames

    ref = _reference()
    qvu = pytest.importorskip("qwen_vl_utils.vision_process")
    for v in videos:
        frames, fps, _ = decode_frames(MediaRef(kind="video", path=str(v)))
        for max_pixels in (200704, SMALL):
            got = sample_video(frames, fps, 2.0, None, max_pixels)
            n = ref.smart_nframes({"fps": 2.0}, total_frames=len(frames), video_fps=fps)
            idx = ref.uniform_indices(len(frames), n)
            h, w = _hand_dims(frames[0].shape[0], frames[0].shape[1], 128 * 28 * 28,
                              max_pixels)
            if max_pixels >= 128 * 28 * 28:
                assert (h, w) == qvu.smart_resize(frames[0].shape[0], frames[0].shape[1], 28,
                                                  128 * 28 * 28, max_pixels)
            want = F.resize(torch.from_numpy(np.stack([frames[i] for i in idx])).permute(
                0, 3, 1, 2), [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True)
            assert got.dtype == torch.uint8 and torch.equal(got, want)


def _peft_legacy_keys(depth: int, layers: int) -> set[str]:
    """PEFT (LoRA on the language model) + transformers 4.4x names, tied embeddings."""
    pre = "base_model.model."
    keys = {pre + k for k in ("visual.patch_embed.proj.weight", "model.embed_tokens.weight",
                              "model.norm.weight", "lm_head.weight", "rm_head.weight")}
    for i in range(depth):
        keys |= {pre + f"visual.blocks.{i}.{m}.{p}" for m in
                 ("norm1", "norm2", "attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
                 for p in ("weight", "bias")}
    keys |= {pre + f"visual.merger.{m}.{p}" for m in ("ln_q", "mlp.0", "mlp.2")
             for p in ("weight", "bias")}

    def lora(name, bias):
        out = {f"{name}.base_layer.weight", f"{name}.lora_A.default.weight",
               f"{name}.lora_B.default.weight"}
        return out | ({f"{name}.base_layer.bias"} if bias else set())

    for i in range(layers):
        lay = pre + f"model.layers.{i}."
        for m in "qkv":
            keys |= lora(lay + f"self_attn.{m}_proj", bias=True)
        keys |= lora(lay + "self_attn.o_proj", bias=False)
        for m in ("gate", "up", "down"):
            keys |= lora(lay + f"mlp.{m}_proj", bias=False)
        keys |= {lay + "input_layernorm.weight", lay + "post_attention_layernorm.weight"}
    return keys


def test_checkpoint_format_and_strict_load(fx, tmp_path):
    from evalsuite.judges.videoreward import VideoReward

    src = fx("videoreward")
    sd = torch.load(src / "checkpoint-12" / "model.pth", weights_only=True)
    assert set(sd) == _peft_legacy_keys(depth=2, layers=2)
    assert tuple(sd["base_model.model.rm_head.weight"].shape) == (1, 64)
    cfg = json.loads((src / "model_config.json").read_text())
    assert set(cfg) == {"data_config", "model_config", "peft_lora_config", "inference_config"}

    def copy(name: str, tensors=None, config=None) -> Path:
        d = tmp_path / name
        (d / "checkpoint-12").mkdir(parents=True)
        (d / "base").symlink_to(src / "base")
        (d / "model_config.json").write_text(json.dumps(config or cfg))
        torch.save(tensors if tensors is not None else sd, d / "checkpoint-12" / "model.pth")
        return d

    drop = dict(sd)
    drop.pop("base_model.model.model.layers.1.mlp.up_proj.lora_B.default.weight")
    extra = {**sd, "base_model.model.rm_head.bias": torch.zeros(1)}
    for name, tensors, match in (("missing", drop, "missing"),
                                 ("unexpected", extra, "unexpected")):
        with pytest.raises(ValueError, match=match):
            VideoReward(model_path=str(copy(name, tensors)), device="cpu").load()
    # Settings this loader does not implement are refused, not guessed.
    other = json.loads(json.dumps(cfg))
    other["data_config"]["prompt_template_type"] = "simple"
    with pytest.raises(ValueError, match="unsupported"):
        VideoReward(model_path=str(copy("template", config=other)), device="cpu").load()
    # The highest checkpoint-<step> is used unless checkpoint_step says otherwise.
    d = copy("steps")
    (d / "checkpoint-3").mkdir()
    j = VideoReward(model_path=str(d), device="cpu")
    assert j._checkpoint(d).parent.name == "checkpoint-12"
    with pytest.raises(FileNotFoundError, match="model.pth"):
        VideoReward(model_path=str(d), device="cpu", checkpoint_step=3)._checkpoint(d)


def test_lora_is_applied_as_upstream(judge, fx):
    """Each adapted layer computes x W^T + b + (alpha / r) (x A^T) B^T (PEFT LoRA, dropout
    inert in eval), from the checkpoint tensors; the adapters are in float32 as upstream."""
    sd = torch.load(fx("videoreward") / "checkpoint-12" / "model.pth", weights_only=True)
    cfg = json.loads((fx("videoreward") / "model_config.json").read_text())["peft_lora_config"]
    scale = cfg["lora_alpha"] / cfg["lora_r"]
    layer = judge.reward_model.model.language_model.layers[1].self_attn.q_proj
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(0))
    pre = "base_model.model.model.layers.1.self_attn.q_proj."
    w, b = sd[pre + "base_layer.weight"].double(), sd[pre + "base_layer.bias"].double()
    a, bb = sd[pre + "lora_A.default.weight"].double(), sd[pre + "lora_B.default.weight"].double()
    want = x.double() @ w.T + b + scale * (x.double() @ a.T) @ bb.T
    with torch.no_grad():
        got = layer(x).double()
    torch.testing.assert_close(got, want, rtol=0, atol=64 * EPS32 * float(want.abs().max()))
    assert float((scale * (x.double() @ a.T) @ bb.T).abs().max()) > 1e-3  # adapters matter
    assert layer.lora_A["default"].weight.dtype == torch.float32
    assert not hasattr(judge.reward_model.model.visual.blocks[0].attn.qkv, "lora_A")


def test_head_tokens_and_normalisation(judge, fx, videos):
    """raw (VQ, MQ, TA) = rm_head at the three reward tokens, in prompt order; each
    normalised by model_config.json's mean / std; Overall = their sum."""
    from evalsuite.judges.qwen2vl_reward import reward_hidden_states
    from evalsuite.judges.videoreward import SPECIAL_TOKENS, VideoReward

    cfg = json.loads((fx("videoreward") / "model_config.json").read_text())["inference_config"]
    w = torch.load(fx("videoreward") / "checkpoint-12" / "model.pth",
                   weights_only=True)["base_model.model.rm_head.weight"].double()[0]
    item = _items(videos)[1]
    score = judge.score([item])[0]
    p = judge.prepare_point(item)
    inp = judge.processor(text=[p["text"]], videos=[p["video"]], return_tensors="pt",
                          videos_kwargs={"do_resize": False})
    ids = inp["input_ids"][0]
    with torch.no_grad():
        hidden = reward_hidden_states(judge.reward_model, inp["input_ids"],
                                      inp["attention_mask"],
                                      pixel_values_videos=inp["pixel_values_videos"],
                                      video_grid_thw=inp["video_grid_thw"])[0]
    tol = 64 * EPS32 * max(1.0, float(hidden.abs().max()) * float(w.abs().sum()))
    for dim, tok in zip(("VQ", "MQ", "TA"), SPECIAL_TOKENS):
        (pos,) = (ids == judge.processor.tokenizer.convert_tokens_to_ids(tok)).nonzero()[0]
        raw = float(hidden[pos].double() @ w)
        assert score.extras["raw"][dim] == pytest.approx(raw, abs=tol)
        norm = (raw - cfg[f"{dim}_mean"]) / cfg[f"{dim}_std"]
        assert score.extras["dims"][dim] == pytest.approx(norm, abs=tol)
    assert score.value == pytest.approx(sum(score.extras["dims"].values()), abs=1e-12)
    raw_judge = VideoReward(model_path=judge.model_path, device="cpu", use_norm="false",
                            max_pixels=SMALL)
    raw_judge.config, raw_judge.model, raw_judge.reward_model = (judge.config, judge.model,
                                                                 judge.reward_model)
    raw_judge.processor, raw_judge.special_ids = judge.processor, judge.special_ids
    raw_judge.output_dim, raw_judge._torch = judge.output_dim, torch
    unnorm = raw_judge.score([item])[0]
    assert unnorm.extras["dims"] == unnorm.extras["raw"] == pytest.approx(score.extras["raw"])
    assert unnorm.value == pytest.approx(sum(score.extras["raw"].values()))


def test_batched_equals_one_by_one(judge, videos):
    items = _items(videos)
    batched = judge.score(items)
    single = [judge.score([it])[0] for it in items]
    length = max(len(judge.processor.tokenizer(judge.prepare_point(it)["text"])["input_ids"])
                 for it in items)
    for b, s in zip(batched, single):
        scale = max(1.0, *map(abs, s.extras["dims"].values()))
        tol = 16 * EPS32 * math.sqrt(length) * scale  # reduction order over padded rows
        assert b.extras["dims"] == pytest.approx(s.extras["dims"], abs=tol)
    assert len({round(b.value, 6) for b in batched}) == len(items)


def test_bad_inputs_are_per_item_errors(judge):
    from evalsuite.media import MediaError

    with pytest.raises(MediaError):
        judge.prepare_point(PointItem("b", "x", Candidate(media=MediaRef(
            kind="video", data=broken_bytes("mp4")))))
    with pytest.raises(ValueError, match="videos"):
        judge.prepare_point(PointItem("i", "x", Candidate(media=MediaRef.from_pil(
            shape_image()))))


def _run(fx, tmp_path, bench, **kw):
    from evalsuite.runner import RunConfig, execute

    cfg = RunConfig(judge="videoreward", bench=bench, data_path=str(fx(bench)),
                    model_path=str(fx("videoreward")), out_dir=str(tmp_path), batch_size=4,
                    max_error_rate=0.5, device="cpu", progress=False,
                    judge_options={"max_pixels": SMALL}, **kw)
    return execute(cfg)


def test_videogen_rewardbench_per_dimension_metrics(fx, tmp_path):
    """VQ / MQ / TA margins feed the benchmark's per-dimension metrics; each unique video
    is scored once; a re-run resumes without scoring anything."""
    import csv

    out = _run(fx, tmp_path, "videogen-rewardbench")
    res = out.results
    rows = [json.loads(line) for line in (out.run_dir / "samples.jsonl").open()]
    scored = [r for r in rows if not r.get("error")]
    assert len(scored) == 9 and len(rows) == 12  # 2 broken/missing videos; 1 bad label
    with open(fx("videogen-rewardbench") / "videogen-rewardbench.csv") as fh:
        table = list(csv.DictReader(fh))
    sign = {"A": 1, "B": -1, "same": 0}
    for dim in ("VQ", "MQ", "TA"):
        assert all(set(r["margins"]) == {"VQ", "MQ", "TA"} for r in scored)
        pairs = [(sign[table[int(r["item_id"].split("/")[1])][dim]], r["margins"][dim])
                 for r in scored]
        non_tie = [(h, m) for h, m in pairs if h != 0]
        want = sum(1 for h, m in non_tie if np.sign(m) == h) / len(non_tie)
        got = res["breakdown"][dim]["accuracy_without_ties"]["value"]
        assert got == pytest.approx(want)
    for r in scored:  # Overall = VQ + MQ + TA, so its margin is the sum of the three
        assert r["margin"] == pytest.approx(sum(r["margins"].values()), abs=1e-9)
    valid = [t for t in table if t["Overall"] in sign]
    unique = {(t["prompt"], t[c]) for t in valid for c in ("path_A", "path_B")}
    assert res["counts"]["unique_points"] == len(unique) == 11  # each video scored once
    again = _run(fx, tmp_path, "videogen-rewardbench")
    assert again.computed == 0 and again.results["breakdown"] == res["breakdown"]


def test_genai_bench_video(fx, tmp_path):
    out = _run(fx, tmp_path, "genai-bench-video", limit=4)
    res = out.results
    assert res["judge"]["judge"] == "videoreward" and res["counts"]["items"] == 4
    assert res["counts"]["errors"] == 0
    assert res["metrics"]["accuracy_without_ties"]["value"] is not None


def test_hub_download_path(fx, monkeypatch):
    """Without --model-path: model_config.json and the pinned checkpoint file are fetched
    from the pinned commit (redirected to the fixture here; no network)."""
    import huggingface_hub

    from evalsuite.judges.videoreward import HUB_CHECKPOINT, VideoReward

    calls = []

    def fake(repo_id, filename, revision=None, **kw):
        calls.append((repo_id, filename, revision))
        return str(fx("videoreward") / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    assert VideoReward(device="cpu")._root() == fx("videoreward")
    assert calls == [("KlingTeam/VideoReward", "model_config.json",
                      "b8e421fe21aec3dde5f61fdd1dc44e1d603b9727"),
                     ("KlingTeam/VideoReward", HUB_CHECKPOINT,
                      "b8e421fe21aec3dde5f61fdd1dc44e1d603b9727")]
