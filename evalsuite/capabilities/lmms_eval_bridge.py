"""Any lmms-eval task for a VLM policy: ``eval-policy --bench lmms-eval:<task>``.

lmms-eval (github EvolvingLMMs-Lab/lmms-eval; PyPI ``lmms-eval``) owns the task: its YAML
(dataset, ``doc_to_text`` / ``doc_to_visual``, generation kwargs), its scoring
(``process_results``, metrics, filters) and its aggregation. evalsuite supplies the model: the
policy wrapped as an lmms-eval ``lmms`` model (:func:`make_lmms_model`) whose
``generate_until`` answers lmms-eval's requests through the policy's own batching
(``prepare_mcq`` / ``answer_batch``), and stores every answer in the run store as it comes, so
a killed run resumes without asking the policy again. ``lmms_eval.evaluator.simple_evaluate``
runs the task; its per-task metrics land in ``results.json`` (values as lmms-eval reports
them: some tasks in [0, 1], some in percent), its per-document logs in ``samples.jsonl``.

Request contract (lmms-eval 0.7.x ``lmms_eval/api/model.py``, simple models): each
``generate_until`` Instance's ``args`` is ``(context, gen_kwargs, doc_to_visual, doc_id, task,
split)``; visuals are ``doc_to_visual(self.task_dict[task][split][doc_id])`` (PIL images or
video paths); the answer is cut at the first occurrence of each ``until`` string, as
lmms-eval's own models do. ``gen_kwargs['max_new_tokens']`` sets the policy's
``max_new_tokens`` for that request's batch; generation is always greedy (the policies here
decode greedily; a task asking for sampling is noted in results.json). ``loglikelihood``
(multiple-choice-by-likelihood tasks) and multi-round generation are not offered by the
policy API and fail with a clear message.

Environment: lmms-eval cannot be installed beside this project with its declared
dependencies (0.6-0.7.x pin ``av<16``; 0.3.5-0.5 ``numpy==1.26.4``; earlier releases
``datasets==2.16.1``; this project pins av 18, numpy 2.4, datasets 5.2). Its task machinery
does import and run with these versions when installed without them: ``pip install
--no-deps lmms-eval==0.7.3`` plus its small imports (``pytz loguru tenacity evaluate
sacrebleu portalocker tabulate colorama lxml``) and ``filelock<4`` (its evaluator patches
filelock 3.x internals), in a separate environment or ``--target`` on ``PYTHONPATH``. Where
lmms-eval is not importable, ``evalsuite list`` reports this benchmark unavailable with that
reason. Options (``--bench-option k=v``): ``include_path`` (a folder of extra task YAMLs),
``num_fewshot``, ``video_frames`` (frames sampled per video, default 8).
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any, ClassVar

from evalsuite.policies.base import McqItem, PolicyBenchmark, metric
from evalsuite.types import FrameSpec, ItemError, MediaRef, RunRecord, Score

TESTED_VERSION = "0.7.3"
UNAVAILABLE = (
    "lmms-eval is not importable here: every release declares dependencies that conflict "
    "with this project's pins (0.6-0.7.x: av<16; 0.3.5-0.5: numpy==1.26.4; older: "
    "datasets==2.16.1). Install it without them in a separate environment or target: "
    f"pip install --no-deps lmms-eval=={TESTED_VERSION} pytz loguru tenacity evaluate "
    "sacrebleu portalocker tabulate colorama lxml 'filelock<4'")


def request_key(context: str, gen_kwargs: dict, task: str, split: str, doc_id: Any) -> str:
    """The run-store id of one request (same request -> same stored answer on resume)."""
    blob = json.dumps([task, split, str(doc_id), context, gen_kwargs], sort_keys=True,
                      ensure_ascii=False, default=str)
    return f"{task}/{doc_id}/" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def cut_at_stops(text: str, until: list[str]) -> str:
    """Everything before the first occurrence of each non-empty stop string, in turn."""
    for term in until:
        if term:
            text = text.split(term)[0]
    return text


def visual_refs(visuals: list, frames: int) -> tuple[tuple[MediaRef, ...], FrameSpec | None]:
    """lmms-eval visuals (PIL images, video file paths) as media references."""
    refs, spec = [], None
    for v in visuals or []:
        if isinstance(v, str):
            refs.append(MediaRef(kind="video", path=str(Path(v).resolve())))
            spec = FrameSpec(num_frames=frames)
        elif hasattr(v, "save"):
            buf = io.BytesIO()
            v.convert("RGB").save(buf, format="PNG")
            refs.append(MediaRef(kind="image", data=buf.getvalue()))
        else:
            raise ValueError(f"unsupported lmms-eval visual {type(v).__name__}")
    return tuple(refs), spec


def make_lmms_model(base: type, policy, store, cached: dict[str, str], batch_size: int,
                    video_frames: int = 8):
    """An instance of a subclass of ``base`` (lmms-eval's ``lmms``) answering with ``policy``.

    ``cached`` maps request keys to answers already stored (resume); new answers are appended
    to ``store`` (a :class:`evalsuite.store.RunStore`) batch by batch."""
    from evalsuite.executor import run_batch

    class EvalsuiteLMM(base):
        is_simple = True

        def __init__(self):
            super().__init__()
            self.policy, self.store, self.cached = policy, store, cached
            self.batch_size = batch_size
            self.asked = 0
            self.sampling_requested = 0

        def _item(self, inst) -> McqItem:
            context, gen_kwargs, doc_to_visual, doc_id, task, split = inst.args
            visuals = doc_to_visual(self.task_dict[task][split][doc_id]) if doc_to_visual \
                else []
            media, frames = visual_refs(visuals, video_frames)
            return McqItem(item_id=request_key(context, gen_kwargs, task, split, doc_id),
                           question=context, options={}, answer="", media=media,
                           frames=frames, prompt=context)

        def generate_until(self, requests) -> list[str]:
            out: list[str | None] = [None] * len(requests)
            todo: dict[int, list[int]] = {}  # max_new_tokens -> request indices
            for i, inst in enumerate(requests):
                context, gen_kwargs, _, doc_id, task, split = inst.args
                key = request_key(context, gen_kwargs, task, split, doc_id)
                if key in self.cached:
                    out[i] = self.cached[key]
                    continue
                kw = dict(gen_kwargs or {})
                if kw.get("do_sample") or float(kw.get("temperature") or 0) > 0:
                    self.sampling_requested += 1
                todo.setdefault(kw.get("max_new_tokens"), []).append(i)
            failed: list[str] = []
            for max_new, idx in todo.items():
                for s in range(0, len(idx), self.batch_size):
                    chunk = idx[s:s + self.batch_size]
                    failed += self._answer(requests, chunk, max_new, out)
            if failed:
                raise RuntimeError(f"{len(failed)} lmms-eval requests failed (answers so far "
                                   f"are stored; rerun to resume): {failed[:3]}")
            return out  # type: ignore[return-value]

        def _answer(self, requests, chunk: list[int], max_new, out) -> list[str]:
            items, prepared, errors = [], [], []
            for i in chunk:
                try:
                    it = self._item(requests[i])
                    prepared.append(self.policy.prepare_mcq(it))
                    items.append((i, it))
                except Exception as e:  # noqa: BLE001 - this request's error
                    errors.append(f"{type(e).__name__}: {e}")
            saved = self.policy.options.get("max_new_tokens")
            if max_new is not None:
                self.policy.options["max_new_tokens"] = int(max_new)
            t = time.perf_counter()
            try:
                answers = run_batch(self.policy.answer_batch, prepared) if prepared else []
            finally:
                if max_new is not None:
                    if saved is None:
                        self.policy.options.pop("max_new_tokens", None)
                    else:
                        self.policy.options["max_new_tokens"] = saved
            dt = (time.perf_counter() - t) / max(len(prepared), 1)
            recs = []
            for (i, it), (raw, err) in zip(items, answers):
                if err is not None:
                    errors.append(err)
                    continue
                until = (requests[i].args[1] or {}).get("until") or []
                text = cut_at_stops(raw, [until] if isinstance(until, str) else list(until))
                out[i] = self.cached[it.item_id] = text
                recs.append(RunRecord(it.item_id, "answer", seconds=dt,
                                      score=Score(value=None, raw=raw, extras={"answer": text})))
            self.store.append(recs)
            self.asked += len(recs)
            return errors

        def loglikelihood(self, requests):
            raise NotImplementedError(
                "this task scores options by log-likelihood (output_type multiple_choice / "
                "loglikelihood); evalsuite policies answer by generation only")

        def generate_until_multi_round(self, requests):
            raise NotImplementedError("multi-round lmms-eval tasks are not supported")

    return EvalsuiteLMM()


class LmmsEvalBenchmark(PolicyBenchmark):
    name: ClassVar[str] = "lmms-eval"
    no_fixture: ClassVar[str] = ("lmms-eval's tasks bring their own data; tests drive the "
                                 "bridge through a stand-in of lmms-eval's model API")
    kind: ClassVar[str] = "lmms-eval"
    policy_task: ClassVar[str] = "mcq"  # a VLM policy (prepare_mcq / answer_batch)
    hub_id: ClassVar[str] = "lmms-eval task"
    splits: ClassVar[tuple[str, ...]] = ("task",)
    default_split: ClassVar[str] = "task"
    modality: ClassVar[str] = "image"
    metric_notes: ClassVar[dict[str, str]] = {
        "<metric>[,<filter>]": "the task's metrics as lmms-eval aggregates them"}
    option_help: ClassVar[dict[str, str]] = {
        "include_path": "a folder of extra lmms-eval task yamls",
        "num_fewshot": "few-shot examples (default: the task's)",
        "video_frames": "frames per video for video tasks (8)",
    }

    def __init__(self, task: str | None = None, **options: Any):
        super().__init__(**options)
        self.lmms_task = task  # from "lmms-eval:<task>" (``task`` is the list column)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        from evalsuite.registry import missing_modules
        return UNAVAILABLE if missing_modules(["lmms_eval"]) else None

    def info(self, data_path, split) -> dict[str, Any]:
        return {**super().info(data_path, split), "lmms_eval_task": self.lmms_task,
                "lmms_eval_version": _version()}

    def load_items(self, data_path: str | None, split: str | None
                   ) -> list[McqItem | ItemError]:
        if not self.lmms_task:
            raise ValueError("name the lmms-eval task: --bench lmms-eval:<task>")
        reason = self.unavailable_reason()
        if reason:
            raise ValueError(reason)
        return []  # documents are lmms-eval's; run_policy drives its evaluator

    def run_policy(self, cfg, policy, run_dir: Path):
        """Run the task with lmms-eval's evaluator; results.json / samples.jsonl / run.json."""
        from lmms_eval.api.model import lmms
        from lmms_eval.evaluator import simple_evaluate
        from lmms_eval.tasks import TaskManager

        from evalsuite.policies.runner import PolicyOutcome
        from evalsuite.executor import write_run_meta
        from evalsuite.store import RunStore, read_records

        done = read_records(run_dir)
        cached = {i: r.score.extras["answer"] for (k, i), r in done.items()
                  if k == "answer" and r.error is None and r.score is not None}
        batch = cfg.batch_size or policy.default_batch_size
        t0 = time.perf_counter()
        with RunStore(run_dir, 0) as store:
            model = make_lmms_model(lmms, policy, store, cached, batch,
                                    int(self.options.get("video_frames", 8)))
            policy.load()
            tm = TaskManager(include_path=self.options.get("include_path"))
            nf = self.options.get("num_fewshot")
            res = simple_evaluate(model=model, tasks=[self.lmms_task], task_manager=tm,
                                  limit=cfg.limit, log_samples=True, batch_size=batch,
                                  num_fewshot=int(nf) if nf is not None else None,
                                  random_seed=cfg.seed, numpy_random_seed=cfg.seed,
                                  torch_random_seed=cfg.seed, fewshot_random_seed=cfg.seed)
        results = self._write_results(cfg, policy, res, model, run_dir)
        write_run_meta(run_dir, model.asked, time.perf_counter() - t0, batch, 1)
        return PolicyOutcome(run_dir, results, model.asked, 0, False)

    def _write_results(self, cfg, policy, res: dict, model, run_dir: Path) -> dict[str, Any]:
        from evalsuite.results import SCHEMA_VERSION, _write_json, git_hash, versions

        metrics: dict[str, Any] = {}
        for task, values in sorted(res.get("results", {}).items()):
            n = (res.get("n-samples", {}).get(task) or {}).get("effective", 0)
            prefix = "" if task == self.lmms_task else f"{task}/"
            for key, value in values.items():
                name, _, filt = key.partition(",")
                if name in ("alias", "samples") or name.endswith("_stderr") or \
                        not isinstance(value, (int, float)):
                    continue
                stderr = values.get(f"{name}_stderr,{filt}")
                label = prefix + (name if filt in ("", "none") else f"{name},{filt}")
                metrics[label] = metric(value, n, **({"stderr": stderr} if isinstance(
                    stderr, (int, float)) else {}))
        samples = [s for t in res.get("samples", {}).values() for s in t]
        results = {
            "schema_version": SCHEMA_VERSION, "policy": policy.info(),
            "benchmark": self.info(cfg.data_path, cfg.split),
            "run": {"fingerprint": cfg.fingerprint(), "seed": cfg.seed, "limit": cfg.limit,
                    "batch_size": cfg.batch_size or policy.default_batch_size},
            "versions": versions(), "git": git_hash(),
            "counts": {"items": len(samples), "units": len(samples), "answered": len(samples),
                       "errors": 0, "unparsed": 0},
            "metrics": metrics, "breakdown": {},
            "lmms_eval": {"configs": {t: {k: v for k, v in c.items() if isinstance(
                v, (str, int, float, bool, list, dict))} for t, c in
                res.get("configs", {}).items()},
                "versions": res.get("versions", {}),
                "sampling_requested_greedy_used": model.sampling_requested},
            "errors_sample": []}
        _write_json(run_dir / "results.json", results)
        tmp = run_dir / "samples.jsonl.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            for s in samples:
                fh.write(json.dumps({k: v for k, v in s.items() if k != "doc"},
                                    ensure_ascii=False, default=str) + "\n")
        tmp.replace(run_dir / "samples.jsonl")
        return results


def _version() -> str | None:
    try:
        import importlib.metadata
        return importlib.metadata.version("lmms-eval")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return None
