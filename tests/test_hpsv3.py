"""HPSv3 judge: prompt bytes, image preprocessing, checkpoint format, reward head, runs.

Oracles: upstream's instruction text (tests/reference/); qwen-vl-utils' ``smart_resize`` and PIL's
bicubic resize (upstream's ``fetch_image`` rule); hand-written 4.4x Qwen2-VL key names;
the ranknet head recomputed in float64 from the checkpoint tensors; transformers' own
Qwen2-VL forward with explicit sequential positions. The model itself was checked against
upstream's class by ``scripts/check_hpsv3_against_upstream.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from evalsuite.fixtures.media import broken_bytes, shape_image  # noqa: E402
from evalsuite.types import Candidate, MediaRef, PointItem  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)


SMALL = 28 * 28 * 16  # 64 patches per image instead of upstream's 1024: fast model tests


@pytest.fixture(scope="module")
def judge(fx):
    """Upstream's settings (preprocessing tests)."""
    from evalsuite.registry import JUDGES

    j = JUDGES.create("hpsv3", model_path=str(fx("hpsv3")), device="cpu")
    j.load()
    return j


@pytest.fixture(scope="module")
def small(judge):
    """The same loaded model with a smaller image budget (scoring tests)."""
    from evalsuite.judges.hpsv3 import HPSv3

    j = HPSv3(model_path=judge.model_path, device="cpu", pixels=SMALL)
    j.model, j.processor, j.reward_id, j._torch = (judge.model, judge.processor,
                                                    judge.reward_id, judge._torch)
    return j


def _items(n=4, sizes=((64, 48), (30, 90), (200, 120), (48, 48))):
    colors, shapes = ["red", "blue", "green", "yellow"], ["square", "circle", "triangle"]
    return [PointItem(f"p{i}", f"a {colors[i % 4]} {shapes[i % 3]} number {i}",
                      Candidate(media=MediaRef.from_pil(shape_image(
                          shapes[i % 3], colors[i % 4], ("left", "right")[i % 2],
                          size=sizes[i % len(sizes)], seed=i))))
            for i in range(n)]


def test_registry_and_lazy_import():
    from evalsuite.registry import JUDGES

    assert JUDGES.entry("hpsv3").target == "evalsuite.judges.hpsv3:HPSv3"
    code = ("import sys, evalsuite.judges.hpsv3, evalsuite.judges.videoreward; "
            "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]; "
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_prompt_is_upstream_bytes():
    from evalsuite.judges.hpsv3 import INSTRUCTION, PROMPT_WITH_SPECIAL_TOKEN, build_text
    from tests.reference import hpsv3_prompt as up

    assert INSTRUCTION == up.VISUAL_QUALITY + "\n" + up.TEXT_ALIGNMENT
    assert PROMPT_WITH_SPECIAL_TOKEN == up.PROMPT_WITH_SPECIAL_TOKEN
    t = build_text('a {curly} "cat", 100%')
    assert t.endswith('Textual prompt - a {curly} "cat", 100%\n\n\n\n'
                      'Please provide the overall ratings of this image: <|Reward|>\n\nEND\n')
    assert t.startswith("\nYou are tasked with evaluating a generated image")
    assert t.count("<|Reward|>") == 1


def test_chat_template_rendering(judge):
    """Qwen2-VL-Instruct's template: default system turn, the image, the text, an open
    assistant turn (what apply_chat_template gives upstream for its message list)."""
    from evalsuite.judges.hpsv3 import build_text

    prep = judge.prepare_point(_items(1)[0])
    assert prep["text"] == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                            "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
                            + build_text("a red square number 0")
                            + "<|im_end|>\n<|im_start|>assistant\n")


def _upstream_dims(h, w, pixels=256 * 28 * 28):
    """Hand computation of smart_resize(h, w, 28, pixels, pixels)."""
    hb, wb = max(28, round(h / 28) * 28), max(28, round(w / 28) * 28)
    if hb * wb > pixels:
        beta = math.sqrt(h * w / pixels)
        return math.floor(h / beta / 28) * 28, math.floor(w / beta / 28) * 28
    if hb * wb < pixels:
        beta = math.sqrt(pixels / (h * w))
        return math.ceil(h * beta / 28) * 28, math.ceil(w * beta / 28) * 28
    return hb, wb


