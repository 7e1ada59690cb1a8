"""The UnifiedReward families (v1, 2.0, Think, Edit, Flex on Qwen2.5-VL and Qwen3-VL).

Oracles: the prompt strings of the upstream scripts, read from github CodeGoat24/UnifiedReward
at a pinned commit (tests/data/unifiedreward_prompts.json, written by
tests/data/extract_upstream_prompts.py); the upstream media steps restated with PIL / numpy
(JPEG quality 95, 512x512 resize, frame indices computed by hand); hand computations."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from evalsuite.types import Candidate, Label, MediaRef, PairItem, ParseStatus, PointItem

HERE = Path(__file__).resolve().parent
UPSTREAM = json.loads((HERE / "data" / "unifiedreward_prompts.json").read_text("utf-8"))
S = UPSTREAM["sentinels"]
TOKENS = 4

# (family, mode) -> the upstream script whose prompt that template is
SOURCES = {
    ("unifiedreward-qwen", "pair-image"): "v1/pair-image",
    ("unifiedreward-qwen", "pair-video"): "v1/pair-video",
    ("unifiedreward-qwen", "pair-understanding"): "v1/pair-understanding",
    ("unifiedreward-qwen", "point-image"): "v1/point-image",
    ("unifiedreward-qwen", "point-video"): "v1/point-video",
    ("unifiedreward-qwen", "point-understanding"): "v1/point-understanding",
    ("unifiedreward-qwen-2.0", "pair-image"): "vllm/pair-image",
    ("unifiedreward-qwen-2.0", "pair-video"): "vllm/pair-video",
    ("unifiedreward-qwen-2.0", "pair-understanding"): "vllm/pair-understanding",
    ("unifiedreward-qwen-2.0", "point-image"): "2.0/point-image",
    ("unifiedreward-qwen-2.0", "point-video"): "2.0/point-video",
    ("unifiedreward-qwen-2.0", "point-understanding"): "v1/point-understanding",
    ("unifiedreward-qwen-2.0-pair-score", "pair-image"): "2.0/pair-score-image",
    ("unifiedreward-qwen-2.0-pair-score", "pair-video"): "2.0/pair-score-video",
    ("unifiedreward-think-qwen", "pair-image"): "think-qwen25/pair-image",
    ("unifiedreward-think-qwen", "pair-video"): "think-qwen25/pair-video",
    ("unifiedreward-think-qwen", "pair-understanding"): "think-qwen25/pair-understanding",
    ("unifiedreward-think-qwen3", "pair-image"): "think-qwen3/pair-image",
    ("unifiedreward-think-qwen3", "pair-video"): "think-qwen3/pair-video",
    ("unifiedreward-think-qwen3", "pair-understanding"): "think-qwen3/pair-understanding",
    ("unifiedreward-think-llava", "pair-image"): "think-llava/pair-image",
    ("unifiedreward-think-llava", "pair-video"): "think-llava/pair-video",
    ("unifiedreward-think-llava", "pair-understanding"): "think-llava/pair-understanding",
    ("unifiedreward-edit", "pair-edit"): "edit/pair-edit",
    ("unifiedreward-edit", "point-edit-if"): "edit/point-edit-if",
    ("unifiedreward-edit", "point-edit-quality"): "edit/point-edit-quality",
    ("unifiedreward-edit-pair-score", "pair-edit"): "edit/pair-score-edit",
    ("unifiedreward-flex", "pair-image"): "flex/pair-image",
    ("unifiedreward-flex", "pair-video"): "flex/pair-video",
}


def _sentinel_item(mode: str):
    img = MediaRef(kind="image", data=b"x")
    vid = MediaRef(kind="video", data=b"y")
    if mode == "pair-understanding":
        return PairItem("i", S["Query"], Candidate(text=S["R1"]), Candidate(text=S["R2"]),
                        Label.A, context=img, task="understanding")
    if mode == "point-understanding":
        return PointItem("i", S["Query"], Candidate(text=S["Response"]), img, "understanding")
    if mode == "pair-edit":
        return PairItem("i", S["prompt"], Candidate(media=img), Candidate(media=img), Label.A,
                        context=img, task="edit")
    if mode.startswith("point-edit"):
        return PointItem("i", S["prompt"], Candidate(media=img), img, "edit")
    m = vid if mode.endswith("video") else img
    if mode.startswith("pair"):
        return PairItem("i", S["prompt"], Candidate(media=m), Candidate(media=m), Label.A)
    return PointItem("i", S["prompt"], Candidate(media=m))


@pytest.mark.parametrize("family,mode", sorted(SOURCES))
def test_prompt_is_the_upstream_scripts(family, mode):
    from evalsuite.judges.prompts import fill, llava_image_prefix, template_for

    tpl = template_for(family, mode)
    text, media = fill(tpl, _sentinel_item(mode), mode)
    want = UPSTREAM["prompts"][SOURCES[(family, mode)]]
    if family == "unifiedreward-think-llava" and mode != "pair-video":
        # the LLaVA scripts' string starts with its image tokens
        text = llava_image_prefix(tpl, len(media)) + text
    assert text == want["text"], want["path"]
    assert Path(want["path"]).name in tpl.source


def test_every_unifiedreward_template_has_an_upstream_source():
    from evalsuite.judges.prompts import FAMILIES, template_for

    checked = {id(template_for(f, m)) for f, m in SOURCES}
    for fam, modes in FAMILIES.items():
        if not fam.startswith("unifiedreward") or fam.startswith("unifiedreward-llava"):
            continue
        for mode, tpl in modes.items():  # derived families reuse checked templates
            assert id(tpl) in checked, (fam, mode)
    # VideoGen-RewardBench is prompted with the GenAI-Bench video text in both vLLM scripts
    p = UPSTREAM["prompts"]
    assert p["vllm/pair-video-videogen"]["text"] == p["vllm/pair-video"]["text"]
    assert p["think-qwen3/pair-video-videogen"]["text"] == p["think-qwen3/pair-video"]["text"]


# --- model cards ------------------------------------------------------------------------------

def test_every_readme_checkpoint_has_a_card_and_a_registry_name():
    from evalsuite.judges.unifiedreward import LLAVA_CARDS, QWEN_CARDS
    from evalsuite.registry import JUDGES

    names = {JUDGES.entry(n).kwargs.get("model"): n for n in JUDGES.names()}
    for hub in UPSTREAM["readme_checkpoints"]:
        assert hub in QWEN_CARDS or hub in LLAVA_CARDS, hub
        assert hub in names or hub == "CodeGoat24/UnifiedReward-qwen-7b", hub  # the default
    j = JUDGES.create("unifiedreward-2.0-qwen3vl-8b")
    assert (j.model_id, j.prompt_family) == ("CodeGoat24/UnifiedReward-2.0-qwen3vl-8b",
                                             "unifiedreward-qwen-2.0")
    assert JUDGES.create("unifiedreward-think-qwen-7b").prompt_family == \
        "unifiedreward-think-qwen"
    assert JUDGES.create("unifiedreward-think-qwen3vl-2b").prompt_family == \
        "unifiedreward-think-qwen3"
    assert JUDGES.create("unifiedreward-edit-qwen-72b").prompt_family == "unifiedreward-edit"
    assert JUDGES.create("unifiedreward-flex-qwen3vl-8b").prompt_family == "unifiedreward-flex"
    readme = (HERE.parent / "models" / "README.md").read_text("utf-8")
    for hub in list(QWEN_CARDS) + list(LLAVA_CARDS):
        assert hub in readme, hub  # documented, with what is known of its revision


def test_a_hub_id_without_a_card_is_refused():
    from evalsuite.judges.unifiedreward import UnifiedRewardQwen

    j = UnifiedRewardQwen(model="CodeGoat24/UnifiedReward-Flex-qwen35-9b")
    with pytest.raises(ValueError, match="no model card"):
        _ = j.prompt_family
    j = UnifiedRewardQwen(model="someone/else", prompt_family="unifiedreward-flex")
    assert j.prompt_family == "unifiedreward-flex"


def test_point_edit_is_viescore_of_the_two_prompts():
    from evalsuite.judges.generative import _point_edit_score
    from evalsuite.types import Score

    s = _point_edit_score([Score(16.0, extras={}), Score(9.0, extras={})])
    assert s.value == math.sqrt(16 * 9) == 12.0 and s.status == ParseStatus.PARSED
    s = _point_edit_score([Score(16.0, extras={}), Score(None, ParseStatus.UNPARSED)])
    assert s.value is None and s.status == ParseStatus.UNPARSED


# --- media as each script prepares it ---------------------------------------------------------

@pytest.fixture(scope="module")
def media(tmp_path_factory):
    from PIL import Image

    from evalsuite.fixtures.media import shape_image, write_mp4

    d = tmp_path_factory.mktemp("urmedia")
    vids = []
    for i, (n, size) in enumerate([(20, (64, 48)), (12, (48, 64))]):
        write_mp4(d / f"v{i}.mp4", num_frames=n, size=size, fps=8)
        vids.append(MediaRef(kind="video", path=f"v{i}.mp4", root=str(d)))
    rng = np.random.default_rng(0)
    rgba = Image.fromarray(rng.integers(0, 256, (40, 70, 4), dtype=np.uint8), "RGBA")
    imgs = [MediaRef.from_pil(shape_image(["square", "circle"][i % 2], "red",
                                          ["left", "right"][i % 2], seed=i, size=(64, 48)))
            for i in range(4)] + [MediaRef.from_pil(rgba)]
    return {"images": imgs, "videos": vids}


def _jpeg95(img):
    """vllm_request.py _encode_image restated: RGB, JPEG quality 95, decoded."""
    from PIL import Image

    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=95)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _raw(ref):
    from PIL import Image
    return Image.open(io.BytesIO(ref.data))


@pytest.fixture(scope="module")
def q3(fx):
    return str(fx("unifiedreward-qwen3vl"))


def _judge(model, path, **opts):
    from evalsuite.judges.unifiedreward import UnifiedRewardQwen

    j = UnifiedRewardQwen(model=model, model_path=path, max_new_tokens=TOKENS, **opts)
    j.load()
    return j


def test_think_qwen25_resizes_pair_images_to_512_first(fx, media):
    """test_qwen25_cot_genAI_bench_image.py: ``image.resize((512, 512))``, then
    qwen-vl-utils resizes to smart_resize(512, 512) = 504x504 (18 x 28)."""
    from PIL import Image

    path = str(fx("unifiedreward-qwen"))
    think = _judge("CodeGoat24/UnifiedReward-Think-qwen-7b", path)
    im = media["images"]
    pair = PairItem("t", "a red square", Candidate(media=im[0]), Candidate(media=im[4]),
                    Label.A)
    p = think.prepare_pair(pair)
    for got, ref in zip(p.images, (im[0], im[4])):
        want = _raw(ref).resize((512, 512)).convert("RGB").resize((504, 504), Image.BICUBIC)
        assert got.size == (504, 504)
        assert np.array_equal(np.asarray(got), np.asarray(want))
    v1 = _judge("CodeGoat24/UnifiedReward-qwen-7b", path)
    assert v1.prepare_pair(pair).images[0].size != (504, 504)  # v1 keeps the native size


def test_jpeg_requests_and_frames_as_images(q3, media):
    """The vLLM scripts: images RGB -> JPEG 95; a video as 8 frames per side at
    linspace(0, n-1, 8).astype(int), each an image; APS pointwise video 16 frames at
    int(i * n / 16)."""
    from evalsuite.media import decode_frames

    j = _judge("CodeGoat24/UnifiedReward-2.0-qwen3vl-2b", q3)
    im, vid = media["images"], media["videos"]
    p = j.prepare_pair(PairItem("a", "x", Candidate(media=im[4]), Candidate(media=im[1]),
                                Label.A))
    assert [np.asarray(x).tolist() for x in p.images] == \
        [np.asarray(_jpeg95(_raw(r))).tolist() for r in (im[4], im[1])]
    p = j.prepare_pair(PairItem("v", "x", Candidate(media=vid[0]), Candidate(media=vid[1]),
                                Label.A))
    assert not p.videos and len(p.images) == 16
    assert p.text.count("<|image_pad|>") == 16 and "<|video_pad|>" not in p.text
    f0, _, _ = decode_frames(vid[0])
    f1, _, _ = decode_frames(vid[1])
    idx20 = [0, 2, 5, 8, 10, 13, 16, 19]  # np.linspace(0, 19, 8) truncated
    idx12 = [0, 1, 3, 4, 6, 7, 9, 11]  # np.linspace(0, 11, 8) truncated
    want = [f0[i] for i in idx20] + [f1[i] for i in idx12]
    from PIL import Image
    for got, w in zip(p.images, want):
        assert np.array_equal(np.asarray(got), np.asarray(_jpeg95(Image.fromarray(w))))
    # pointwise video (2.0 APS): 16 frames int(i * 20 / 16)
    q = j.prepare_point(PointItem("p", "x", Candidate(media=vid[0])))
    stride = [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18]
    assert len(q.images) == 16 and q.mode == "point-video"
    for got, i in zip(q.images, stride):
        assert np.array_equal(np.asarray(got), np.asarray(_jpeg95(Image.fromarray(f0[i]))))
    # 12 frames, 16 asked: read_video_frames keeps each frame once
    assert len(j.prepare_point(PointItem("p", "x", Candidate(media=vid[1]))).images) == 12


def test_edit_items_send_source_then_edits(q3, media):
    j = _judge("CodeGoat24/UnifiedReward-Edit-qwen3vl-2b", q3)
    im = media["images"]
    pair = PairItem("e", "make it blue", Candidate(media=im[1]), Candidate(media=im[2]),
                    Label.A, context=im[0], task="edit")
    p = j.prepare_pair(pair)
    assert [np.asarray(x).tolist() for x in p.images] == \
        [np.asarray(_jpeg95(_raw(r))).tolist() for r in (im[0], im[1], im[2])]
    q = j.prepare_point(PointItem("e", "make it blue", Candidate(media=im[1]), im[0], "edit"))
    assert [x.mode for x in q.parts] == ["point-edit-if", "point-edit-quality"]
    assert [len(x.images) for x in q.parts] == [2, 1]


# --- every family end to end, batched = unbatched ---------------------------------------------

def _pairs(media):
    im, vid = media["images"], media["videos"]
    gen = [PairItem(f"g{i}", "a photo of " + "a red cube " * (1 + 3 * i),
                    Candidate(media=im[i]), Candidate(media=im[(i + 1) % 4]), Label.A)
           for i in range(2)]
    video = [PairItem("v", "a moving square", Candidate(media=vid[0]),
                      Candidate(media=vid[1]), Label.B)]
    und = [PairItem("u", "What shape is shown?", Candidate(text="A red square."),
                    Candidate(text="A dog."), Label.A, context=im[0], task="understanding")]
    edit = [PairItem("e", "make it blue", Candidate(media=im[1]), Candidate(media=im[2]),
                     Label.A, context=im[0], task="edit")]
    return {"image": gen, "video": video, "understanding": und, "edit": edit}


CASES = [  # hub id, pair tasks, point tasks
    ("CodeGoat24/UnifiedReward-2.0-qwen3vl-2b", ["image", "understanding"], []),
    ("CodeGoat24/UnifiedReward-Think-qwen3vl-2b", ["image", "video"], []),
    ("CodeGoat24/UnifiedReward-Edit-qwen3vl-2b", ["image", "edit"], ["edit"]),
    ("CodeGoat24/UnifiedReward-Flex-qwen3vl-8b", ["image", "video"], []),
]


@pytest.mark.parametrize("hub,pair_tasks,point_tasks", CASES)
def test_family_runs_batched_equal_unbatched(q3, media, hub, pair_tasks, point_tasks):
    j = _judge(hub, q3)
    data = _pairs(media)
    pairs = [p for t in pair_tasks for p in data[t]]
    prepared = j.prepare_pairs(pairs)
    batched = j.compare_batch(prepared)
    single = [j.compare_batch([p])[0] for p in prepared]
    assert [v.raw for v in batched] == [v.raw for v in single]
    for v in batched:
        assert isinstance(v.raw, str) and v.extras["generated_tokens"] >= 1
        assert (v.margin is None) == (v.status == ParseStatus.UNPARSED)
    points = [PointItem(p.item_id, p.prompt, p.a, p.context, p.task)
              for t in point_tasks for p in data[t]]
    if points:
        prepared = j.prepare_points(points)
        batched = j.score_batch(prepared)
        single = [j.score_batch([p])[0] for p in prepared]
        assert [s.raw for s in batched] == [s.raw for s in single]


def test_pair_score_family_gives_margins(q3, media):
    from evalsuite.fixtures.qwen3_vl import build_qwen3_vl  # noqa: F401 - same fixture
    j = _judge("CodeGoat24/UnifiedReward-2.0-qwen3vl-2b", q3,
               prompt_family="unifiedreward-qwen-2.0-pair-score")
    p = j.prepare_pair(_pairs(media)["image"][0])
    assert "Alignment Score:\\n Image 1: X" not in p.text and " Image 1: X\n" in p.text
    v = j.compare_batch([p])[0]
    assert v.status == ParseStatus.UNPARSED and v.extras["parse_rule"].startswith("pair-acs")


def test_scripted_qwen3_answer_parses_end_to_end(tmp_path, fx):
    """A Qwen3-VL fixture whose weights answer a fixed phrase: the CLI run on GenAI-Bench
    reads every answer, maps swapped items back, and a second run resumes with no work."""
    from typer.testing import CliRunner

    from evalsuite.cli import app
    from evalsuite.fixtures.qwen3_vl import build_qwen3_vl

    model = build_qwen3_vl(tmp_path / "scripted", scripted_reply="Image 2 is better")
    args = ["run", "--judge", "unifiedreward-2.0-qwen3vl-2b", "--bench", "genai-bench",
            "--data-path", str(fx("genai-bench")), "--model-path", str(model), "--out",
            str(tmp_path / "runs"), "--limit", "6", "-B", "4", "--no-progress", "--option",
            "max_new_tokens=8"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    run = next((tmp_path / "runs").glob("*/results.json")).parent
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    judged = [x for x in rows if x["status"] != "error"]
    assert len(judged) == 6
    for x in judged:
        assert x["raw"] == "Image 2 is better" and x["status"] == "parsed"
        assert x["preferred"] == ("A" if x["swapped"] else "B")
        assert x["extras"]["generated_tokens"] >= 4
    recs = [json.loads(x) for x in (run / "records-r0.jsonl").read_text().splitlines()]
    assert all(x["seconds"] > 0 for x in recs)  # time per item lives in the run store
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    meta = json.loads((run / "run.json").read_text())
    assert [i["computed"] for i in meta["invocations"]] == [6, 0]


@pytest.mark.parametrize("judge,bench,mode", [
    ("unifiedreward-2.0-qwen3vl-2b", "genai-bench-video", "pairwise"),
    ("unifiedreward-2.0-qwen3vl-2b", "videogen-rewardbench", "pointwise"),
    ("unifiedreward-think-qwen3vl-2b", "vlrewardbench", "pairwise"),
    ("unifiedreward-edit-qwen3vl-2b", "genai-bench-edit", "pointwise"),
    ("unifiedreward-flex-qwen3vl-8b", "genai-bench", "pairwise"),
])
def test_cli_runs_each_family_on_its_benchmarks(fx, q3, tmp_path, judge, bench, mode):
    from typer.testing import CliRunner

    from evalsuite.cli import app

    r = CliRunner().invoke(app, [
        "run", "--judge", judge, "--bench", bench, "--data-path", str(fx(bench)),
        "--model-path", q3, "--mode", mode, "--out", str(tmp_path), "--limit", "3", "-B", "2",
        "--no-progress", "--option", f"max_new_tokens={TOKENS}", "--max-error-rate", "0.5"])
    assert r.exit_code == 0, r.output
    res = json.loads(next(tmp_path.glob("*/results.json")).read_text())
    assert res["counts"]["judged"] > 0


def test_generation_reports_reasoning_length_and_tokens():
    from evalsuite.judges.generative import Generation

    g = Generation("<think>\n1. Aesthetics: ...\n</think>\n<answer>Image 1 is better</answer>",
                   17, False)
    assert g.extras() == {"generated_tokens": 17, "truncated": False,
                          "reasoning_chars": len("1. Aesthetics: ...")}
    cut = Generation("<think>still reasoning", 4096, True).extras()
    assert cut["truncated"] and cut["reasoning_chars"] == len("still reasoning")
    assert "reasoning_chars" not in Generation("Image 1 is better.", 5, False).extras()
