"""Name -> plugin class, imported lazily.

Entries are ``"module:Class"`` strings (plus preset keyword arguments), so listing what is
available imports nothing heavy. Third-party packages add plugins through the entry-point
groups ``evalsuite.judges``, ``evalsuite.benchmarks``, ``evalsuite.policies`` and
``evalsuite.trainers``; an entry point's value is the same ``"module:Class"`` string.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:Class"
    kwargs: dict[str, Any] = field(default_factory=dict)  # preset options (model variant, ...)
    source: str = "builtin"  # or the distribution that provided the entry point

    def load(self) -> type:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


class Registry:
    """A small thread-safe name -> Entry map that also reads one entry-point group."""

    def __init__(self, kind: str, group: str):
        self.kind, self.group = kind, group
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()
        self._plugins_loaded = False

    def register(self, name: str, target: str, **kwargs: Any) -> None:
        with self._lock:
            if name in self._entries and self._entries[name].target != target:
                raise ValueError(f"{self.kind} {name!r} is already registered "
                                 f"as {self._entries[name].target}")
            self._entries[name] = Entry(name, target, kwargs)

    def _load_plugins(self) -> None:
        with self._lock:
            if self._plugins_loaded:
                return
            self._plugins_loaded = True
            for ep in importlib.metadata.entry_points(group=self.group):
                if ep.name not in self._entries:  # built-ins win; a plugin cannot shadow them
                    dist = ep.dist.name if ep.dist else "entry point"
                    self._entries[ep.name] = Entry(ep.name, ep.value, {}, dist)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def entry(self, name: str) -> Entry:
        self._load_plugins()
        base, sep, arg = name.partition(":")
        if sep and name not in self._entries and base in self._entries:
            e = self._entries[base]  # a parameterised plugin: "lmms-eval:<task>"
            return Entry(name, e.target, {**e.kwargs, "task": arg}, e.source)
        try:
            return self._entries[name]
        except KeyError:
            import difflib
            close = difflib.get_close_matches(name, self._entries, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise KeyError(f"unknown {self.kind} {name!r}.{hint} "
                           f"Run `python -m evalsuite list` to see them all.") from None

    def create(self, name: str, **kwargs: Any) -> Any:
        entry = self.entry(name)
        cls = entry.load()
        return cls(**{**entry.kwargs, **{k: v for k, v in kwargs.items() if v is not None}})


def missing_modules(modules: tuple[str, ...] | list[str]) -> list[str]:
    """Modules from ``modules`` that are not installed (checked without importing them)."""
    out = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                out.append(m)
        except (ImportError, ValueError):
            out.append(m)
    return out


JUDGES = Registry("judge", "evalsuite.judges")
BENCHMARKS = Registry("benchmark", "evalsuite.benchmarks")
POLICIES = Registry("policy", "evalsuite.policies")

# --- judges -------------------------------------------------------------------------------
_J = "evalsuite.judges"
JUDGES.register("pickscore", f"{_J}.pickscore:PickScore")
JUDGES.register("hpsv2", f"{_J}.hps:HPSv2", version="v2")
JUDGES.register("hpsv2.1", f"{_J}.hps:HPSv2", version="v2.1")
JUDGES.register("imagereward", f"{_J}.imagereward:ImageReward")
JUDGES.register("videoscore", f"{_J}.videoscore:VideoScore", version="v1")
JUDGES.register("videoscore-v1.1", f"{_J}.videoscore:VideoScore", version="v1.1",
                model="TIGER-Lab/VideoScore-v1.1")
JUDGES.register("hpsv3", f"{_J}.hpsv3:HPSv3")
JUDGES.register("videoreward", f"{_J}.videoreward:VideoReward")
JUDGES.register("unifiedreward", f"{_J}.unifiedreward:UnifiedRewardQwen")
JUDGES.register("unifiedreward-qwen-7b", f"{_J}.unifiedreward:UnifiedRewardQwen",
                model="CodeGoat24/UnifiedReward-qwen-7b")
JUDGES.register("unifiedreward-qwen-3b", f"{_J}.unifiedreward:UnifiedRewardQwen",
                model="CodeGoat24/UnifiedReward-qwen-3b")
JUDGES.register("unifiedreward-qwen-32b", f"{_J}.unifiedreward:UnifiedRewardQwen",
                model="CodeGoat24/UnifiedReward-qwen-32b")
JUDGES.register("unifiedreward-llava-7b", f"{_J}.unifiedreward:UnifiedRewardLlava",
                model="CodeGoat24/UnifiedReward-7b")
JUDGES.register("unifiedreward-llava-0.5b", f"{_J}.unifiedreward:UnifiedRewardLlava",
                model="CodeGoat24/UnifiedReward-0.5b")
# UnifiedReward 2.0 / Think / Edit / Flex: one name per released checkpoint, e.g.
# unifiedreward-2.0-qwen3vl-8b -> CodeGoat24/UnifiedReward-2.0-qwen3vl-8b.
for _ckpt in ([f"2.0-qwen-{s}" for s in ("3b", "7b", "32b", "72b")]
              + [f"2.0-qwen3vl-{s}" for s in ("2b", "4b", "8b", "32b")]
              + ["Think-qwen-7b"] + [f"Think-qwen3vl-{s}" for s in ("2b", "4b", "8b", "32b")]
              + [f"Edit-qwen-{s}" for s in ("3b", "7b", "32b", "72b")]
              + [f"Edit-qwen3vl-{s}" for s in ("2b", "4b", "8b", "32b")]
              + ["Flex-qwen3vl-8b"]):
    JUDGES.register(f"unifiedreward-{_ckpt.lower()}", f"{_J}.unifiedreward:UnifiedRewardQwen",
                    model=f"CodeGoat24/UnifiedReward-{_ckpt}")
JUDGES.register("unifiedreward-think-llava-7b", f"{_J}.unifiedreward:UnifiedRewardLlava",
                model="CodeGoat24/UnifiedReward-Think-7b")
JUDGES.register("llava-critic", f"{_J}.llava_critic:LlavaCritic")
JUDGES.register("openai", f"{_J}.openai_judge:OpenAIJudge")  # OpenAI-compatible endpoint
JUDGES.register("tiny-clip-synthetic", "evalsuite.training.synthetic:TinyClipJudge")
JUDGES.register("llava-critic-72b", f"{_J}.llava_critic:LlavaCritic",
                model="lmms-lab/llava-critic-72b")

# --- preference benchmarks ----------------------------------------------------------------
_B = "evalsuite.benchmarks"
BENCHMARKS.register("genai-bench", f"{_B}.genai_bench:GenAIBench", config="image_generation")
BENCHMARKS.register("genai-bench-video", f"{_B}.genai_bench:GenAIBench", config="video_generation")
BENCHMARKS.register("genai-bench-edit", f"{_B}.genai_bench:GenAIBench", config="image_edition")
BENCHMARKS.register("vlrewardbench", f"{_B}.vlrewardbench:VLRewardBench")
BENCHMARKS.register("videogen-rewardbench", f"{_B}.videogen_rewardbench:VideoGenRewardBench")

# --- policies (evalsuite.policies) and capability benchmarks (evalsuite.capabilities) -------
_P = "evalsuite.policies"
_C = "evalsuite.capabilities"
POLICIES.register("qwen2.5-vl", f"{_P}.vlm:QwenVLPolicy")
POLICIES.register("qwen2.5-vl-3b", f"{_P}.vlm:QwenVLPolicy", model="Qwen/Qwen2.5-VL-3B-Instruct")
POLICIES.register("sd-t2i", f"{_P}.diffusion:DiffusersTextToImage")
POLICIES.register("diffusers-t2v", f"{_P}.diffusion:DiffusersTextToVideo")
BENCHMARKS.register("mmbench", f"{_C}.mmbench:MMBench")
BENCHMARKS.register("video-mme", f"{_C}.videomme:VideoMME")
BENCHMARKS.register("t2i-compbench", f"{_C}.t2i_compbench:T2ICompBench")
BENCHMARKS.register("vbench", f"{_C}.vbench:VBench")
BENCHMARKS.register("geneval", f"{_C}.geneval:GenEval")
BENCHMARKS.register("unigenbench", f"{_C}.unigenbench:UniGenBench")
BENCHMARKS.register("lmms-eval", f"{_C}.lmms_eval_bridge:LmmsEvalBenchmark")  # lmms-eval:<task>

# --- trainer kinds (a recipe's `kind`; `evalsuite train`) ---------------------------------
TRAINERS = Registry("trainer kind", "evalsuite.trainers")
_T = "evalsuite.training"
TRAINERS.register("synthetic", f"{_T}.synthetic:SyntheticTrainer")
TRAINERS.register("qwen-vl-sft", f"{_T}.reward_sft:RewardSftTrainer")
TRAINERS.register("vlm-dpo", f"{_T}.vlm_dpo:VlmDpoTrainer")
TRAINERS.register("diffusion-dpo", f"{_T}.diffusers_dpo:DiffusersDpoTrainer")
TRAINERS.register("video-dpo", f"{_T}.diffusers_dpo:DiffusersDpoTrainer", video=True)
