"""MMBench against VLMEvalKit itself (the test-only extract ``reference/vlmevalkit_mcq.py``):
the prompt, the exact-matching letter on hundreds of generated answers (after the
prediction-file round trip VLMEvalKit's evaluation reads), CircularEval with failed copies
and ``report_acc``, and the LLM extractor (prompt, retries) against a loopback stub server.
Then the CLI end to end on the tiny Qwen2.5-VL scripted to answer "B"."""

from __future__ import annotations

import io
import json
import random
import string

import pandas as pd
import pytest
from reference import vlmevalkit_mcq as ref
from test_openai_judge import Stub

from evalsuite.policies.base import McqItem
from evalsuite.capabilities.letters import vlmevalkit_letter
from evalsuite.capabilities.mmbench import MMBench, as_read_back, extractor_prompt
from evalsuite.types import ParseStatus, RunRecord, Score

INFER_FAIL_MSG = "Failed to obtain answer"  # VLMEvalKit's prediction for a failed inference
POOL = ["red", "green", "blue", "yellow", "a red apple", "two", "three", "4", "1.5", "dog",
        "cat", "Dog", "the left one", "none of the above", "Both A and B", "B", "蓝色", "绿色",
        "an umbrella", "Option C", "left", "right", "top", "ant", "bat", "cow", "sunny day",
        "It is raining", "cannot tell", "rabbit"]
LETTERS = "ABCDE"


def gen_answer(rng: random.Random, options: dict[str, str]) -> str:
    """One free-text answer from a template, adversarial ones included."""
    ks = list(options)
    x, y = rng.choice(ks), rng.choice(ks)
    other = rng.choice(string.ascii_uppercase)
    text = options[x]
    filler = rng.choice(["Looking at the image carefully, the object on the left is larger",
                         "After analysing every detail of the scene I would say",
                         "A cat sits on a mat and it is sunny outside so",
                         "Based on the picture, which shows a Blue sky and a Dog,"])
    templates = [
        x, f"({x})", f"{x}.", f"{x})", x.lower(), f"**{x}**", f"### Answer\n{x}",
        f"The answer is {x}.", f"The correct answer is **{x}**. Here's why: {filler}.",
        f"the answer is {x.lower()}", f"Answer: {x}", f"answer is ({x})",
        f"Option {y} is wrong, so the answer is {x}", f"Option {x} is correct.",
        f"{filler} {x}", f"{filler} {x}.", f"{filler}, answer {x} because it fits best here",
        f"{x}. {text}", f"{x}: {text}", f"({x}) {text}", text, text.upper(), f"It is {text}.",
        f"{text} or {options[y]}", f"{x} or {y}", f"{x} and {y}", f"{x}, {y}",
        f"答案是：{x}。", f"选{x}", f"答案：{x}", f"我选择 {x}。", f"【{x}】", f"{x}\u3000{text}",
        f"{filler}", "", " ", "None", "NA", "nan", "null", "Z", "z", "I don't know",
        "Sorry, I can't help with images of people yet.", "Cannot determine the answer",
        "I'm sorry, but without the image provided I cannot", INFER_FAIL_MSG,
        "Failed to obtain answer via API. ", f"{other}", f"The answer is {other}",
        f"Blue{x}", f"{x}{x}", f"{x} {x}", f"{x}\n\nExplanation: {filler}",
        f"- {x}\n- {y}", f"{{{x}}}", f"[{x}]", f"#{x}#", f"{x}!", f"{x};", f"{x}?",
        f"answer is: {x}", f"correct answer is {x}", f"{filler} the answer is {x} not {y}",
        f"{text}. {filler}", f"The {text}", f"{x} {text} {y} {options[y]}",
    ]
    return rng.choice(templates)


def gen_options(rng: random.Random) -> dict[str, str]:
    n = rng.randint(2, 5)
    return dict(zip(LETTERS, rng.sample(POOL, n)))


def read_back(predictions: list[str]) -> list[str]:
    """VLMEvalKit's prediction-file round trip (PRED_FORMAT=tsv: dump, then load's
    pd.read_csv(sep='\\t'), then evaluate's str(x)); the xlsx default reads missing values the
    same way."""
    buf = io.StringIO()
    pd.DataFrame({"index": range(len(predictions)), "prediction": predictions,
                  "pad": ["B"] * len(predictions)}).to_csv(buf, sep="\t", index=False)
    buf.seek(0)
    return [str(x) for x in pd.read_csv(buf, sep="\t")["prediction"]]


