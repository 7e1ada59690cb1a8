"""The lmms-eval bridge: the wrapped policy's model contract (generate_until: order, stop
strings, per-request max_new_tokens, visuals, batching, stored answers reused) against a
stand-in of lmms-eval's Instance / lmms API written from its source; `list` reporting it
unavailable with the reason; and, where lmms-eval is importable, a whole task run through
lmms-eval's own evaluator from the CLI (resumed without asking the policy again)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from evalsuite.capabilities import lmms_eval_bridge as br
from evalsuite.policies.base import Policy
from tests.reference import lmms_eval_api as api


class Scripted(Policy):
    """Answers '<prompt> => ok<N>' plus a trailer; records batches and max_new_tokens."""

    name = "scripted"
    task = "mcq"
    requires = ()

    def __init__(self, **kw):
        super().__init__(device="cpu", **kw)
        self.batches: list[list[str]] = []
        self.max_new: list[object] = []
        self.media: list = []

    def prepare_mcq(self, item):
        if "BROKEN" in item.prompt:
            raise ValueError("cannot read this one")
        self.media.append(item.media)
        return item.prompt

    def answer_batch(self, prepared):
        self.batches.append(list(prepared))
        self.max_new.append(self.options.get("max_new_tokens"))
        return [f"{p} => ok{len(p)}\n\nQ: next question" for p in prepared]


class Store:
    def __init__(self):
        self.records = []

    def append(self, recs):
        self.records += list(recs)


def _requests(docs, gen_kwargs, task="t", split="test", visual=None):
    return [api.Instance("generate_until", (d["q"], gen_kwargs, visual, i, task, split), i,
                         {"task": task, "doc_id": i, "repeats": 1}) for i, d in enumerate(docs)]


def test_generate_until_contract():
    from PIL import Image

    docs = [{"q": f"question {i}?", "img": Image.new("RGB", (8, 6), (i * 20, 0, 0))}
            for i in range(5)]
    pol = Scripted()
    store = Store()
    model = br.make_lmms_model(api.lmms, pol, store, {}, batch_size=2)
    model.task_dict = {"t": {"test": docs}}
    reqs = _requests(docs, {"until": ["\n\n", "Q:"], "max_new_tokens": 7},
                     visual=lambda d: [d["img"]])
    out = model.generate_until(reqs)
    # by hand: the answer cut at the first stop string, in request order
    assert out == [f"question {i}? => ok{len(f'question {i}?')}" for i in range(5)]
    assert [len(b) for b in pol.batches] == [2, 2, 1]  # the policy's batching
    assert pol.max_new == [7, 7, 7] and "max_new_tokens" not in pol.options  # restored
    assert [m.kind for ms in pol.media for m in ms] == ["image"] * 5
    got = Image.open(__import__("io").BytesIO(pol.media[3][0].data))
    assert np.array_equal(np.asarray(got), np.asarray(docs[3]["img"]))
    assert len(store.records) == 5 and store.records[0].score.extras["answer"] == out[0]
    assert store.records[0].score.raw.endswith("Q: next question")
    # the same requests again: answered from the stored answers, the policy not asked
    cached = {r.item_id: r.score.extras["answer"] for r in store.records}
    pol2 = Scripted()
    model2 = br.make_lmms_model(api.lmms, pol2, Store(), cached, batch_size=2)
    model2.task_dict = model.task_dict
    assert model2.generate_until(reqs) == out and pol2.batches == []
    # a string stop and the policy's own default when the task sets no max_new_tokens
    pol3 = Scripted(max_new_tokens=3)
    m3 = br.make_lmms_model(api.lmms, pol3, Store(), {}, batch_size=8)
    m3.task_dict = model.task_dict
    assert m3.generate_until(_requests(docs[:2], {"until": "=>"}))[1] == "question 1? "
    assert pol3.max_new == [3]


def test_failures_raise_after_storing_the_rest_and_loglikelihood_is_refused():
    docs = [{"q": "fine"}, {"q": "BROKEN"}, {"q": "fine too"}]
    store = Store()
    model = br.make_lmms_model(api.lmms, Scripted(), store, {}, batch_size=4)
    model.task_dict = {"t": {"test": docs}}
    with pytest.raises(RuntimeError, match="1 lmms-eval requests failed"):
        model.generate_until(_requests(docs, {"until": []}))
    assert sorted(r.score.extras["answer"] for r in store.records) == [
        "fine => ok4\n\nQ: next question", "fine too => ok8\n\nQ: next question"]
    with pytest.raises(NotImplementedError, match="log-likelihood"):
        model.loglikelihood([])


def test_request_key_is_stable_and_distinct():
    a = br.request_key("q", {"until": ["\n"]}, "t", "test", 3)
    assert a == br.request_key("q", {"until": ["\n"]}, "t", "test", 3)
    assert a != br.request_key("q", {"until": ["\n"], "max_new_tokens": 5}, "t", "test", 3)
    assert a.startswith("t/3/")


def test_registry_and_list_report_unavailable(monkeypatch):
    from evalsuite.commands.list_cmd import plugin_rows
    from evalsuite.registry import BENCHMARKS

    b = BENCHMARKS.create("lmms-eval:mme")
    assert isinstance(b, br.LmmsEvalBenchmark) and b.lmms_task == "mme"
    import evalsuite.registry as reg
    real = reg.missing_modules
    monkeypatch.setattr(reg, "missing_modules",
                        lambda mods: ["lmms_eval"] if "lmms_eval" in mods else real(mods))
    row = next(r for r in plugin_rows(BENCHMARKS) if r["name"] == "lmms-eval")
    assert row["status"] == br.UNAVAILABLE and "av<16" in row["status"]
    with pytest.raises(ValueError, match="not importable"):
        b.load_items(None, None)


# --- lmms-eval itself, where it is importable -------------------------------------------------

TASK_YAML = """task: evalsuite_tiny_vqa
dataset_path: {data}
dataset_kwargs:
  load_from_disk: true
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: "{{{{question}}}}"
doc_to_target: "answer"
generation_kwargs:
  until:
    - "\\n"
  max_new_tokens: 4
