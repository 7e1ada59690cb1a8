"""Pinned hub revisions of the judges and models/README.md stay in step with the code.

No network and no weights: only classes and registry entries are inspected (plus one
local fixture for the --model-path case).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalsuite.registry import JUDGES

README = Path(__file__).resolve().parents[1] / "models" / "README.md"
SHA = re.compile(r"^[0-9a-f]{40}$")

# Registered judges whose default checkpoint has no pin, and why (see models/README.md).
UNPINNED = {
    "unifiedreward": "CodeGoat24 hub pages show only 7-hex short SHAs",
    "unifiedreward-qwen-7b": "CodeGoat24 hub pages show only 7-hex short SHAs",
    "unifiedreward-qwen-3b": "CodeGoat24 hub pages show only 7-hex short SHAs",
    "unifiedreward-qwen-32b": "CodeGoat24 hub pages show only 7-hex short SHAs",
    "unifiedreward-llava-7b": "CodeGoat24 hub pages show only 7-hex short SHAs",
    "unifiedreward-llava-0.5b": "CodeGoat24 hub pages show only 7-hex short SHAs",
    **{n: "CodeGoat24 hub pages show only 7-hex short SHAs" for n in JUDGES.names()
       if re.match(r"unifiedreward-(2\.0|think|edit|flex)-", n)},
    "hpsv3": "no full commit SHA of MizzenAI/HPSv3 seen",
    "openai": "an API endpoint, no hub checkpoint",
    "tiny-clip-synthetic": "local --model-path only, no hub checkpoint",
}


def _default(name: str) -> tuple[type, str, str | None]:
    """(class, hub id, pinned revision) of a registry entry, without instantiating it."""
    entry = JUDGES.entry(name)
    cls = entry.load()
    model = entry.kwargs.get("model") or cls.default_model
    return cls, model, cls.pinned_revision(model) if model else None


def _code_hub_ids() -> set[str]:
    ids: set[str] = set()
    for name in JUDGES.names():
        cls, model, _ = _default(name)
        if model:
            ids.add(model)
        ids.update(cls.pinned_revisions)
        ids.update(getattr(cls, "cards", {}) or {})
        ids.update(hub_id for hub_id, _ in cls.companions.values())  # processor, base ...
    return ids


def _readme_cards() -> set[str]:
    return set(re.findall(r"^### `([^`]+)`\s*$", README.read_text(), flags=re.M))


@pytest.mark.parametrize("name", JUDGES.names())
def test_default_checkpoint_is_pinned_or_listed(name):
    _, model, rev = _default(name)
    if name in UNPINNED:
        assert rev is None, f"{name} is pinned now ({rev}): drop it from UNPINNED"
        assert UNPINNED[name]
    else:
        assert rev is not None and SHA.match(rev), f"{name} ({model}): revision {rev!r}"


def test_unpinned_set_names_registered_judges():
    assert set(UNPINNED) <= set(JUDGES.names())


def test_every_pin_is_a_full_sha():
    for name in JUDGES.names():
        cls, _, _ = _default(name)
        pins = dict(cls.pinned_revisions)
        if cls.default_revision:
            pins[cls.default_model] = cls.default_revision
        for model, rev in pins.items():
            assert SHA.match(rev), f"{cls.__name__} {model}: {rev!r}"


def test_readme_and_code_name_the_same_hub_ids():
    code, readme = _code_hub_ids(), _readme_cards()
    assert readme - code == set(), f"README cards the code does not use: {readme - code}"
    assert code - readme == set(), f"hub ids without a README card: {code - readme}"


def test_readme_pins_match_code():
    text = README.read_text()
    sections = dict(re.findall(r"^### `([^`]+)`\s*\n(.*?)(?=^### |\Z)", text, flags=re.M | re.S))
    for name in JUDGES.names():
        cls, model, rev = _default(name)
        if not model:
            continue
        body = sections[model]
        if rev is None:
            assert "**unpinned**" in body, f"{model}: README card should say unpinned"
        else:
            assert f"Revision: `{rev}`" in body, f"{model}: README card lacks pin {rev}"
            assert f"| `{rev}`" in text, f"{model}: summary table lacks pin {rev}"


def test_per_checkpoint_pins_reach_instances():
    from evalsuite.judges.llava_critic import LlavaCritic
    from evalsuite.judges.videoscore import REVISIONS, VideoScore

    j = JUDGES.create("videoscore-v1.1", device="cpu")
    assert j.revision == REVISIONS["TIGER-Lab/VideoScore-v1.1"]
    assert VideoScore(device="cpu").revision == REVISIONS["TIGER-Lab/VideoScore"]
    big = JUDGES.create("llava-critic-72b", device="cpu")
    assert big.revision == LlavaCritic.pinned_revisions["lmms-lab/llava-critic-72b"]
    assert big.revision != LlavaCritic(device="cpu").revision
    # A checkpoint the class has no pin for gets none (never another checkpoint's pin).
    assert VideoScore(model="someone/else", device="cpu").revision is None


@pytest.mark.parametrize("name", [n for n in JUDGES.names() if n != "openai"])
def test_explicit_revision_wins(name):
    j = JUDGES.create(name, revision="f" * 40, device="cpu")
    assert j.revision == "f" * 40
    assert j.info()["revision"] == "f" * 40


def test_pickscore_processor_revision(monkeypatch):
    """The processor repo has its own pin (option processor_revision) passed to the loader."""
    import transformers

    from evalsuite.judges import pickscore

    seen = {}

    class Stop(Exception):
        pass

    def fake_proc(src, revision=None, **kw):
        seen["processor"] = (src, revision)
        raise Stop

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", fake_proc)
    j = pickscore.PickScore(device="cpu", processor_revision="a" * 40)
    with pytest.raises(Stop):
        j.load()
    assert seen["processor"] == (pickscore.PROCESSOR_ID, "a" * 40)
    j = pickscore.PickScore(device="cpu")
    with pytest.raises(Stop):
        j.load()
    assert seen["processor"] == (pickscore.PROCESSOR_ID, pickscore.PROCESSOR_REVISION)


def test_model_path_records_no_revision(fx):
    path = fx("pickscore")
    j = JUDGES.create("pickscore", model_path=str(path), device="cpu")
    assert j.revision == JUDGES.entry("pickscore").load().default_revision  # the class pin
    assert j.info()["revision"] is None  # ... but a local copy is not that commit
    j = JUDGES.create("videoscore-v1.1", model_path=str(path), device="cpu")
    assert j.info()["revision"] is None
