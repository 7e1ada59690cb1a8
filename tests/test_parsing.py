"""Verdict and score extraction from generative judges' free text (evalsuite.judges.parsing).

The oracle is tests/data/parser_cases.jsonl: realistic and adversarial answers, each with
the reading a careful reader gives (composed by tests/data/build_parser_cases.py from
fragments of known meaning, plus hand-written cases; never produced by the parser). Its
``upstream`` column is what the upstream script's substring rule reads, recomputed here
from the test-only extract tests/reference/unifiedreward_rules.py; every row where our
reading differs carries the reason (``why``)."""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from pathlib import Path

import pytest

from evalsuite.judges.parsing import (VERDICT_SCHEMES, answer_block, normalize, parse_score,
                                      parse_verdict, sentences)
from evalsuite.types import ParseStatus

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "data"))

CASES = [json.loads(line) for line in
         (HERE / "data" / "parser_cases.jsonl").read_text(encoding="utf-8").splitlines()]
VERDICT_CASES = [c for c in CASES if c["group"] != "scores"]
SCORE_CASES = [c for c in CASES if c["group"] == "scores"]


def _id(c):
    return f"{c['scheme']}:{c['text'][:50]!r}"


@pytest.mark.parametrize("case", VERDICT_CASES, ids=[_id(c) for c in VERDICT_CASES])
def test_verdict_table(case):
    r = parse_verdict(case["text"], case["scheme"])
    got = r.choice or "unparsed"
    assert got == case["expect"], r.rule
    want_status = {"unparsed": ParseStatus.UNPARSED, "tie": ParseStatus.TIE}.get(
        case["expect"], ParseStatus.PARSED)
    assert r.status == want_status


@pytest.mark.parametrize("case", SCORE_CASES, ids=[_id(c) for c in SCORE_CASES])
def test_score_table(case):
    rng = tuple(case["range"]) if case["range"] else None
    r = parse_score(case["text"], case["scheme"], rng)
    if case["expect"] == "unparsed":
        assert r.status == ParseStatus.UNPARSED and r.value is None, r.rule
        return
    assert r.status == ParseStatus.PARSED, r.rule
    # one mean of <= 6 decimals: a few ulps of the largest magnitude involved
    assert math.isclose(r.value, case["expect"], rel_tol=1e-12, abs_tol=1e-12)
    if case.get("a") is not None:
        assert math.isclose(r.a, case["a"], rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(r.b, case["b"], rel_tol=1e-12, abs_tol=1e-12)


def test_table_size_per_family_group():
    n = Counter(c["group"] for c in CASES)
    for g in ("image", "video", "answer", "critic", "think", "edit", "scores"):
        assert n[g] >= 150, (g, n[g])
    assert n["flex"] >= 50
    assert {c["scheme"] for c in VERDICT_CASES} == set(VERDICT_SCHEMES)


def test_upstream_column_is_the_upstream_rule():
    from build_parser_cases import upstream

    for c in CASES:
        assert c["upstream"] == upstream(c), c["text"]


def _agrees(c) -> bool:
    if c["group"] == "scores":
        if c["scheme"] == "final":
            return c["expect"] != "unparsed" and float(c["upstream"]) == c["expect"]
        if c["scheme"] == "edit-pair":
            return c["expect"] != "unparsed" and c["upstream"] == f"{c['a']:g},{c['b']:g}"
        return False
    return c["upstream"] == c["expect"] or (c["upstream"] == "none"
                                            and c["expect"] == "unparsed")


def test_every_difference_from_upstream_is_explained():
    diffs = [c for c in CASES if not _agrees(c)]
    assert diffs  # the table does exercise the differences
    for c in diffs:
        assert c["why"], c["text"]
    # the brief's motivating examples differ from upstream on purpose
    by_text = {c["text"]: c for c in CASES}
    c = by_text["Image 2 is better. Image 1 is better only in colour accuracy."]
    assert (c["upstream"], c["expect"]) == ("A+B", "B")


def test_none_is_unparsed():
    for scheme in VERDICT_SCHEMES:
        assert parse_verdict(None, scheme).status == ParseStatus.UNPARSED


def test_sentences_split_at_line_breaks():
    assert sentences("Analysis first\nImage 2 is better") == ["analysis first",
                                                              "image 2 is better"]
    assert sentences("Score 4.5 is fine. Next; last!") == ["score 4.5 is fine.", "next;",
                                                           "last!"]


def test_helpers():
    assert normalize("A，B。 **C**") == "a,b. c"
    assert answer_block("x <answer>Image 1 is better</answer> y") == "Image 1 is better"
    assert answer_block("no tags") is None


def test_acs_range_is_checked_per_axis():
    # mean 3.0 is inside 1-5, but Alignment 6 is not: no score
    r = parse_score("Alignment Score (1-5): 6\nCoherence Score (1-5): 1\n"
                    "Style Score (1-5): 2", "acs", (1, 5))
    assert r.status == ParseStatus.UNPARSED and "alignment=6" in r.rule
    r = parse_score("Alignment Score (1-5): 4\nCoherence Score (1-5): 3\nStyle Score (1-5): 5",
                    "acs", (1, 5))
    assert r.dims == {"alignment": 4.0, "coherence": 3.0, "style": 5.0} and r.value == 4.0