process_results: !function utils.process_results
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  - version: 0.0
"""

TASK_UTILS = """def doc_to_visual(doc):
    return [doc["image"].convert("RGB")]


def process_results(doc, results):
    return {"acc": float(results[0].strip() == doc["answer"])}
"""


@pytest.mark.skipif(importlib.util.find_spec("lmms_eval") is None,
                    reason="lmms-eval not importable here (see the bridge's docstring)")
def test_real_lmms_eval_task_end_to_end(fx, tmp_path, monkeypatch):
    import datasets
    from PIL import Image
    from typer.testing import CliRunner

    from evalsuite.cli import app
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    rows = {"question": [f"What colour is image {i}?" for i in range(5)],
            "answer": ["red", "x", "y", "z", "w"],
            "image": [Image.new("RGB", (32, 32), (40 * i, 0, 0)) for i in range(5)]}
    ds = datasets.DatasetDict({"test": datasets.Dataset.from_dict(
        rows, features=datasets.Features({"question": datasets.Value("string"),
                                          "answer": datasets.Value("string"),
                                          "image": datasets.Image()}))})
    ds.save_to_disk(str(tmp_path / "data"))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "tiny.yaml").write_text(TASK_YAML.format(data=tmp_path / "data"))
    (tasks / "utils.py").write_text(TASK_UTILS)
    args = ["eval-policy", "--no-progress", "--policy", "qwen2.5-vl", "--model-path",
            str(fx("unifiedreward-qwen")), "--device", "cpu", "--bench",
            "lmms-eval:evalsuite_tiny_vqa", "--bench-option", f"include_path={tasks}",
            "-B", "2", "--out", str(tmp_path / "runs"), "--run-name", "l"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    run = tmp_path / "runs" / "l"
    res = json.loads((run / "results.json").read_text())
    from evalsuite.store import read_records
    answers = [rec.score.extras["answer"] for (k, _), rec in read_records(run).items()
               if k == "answer"]
    assert len(answers) == 5
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    by_doc = {s["doc_id"]: s for s in samples}
    # oracle: our stored answers against the targets, by hand
    want = np.mean([float(by_doc[i]["resps"][0][0].strip() == rows["answer"][i])
                    for i in range(5)])
    assert res["metrics"]["acc"]["value"] == pytest.approx(want) and \
        res["metrics"]["acc"]["n"] == 5
    assert sorted(s["resps"][0][0] for s in samples) == sorted(answers)
    r2 = CliRunner().invoke(app, args)  # resumed: lmms-eval runs again, the policy is not asked
    assert r2.exit_code == 0, r2.output
    assert json.loads((run / "run.json").read_text())["invocations"][-1]["computed"] == 0
    assert json.loads((run / "results.json").read_text())["metrics"] == res["metrics"]