def test_exact_matching_agrees_with_vlmevalkit_on_generated_answers():
    rng = random.Random(0)
    cases = [(gen_answer(rng, o), o) for o in (gen_options(rng) for _ in range(1200))]
    reread = read_back([a for a, _ in cases])
    kinds = set()
    for (raw, options), pred in zip(cases, reread):
        expect = ref.can_infer(pred, dict(options)) or None
        got = vlmevalkit_letter(as_read_back(raw), options)
        assert got.letter == expect, (raw, options)
        assert (got.status == ParseStatus.UNPARSED) == (expect is None)
        kinds.add(got.rule)
    assert kinds == {"option", "text", "refusal", None}  # every path exercised


@pytest.mark.parametrize("raw,options,letter", [
    # the cases users reported, with VLMEvalKit's reading
    ("Option B is wrong, so the answer is A", "AB", "A"),
    ("Looking at the image carefully, the object on the left is larger, so A", "ABCD", "A"),
    ("A cat sits on a mat", "ABCD", None),
    ("B", "AB", "B"),
])
def test_reported_cases(raw, options, letter):
    opts = {c: f"option {c.lower()}{c.lower()}" for c in options}
    assert vlmevalkit_letter(raw, opts).letter == letter
    assert (ref.can_infer(raw, dict(opts)) or None) == letter


def test_prompt_is_vlmevalkit_build_prompt(fx, tmp_path):
    """Fixture rows and generated rows (hint or none, 2-5 options, numeric-looking options,
    Chinese text), each read from a TSV the way VLMEvalKit reads it: the dataset's prompt and
    the Qwen2-VL wrapper's."""
    rng = random.Random(1)
    rows = []
    for i in range(60):
        opts = gen_options(rng)
        rows.append({"index": i, "question": rng.choice(["What is it?", "Which one?\nPick.",
                                                          "12", "问题?"]),
                     "hint": rng.choice([float("nan"), "A hint.", "Two\nlines", "0", "提示 "]),
                     **{c: opts.get(c, float("nan")) for c in LETTERS},
                     "answer": "A", "category": "c", "l2-category": "l", "image": "x" * 80})
    path = tmp_path / "gen.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    for tsv in (path, fx("mmbench") / "MMBench_DEV_EN.tsv"):
        lines = pd.read_csv(tsv, sep="\t").to_dict("records")
        for style, build in (("dataset", ref.dataset_build_prompt),
                             ("qwen2_vl", ref.qwen2_vl_build_mcq_prompt)):
            expect = {str(r["index"]): build(pd.Series(r)) for r in lines}
            items = [x for x in MMBench(prompt=style).load_items(str(tsv), None)
                     if isinstance(x, McqItem)]
            assert len(items) >= len(lines) - 1
            for it in items:
                assert it.prompt == expect[it.item_id]


# --- CircularEval ------------------------------------------------------------------------------

def _groups(rng: random.Random, n_questions: int):
    """Rows of a circular dev file (options rotated per copy) with generated predictions;
    some rows fail (to load or to be answered)."""
    rows, preds, failed = [], {}, set()
    for base in range(n_questions):
        opts = list(gen_options(rng).values())
        ans = rng.randrange(len(opts))
        copies = len(opts) if rng.random() < 0.8 else 1
        cat = rng.choice(["attribute_recognition", "image_scene", "ocr"])
        l2 = rng.choice(list(ref.MMB_abbrs) + ["other"])
        for k in range(copies):
            rot = opts[k:] + opts[:k]
            options = dict(zip(LETTERS, rot))
            gt = LETTERS[rot.index(opts[ans])]
            idx = k * 1_000_000 + base
            rows.append({"index": idx, "question": f"q{base}?", "hint": float("nan"),
                         **{c: options.get(c, float("nan")) for c in LETTERS}, "answer": gt,
                         "category": cat, "l2-category": l2, "split": "dev"})
            r = rng.random()
            preds[idx] = (gt if r < 0.55 else f"The answer is {gt}" if r < 0.65
                          else gen_answer(rng, options))
            # a failed row (VLMEvalKit: the failure message as prediction) is never right
            if rng.random() < 0.04 and not any(v.lower() in INFER_FAIL_MSG.lower()
                                               for v in options.values()):
                failed.add(idx)
    return rows, preds, failed


