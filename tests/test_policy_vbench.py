"""VBench dimensions re-implemented from the upstream scripts: the formulas by hand on
synthetic frames, the model wiring against independent computations on tiny random-weight
checkpoints (same from_pretrained / torch.load paths as the real weights), unavailability,
per-video errors, and the CLI end to end on the tiny text-to-video pipeline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _tolerance import f32_atol, fan_ins

from evalsuite.capabilities.vbench import formulas as D
from evalsuite.policies.base import GenItem, GenUnit
from evalsuite.capabilities.vbench.suite import DIMENSIONS, IMPLEMENTED, UNAVAILABLE, VBench


@pytest.fixture(scope="module")
def scorers(fx, tmp_path_factory) -> Path:
    p = fx("vbench") / "scorers"
    if not p.is_dir():  # a fixture cache built before the scorers were added
        from evalsuite.fixtures.vbench_models import build_vbench_scorers
        p = build_vbench_scorers(tmp_path_factory.mktemp("vbench-scorers"))
    return p


def _video(values, h=8, w=8):
    return np.stack([np.full((h, w, 3), v, dtype=np.uint8) for v in values])


# --- formulas by hand ----------------------------------------------------------------------

def test_temporal_flickering_by_hand():
    assert D.temporal_flickering(_video([90, 90, 90, 90])) == 1.0  # static: the maximum
    assert D.temporal_flickering(_video([0, 51, 0])) == pytest.approx((255 - 51) / 255)
    # pair differences 10 and 30 -> mean 20
    assert D.temporal_flickering(_video([100, 110, 140])) == pytest.approx(235 / 255)
    f = _video([0, 0])
    f[1, :4] = 255  # half the pixels change by 255 -> MAE 127.5
    assert D.temporal_flickering(f) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least 2 frames"):
        D.temporal_flickering(_video([3]))


def test_consistency_by_hand():
    s, n = D.consistency_sum(np.ones((5, 4), dtype=np.float32))
    assert (s, n) == (pytest.approx(4.0), 4)  # identical frames: 1.0 per frame
    # f1 orthogonal to f0 (0, 0), f2 at 45 degrees to both -> (1/sqrt2 + 1/sqrt2) / 2
    s, n = D.consistency_sum(np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))
    assert n == 2 and s == pytest.approx(1 / math.sqrt(2))
    s, _ = D.consistency_sum(np.array([[1, 0], [-1, 0]], dtype=np.float32))
    assert s == 0.0  # negative cosines are clamped at 0
    # the dimension pools frames over videos (sim / cnt), not the mean of per-video scores
    assert D.pooled([(1.8, 2), (0.2, 1)]) == pytest.approx(2 / 3)
    assert D.pooled([]) is None


def test_flow_scores_and_thresholds_by_hand():
    flow = np.zeros((2, 10, 10), dtype=np.float32)
    flow[0].flat[:5], flow[1].flat[:5] = 3.0, 4.0  # five pixels of magnitude 5
    assert D.top_flow_mean(flow, 0.05) == pytest.approx(5.0)  # int(100 * .05) = 5 largest
    flow[0].flat[4], flow[1].flat[4] = 0.0, 0.0
    assert D.top_flow_mean(flow, 0.05) == pytest.approx(4.0)
    assert D.top_flow_mean(flow, 0.02) == pytest.approx(5.0)
    assert D.dynamic_params(320, 512, 16) == (7.5, 4)
    assert D.dynamic_params(512, 320, 6) == (7.5, 2)  # round(1.5) = 2
    assert D.dynamic_params(256, 256, 2) == (6.0, 0)  # round(0.5) = 0 (Python rounding)
    assert D.is_moving([8, 1, 8, 8, 8], 7.5, 4) and not D.is_moving([8, 8, 8, 1], 7.5, 4)
    assert D.is_moving([0.0], 7.5, 0) and not D.is_moving([], 7.5, 0)
    assert D.static_params(320, 512, 16) == (3.75, 2)
    assert D.static_pairs(3) == [(0, 1), (1, 2), (0, 2), (2, 0)]
    assert D.is_static([4, 4, 0, 0, 0], 3.75, 2)  # two over the threshold: still static
    assert not D.is_static([4, 4, 4, 0, 0], 3.75, 2)  # more than count_num
    assert not D.is_static([0, 0, 0, 15.1], 3.75, 2)  # last/first pair over thres*count*2
    assert not D.is_static([0, 0, 1e-3], 1.5, 0)  # count_num 0: any first/last motion
    assert [D.dynamic_frame_interval(f) for f in (8, 24, 30, 0)] == [1, 3, 4, 1]
    assert D.aesthetic_video_score([50.0, 70.0]) == pytest.approx(6.0)


def test_raft_inputs_padding_and_range():
    import torch
    seen = []

    def flow_fn(a, b):
        seen.append((a.shape, float(a.min()), float(a.max())))
        f = torch.zeros(a.shape[0], 2, *a.shape[-2:])
        f[:, 0], f[:, 1] = 3.0, 4.0
        return f

    frames = _video([0, 255, 0], h=13, w=20)
    assert D.raft_pair_scores(flow_fn, frames, [(0, 1), (1, 2)], 0.05) == [5.0, 5.0]
    assert seen[0] == (torch.Size([2, 3, 16, 24]), -1.0, 1.0)  # padded to /8, in [-1, 1]
    x = torch.arange(13 * 20, dtype=torch.float32).reshape(1, 1, 13, 20)
    p = D.pad_to_8(x)
    assert p.shape[-2:] == (16, 24) and torch.equal(p[..., 1:14, 2:22], x)  # split 1/2, 2/2
    assert torch.equal(p[..., 0, 2:22], x[..., 0, :])  # replicate


def test_normalisation_constants_are_the_published_ones():
    """OpenAI CLIP's (clip/clip.py _transform) and torchvision's ImageNet mean / std, which
    the by-hand expectations below are built from."""
    from evalsuite.capabilities.vbench.networks import umt as U

    assert D.CLIP_MEAN == (0.48145466, 0.4578275, 0.40821073)
    assert D.CLIP_STD == (0.26862954, 0.26130258, 0.27577711)
    for m in (D, U):
        assert tuple(m.IMAGENET_MEAN) == (0.485, 0.456, 0.406)
        assert tuple(m.IMAGENET_STD) == (0.229, 0.224, 0.225)


def test_preprocessing_matches_upstream_transforms():
    import torch
    frames = _video([100, 200], h=32, w=48)
    x = D.dino_preprocess(frames)
    assert x.shape == (2, 3, 224, 336)  # shorter side to 224, aspect kept, no crop
    want = (100 / 255 - torch.tensor(D.IMAGENET_MEAN)) / torch.tensor(D.IMAGENET_STD)
    assert torch.allclose(x[0, :, 5, 7], want, atol=1e-5)
    y = D.clip_preprocess(frames)
    assert y.shape == (2, 3, 224, 224)  # centre crop
    want = (200 / 255 - torch.tensor(D.CLIP_MEAN)) / torch.tensor(D.CLIP_STD)
    assert torch.allclose(y[1, :, 100, 3], want, atol=1e-4)
    # uint8 frames (read_frames_decord_by_fps): bicubic overshoot is clamped and rounded
    edge = np.zeros((1, 32, 48, 3), np.uint8)
    edge[:, :, 24:] = 255
    top = (1 - torch.tensor(D.CLIP_MEAN)) / torch.tensor(D.CLIP_STD)
    assert (D.clip_preprocess(edge)[0].amax((1, 2)) > top + 0.01).all()  # floats overshoot
    u = D.clip_preprocess(edge, uint8=True)[0]
    assert torch.allclose(u.amax((1, 2)), top, atol=1e-6)
    levels = u * torch.tensor(D.CLIP_STD)[:, None, None] + torch.tensor(D.CLIP_MEAN)[
        :, None, None]
    assert torch.allclose(levels * 255, (levels * 255).round(), atol=1e-3)  # whole levels


def test_appearance_style_preprocess_and_formula_by_hand():
    """clip_transform_Image(224): PIL bicubic on the shorter side, centre crop, ToTensor,
    CLIP normalisation; per frame exp(logit_scale) * cos / 100."""
    import torch
    from PIL import Image

    frames = _video([100, 200], h=32, w=48)
    frames[1, :, :24] = 0  # a vertical edge: PIL's bicubic, not torch's, must be used
    x = D.clip_image_preprocess(frames)
    assert x.shape == (2, 3, 224, 224)
    want = (100 / 255 - torch.tensor(D.CLIP_MEAN)) / torch.tensor(D.CLIP_STD)
    assert torch.allclose(x[0, :, 5, 7], want, atol=1e-5)
    im = Image.fromarray(frames[1]).resize((336, 224), Image.BICUBIC).crop((56, 0, 280, 224))
    ref = (torch.from_numpy(np.array(im)).permute(2, 0, 1) / 255
           - torch.tensor(D.CLIP_MEAN)[:, None, None]) / torch.tensor(D.CLIP_STD)[:, None, None]
    assert torch.allclose(x[1], ref, atol=1e-6)
    img = torch.tensor([[3.0, 4.0], [1.0, 0.0], [-2.0, 0.0]])
    txt = torch.tensor([0.5, 0.0])
    got = D.style_frame_scores(img, txt, math.log(100.0))
    assert got == pytest.approx([0.6, 1.0, -1.0], abs=1e-6)  # the cosines
    assert D.style_frame_scores(img, txt, math.log(50.0))[0] == pytest.approx(0.3, abs=1e-6)


def test_dino_position_interpolation():
    import torch
    pos = torch.randn(1, 1 + 14 * 14, 8)
    assert D.dino_interpolate_pos_encoding(pos, 224, 224, 16) is pos  # trained grid
    out = D.dino_interpolate_pos_encoding(pos, 224, 336, 16)
    assert out.shape == (1, 1 + 14 * 21, 8) and torch.equal(out[:, 0], pos[:, 0])


def test_every_dimension_is_implemented_or_has_a_reason():
    assert set(IMPLEMENTED) | set(UNAVAILABLE) == set(DIMENSIONS)
    assert not set(IMPLEMENTED) & set(UNAVAILABLE)
    with pytest.raises(ValueError, match="unknown VBench dimensions"):
        VBench(dimensions="subject_consistency,colour").wanted()


# --- models: tiny checkpoints, independent computations ------------------------------------

def _unit(dims, prompt="p", k=0):
    return GenUnit(GenItem("vbench:0000", prompt, dims[0], {"dimension": dims}), k, 1)


def _write(run: Path, frames, name="v.mp4") -> Path:
    from evalsuite.policies.runner import write_video
    path = run / "samples" / "cat" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames)
    return path


def _score(bench, unit, path):
    sc = bench.scorer("cpu", "float32")
    sc.load()
    return sc, sc.score_batch([sc.prepare(unit, path)])[0].extras


def test_consistency_and_aesthetic_models(scorers, tmp_path):
    import torch
    from transformers import CLIPModel, ViTModel

    bench = VBench(scorer_path=str(scorers))
    dims = ["subject_consistency", "background_consistency", "aesthetic_quality"]
    rng = np.random.default_rng(0)
    moving = rng.integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    path = _write(tmp_path, moving)
    sc, ex = _score(bench, _unit(dims), path)
    assert ex["errors"] == {} and ex["unavailable"] == {}
    assert (tmp_path / "vbench_videos" / "p-0.mp4").is_symlink()
    from evalsuite.media import decode_frames
    from evalsuite.types import MediaRef
    frames = np.stack(decode_frames(MediaRef(kind="video", path=str(path)))[0])
    # subject_consistency: plain HF ViT CLS (after final norm) at 224x224, formula by hand
    dino = ViTModel.from_pretrained(scorers / "dino", add_pooling_layer=False).eval()
    with torch.no_grad():
        f = dino(pixel_values=D.dino_preprocess(frames)).last_hidden_state[:, 0]
    f = torch.nn.functional.normalize(f, dim=-1)
    cos = lambda a, b: max(0.0, float(f[a] @ f[b]))  # noqa: E731
    want = ((cos(1, 0) + cos(1, 0)) / 2 + (cos(2, 1) + cos(2, 0)) / 2) / 2
    # float32 rounding bounds of the forward passes (tests/_tolerance.py); cosines: scale 1
    tokens = (224 // dino.config.patch_size) ** 2 + 1
    assert ex["subject_consistency"] == pytest.approx(want, abs=f32_atol(
        1.0, *fan_ins(dino), tokens * dino.config.num_hidden_layers))
    assert ex["subject_consistency_frames"] == 2
    # aesthetic: LAION head on normalised get_image_features, / 10, mean over frames
    clip = CLIPModel.from_pretrained(scorers / "clip-vit-l-14").eval()
    head = torch.nn.Linear(32, 1)
    head.load_state_dict(torch.load(scorers / "aesthetic" / "sa_0_4_vit_l_14_linear.pth"))
    with torch.no_grad():
        e = clip.get_image_features(pixel_values=D.clip_preprocess(frames))
        e = getattr(e, "pooler_output", e)
        want = float((head(torch.nn.functional.normalize(e, dim=-1)) / 10).mean())
    vc = clip.config.vision_config
    assert ex["aesthetic_quality"] == pytest.approx(want, abs=f32_atol(
        1.0, *fan_ins(clip), *fan_ins(head),
        ((224 // vc.patch_size) ** 2 + 1) * vc.num_hidden_layers))
    # identical frames: both consistencies exactly 1 (non-square: DINO interpolation path)
    still = np.repeat(rng.integers(0, 256, (1, 96, 160, 3), dtype=np.uint8), 3, axis=0)
    ex2 = sc.score_batch([sc.prepare(_unit(dims, "q"), _write(tmp_path, still, "s.mp4"))]
                         )[0].extras
    # identical features: only the normalisation's sum of squares rounds (width 32 each)
    assert ex2["subject_consistency"] == pytest.approx(1.0, abs=f32_atol(1.0, 2 * 32))
    assert ex2["background_consistency"] == pytest.approx(1.0, abs=f32_atol(1.0, 2 * 32))


def test_appearance_style_matches_plain_clip(scorers, tmp_path):
    """The scorer's value is a plain transformers CLIPModel(frame, style text) forward:
    logits_per_text / 100 per frame, pooled over frames; no style text is an error."""
    import torch
    from transformers import CLIPModel, CLIPTokenizer

    rng = np.random.default_rng(1)
    path = _write(tmp_path, rng.integers(0, 256, (3, 64, 96, 3), dtype=np.uint8))
    bench = VBench(scorer_path=str(scorers))
    unit = GenUnit(GenItem("vbench:0001", "a beach, Van Gogh style", "appearance_style", {
        "dimension": ["appearance_style"], "auxiliary_info": {
            "appearance_style": {"appearance_style": "Van Gogh style"}}}), 0, 1)
    sc, ex = _score(bench, unit, path)
    assert ex["errors"] == {} and ex["unavailable"] == {}
    from evalsuite.media import decode_frames
    from evalsuite.types import MediaRef
    frames = np.stack(decode_frames(MediaRef(kind="video", path=str(path)))[0])
    clip = CLIPModel.from_pretrained(scorers / "clip-vit-b-32").eval()
    tok = CLIPTokenizer.from_pretrained(scorers / "clip-vit-b-32")
    with torch.no_grad():
        out = clip(pixel_values=D.clip_image_preprocess(frames),
                   **tok(["Van Gogh style"], return_tensors="pt"))
    want = (out.logits_per_text[0] / 100).tolist()
    vc, tc = clip.config.vision_config, clip.config.text_config
    tol = f32_atol(1.0, *fan_ins(clip), ((224 // vc.patch_size) ** 2 + 1) * vc.num_hidden_layers,
                   tc.max_position_embeddings * tc.num_hidden_layers)  # cosines: scale 1
    assert ex["appearance_style_frame_scores"] == pytest.approx(want, abs=tol)
    assert ex["appearance_style"] == pytest.approx(sum(want) / 3, abs=tol)
    assert ex["appearance_style_frames"] == 3
    _, bad = _score(bench, _unit(["appearance_style"]), path)  # no auxiliary_info
    assert "appearance_style" in bad["errors"] and "appearance_style" not in bad


def test_umt_preprocessing_and_decision_by_hand():
    """human_action.py's transform chain and decision, on hand-checkable inputs."""
    import torch

    from evalsuite.capabilities.vbench.networks import umt as U

    assert U.middle_frame_indices(16, 32) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24,
                                              26, 28, 30]
    assert U.middle_frame_indices(16, 4) == [0, 1, 2, 3] + [3] * 12  # padded with the last
    assert U.middle_frame_indices(16, 20)[:3] == [0, 1, 2] and len(set(
        U.middle_frame_indices(16, 20))) == 16
    assert U.resize_size(240, 320) == (256, 341) and U.resize_size(300, 200) == (384, 256)
    assert U.action_label("A person is riding a bike-3.mp4") == "riding a bike"
    assert U.action_label("a person is playing guitar_extra-0.mp4") == "playing guitar"
    names = U.kinetics_classes()
    assert len(names) == 400 and names[0] == "riding a bike" and names[399] == \
        "playing badminton"
    frames = np.zeros((8, 64, 96, 3), np.uint8)
    frames[:, :, 48:] = 255  # right half white
    frames[5] = 10  # 8 frames: positions 0-7 are frames 0-7, then frame 7 repeated
    x = U.preprocess(frames)
    assert x.shape == (1, 3, 16, 224, 224)  # 64x96 -> 256x384, centre crop from x=80
    white = (1 - torch.tensor(U.IMAGENET_MEAN)) / torch.tensor(U.IMAGENET_STD)
    black = -torch.tensor(U.IMAGENET_MEAN) / torch.tensor(U.IMAGENET_STD)
    assert torch.allclose(x[0, :, 0, 100, 0], black) and torch.allclose(
        x[0, :, 0, 100, 223], white)
    assert torch.allclose(x[0, :, 5, 50, 50], (10 / 255 - torch.tensor(U.IMAGENET_MEAN))
                          / torch.tensor(U.IMAGENET_STD), atol=1e-6)
    assert torch.equal(x[0, :, 15], x[0, :, 7]) and not torch.equal(x[0, :, 5], x[0, :, 4])
    logits = torch.full((400,), -5.0)
    logits[[0, 7, 12]] = torch.tensor([1.7346, 3.0, 1.7345])  # sigmoid .85002, .95, .84998
    assert [n for n, _ in U.top_classes(logits)] == [names[7], names[0], names[12]]
    assert U.is_correct(logits, "A person is riding a bike-0.mp4")
    logits[0] = 1.73  # 0.8494 after rounding: dropped
    assert not U.is_correct(logits, "A person is riding a bike-0.mp4")


