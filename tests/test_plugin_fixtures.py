"""Every built-in plugin names the fixture its tests use (or says why it has none), and a
judge's or policy's declared checkpoint fixture loads with its class.

The plugins come from the registries, so a new one is checked without editing this file.
Oracle for the declarations: `evalsuite.fixtures.BUILDERS` (the builder exists and makes the
right kind: a model for judges and policies, data for benchmarks); for the loads, the
loaders' own strict architecture and key checks.
"""

from __future__ import annotations

import pytest

from evalsuite.fixtures import BUILDERS
from evalsuite.registry import BENCHMARKS, JUDGES, POLICIES

KIND = {"judge": "model", "policy": "model", "benchmark": "data"}


def _builtin(reg):
    return [(reg, n) for n in reg.names() if reg.entry(n).source == "builtin"]


def _declared(reg, name):
    entry = reg.entry(name)
    cls = entry.load()
    return cls, cls.fixture_for(**entry.kwargs)


@pytest.mark.parametrize("reg,name", _builtin(JUDGES) + _builtin(POLICIES) + _builtin(BENCHMARKS),
                         ids=lambda x: x if isinstance(x, str) else x.kind)
def test_declares_a_fixture_or_why_not(reg, name):
    cls, fixture = _declared(reg, name)
    if fixture is None:
        assert cls.no_fixture.strip(), f"{reg.kind} {name}: no fixture and no reason"
    else:
        assert fixture in BUILDERS, f"{reg.kind} {name}: no builder {fixture!r}"
        assert BUILDERS[fixture][1] == KIND[reg.kind], (name, fixture, BUILDERS[fixture])


def test_variants_get_their_own_architecture():
    """Presets that change the architecture name the matching builder."""
    assert _declared(JUDGES, "hpsv2.1")[1] == "hpsv2.1"
    assert _declared(JUDGES, "unifiedreward-2.0-qwen3vl-8b")[1] == "unifiedreward-qwen3vl"
    assert _declared(JUDGES, "unifiedreward-2.0-qwen-7b")[1] == "unifiedreward-qwen"
    assert _declared(BENCHMARKS, "genai-bench-edit")[1] == "genai-bench-edit"


def _loadable():
    """One registry name per (class, fixture) among judges and policies with a checkpoint."""
    seen, out = set(), []
    for reg, name in _builtin(JUDGES) + _builtin(POLICIES):
        cls, fixture = _declared(reg, name)
        key = (reg.entry(name).target, fixture)
        if fixture is not None and key not in seen:
            seen.add(key)
            out.append((reg, name, fixture))
    return out


@pytest.mark.parametrize("reg,name,fixture", _loadable(),
                         ids=lambda x: x if isinstance(x, str) else x.kind)
def test_declared_fixture_loads(fx, reg, name, fixture):
    plugin = reg.create(name, model_path=str(fx(fixture)), device="cpu")
    plugin.load()