def test_smart_resize_matches_qwen_vl_utils():
    from evalsuite.judges.qwen2vl_reward import smart_resize

    qvu = pytest.importorskip("qwen_vl_utils.vision_process")
    rng = np.random.default_rng(0)
    cases = [(480, 640), (512, 300), (30, 40), (448, 448), (200, 1024), (1, 199), (199, 1),
             (28, 28), (14, 14), (10000, 51), (392, 512)]  # 392x512 = 200704 exactly
    cases += [tuple(int(x) for x in rng.integers(1, 4000, 2)) for _ in range(300)]
    def outcome(fn, *a):
        try:
            return fn(*a)
        except ValueError:
            return "refused"

    for h, w in cases:
        for lo, hi in ((200704, 200704), (100352, 200704), (3136, 12845056)):
            assert outcome(smart_resize, h, w, 28, lo, hi) == \
                outcome(qvu.smart_resize, h, w, 28, lo, hi), (h, w)
        if max(h, w) / min(h, w) <= 200:
            assert smart_resize(h, w, 28, 200704, 200704) == _upstream_dims(h, w)
    assert smart_resize(480, 640, 28, 200704, 200704) == (364, 504)  # by hand: beta 1.2372
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(1, 201, 28, 200704, 200704)


def test_resize_image_is_pil_bicubic_to_smart_size():
    from PIL import Image

    from evalsuite.judges.hpsv3 import resize_image

    for size in ((640, 480), (30, 90), (448, 448), (1000, 120)):
        img = shape_image("circle", "blue", "left", size=size, seed=3)
        got = resize_image(img)
        h, w = _upstream_dims(size[1], size[0])
        assert got.size == (w, h)
        ref = img.convert("RGB").resize((w, h), Image.BICUBIC)
        assert np.array_equal(np.asarray(got), np.asarray(ref))
    rgba = Image.new("RGBA", (64, 48), (10, 200, 30, 0))  # upstream: convert("RGB"), alpha dropped
    assert np.asarray(resize_image(rgba))[0, 0].tolist() == [10, 200, 30]