def test_umt_model_matches_a_plain_recomputation(scorers):
    """The module equals an explicit re-computation from the checkpoint's tensors: Conv3d
    patches, + table, blocks with q/v bias and zero k bias, mean pool, fc_norm, head; the
    position table is sin/cos on 8 x 14 x 14 positions interpolated to 16 frames."""
    import torch
    import torch.nn.functional as F

    from evalsuite.capabilities.vbench.networks import umt as U

    sd = torch.load(scorers / "umt" / "l16_ptk710_ftk710_ftk400_f16_res224.pth",
                    weights_only=True)
    model = U.load_classifier(sd)
    tab = U.sinusoid_table(8, frames=8)[0]
    assert torch.allclose(tab[3, 2], torch.tensor(math.sin(3 / 10000 ** (2 / 8))))
    assert torch.allclose(tab[3, 3], torch.tensor(math.cos(3 / 10000 ** (2 / 8))))
    t16 = U.sinusoid_table(8)[0].reshape(16, 196, 8)
    t8 = tab.reshape(8, 196, 8)
    assert torch.allclose(t16[0], t8[0]) and torch.allclose(t16[15], t8[7])
    assert torch.allclose(t16[1], 0.75 * t8[0] + 0.25 * t8[1], atol=1e-6)  # linear in time
    video = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        got = model(video)
        dim, heads = 128, 2
        x = F.conv3d(video, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"],
                     stride=(1, 16, 16)).flatten(2).transpose(1, 2) + sd["pos_embed"]
        for i in range(2):
            b = f"blocks.{i}."
            h = F.layer_norm(x, (dim,), sd[b + "norm1.weight"], sd[b + "norm1.bias"], 1e-6)
            w = sd[b + "attn.qkv.weight"]
            q = h @ w[:dim].T + sd[b + "attn.q_bias"]
            k = h @ w[dim:2 * dim].T
            v = h @ w[2 * dim:].T + sd[b + "attn.v_bias"]
            sp = lambda t: t.reshape(1, -1, heads, dim // heads).transpose(1, 2)  # noqa: E731
            a = ((sp(q) * (dim // heads) ** -0.5) @ sp(k).transpose(-2, -1)).softmax(-1)
            o = (a @ sp(v)).transpose(1, 2).reshape(1, -1, dim)
            x = x + F.linear(o, sd[b + "attn.proj.weight"], sd[b + "attn.proj.bias"])
            h = F.layer_norm(x, (dim,), sd[b + "norm2.weight"], sd[b + "norm2.bias"], 1e-6)
            h = F.linear(F.gelu(F.linear(h, sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"])),
                         sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"])
            x = x + h
        pooled = F.layer_norm(x.mean(1), (dim,), sd["fc_norm.weight"], sd["fc_norm.bias"],
                              1e-6)
        want = F.linear(pooled, sd["head.weight"], sd["head.bias"])
    assert torch.allclose(got, want, rtol=0, atol=f32_atol(
        float(want.abs().max()), *fan_ins(sd), x.shape[1] * 2))
    no_pos = {k: v for k, v in sd.items() if k != "pos_embed"}  # table used instead
    assert torch.equal(U.load_classifier(no_pos).pos_embed, U.sinusoid_table(128))
    with pytest.raises(KeyError, match="lacks"):
        U.load_classifier({k: v for k, v in sd.items() if k != "fc_norm.weight"})


def test_musiq_preprocessing_and_tokens_by_hand():
    """imaging_quality.py's 512 px bound per mode, and MUSIQ's multi-scale token layout:
    sizes round(h r), SAME padding, F.unfold order, hashed positions, scale ids, masks."""
    import torch

    from evalsuite.capabilities.vbench.networks import musiq as M

    def size(h, w, mode="longer"):
        return tuple(M.preprocess(np.zeros((1, h, w, 3), np.uint8), mode).shape[-2:])
    assert size(720, 480) == (512, 341) and size(320, 512) == (320, 512)  # int(), <= 512 kept
    assert size(480, 720, "shorter") == (480, 720) and size(600, 900, "shorter") == (512, 768)
    assert size(600, 900, "shorter_centercrop") == (512, 512)
    assert size(1080, 1920, "None") == (1080, 1920)
    f = np.random.default_rng(0).integers(0, 256, (2, 40, 30, 3), dtype=np.uint8)
    assert torch.equal(M.preprocess(f), torch.from_numpy(f).permute(0, 3, 1, 2))  # untouched
    with pytest.raises(ValueError, match="imaging_quality_preprocessing_mode"):
        VBench(imaging_quality_preprocessing_mode="longest").musiq_mode()
    # nearest hash of arange(10): floor(i * 10 / n)
    assert M.hashed_positions(1, 3).tolist() == [0, 3, 6]
    assert M.hashed_positions(1, 12).tolist() == [0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9]
    assert M.hashed_positions(2, 3).tolist() == [0, 3, 6, 50, 53, 56]
    x = torch.rand(1, 3, 64, 80) * 2 - 1
    t = M.multiscale_tokens(x)
    # 224: (179, 224) -> 6 x 7 = 42 patches + 7 padding; 384: (307, 384) -> 10 x 12 = 120
    # + 24 padding; the input: 2 x 3 = 6 patches, unpadded
    assert t.shape == (1, 49 + 144 + 6, 3 * 32 * 32 + 3)
    pos, scale, mask = t[0, :, -3], t[0, :, -2], t[0, :, -1]
    assert mask[:49].sum() == 42 and mask[49:193].sum() == 120 and mask[193:].sum() == 6
    assert scale[:42].eq(0).all() and scale[49:169].eq(1).all() and scale[193:].eq(2).all()
    assert t[0, 42:49].eq(0).all()  # padding rows are all zero
    assert pos[193:].tolist() == [0, 3, 6, 50, 53, 56]
    # SAME padding of 80 px to 96: 8 zero columns on the left; patch values (c, kh, kw)
    first = t[0, 193, :-3].reshape(3, 32, 32)
    assert first[:, :, :8].eq(0).all() and torch.equal(first[:, :, 8:], x[0, :, :32, :24])
    assert torch.equal(t[0, 195, :-3].reshape(3, 32, 32)[:, :, :24], x[0, :, :32, 56:])


def test_musiq_model_matches_a_plain_recomputation(scorers, tmp_path):
    """imaging_quality through the scorer equals an explicit re-computation from the
    checkpoint's tensors: weight-standardised convs with hand-counted SAME padding, GroupNorm,
    channels-last tokens, and torch's own pre-norm TransformerEncoderLayer with a key padding
    mask; MOS mean over frames, / 100."""
    import torch
    import torch.nn.functional as F

    from evalsuite.media import decode_frames
    from evalsuite.capabilities.vbench.networks import musiq as M
    from evalsuite.types import MediaRef

    sd = torch.load(scorers / "pyiqa_model" / "musiq_spaq_ckpt-358bb6af.pth", weights_only=True)
    rng = np.random.default_rng(3)
    path = _write(tmp_path, rng.integers(0, 256, (5, 64, 80, 3), dtype=np.uint8))
    sc, ex = _score(VBench(scorer_path=str(scorers)), _unit(["imaging_quality"]), path)
    assert ex["errors"] == {} and ex["unavailable"] == {}
    frames = np.stack(decode_frames(MediaRef(kind="video", path=str(path)))[0])
    pixels = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.

    def conv(x, name, stride, pad):
        w = sd[name]
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(F.pad(x, pad), w, stride=stride)

    def gn(x, name, eps):
        return F.group_norm(x, 32, sd[name + ".weight"], sd[name + ".bias"], eps)

    dim, n_layers = 48, 2
    layers = []
    for i in range(n_layers):
        b = f"transformer_encoder.transformer.encoderblock_{i}."
        layer = torch.nn.TransformerEncoderLayer(dim, 6, 96, dropout=0.0, activation="gelu",
                                                 layer_norm_eps=1e-6, batch_first=True,
                                                 norm_first=True).eval()
        a = b + "attention."
        layer.self_attn.in_proj_weight.data = torch.cat(
            [sd[a + n + ".weight"] for n in ("query", "key", "value")])
        layer.self_attn.in_proj_bias.data = torch.cat(
            [sd[a + n + ".bias"] for n in ("query", "key", "value")])
        for ours, theirs in (("self_attn.out_proj", "attention.out"), ("linear1", "mlp.fc1"),
                             ("linear2", "mlp.fc2"), ("norm1", "norm1"), ("norm2", "norm2")):
            for p in ("weight", "bias"):
                getattr(layer.get_submodule(ours), p).data = sd[b + theirs + "." + p]
        layers.append(layer)
    want = []
    with torch.no_grad():
        for img in pixels:
            tok = M.multiscale_tokens(((img - 0.5) * 2)[None])[0]
            x = tok[:, :-3].reshape(-1, 3, 32, 32)
            x = F.relu(gn(conv(x, "conv_root.weight", 2, (2, 3, 2, 3)), "gn_root", 1e-6))
            x = F.max_pool2d(F.pad(x, (0, 1, 0, 1)), 3, 2)  # 16 -> 17 -> 8
            y = F.relu(gn(conv(x, "block1.conv1.weight", 1, (0, 0, 0, 0)), "block1.gn1", 1e-4))
            y = F.relu(gn(conv(y, "block1.conv2.weight", 1, (1, 1, 1, 1)), "block1.gn2", 1e-4))
            y = gn(conv(y, "block1.conv3.weight", 1, (0, 0, 0, 0)), "block1.gn3", 1e-4)
            x = F.relu(y + gn(conv(x, "block1.conv_proj.weight", 1, (0, 0, 0, 0)),
                              "block1.gn_proj", 1e-4))
            h = F.linear(x.permute(0, 2, 3, 1).reshape(len(x), -1), sd["embedding.weight"],
                         sd["embedding.bias"])
            e = "transformer_encoder."
            h = h + sd[e + "posembed_input.position_emb"][0][tok[:, -3].long()] \
                + sd[e + "scaleembed_input.scale_emb"][tok[:, -2].long()]
            h = torch.cat([sd[e + "cls"][0], h])[None]
            pad = torch.cat([torch.tensor([False]), tok[:, -1] == 0])[None]
            for layer in layers:
                h = layer(h, src_key_padding_mask=pad)
            h = F.layer_norm(h[0, 0], (dim,), sd[e + "encoder_norm.weight"],
                             sd[e + "encoder_norm.bias"], 1e-6)
            want.append(float(F.linear(h, sd["head.weight"], sd["head.bias"])))
    tol = f32_atol(max(1.0, *map(abs, want)), *fan_ins(sd), (len(tok) + 1) * len(layers))
    assert ex["imaging_quality_frame_scores"] == pytest.approx(want, abs=tol)
    assert ex["imaging_quality"] == pytest.approx(sum(want) / len(want) / 100, abs=tol / 100)
    with pytest.raises(RuntimeError, match="Missing key"):
        M.load_musiq({k: v for k, v in sd.items() if k != "head.bias"})
    prefixed = M.load_musiq({"module." + k: v for k, v in sd.items()})  # pyiqa strips it
    assert torch.equal(prefixed.head.weight, sd["head.weight"])


def test_amt_protocol_by_hand():
    """motion_smoothness.py around the model: even frames / 255, replicate padding to 16,
    pairs in order, unpadded, truncated to uint8, scored against the odd frames."""
    import torch

    from evalsuite.capabilities.vbench.networks import amt as A

    assert A.pad_amounts(130, 150, 16) == (5, 5, 7, 7) and A.pad_amounts(128, 144, 16) == (
        0, 0, 0, 0)
    frames = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (0, 10, 20, 31, 40)])
    pred = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (12, 30)])
    assert A.smoothness_from_predictions(frames, pred) == pytest.approx((255 - 1.5) / 255)
    seen = []

    class Next:  # predicts the second frame of each pair
        def __call__(self, a, b, embt):
            seen.append((tuple(a.shape), float(embt)))
            return b

    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (7, 130, 150, 3), dtype=np.uint8)
    out = A.predict_inbetweens(Next(), video, batch=2)
    assert seen == [((2, 3, 144, 160), 0.5), ((1, 3, 144, 160), 0.5)]  # 3 pairs, 2 + 1
    want = (torch.from_numpy(video[2::2]).float() / 255.0 * 255.0).numpy().astype(np.uint8)
    assert out.shape == (3, 130, 150, 3) and np.array_equal(out, want)
    assert np.abs(out.astype(int) - video[2::2]).max() <= 1  # truncation, never rounding up
    with pytest.raises(ValueError, match="at least 128 px"):
        A.predict_inbetweens(Next(), video[:, :64, :112])
    with pytest.raises(ValueError, match="at least 3 frames"):
        A.predict_inbetweens(Next(), video[:2])


def test_amt_scorer_and_checkpoint(scorers, tmp_path):
    """motion_smoothness through the scorer = the formula on the module's in-betweens; pairs
    batched or one at a time agree; the checkpoint loads strictly from its state_dict."""
    import torch

    from evalsuite.media import decode_frames
    from evalsuite.capabilities.vbench.networks import amt as A
    from evalsuite.types import MediaRef

    base = np.random.default_rng(4).integers(0, 256, (128, 144, 3)).astype(np.uint8)
    path = _write(tmp_path, np.stack([np.roll(base, 3 * i, axis=1) for i in range(7)]))
    _, ex = _score(VBench(scorer_path=str(scorers)), _unit(["motion_smoothness"]), path)
    assert ex["errors"] == {} and ex["unavailable"] == {}
    ckpt = torch.load(scorers / "amt_model" / "amt-s.pth", weights_only=True)
    model = A.load_amt(ckpt)
    frames = np.stack(decode_frames(MediaRef(kind="video", path=str(path)))[0])
    one = A.predict_inbetweens(model, frames, batch=1)
    assert np.abs(one.astype(int) - A.predict_inbetweens(model, frames, batch=3)).max() <= 1
    assert ex["motion_smoothness"] == pytest.approx(
        A.smoothness_from_predictions(frames, one), abs=1e-4)
    assert 0 < ex["motion_smoothness"] <= 1
    with pytest.raises(RuntimeError, match="Missing key"):
        A.load_amt({"state_dict": {k: v for k, v in ckpt["state_dict"].items()
                                   if not k.startswith("comb_block")}})


def _plain_clip_blocks(sd, prefix, x, mask=None):
    """OpenAI CLIP residual blocks recomputed from the tensors, one sequence x of shape
    (L, D): pre-norm (eps 1e-5) multi-head attention with D / 64 heads (ViT-L/14: 16, the
    768-wide text tower: 12; at least 1), then the c_fc / QuickGELU / c_proj MLP."""
    import torch
    import torch.nn.functional as F

    d = x.shape[-1]
    heads = max(1, d // 64)
    i = 0
    while f"{prefix}{i}.ln_1.weight" in sd:
        b = f"{prefix}{i}."
        h = F.layer_norm(x, (d,), sd[b + "ln_1.weight"], sd[b + "ln_1.bias"], 1e-5)
        q, k, v = (h @ sd[b + "attn.in_proj_weight"].T + sd[b + "attn.in_proj_bias"]).split(d, -1)
        sp = lambda t: t.reshape(len(t), heads, d // heads).transpose(0, 1)  # noqa: E731
        s = sp(q) @ sp(k).transpose(-2, -1) / math.sqrt(d // heads)
        a = (s if mask is None else s + mask).softmax(-1) @ sp(v)
        x = x + a.transpose(0, 1).reshape(len(x), d) @ sd[b + "attn.out_proj.weight"].T \
            + sd[b + "attn.out_proj.bias"]
        h = F.layer_norm(x, (d,), sd[b + "ln_2.weight"], sd[b + "ln_2.bias"], 1e-5)
        h = h @ sd[b + "mlp.c_fc.weight"].T + sd[b + "mlp.c_fc.bias"]
        x = x + (h * torch.sigmoid(1.702 * h)) @ sd[b + "mlp.c_proj.weight"].T \
            + sd[b + "mlp.c_proj.bias"]
        i += 1
    assert i > 0, prefix
    return x


def _plain_viclip_video(sd, frames):
    """viclip_vision.py from the tensors, frames (T, 3, H, W): frame 0's class token, then
    for every patch (row-major) its frames in time order, each patch + spatial + temporal
    position; ln_pre, the blocks, ln_post of the class token @ proj."""
    import torch
    import torch.nn.functional as F

    v = "vision_encoder."
    w = sd[v + "conv1.weight"][:, :, 0]  # kernel (1, p, p): one 2-D patch embedding per frame
    pos, tpos = sd[v + "positional_embedding"], sd[v + "temporal_positional_embedding"][0]
    patches = F.conv2d(frames, w, stride=w.shape[-1]).flatten(2).transpose(1, 2)  # (T, N, D)
    tokens = (patches + pos[1:] + tpos[:, None]).transpose(0, 1).reshape(-1, w.shape[0])
    x = torch.cat([(sd[v + "class_embedding"] + pos[0])[None], tokens])
    x = F.layer_norm(x, x.shape[-1:], sd[v + "ln_pre.weight"], sd[v + "ln_pre.bias"], 1e-5)
    x = _plain_clip_blocks(sd, v + "transformer.resblocks.", x)
    x = F.layer_norm(x, x.shape[-1:], sd[v + "ln_post.weight"], sd[v + "ln_post.bias"], 1e-5)
    return x[0] @ sd[v + "proj"]


def _plain_viclip_text(sd, ids):
    """viclip_text.py from the tensors, ids (context,): token + position embeddings, causal
    blocks, ln_final, the features at the highest id (end of text) @ text_projection."""
    import torch
    import torch.nn.functional as F

    t = "text_encoder."
    x = sd[t + "token_embedding.weight"][ids] + sd[t + "positional_embedding"]
    mask = torch.full((len(ids), len(ids)), float("-inf")).triu_(1)
    x = _plain_clip_blocks(sd, t + "transformer.resblocks.", x, mask)
    x = F.layer_norm(x, x.shape[-1:], sd[t + "ln_final.weight"], sd[t + "ln_final.bias"], 1e-5)
    return x[int(ids.argmax())] @ sd[t + "text_projection"]


def test_viclip_vision_token_order_and_text_pooling_by_hand():
    """viclip_vision.py's sequence: frame 0's class token, then for every patch its frames
    in time order (patch + spatial position + temporal position); the class token's
    ln_post @ proj is the video feature. Text: features at the end-of-text token."""
    import torch

    from evalsuite.capabilities.vbench.networks import viclip as V

    torch.manual_seed(0)
    m = V.build_viclip(vision_width=64, vision_layers=1, patch=14, resolution=28, frames=3,
                       embed_dim=8, text_width=64, text_layers=1, vocab_size=50, context=6)
    with torch.no_grad():
        for prm in m.parameters():
            prm.normal_(0, 0.2)
        vis = m.vision_encoder
        video = torch.randn(1, 3, 3, 28, 28)  # (B, T, C, H, W)
        seq = [vis.class_embedding + vis.positional_embedding[0]]
        for n in range(4):  # 2 x 2 patches, row-major
            r, c = divmod(n, 2)
            for t in range(3):
                patch = video[0, t, :, 14 * r:14 * r + 14, 14 * c:14 * c + 14]
                tok = (vis.conv1.weight[:, :, 0] * patch).sum((1, 2, 3))
                seq.append(tok + vis.positional_embedding[n + 1]
                           + vis.temporal_positional_embedding[0, t])
        sd = m.state_dict()
        x = torch.nn.functional.layer_norm(torch.stack(seq), (64,), vis.ln_pre.weight,
                                           vis.ln_pre.bias, 1e-5)
        x = _plain_clip_blocks(sd, "vision_encoder.transformer.resblocks.", x)
        want = torch.nn.functional.layer_norm(x, (64,), vis.ln_post.weight, vis.ln_post.bias,
                                              1e-5)[0] @ vis.proj
        assert torch.allclose(m.encode_video(video)[0], want, rtol=0, atol=f32_atol(
            float(want.abs().max()), *fan_ins(vis), len(seq)))
        assert torch.allclose(_plain_viclip_video(sd, video[0]), want, rtol=0, atol=f32_atol(
            float(want.abs().max()), *fan_ins(vis), len(seq)))
        ids = torch.tensor([[48, 5, 7, 49, 0, 0]])  # start, two tokens, end, padding
        full = m.text_encoder.token_embedding(ids) + m.text_encoder.positional_embedding
        mask = torch.full((6, 6), float("-inf")).triu_(1)
        h = _plain_clip_blocks(sd, "text_encoder.transformer.resblocks.", full[0], mask)
        h = torch.nn.functional.layer_norm(h, (64,), m.text_encoder.ln_final.weight,
                                           m.text_encoder.ln_final.bias, 1e-5)
        ref = h[3] @ m.text_encoder.text_projection
        assert torch.allclose(m.text_encoder(ids)[0], ref, rtol=0, atol=f32_atol(
            float(ref.abs().max()), *fan_ins(m.text_encoder), 6))

    class Tok:  # start 48, one id per word, end 49
        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": [48] + [len(w) for w in text.split()] + [49]}
    assert V.token_ids(Tok(), "a bb ccc", context=6).tolist() == [[48, 1, 2, 3, 49, 0]]
    assert V.token_ids(Tok(), "a bb ccc dddd eeeee", context=6).tolist() == [
        [48, 1, 2, 3, 4, 49]]  # cut to the context with the end token kept
    assert V.video_text_similarity(torch.tensor([3.0, 4.0]), torch.tensor([4.0, 3.0])) == \
        pytest.approx(24 / 25)


def test_viclip_dimensions_match_plain_recomputation(scorers, tmp_path):
    import torch
    from transformers import CLIPTokenizer

    from evalsuite.capabilities.vbench.networks import viclip as V

    rng = np.random.default_rng(2)
    path = _write(tmp_path, rng.integers(0, 256, (10, 64, 80, 3), dtype=np.uint8))
    dims = ["overall_consistency", "temporal_style"]
    sc, ex = _score(VBench(scorer_path=str(scorers)), _unit(dims, "a bridge, zoom in"), path)
    assert ex["errors"] == {} and ex["unavailable"] == {}
    from evalsuite.media import decode_frames
    from evalsuite.types import MediaRef
    frames = np.stack(decode_frames(MediaRef(kind="video", path=str(path)))[0])
    sd = torch.load(scorers / "viclip" / "ViClip-InternVid-10M-FLT.pth", weights_only=True)
    sd = sd.get("model", sd)
    tok = CLIPTokenizer.from_pretrained(scorers / "clip-vit-b-32")
    # edges int(linspace(0, 10, 9)) = 0 1 2 3 5 6 7 8 10; middle of [a, b - 1] each
    assert D.middle_frame_indices(8, 10) == [0, 1, 2, 3, 5, 6, 7, 8]
    pix = D.clip_preprocess(frames[[0, 1, 2, 3, 5, 6, 7, 8]], uint8=True)
    with torch.no_grad():
        v = _plain_viclip_video(sd, pix)
        t = _plain_viclip_text(sd, V.token_ids(tok, "a bridge, zoom in")[0])
    want = float(torch.nn.functional.cosine_similarity(v, t, dim=0))
    patch = sd["vision_encoder.conv1.weight"].shape[-1]
    tokens = 8 * (224 // patch) ** 2 + 1  # 8 frames of patches + the class token
    assert ex["overall_consistency"] == pytest.approx(want, abs=f32_atol(
        1.0, *fan_ins(sd), tokens * 2 + 77 * 2))
    assert ex["temporal_style"] == ex["overall_consistency"]


def test_human_action_without_opencv_is_unavailable(scorers, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError
    path = _write(tmp_path, np.zeros((4, 64, 64, 3), np.uint8))
    _, ex = _score(VBench(scorer_path=str(scorers)),
                   _unit(["human_action"], "A person is marching"), path)
    assert "opencv-python-headless" in ex["unavailable"]["human_action"]
    assert "human_action" not in ex


def test_raft_wiring_matches_torchvision(scorers, tmp_path):
    import torch
    from torchvision.models.optical_flow import raft_large

    frames = np.zeros((3, 130, 132, 3), dtype=np.uint8)  # padded to 136 x 136
    for t in range(3):
        frames[t, 40:80, 20 + 15 * t:60 + 15 * t] = 255
    path = _write(tmp_path, frames)
    bench = VBench(scorer_path=str(scorers))
    _, ex = _score(bench, _unit(["dynamic_degree"]), path)
    assert ex["errors"] == {}
    from evalsuite.media import decode_frames
    from evalsuite.types import MediaRef
    dec = decode_frames(MediaRef(kind="video", path=str(path)))[0]
    x = torch.from_numpy(np.stack(dec)).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.pad(x, [2, 2, 3, 3], mode="replicate") / 127.5 - 1
    raft = raft_large(weights=None).eval()
    raft.load_state_dict(torch.load(scorers / "raft" / "raft_large_C_T_V1.pth"))
    with torch.no_grad():  # the first pair only (RAFT is slow on CPU)
        flow = raft(x[:1], x[1:2], num_flow_updates=20)[-1][0]
    rad = flow.norm(dim=0).flatten().sort(descending=True).values
    assert len(ex["dynamic_flow"]) == 2
    assert ex["dynamic_flow"][0] == pytest.approx(float(rad[:int(136 * 136 * 0.05)].mean()),
                                                  rel=1e-4, abs=1e-4)
    thres = 6.0 * 130 / 256  # count_num round(4 * 3 / 16) = 1: one pair over suffices
    assert ex["dynamic_degree"] is any(s > thres for s in ex["dynamic_flow"])


def test_missing_models_are_unavailable_and_bad_videos_are_errors(scorers, tmp_path):
    bench = VBench(scorer_path=str(scorers), raft_model=str(tmp_path / "nope.pth"),
                   dino_model=str(tmp_path / "no-dino"))
    path = _write(tmp_path, _video([10, 20, 30], h=16, w=16))
    sc, ex = _score(bench, _unit(["temporal_flickering", "subject_consistency"]), path)
    assert "raft model not loaded" in ex["unavailable"]["temporal_flickering"]
    assert "dino model not loaded" in ex["unavailable"]["subject_consistency"]
    assert ex["temporal_flickering"] == pytest.approx(245 / 255, abs=2 / 255)  # pixels only
    m = bench.metrics([_unit(["temporal_flickering", "subject_consistency"]).item],
                      {("eval", "vbench:0000#0"): _Rec(ex)})["metrics"]
    assert m["temporal_flickering"]["value"] is None and "static filter" in \
        m["temporal_flickering"]["unavailable"]
    assert m["temporal_flickering[no-static-filter]"]["n"] == 1
    assert m["subject_consistency"]["value"] is None and "unavailable" in \
        m["subject_consistency"]
    bad = tmp_path / "samples" / "cat" / "bad.mp4"
    bad.write_bytes(b"not a video")
    from evalsuite.media import MediaError
    with pytest.raises(MediaError):
        sc.prepare(_unit(["temporal_flickering"]), bad)
    with pytest.raises(MediaError, match="at least 2 frames"):
        sc.prepare(_unit(["temporal_flickering"]), _write(tmp_path, _video([5]), "one.mp4"))


class _Rec:
    def __init__(self, extras):
        from evalsuite.types import Score
        self.error, self.score = None, Score(value=None, extras=extras)


def test_flickering_static_filter_through_the_runner(fx, scorers, tmp_path):
    """RAFT with all-zero weights predicts exactly zero flow, so the video is static: the
    static-filtered flickering is the hand value of its frames."""
    import torch
    from torchvision.models.optical_flow import raft_large

    from evalsuite.policies.base import Policy
    from evalsuite.policies.runner import PolicyRunConfig, execute_policy

    zero = raft_large(weights=None)
    zero.load_state_dict({k: torch.zeros_like(v) if v.is_floating_point() else v
                          for k, v in zero.state_dict().items()})
    torch.save(zero.state_dict(), tmp_path / "zero-raft.pth")

    class Levels(Policy):
        name, task = "levels", "text-to-video"

        def generate_batch(self, units):
            return [_video([100, 110], h=128, w=128) for _ in units]

    cfg = PolicyRunConfig(policy="levels", bench="vbench", data_path=str(fx("vbench")),
                          samples_per_prompt=1, out_dir=str(tmp_path), run_name="r",
                          progress=False, prefetch_workers=0,
                          bench_options={"dimensions": "temporal_flickering",
                                         "scorer_path": str(scorers),
                                         "raft_model": str(tmp_path / "zero-raft.pth")})
    out = execute_policy(cfg, policy=Levels())
    m = out.results["metrics"]
    assert out.results["counts"]["errors"] == 0 and out.results["counts"]["generated"] == 1
    assert m["temporal_flickering"]["value"] == pytest.approx(245 / 255, abs=2 / 255)
    assert m["temporal_flickering"]["static_videos"] == 1
    assert set(m) == {"videos_decodable", "temporal_flickering",
                      "temporal_flickering[no-static-filter]"}  # the selected dimension only
    row = json.loads((tmp_path / "r" / "samples.jsonl").read_text().splitlines()[0])
    assert row["scores"]["static"] is True and row["scores"]["static_flow"] == [0.0] * 3


def test_metrics_aggregation_by_hand():
    """Per-dimension aggregation on synthetic per-video records: frame-pooled consistency,
    mean of the moving booleans, at most 5 static videos per prompt (sorted file names),
    errors counted apart, unimplemented dimensions unavailable."""
    dims = ["subject_consistency", "dynamic_degree", "temporal_flickering", "color"]
    item = GenItem("vbench:0000", "p", dims[0], {"dimension": dims})
    recs = {}
    for k in range(12):
        ex = {"scored": dims[:3], "prompt": "p", "k": k, "unavailable": {}, "errors": {},
              "subject_consistency_sum": 1.0 if k == 0 else 0.0,
              "subject_consistency_frames": 3 if k == 0 else 1,
              "subject_consistency": 0.0, "dynamic_degree": k % 4 == 0,
              "temporal_flickering": k / 100, "static": k % 2 == 0}
        if k == 11:
            ex["errors"] = {"dynamic_degree": "boom"}
            del ex["dynamic_degree"]
        recs[("eval", f"vbench:0000#{k}")] = _Rec(ex)
    m = VBench().metrics([item], recs)["metrics"]
    assert m["subject_consistency"]["value"] == pytest.approx(1.0 / 14)  # (1 + 0) / (3 + 11)
    assert m["dynamic_degree"] == {"value": pytest.approx(3 / 11), "n": 11, "errors": 1}
    # static k = 0, 2, 4, 6, 8, 10; names p-0, p-10, p-2, p-4, p-6 come first when sorted
    assert m["temporal_flickering"]["value"] == pytest.approx((0 + 10 + 2 + 4 + 6) / 500)
    assert m["temporal_flickering"]["static_videos"] == 5
    assert m["temporal_flickering[no-static-filter]"]["value"] == pytest.approx(0.66 / 12)
    assert m["color"]["value"] is None and m["color"]["n"] == 0  # no video scored it


def test_semantic_aggregation_by_hand():
    """object_class pools frames over videos; color averages the per-video rates of the
    videos that show the object (color.py), counting the others apart."""
    dims = ["object_class", "color"]
    item = GenItem("vbench:0000", "a black cat", dims[0], {"dimension": dims})
    recs = {}
    rates = {0: (2, 1), 1: (0, 0), 2: (4, 4), 3: None}  # (object frames, colour frames)
    for k, r in rates.items():
        ex = {"scored": dims, "prompt": "a black cat", "k": k, "unavailable": {},
              "errors": {}, "object_class_sum": k, "object_class_frames": 16,
              "object_class": k / 16}
        if r is None:
            ex["errors"]["color"] = "ZeroDivisionError: division by zero"
        else:
            ex["color"] = r[1] / r[0] if r[0] else None
        recs[("eval", f"vbench:0000#{k}")] = _Rec(ex)
    m = VBench().metrics([item], recs)["metrics"]
    assert m["object_class"]["value"] == pytest.approx((0 + 1 + 2 + 3) / 64)
    assert m["color"]["value"] == pytest.approx((1 / 2 + 4 / 4) / 2)
    assert m["color"]["n"] == 2 and m["color"]["errors"] == 1
    assert m["color"]["videos_without_object"] == 1


# --- the CLI end to end ----------------------------------------------------------------------

def test_vbench_cli_end_to_end(fx, scorers, tmp_path):
    """All 16 dimensions on the tiny text-to-video pipeline (128 px: RAFT's and AMT's
    minimum), and the leaderboard's Quality / Semantic / Total complete."""
    from typer.testing import CliRunner

    from evalsuite.cli import app
    from evalsuite.capabilities.vbench.suite import final_scores
    from tests.reference import vbench_semantic_dims as R
    r = CliRunner().invoke(app, [
        "eval-policy", "--no-progress", "--policy", str(fx("policy-t2v")), "--bench", "vbench",
        "--data-path", str(fx("vbench")), "--bench-option", f"scorer_path={scorers}",
        "--samples-per-prompt", "1", "-o", "num_inference_steps=1", "-o", "guidance_scale=1",
        "-o", "num_frames=4", "-o", "height=128", "-o", "width=128", "--out", str(tmp_path),
        "--run-name", "vb"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "vb"
    res = json.loads((run / "results.json").read_text())
    assert res["counts"]["generated"] == 13 and res["counts"]["errors"] == 0
    m = res["metrics"]
    for d in DIMENSIONS:
        assert isinstance(m[d]["value"], float) and "unavailable" not in m[d], (d, m[d])
    assert 0 <= m["subject_consistency"]["value"] <= 1
    # the fixture UMT's head favours "riding a bike": one of the two action videos is right;
    # a bootstrap resample of 2 videos is all-wrong / all-right with probability 1/4 > 2.5%,
    # so the 95% CI is [0, 1]
    assert m["human_action"] == {"value": 0.5, "n": 2, "errors": 0, "ci95": [0.0, 1.0]}
    rows = {x["prompt"]: x["scores"] for x in map(json.loads, (run / "samples.jsonl")
                                                  .read_text().splitlines())}
    # the fixture GRiT names every box "cat" (ObjectDet) / "black cat" (DenseCap), and the
    # fixture Tag2Text captions say "alley"
    assert m["object_class"]["value"] == 1.0 and m["multiple_objects"]["value"] == 0.0
    assert m["color"]["value"] == 1.0 and m["color"]["n"] == 1
    assert m["color"]["videos_without_object"] == 1  # "a blue umbrella": no umbrella box
    assert m["scene"]["value"] == 1.0 and len(rows["alley"]["scene_captions"]) == 16
    spatial = rows["a cat on the right of a dog, front view"]
    assert m["spatial_relationship"]["value"] == pytest.approx(
        sum(spatial["spatial_relationship_frame_scores"]) / 16, abs=1e-12)
    frames = [set(f) for f in rows["a cat"]["object_class_detected"]]
    assert R.object_class_check_generate("cat", frames) == 16
    # the leaderboard scores: every dimension present, so official (no [partial] twins)
    norm = res["normalised_scores"]
    assert norm == json.loads(json.dumps(final_scores({d: m[d]["value"] for d in DIMENSIONS})))
    for name in ("quality_score", "semantic_score", "total_score"):
        assert isinstance(norm[name]["value"], float) and f"{name}[partial]" not in norm
    assert (run / "vbench_videos" / "alley-0.mp4").exists()