def _ours(rows, preds, failed, bench: MMBench | None = None):
    bench = bench or MMBench()
    items, records = [], {}
    for r in rows:
        options = {c: str(r[c]) for c in LETTERS if not pd.isna(r[c])}
        it = McqItem(str(r["index"]), r["question"], options, r["answer"],
                     category=r["category"],
                     meta={"l2-category": r["l2-category"], "split": r["split"]})
        items.append(it)
        if r["index"] in failed:
            records[("answer", it.item_id)] = RunRecord(it.item_id, "answer", error="boom")
            continue
        res = bench.extract(preds[r["index"]], it)
        records[("answer", it.item_id)] = RunRecord(it.item_id, "answer", score=Score(
            None, res.status, preds[r["index"]], {"letter": res.letter, "rule": res.rule}))
    return bench.metrics(items, records)


def _reference(rows, preds, failed, model=None):
    meta = pd.DataFrame([{"index": r["index"], "answer": r["answer"]} for r in rows])
    data = pd.DataFrame([{**r, "prediction": INFER_FAIL_MSG if r["index"] in failed
                          else preds[r["index"]]} for r in rows])
    data["prediction"] = read_back(list(data["prediction"]))
    data = data.sort_values(by="index")
    out = ref.mcq_circular_eval(model, data, meta, 1, None, "MMBench_DEV_EN")
    return out, ref.report_acc(out)


def test_circular_eval_and_report_agree_with_vlmevalkit():
    rng = random.Random(2)
    rows, preds, failed = _groups(rng, 300)
    ours = _ours(rows, preds, failed)
    hits, table = _reference(rows, preds, failed)
    assert ours["circular"]["questions"] == len(hits) == 300
    assert 0 < ours["circular"]["questions_with_failed_rows"] < 300
    expect = table.iloc[0].to_dict()
    got = ours["reference_table"]["dev"]
    assert list(got) == [k for k in expect if k != "split"]
    for k, v in got.items():
        assert v == pytest.approx(expect[k], rel=1e-12), k
    assert ours["metrics"]["circular_accuracy"]["value"] == pytest.approx(expect["Overall"],
                                                                          rel=1e-12)
    for _, r in hits.iterrows():
        cat = ours["breakdown"][f"category:{r['category']}"]
        assert cat["circular_accuracy"]["n"] == int((hits["category"] == r["category"]).sum())


def test_failed_copy_makes_the_question_wrong_and_is_counted():
    """By hand: question 0 has 3 copies answered right but its copy 2000000 failed; question 1
    is right on both copies; question 2's main row failed to load."""
    rows = []
    for base, n in ((0, 3), (1, 2), (2, 2)):
        for k in range(n):
            rows.append({"index": k * 1_000_000 + base, "question": "q", "hint": float("nan"),
                         "A": "x", "B": "y", "C": float("nan"), "D": float("nan"),
                         "E": float("nan"), "answer": "AB"[k % 2], "category": "c",
                         "l2-category": "l", "split": "dev"})
    preds = {r["index"]: r["answer"] for r in rows}
    m = _ours(rows, preds, failed={2_000_000, 2})
    assert m["metrics"]["circular_accuracy"] == {"value": 1 / 3, "n": 3}
    assert m["circular"]["questions_with_failed_rows"] == 2
    assert m["circular"]["failed_rows"] == 2


# --- the LLM extractor -------------------------------------------------------------------------

REPLIES = ["B", "The answer is C", "Z", "I cannot tell", "a", "(D)", "400", "Option A"]


def scripted(prompt: str, k: int) -> str:
    """The k-th reply (k = 0, 1, 2) to a prompt: a fixed function of both, so the stub server
    and the reference's fake model say the same; '400' stands for a failed request."""
    h = sum(map(ord, prompt)) + 7 * k
    return REPLIES[h % len(REPLIES)] if h % 3 else "I cannot tell"


class FakeJudgeModel:
    """The model VLMEvalKit's extract_answer_from_item calls (generate(prompt) -> str)."""

    def __init__(self):
        self.asked: dict[str, int] = {}
        self.prompts: list[str] = []

    def generate(self, prompt):
        k = self.asked.get(prompt, 0)
        self.asked[prompt] = k + 1
        self.prompts.append(prompt)
        reply = scripted(prompt, k)
        return "Failed to obtain answer via API. " if reply == "400" else reply