def test_processor_receives_upstream_pixels(judge):
    """The processor's own resize is a no-op on upstream's size, so switching it off changes
    nothing; the grid is the smart_resize size in 14-pixel patches."""
    items = _items(3)
    prepared = judge.prepare_points(items)
    off = judge.processor(text=[p["text"] for p in prepared],
                          images=[p["image"] for p in prepared], padding=True,
                          return_tensors="pt", images_kwargs={"do_resize": False})
    on = judge.processor(text=[p["text"] for p in prepared],
                         images=[p["image"] for p in prepared], padding=True,
                         return_tensors="pt")
    assert torch.equal(off["image_grid_thw"], on["image_grid_thw"])
    torch.testing.assert_close(off["pixel_values"], on["pixel_values"], rtol=0, atol=1e-6)
    for item, p, grid in zip(items, prepared, off["image_grid_thw"].tolist()):
        w, h = p["image"].size
        from evalsuite.media import load_image
        w0, h0 = load_image(item.candidate.media).size
        assert (h, w) == _upstream_dims(h0, w0) and grid == [1, h // 14, w // 14]


def _legacy_keys(depth: int, layers: int) -> set[str]:
    """transformers 4.4x names of Qwen2VLForConditionalGeneration + the ranknet head."""
    keys = {"visual.patch_embed.proj.weight", "model.embed_tokens.weight", "model.norm.weight",
            "lm_head.weight"}
    for i in range(depth):
        keys |= {f"visual.blocks.{i}.{m}.{p}" for m in ("norm1", "norm2", "attn.qkv",
                                                          "attn.proj", "mlp.fc1", "mlp.fc2")
                 for p in ("weight", "bias")}
    keys |= {f"visual.merger.{m}.{p}" for m in ("ln_q", "mlp.0", "mlp.2")
             for p in ("weight", "bias")}
    for i in range(layers):
        pre = f"model.layers.{i}."
        keys |= {pre + f"self_attn.{m}_proj.{p}" for m in "qkv" for p in ("weight", "bias")}
        keys |= {pre + "self_attn.o_proj.weight", pre + "input_layernorm.weight",
                 pre + "post_attention_layernorm.weight"}
        keys |= {pre + f"mlp.{m}_proj.weight" for m in ("gate", "up", "down")}
    keys |= {f"rm_head.{i}.{p}" for i in (0, 3, 5) for p in ("weight", "bias")}
    return keys


def test_checkpoint_format_and_strict_load(fx, tmp_path):
    from safetensors.torch import load_file, save_file

    from evalsuite.judges.hpsv3 import HPSv3
    from evalsuite.judges.qwen2vl_reward import current_key

    src = fx("hpsv3")
    sd = load_file(str(src / "HPSv3.safetensors"))
    assert set(sd) == _legacy_keys(depth=2, layers=2)
    tok_len = len(json.loads((src / "tokenizer.json").read_text())["added_tokens"])
    assert tok_len > 0
    assert tuple(sd["rm_head.0.weight"].shape) == (1024, 64)
    assert tuple(sd["rm_head.3.weight"].shape) == (16, 1024)
    assert tuple(sd["rm_head.5.weight"].shape) == (2, 16)
    # The same loader takes the current names too (a re-saved checkpoint).
    cases = {"current": {current_key(k): v for k, v in sd.items()}}
    bad = dict(sd)
    bad.pop("rm_head.5.bias")
    cases["missing"] = bad
    cases["unexpected"] = {**sd, "rm_head.6.weight": torch.zeros(1)}
    cases["shape"] = {**sd, "rm_head.5.weight": torch.zeros(3, 16)}
    cases["both layouts"] = {**sd, "model.language_model.norm.weight":
                             sd["model.norm.weight"].clone()}
    for name, tensors in cases.items():
        d = tmp_path / name.replace(" ", "_")
        d.mkdir()
        for f in src.iterdir():
            if f.is_file() and f.name != "HPSv3.safetensors":
                (d / f.name).write_bytes(f.read_bytes())
        save_file(tensors, str(d / "HPSv3.safetensors"))
        j = HPSv3(model_path=str(d), device="cpu")
        if name == "current":
            j.load()
            continue
        with pytest.raises(ValueError, match={"missing": "missing", "unexpected": "unexpected",
                                               "shape": "shapes",
                                               "both layouts": "both"}[name]):
            j.load()


def test_pickle_checkpoint_is_read_weights_only(fx, tmp_path):
    """A .pth is read with weights_only=True; a {"model": ...} wrapper is unwrapped (as
    upstream); anything that is not plain tensors is refused."""
    from safetensors.torch import load_file

    from evalsuite.judges.hpsv3 import read_checkpoint

    sd = load_file(str(fx("hpsv3") / "HPSv3.safetensors"))
    torch.save({"model": sd}, tmp_path / "a.pth")
    assert set(read_checkpoint(tmp_path / "a.pth")) == set(sd)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"model": Evil()}, tmp_path / "b.pth")
    with pytest.raises(Exception, match="[Ww]eights only|weights_only|Unsupported"):
        read_checkpoint(tmp_path / "b.pth")


def test_reward_head_and_positions_against_plain_recomputation(small, fx):
    """mu/sigma = the ranknet head (float64, straight from the checkpoint tensors) at the
    <|Reward|> token of the hidden states transformers' own Qwen2-VL forward gives with
    sequential positions 0..L-1; Qwen2-VL's 3-D vision positions would give others."""
    from safetensors.torch import load_file

    sd = {k: v.double().numpy() for k, v in
          load_file(str(fx("hpsv3") / "HPSv3.safetensors")).items() if k.startswith("rm_head")}
    judge = small
    items = _items(2)
    scores = judge.score(items)
    for item, score in zip(items, scores):
        p = judge.prepare_point(item)
        inp = judge.processor(text=[p["text"]], images=[p["image"]], return_tensors="pt",
                              images_kwargs={"do_resize": False})
        ids = inp["input_ids"]
        pos = torch.arange(ids.shape[1]).view(1, 1, -1).expand(3, 1, -1)
        with torch.no_grad():
            out = judge.model.model(input_ids=ids, attention_mask=inp["attention_mask"],
                                    pixel_values=inp["pixel_values"],
                                    image_grid_thw=inp["image_grid_thw"], position_ids=pos)
            mrope = judge.model.model(input_ids=ids, attention_mask=inp["attention_mask"],
                                      pixel_values=inp["pixel_values"],
                                      image_grid_thw=inp["image_grid_thw"],
                                      mm_token_type_ids=inp["mm_token_type_ids"])
        where = (ids[0] == judge.reward_id).nonzero().flatten().tolist()
        assert len(where) == 1
        assert judge.processor.tokenizer.decode(ids[0, where[0] + 1:]) == \
            "\n\nEND\n<|im_end|>\n<|im_start|>assistant\n"
        h = out.last_hidden_state[0, where[0]].double().numpy()
        a = np.maximum(sd["rm_head.0.weight"] @ h + sd["rm_head.0.bias"], 0)
        a = np.maximum(sd["rm_head.3.weight"] @ a + sd["rm_head.3.bias"], 0)
        mu, sigma = sd["rm_head.5.weight"] @ a + sd["rm_head.5.bias"]
        # float32 forward vs float64 head: error of a few ulps per reduction step
        tol = 64 * EPS32 * max(1.0, abs(mu), abs(sigma))
        assert score.value == pytest.approx(mu, abs=tol)
        assert score.extras == pytest.approx({"mu": mu, "sigma": sigma}, abs=tol)
        # Qwen2-VL's own 3-D positions (which upstream never computes) differ from these on
        # the image tokens far beyond float32 noise: the position choice is really tested.
        img = (ids[0] == judge.model.config.image_token_id).nonzero().flatten()
        noise = 16 * EPS32 * math.sqrt(ids.shape[1]) * float(out.last_hidden_state.abs().max())
        gap = (mrope.last_hidden_state[0, img] - out.last_hidden_state[0, img]).abs().max()
        assert float(gap) > 20 * noise, (float(gap), noise)


