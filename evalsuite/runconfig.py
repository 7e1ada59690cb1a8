"""Run options, each defined once: its default, help text, command-line spelling, whether it
names the run (enters the run identity, so the fingerprint and the run directory) and
whether results.json records it.

A run configuration (:class:`RunConfig` for a judge, :class:`PolicyRunConfig` for a
policy, :class:`ProbeConfig` for a judge's report card) is a dataclass whose fields are made
by :func:`option` (or taken from :data:`COMMON` with :func:`common`: the options every kind
of run shares). From those fields come

* the run identity (:meth:`RunOptions.identity`, hashed into the fingerprint);
* the ``run`` block of results.json (:meth:`RunOptions.recorded`, in field order);
* the typer options of the ``run`` / ``eval-policy`` / ``probe`` commands
  (:func:`cli_option`), and the keys a ``sweep`` file may set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any

from evalsuite.judges.openai_judge import TRANSPORT_OPTIONS
from evalsuite.probes import DEFAULT_PROBES


@dataclass(frozen=True)
class Spec:
    """How one option is spelled and what it does to a run."""

    help: str
    default: Any = None
    flags: tuple[str, ...] = ()  # CLI spellings; none: --<field-name>
    identity: bool = False  # changes what is computed: part of the run's fingerprint
    recorded: bool = False  # written to results.json's run block
    cli: bool = True  # an option of the commands (False: set by the executor or in code)
    typer: tuple[tuple[str, Any], ...] = ()  # more typer.Option keywords (min, max, ...)


def option(spec: Spec) -> Any:
    """A dataclass field for ``spec`` (a mutable default becomes a factory)."""
    meta = {"spec": spec}
    if isinstance(spec.default, (dict, list)):
        default = spec.default
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    if not spec.cli and not spec.identity and spec.recorded:  # derived: not a constructor arg
        return dataclasses.field(default=spec.default, init=False, metadata=meta)
    return dataclasses.field(default=spec.default, metadata=meta)


def required(spec: Spec) -> Any:
    """A field the caller must give (the plugin's and the benchmark's names)."""
    return dataclasses.field(default=MISSING, metadata={"spec": spec})


def _range(lo: float | None = None, hi: float | None = None) -> tuple[tuple[str, Any], ...]:
    return tuple((k, v) for k, v in (("min", lo), ("max", hi)) if v is not None)


# The options every kind of run shares, by field name.
COMMON: dict[str, Spec] = {
    "bench": Spec("Benchmark name (see `evalsuite list`).", flags=("--bench", "-b"),
                  identity=True),
    "model": Spec("Hub id of another checkpoint of this model.", identity=True),
    "model_path": Spec("Local checkpoint directory/file.", identity=True),
    "revision": Spec("Hub revision of --model (default: pinned).", identity=True),
    "data_path": Spec("Local copy of the benchmark in the hub layout "
                      "(<dir>/<config>/<split>-*.parquet) or a save_to_disk directory. "
                      "Default: hub, pinned.", identity=True),
    "split": Spec("Dataset split (default: the benchmark's).", identity=True),
    # The batch size changes what is computed (batched float paths: padding and kernel
    # choice move scores in the last bits, which can flip a near-tie), so a run is one batch
    # size; the executor resolves the plugin's default before naming the run.
    "batch_size": Spec("Items per batch (default: the model's).", flags=("--batch-size", "-B"),
                       identity=True, recorded=True, typer=_range(1)),
    "seed": Spec("Seed of everything seeded in the run.", default=0, identity=True,
                 recorded=True),
    "limit": Spec("Only the first N rows (smoke tests).", identity=True, recorded=True,
                  typer=_range(1)),
    "dtype": Spec("Default: bfloat16 on GPU, float32 on CPU.", identity=True),
    "bench_options": Spec("Benchmark option key=value (repeatable).", default={},
                          flags=("--bench-option",), identity=True),
    "out_dir": Spec("Folder that holds run directories.", default="runs", flags=("--out",)),
    "run_name": Spec("Run directory name (default: derived from the configuration, so "
                     "re-running resumes)."),
    "max_error_rate": Spec("Exit 1 when the model failed on more than this fraction of the "
                           "items (data errors - bad rows, unreadable media - are reported "
                           "apart).", default=0.05, typer=_range(0.0, 1.0)),
    "device": Spec("cpu | cuda | cuda:N (default: cuda if available)."),
    "retry_errors": Spec("On resume, redo items that failed before.", default=False,
                         flags=("--retry-errors",)),
    "prefetch_workers": Spec("Threads that decode/preprocess media ahead of the model (0: "
                             "none).", default=2, flags=("--workers",), typer=_range(0)),
    "progress": Spec("Show a progress bar.", default=True, flags=("--progress/--no-progress",)),
    "save_inputs": Spec("samples.jsonl keeps each item's input (prompt text, media "
                        "identities, settings).", default=False, flags=("--save-inputs",)),
    "wait": Spec("When another process is working on the same run directory, wait for it "
                 "instead of refusing.", default=False, flags=("--wait",)),
}


def common(name: str, **changes: Any) -> Any:
    """The field of the shared option ``name`` (``changes``: what differs for this kind)."""
    spec = dataclasses.replace(COMMON[name], **changes) if changes else COMMON[name]
    return option(spec)


def specs(cls: type) -> dict[str, Spec]:
    """Field name -> its :class:`Spec`, in field order."""
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(cls) if "spec" in f.metadata}


def cli_option(cls: type, name: str, default: Any = MISSING, **extra: Any):
    """The typer option of field ``name`` of the run configuration ``cls``: its help, flags,
    bounds and default (``...`` for a required field; None for a key=value list);
    ``extra``: more typer keywords (a callback)."""
    import typer

    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    spec: Spec = field.metadata["spec"]
    if default is MISSING:
        if field.default is MISSING and field.default_factory is MISSING:
            default = ...
        elif field.default_factory is not MISSING:  # a list option: none given
            default = None
        else:
            default = field.default
    return typer.Option(default, *spec.flags, help=spec.help, **dict(spec.typer), **extra)


def parse_pairs(pairs: list[str] | None) -> dict[str, Any]:
    """`--option key=value` pairs; values are parsed as JSON when they parse, else strings."""
    out: dict[str, Any] = {}
    for p in pairs or []:
        if "=" not in p:
            import typer
            raise typer.BadParameter(f"expected key=value, got {p!r}")
        k, v = p.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


class RunOptions:
    """The methods every run configuration shares (the fields are the subclass's)."""

    run_name: str | None
    out_dir: str
    bench: str

    @classmethod
    def from_cli(cls, **given: Any):
        """A configuration from a command's parameters (named as the fields): key=value
        lists become dicts; parameters that are not fields are left to the caller."""
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        args = {}
        for k, v in given.items():
            if k not in fields:
                continue
            spec = fields[k].metadata.get("spec")
            if spec is not None and isinstance(spec.default, dict) and (
                    v is None or isinstance(v, list)):
                v = parse_pairs(v)
            args[k] = v
        return cls(**args)

    @classmethod
    def settable(cls) -> set[str]:
        """The fields a caller (a sweep file) may set."""
        return {f.name for f in dataclasses.fields(cls) if f.init}

    def identity(self) -> dict[str, Any]:
        """The fields that change what is computed (hashed into the fingerprint)."""
        return {k: getattr(self, k) for k, s in specs(type(self)).items() if s.identity}

    def fingerprint(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    def recorded(self, **resolved: Any) -> dict[str, Any]:
        """results.json's run block: the fingerprint, then the recorded fields in field
        order (``resolved``: values the executor decided, e.g. the mode ``auto`` chose)."""
        out: dict[str, Any] = {"fingerprint": self.fingerprint()}
        for k, s in specs(type(self)).items():
            if s.recorded:
                out[k] = resolved[k] if k in resolved else getattr(self, k)
        return out

    def run_dir_for(self, who: str) -> Path:
        """``<out>/<who>__<bench>__<fingerprint>`` (or ``--run-name``): re-running resumes."""
        return Path(self.out_dir) / (self.run_name or
                                     f"{who}__{self.bench}__{self.fingerprint()}")


def safe_name(s: str) -> str:
    """``s`` as one path component (a policy given as a checkpoint folder)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s)[:80] or "x"


# --- the three kinds of run -------------------------------------------------------------------

@dataclass(kw_only=True)
class RunConfig(RunOptions):
    """A judge run: its options (each one's help, CLI flag, and place in the run identity
    and in results.json are in its field, :mod:`evalsuite.runconfig`)."""

    judge: str = required(Spec("Judge name (see `evalsuite list`).", flags=("--judge", "-j"),
                               identity=True))
    bench: str = required(COMMON["bench"])
    model: str | None = common("model", help="Hub id of another checkpoint of this judge.")
    model_path: str | None = common("model_path")
    revision: str | None = common("revision")
    data_path: str | None = common("data_path")
    split: str | None = common("split")
    mode: str = option(Spec("auto: pairwise when the judge can, else scores -> margins.",
                            default="auto", identity=True, recorded=True))
    seed: int = common("seed", help="Seed of the per-item position swap.")
    position_swap: str = option(Spec("How each pair's presentation order is chosen (set by "
                                     "the runner).", default="n/a", cli=False, recorded=True))
    both_orders: bool = option(Spec("Judge each pair in both orders and report order "
                                    "consistency (pairwise judges).", default=False,
                                    flags=("--both-orders",), identity=True, recorded=True))
    batch_size: int | None = common("batch_size", help="Items per batch (default: the "
                                    "judge's).")
    limit: int | None = common("limit")
    out_dir: str = common("out_dir")
    run_name: str | None = common("run_name")
    max_error_rate: float = common("max_error_rate", help=COMMON["max_error_rate"].help.replace(
        "the model", "the judge"))
    device: str | None = common("device")
    dtype: str | None = common("dtype")
    retry_errors: bool = common("retry_errors")
    prefetch_workers: int = common("prefetch_workers")
    judge_options: dict[str, Any] = option(Spec("Judge option key=value (repeatable).",
                                                default={}, flags=("--option", "-o"),
                                                identity=True))
    bench_options: dict[str, Any] = common("bench_options")
    progress: bool = common("progress")
    save_inputs: bool = common("save_inputs")  # samples.jsonl: the request behind each verdict
    wait: bool = common("wait")

    def run_dir(self) -> Path:
        return self.run_dir_for(self.judge)



@dataclass(kw_only=True)
class PolicyRunConfig(RunOptions):
    """A policy run: its options, each defined in its field (:mod:`evalsuite.runconfig`)."""

    policy: str = required(Spec("Policy name (see `evalsuite list policies`) or a local "
                                "checkpoint folder (its kind is read from the folder: a "
                                "diffusers pipeline or a Qwen2.5-VL model).",
                                flags=("--policy", "-p"), identity=True))
    bench: str = required(dataclasses.replace(COMMON["bench"], help="mmbench | video-mme | "
                                              "t2i-compbench | vbench | geneval | unigenbench "
                                              "| lmms-eval:<task>"))
    model: str | None = common("model")
    model_path: str | None = common("model_path", help="Local checkpoint folder.")
    revision: str | None = common("revision")
    data_path: str | None = common("data_path", help="Local copy of the benchmark data.")
    split: str | None = common("split")
    seed: int = common("seed", help="Base seed; each sample's seed derives from it and the "
                       "prompt id.")
    samples_per_prompt: int | None = option(Spec("Images/videos per prompt (default: the "
                                                 "benchmark's).", identity=True,
                                                 typer=(("min", 1),)))
    limit: int | None = common("limit", help="Only the first N rows/prompts.")
    batch_size: int | None = common("batch_size", help="Policy batch size (default: the "
                                    "policy's).")
    score_batch_size: int = option(Spec("Batch size of the benchmark's scorers.", default=8,
                                        identity=True, typer=(("min", 1),)))
    out_dir: str = common("out_dir")
    run_name: str | None = common("run_name")
    max_error_rate: float = common("max_error_rate", help=COMMON["max_error_rate"].help.replace(
        "the model", "the policy or a scorer"))
    device: str | None = common("device")
    dtype: str | None = common("dtype")
    retry_errors: bool = common("retry_errors")
    prefetch_workers: int = common("prefetch_workers")
    policy_options: dict[str, Any] = option(Spec("Policy option key=value (repeatable).",
                                                 default={}, flags=("--option", "-o"),
                                                 identity=True))
    bench_options: dict[str, Any] = common("bench_options")
    progress: bool = common("progress")
    save_inputs: bool = common("save_inputs")  # samples.jsonl: each item's prompt and media
    wait: bool = common("wait")

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        ident["bench_options"] = {k: v for k, v in self.bench_options.items()
                                  if k not in LOCATION_OPTIONS}
        return ident

    def run_dir(self) -> Path:
        return self.run_dir_for(safe_name(self.policy))


# Benchmark options that say where scorer weights or a judge endpoint are, not what is
# computed: left out of the run identity, so a run started without them (or with another
# copy, or another server of the same model) resumes its samples.
LOCATION_OPTIONS = ("scorer_path", "detector_path", "clip_path",
                    *(p + k for p in ("judge_", "extractor_") for k in TRANSPORT_OPTIONS))



@dataclass(kw_only=True)
class ProbeConfig(RunOptions):
    """A probe run: its options, each defined in its field (:mod:`evalsuite.runconfig`).

    The probe list is not part of the identity: running more probes later adds cases to the
    same store (and reuses the scores already there)."""

    judge: str = required(Spec("Judge name (see `evalsuite list`).", flags=("--judge", "-j"),
                               identity=True))
    bench: str = required(dataclasses.replace(
        COMMON["bench"], help="Benchmark whose items and media the probes start from (see "
        "`evalsuite list`)."))
    model: str | None = common("model", help="Hub id of another checkpoint of this judge.")
    model_path: str | None = common("model_path")
    revision: str | None = common("revision")
    data_path: str | None = common("data_path")
    split: str | None = common("split")
    batch_size: int | None = common("batch_size", help="Items per batch (default: the "
                                    "judge's).")
    seed: int = common("seed", help="Seed of the item sample, the presentation order and the "
                       "frame shuffles.")
    mode: str = option(Spec("auto | pairwise | pointwise (auto: pairwise when the judge can, "
                            "else scores -> margins).", default="auto", identity=True))
    limit: int | None = common("limit", help="Only the first N benchmark rows.")
    sample: int = option(Spec("Benchmark items each probe starts from (a seeded sample).",
                              default=64, identity=True))
    probes: list[str] = option(Spec("Probe to run (repeatable; default: all of position, "
                                    "identical, prompt, perturbation, video, resolution).",
                                    default=list(DEFAULT_PROBES), flags=("--probe", "-p")))
    out_dir: str = common("out_dir")
    run_name: str | None = common("run_name")
    device: str | None = common("device")
    dtype: str | None = common("dtype")
    prefetch_workers: int = common("prefetch_workers")
    retry_errors: bool = common("retry_errors", help="On resume, redo cases that failed "
                                "before.")
    judge_options: dict[str, Any] = option(Spec("Judge option key=value (repeatable).",
                                                default={}, flags=("--option", "-o"),
                                                identity=True))
    bench_options: dict[str, Any] = common("bench_options")
    progress: bool = common("progress")

    def run_dir(self) -> Path:
        return self.run_dir_for(f"probe-{self.judge}")