def test_extractor_agrees_with_vlmevalkit_through_a_stub_server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    rng = random.Random(3)
    seen: dict[str, int] = {}

    def script(n, body):
        prompt = body["messages"][0]["content"][0]["text"]
        k = seen.get(prompt, 0)
        seen[prompt] = k + 1
        reply = scripted(prompt, k)
        return (400, "bad request", 0.0, {}) if reply == "400" else (200, reply, 0.0, {})

    cases = []
    while len(cases) < 120:
        options = gen_options(rng)
        raw = gen_answer(rng, options)
        if ref.can_infer(read_back([raw])[0], dict(options)):
            continue  # the rules read it: the extractor is never asked
        cases.append((rng.choice(["What is shown", "图中是什么", "Which color"]), options, raw))
    with Stub(script) as stub:
        bench = MMBench(extractor="openai", extractor_model="judge-model",
                        extractor_base_url=stub.url, extractor_max_retries=0)
        fake = FakeJudgeModel()
        outcomes = set()
        for i, (question, options, raw) in enumerate(cases):
            it = McqItem(str(i), question, options, "A")
            n0, p0 = len(stub.bodies), len(fake.prompts)
            got = bench.extract(raw, it)
            item = pd.Series({"question": question, **options, "answer": "A",
                              "prediction": read_back([raw])[0]})
            expect = ref.extract_answer_from_item(fake, item, "MMBench_DEV_EN")
            sent = [b["messages"][0]["content"][0]["text"] for b in stub.bodies[n0:]]
            assert sent == fake.prompts[p0:]  # the same prompt, as often
            assert sent[0] == extractor_prompt(question, options, item["prediction"])
            if expect["log"].startswith("Failed to predict"):  # VLMEvalKit: a random letter
                assert got.letter is None and got.rule.startswith("extractor:")
                outcomes.add("unreadable")
            else:
                assert got.letter == expect["opt"] and got.rule == "extractor"
                outcomes.add("read")
        body = stub.bodies[0]
        assert body["model"] == "judge-model" and body["temperature"] == 0
        assert body["max_tokens"] == 2048 and len(body["messages"]) == 1
    assert outcomes == {"read", "unreadable"}


def test_extractor_random_fallback_is_explicit_and_counted(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with Stub(lambda n, body: (200, "no idea", 0.0, {})) as stub:
        opts = {"A": "x", "B": "y"}
        off = MMBench(extractor="openai", extractor_model="m", extractor_base_url=stub.url)
        on = MMBench(extractor="openai", extractor_model="m", extractor_base_url=stub.url,
                     extractor_random="true")
        it = McqItem("7", "q", opts, "A")
        assert off.extract("hmm", it).letter is None
        r = on.extract("hmm", it)
        assert r.letter in ("A", "B", "Z") and r.rule == "extractor:unreadable:random"
        assert len(stub.bodies) == 6  # three tries each, as VLMEvalKit


def test_extractor_options_validated():
    with pytest.raises(ValueError, match="extractor=openai"):
        MMBench(extractor_model="m")
    with pytest.raises(ValueError, match="secret"):
        MMBench(extractor="openai", extractor_model="m", extractor_base_url="http://x/v1",
                extractor_api_key="sk-1")


# --- end to end ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vlm_b(tmp_path_factory):
    """The tiny Qwen2.5-VL fixture with greedy decoding scripted to answer 'B'."""
    from evalsuite.fixtures.qwen_vl import build_qwen_vl
    return build_qwen_vl(tmp_path_factory.mktemp("vlm") / "qwen-b", scripted_reply="B")


def _cli(args):
    from typer.testing import CliRunner

    from evalsuite.cli import app
    return CliRunner().invoke(app, ["eval-policy", "--no-progress", *args])


def test_mmbench_end_to_end_circular(fx, vlm_b, tmp_path):
    """Every answer is 'B'. Fixture questions (answer of the main row, copies): q0 A x4,
    q1 B x2, q2 C x3, q3 B x4, and the bad row 99 (answer D with 2 options): a main row
    that failed to load, so a question, wrong. Circular and vanilla by hand below."""
    args = ["--policy", "qwen2.5-vl", "--model-path", str(vlm_b), "--bench", "mmbench",
            "--data-path", str(fx("mmbench") / "MMBench_DEV_EN.tsv"), "--out", str(tmp_path),
            "--run-name", "mmb", "-B", "3", "--max-error-rate", "0.2"]
    r = _cli(args)
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "mmb" / "results.json").read_text())
    assert res["policy"]["policy"] == "qwen2.5-vl" and "judge" not in res
    assert res["benchmark"]["benchmark"] == "mmbench"
    m = res["metrics"]
    # questions 0, 1, 2, 3, 99: none has B as the answer of every copy -> 0 / 5; a
    # bootstrap of five zeros is zero
    assert m["circular_accuracy"] == {"value": 0.0, "n": 5, "ci95": [0.0, 0.0]}
    # rows <= 1e6: main rows 0-3 (answers A B C B), row 99 (failed) and row 1000000 (q0's
    # first rotation: options shifted by one, answer A -> D): B right twice in 6. A
    # resample with no right row has probability (4/6)**6 = 8.8% > 2.5%, so the CI starts
    # at 0; five or six right rows together have probability 1.8% < 2.5%, so it ends below
    # 5/6 and at or above the value.
    v = m["vanilla_accuracy"]
    assert (v["value"], v["n"]) == (2 / 6, 6)
    assert v["ci95"][0] == 0.0 and 2 / 6 <= v["ci95"][1] < 5 / 6
    assert m["unparsed_rate"]["value"] == 0.0
    assert res["counts"] == {"items": 14, "units": 14, "answered": 13, "errors": 1,
                             "unparsed": 0}
    assert res["circular"]["copies_per_question"] == {"1": 1, "2": 1, "3": 1, "4": 2}
    assert res["circular"]["questions_with_failed_rows"] == 1
    assert set(res["reference_table"]["dev"]) >= {"Overall", "CP", "FP-S",
                                                  "attribute_recognition"}
    assert res["rules"] == {"option": 13}
    rows = [json.loads(x) for x in (tmp_path / "mmb" / "samples.jsonl").read_text().splitlines()]
    assert {x["prediction"] for x in rows if x.get("status") == "parsed"} == {"B"}
    assert any("not one of the options" in (x.get("error") or "") for x in rows)
    # resume: nothing is recomputed, results.json is byte-identical
    before = (tmp_path / "mmb" / "results.json").read_bytes()
    r = _cli(args)
    assert r.exit_code == 0 and "computed now: 0" in " ".join(r.output.split())
    assert (tmp_path / "mmb" / "results.json").read_bytes() == before