def test_batched_equals_one_by_one(small):
    judge = small
    items = _items(4)
    batched = [s.value for s in judge.score(items)]
    single = [judge.score([it])[0].value for it in items]
    # Right padding leaves each row's real tokens and positions unchanged; only the order
    # of float32 reductions (attention over a longer padded row) differs: a few ulps per
    # layer, scaled by the sequence length.
    length = max(len(judge.processor.tokenizer(judge.prepare_point(it)["text"])["input_ids"])
                 for it in items)
    tol = 16 * EPS32 * math.sqrt(length) * max(1.0, *map(abs, single))
    np.testing.assert_allclose(batched, single, rtol=0, atol=tol)
    assert len(set(np.round(batched, 6))) == len(items)


def test_bad_inputs_are_per_item_errors(small):
    judge = small
    from evalsuite.media import MediaError

    with pytest.raises(MediaError):
        judge.prepare_point(PointItem("b", "x", Candidate(
            media=MediaRef(kind="image", data=broken_bytes("png")))))
    with pytest.raises(ValueError, match="images"):
        judge.prepare_point(PointItem("t", "x", Candidate(text="an answer, no image")))
    # A prompt that contains the reward token itself would shift the read-out: refused.
    item = PointItem("r", "a cat <|Reward|>", _items(1)[0].candidate)
    with pytest.raises(ValueError, match="reward token"):
        judge.score([item])


def test_hub_download_path(fx, monkeypatch):
    import huggingface_hub

    from evalsuite.judges.hpsv3 import HPSv3

    calls = []

    def fake(repo_id, filename, revision=None, **kw):
        calls.append((repo_id, filename, revision))
        return str(fx("hpsv3") / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    j = HPSv3(revision="abc123", base_model=str(fx("hpsv3")), device="cpu")
    j.load()
    assert calls == [("MizzenAI/HPSv3", "HPSv3.safetensors", "abc123")]
    assert HPSv3().info()["base_model"] == "Qwen/Qwen2-VL-7B-Instruct"


def test_cli_run_genai_bench_batched_and_resumable(fx, tmp_path):
    from evalsuite.runner import RunConfig, execute

    cfg = dict(judge="hpsv3", bench="genai-bench", data_path=str(fx("genai-bench")),
               model_path=str(fx("hpsv3")), out_dir=str(tmp_path), batch_size=8,
               max_error_rate=0.2, device="cpu", progress=False, limit=6,
               judge_options={"pixels": SMALL})
    first = execute(RunConfig(**cfg))
    res = first.results
    assert res["judge"]["judge"] == "hpsv3" and res["counts"]["items"] == 6
    assert res["judge"]["pixels"] == SMALL and res["counts"]["errors"] == 0
    assert res["metrics"]["accuracy_with_ties"]["value"] is not None
    again = execute(RunConfig(**cfg))
    assert again.computed == 0  # every record read back from the store
    assert again.results["metrics"] == res["metrics"]
    rows = [json.loads(line) for line in (first.run_dir / "samples.jsonl").open()]
    scored = [r for r in rows if not r.get("error")]
    assert scored and all(r["margin"] == pytest.approx(r["score_a"] - r["score_b"])
                          for r in scored)