def test_extractor_end_to_end_recorded(fx, tmp_path, monkeypatch):
    """A policy whose answers the rules cannot read; the extractor (stub) reads them; the
    extractor and its counts are in results.json."""
    from evalsuite.policies.base import Policy
    from evalsuite.policies.runner import PolicyRunConfig, execute_policy

    class Mumbler(Policy):
        name = "mumbler"
        requires = ()

        def prepare_mcq(self, item):
            return item

        def answer_batch(self, prepared):
            return ["hmm, hard to say" for _ in prepared]

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with Stub(lambda n, body: (200, "B", 0.0, {})) as stub:
        opts = {"extractor": "openai", "extractor_model": "judge",
                "extractor_base_url": stub.url}
        cfg = PolicyRunConfig(policy="mumbler", bench="mmbench", out_dir=str(tmp_path),
                              data_path=str(fx("mmbench") / "MMBench_DEV_EN.tsv"),
                              run_name="ex", progress=False, max_error_rate=0.2,
                              bench_options=opts)
        out = execute_policy(cfg, policy=Mumbler(device="cpu"), bench=MMBench(**opts))
        asked = len(stub.bodies)
    res = out.results
    assert asked == 13 and res["rules"] == {"extractor": 13}
    assert res["extractor"]["model"] == "judge" and res["extractor"]["asked"] == 13
    assert res["benchmark"]["options"]["extractor_model"] == "judge"
    assert res["metrics"]["unparsed_rate"]["value"] == 0.0
    assert res["metrics"]["vanilla_accuracy"]["value"] == pytest.approx(2 / 6)


def test_vlm_batched_left_padding_matches_one_by_one(fx):
    """Greedy answers of a padded batch (prompts of different lengths, with and without a
    hint) equal the answers generated one at a time: left padding + attention mask are right."""
    from evalsuite.policies.vlm import QwenVLPolicy

    items = {}
    for x in MMBench().load_items(str(fx("mmbench")), None):
        if hasattr(x, "prompt"):
            items.setdefault(x.group, x)  # one row per question: different prompt lengths
    items = list(items.values())[:3]
    assert len({len(x.prompt) for x in items}) > 1
    pol = QwenVLPolicy(model_path=str(fx("unifiedreward-qwen")), device="cpu",
                       max_new_tokens=6)
    pol.load()
    prepared = [pol.prepare_mcq(x) for x in items]
    batched = pol.answer_batch(prepared)
    single = [pol.answer_batch([p])[0] for p in prepared]
    assert batched == single
