"""The harness's fast paths against the plain code they stand in for.

Each fast path (a million-pair run goes through it once per item) must give exactly what
its reference gives, on generated and adversarial inputs:

* :func:`evalsuite.store.read_line` (the C JSON scanner plus direct type checks) against
  :func:`evalsuite.store.parse_record` (``json.loads`` plus the field-by-field checks):
  the same record, or the same refusal with the same reason;
* :func:`evalsuite.redact.line_encoder` against ``json.dumps`` with the same options;
* the shared read-only :data:`evalsuite.types.EMPTY` against a fresh ``{}``;
* :func:`evalsuite.executor.rare_full_collections` leaves the GC as it found it.
"""

from __future__ import annotations

import copy
import gc
import json
import pickle
import random
from dataclasses import asdict

import pytest

from evalsuite.redact import line_encoder
from evalsuite.store import parse_record, read_line
from evalsuite.types import EMPTY, Candidate, Label, PairItem, RunRecord, Score, Verdict

_NUMBERS = [0, 1, -3, 2**70, 0.5, -1e-6, 1e300, float("nan"), float("inf"), True, False]
_TEXTS = ["", "A", "B", "tie", "parsed", "unparsed", "pair", "point", "é\u2028\"\\", "x" * 50]


def _value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth > 2 or r < 0.4:
        return rng.choice([None, *_NUMBERS, *_TEXTS])
    if r < 0.7:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(_TEXTS): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _record_dict(rng: random.Random) -> dict:
    """A record as a runner writes it (compact or full), then perhaps bent out of shape."""
    verdict = Verdict.from_margin(rng.choice([-2.0, 0.0, 1.5]),
                                  margins=rng.choice([{}, {"VQ": 1.0}]),
                                  extras=rng.choice([{}, {"rule": "x", "n": [1, 2]}]))
    rec = rng.choice([
        RunRecord("p1", "pair", verdict=verdict, swapped=rng.random() < 0.5, seconds=0.25),
        RunRecord("p2", "pair", verdict=verdict, verdict_other_order=Verdict.from_choice(None,
                                                                                      "??")),
        RunRecord("q", "point", score=Score(rng.choice([0.3, None]), raw=rng.choice([None, "s"]),
                                            extras=rng.choice([{}, {"dims": {"x": 1}}]))),
        RunRecord("e", "pair", error="MediaError: unreadable"),
        RunRecord("a", "answer", score=Score(None, extras={"letter": "B"}))])
    d = rec.to_compact() if rng.random() < 0.5 else rec.to_json()
    for _ in range(rng.choice([0, 0, 1, 2])):  # bend one field (or one of the verdict's)
        target = d
        if isinstance(d.get("verdict"), dict) and rng.random() < 0.5:
            target = d["verdict"]
        elif isinstance(d.get("score"), dict) and rng.random() < 0.5:
            target = d["score"]
        keys = list(target) + ["surprise", "margins", "extras", "status", "preferred"]
        key = rng.choice(keys)
        if rng.random() < 0.15:
            target.pop(key, None)
        else:
            target[key] = _value(rng)
    return d


def _line(rng: random.Random) -> bytes:
    d = _record_dict(rng)
    text = json.dumps(d, ensure_ascii=rng.random() < 0.5,
                      separators=rng.choice([(",", ":"), (", ", ": ")]))
    raw = text.encode()
    r = rng.random()
    if r < 0.05:
        raw = b" " + raw
    elif r < 0.1:
        raw = raw + b"\r"
    elif r < 0.2 and raw:  # a byte changed, removed or doubled anywhere
        i = rng.randrange(len(raw))
        raw = raw[:i] + rng.choice([b"", b"\x00", b"\xff", b"}", b'"', b",", raw[i:i + 1] * 2]) \
            + raw[i + 1:]
    return raw + b"\n"


def _outcome(fn, raw: bytes):
    try:
        return "ok", fn(raw).to_json()
    except ValueError as e:
        return "refused", str(e)


def test_read_line_gives_what_parse_record_gives_on_generated_lines():
    rng = random.Random(7)
    seen = {"ok": 0, "refused": 0}
    for _ in range(20000):
        raw = _line(rng)
        fast, slow = _outcome(read_line, raw), _outcome(parse_record, raw)
        # NaN is not equal to itself: compare the JSON text of what came back
        assert json.dumps(fast) == json.dumps(slow), raw
        seen[slow[0]] += 1
    assert seen["ok"] > 4000 and seen["refused"] > 4000  # both sides well exercised


@pytest.mark.parametrize("raw", [
    b'{"item_id":"x","kind":"pair","seconds":1e999}',  # inf
    b'{"item_id":"x","kind":"pair","seconds":NaN}',
    b'{"item_id":"x","kind":"pair","seconds":' + b"9" * 400 + b"}",  # an int beyond float
    b'{"item_id":"x","kind":"pair","verdict":' + b'{"a":' * 3000 + b"1" + b"}" * 3001,
    b'{"item_id":"x","kind":"pair"} {"item_id":"y","kind":"pair"}',
    b'{"item_id":"x","kind":"pair","swapped":1}',
    b'{"item_id":"x","kind":"pair","verdict":{"preferred":"A","status":"parsed",'
    b'"margin":true}}',
    b'{"item_id":"x","kind":"pair","verdict":{"preferred":"A","status":"parsed",'
    b'"margins":{"q":"1"}}}',
    b'{"item_id":"","kind":"pair"}',
    b"{",
    b"",
])
def test_read_line_on_edge_lines(raw):
    line = raw + b"\n"
    assert json.dumps(_outcome(read_line, line)) == json.dumps(_outcome(parse_record, line))


def test_record_kinds_read_back_share_one_string():
    a = read_line(b'{"item_id":"a","kind":"pair"}\n')
    b = read_line(b'{"item_id":"b","kind":"pair"}\n')
    assert a.kind == "pair" and a.kind is b.kind


@pytest.mark.parametrize("kw", [{}, {"ensure_ascii": False}, {"separators": (",", ":")},
                                {"ensure_ascii": False, "default": str},
                                {"allow_nan": False}, {"sort_keys": True}])
def test_line_encoder_writes_what_json_dumps_writes(kw):
    rng = random.Random(3)
    encode = line_encoder(**kw)
    objs = [_value(rng) for _ in range(3000)] + [{1: "int key", None: 2, 2.5: True}, "bare",
                                                  {"s": {1, 2}}, (1, 2)]
    cyclic: list = []
    cyclic.append(cyclic)
    objs.insert(100, cyclic)
    for o in objs:  # a failing call must leave the next ones right
        try:
            want = json.dumps(o, **kw)
        except (TypeError, ValueError) as e:
            want = type(e)
        try:
            got = encode(o)
        except (TypeError, ValueError) as e:
            got = type(e)
        assert got == want, o


def test_empty_is_a_read_only_empty_dict_shared_by_defaults():
    assert EMPTY == {} and isinstance(EMPTY, dict) and json.dumps(EMPTY) == "{}"
    for change in (lambda m: m.__setitem__("k", 1), lambda m: m.update(k=1),
                   lambda m: m.setdefault("k", 1), lambda m: m.pop("k"), lambda m: m.clear(),
                   lambda m: m.popitem()):
        with pytest.raises(TypeError):
            change(EMPTY)
    assert EMPTY == {}
    a = PairItem("a", "p", Candidate(text="x"), Candidate(text="y"), Label.A)
    b = PairItem("b", "p", Candidate(text="x"), Candidate(text="y"), Label.B)
    v = Verdict.from_margin(1.0)
    assert a.meta is b.meta is a.labels is v.margins is v.extras is Score(1.0).extras is EMPTY
    assert pickle.loads(pickle.dumps(v)) == v and copy.deepcopy(v) == v
    assert asdict(v)["margins"] == {} and v.to_json()["extras"] == {}
    # A record read back from the store compares equal to one built with fresh dicts.
    fresh = RunRecord("i", "pair", verdict=Verdict("A", v.status, 1.0, margins={}, extras={}))
    assert read_line(json.dumps(fresh.to_compact()).encode() + b"\n") == fresh


def test_rare_full_collections_restores_the_thresholds():
    from evalsuite.executor import rare_full_collections

    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with rare_full_collections(every=5000):
            assert gc.get_threshold()[2] == max(before[2], 5000)
            assert gc.get_threshold()[:2] == before[:2]
            raise RuntimeError("the run failed")
    assert gc.get_threshold() == before


def test_record_table_behaves_as_a_dict_keyed_by_kind_and_id():
    from evalsuite.store import RecordTable

    rng = random.Random(11)
    table, oracle = RecordTable(), {}
    kinds, ids = ["pair", "point", "gen"], [f"u{i}" for i in range(12)]
    for _ in range(3000):
        key = (rng.choice(kinds), rng.choice(ids))
        op = rng.random()
        if op < 0.5:
            rec = RunRecord(key[1], key[0], seconds=rng.random())
            table[key], oracle[key] = rec, rec
        elif op < 0.6:
            if key in oracle:
                del table[key], oracle[key]
            else:
                with pytest.raises(KeyError):
                    del table[key]
        else:
            assert (key in table) == (key in oracle)
            assert table.get(key) is oracle.get(key)
            assert table.get(key, "x") is oracle.get(key, "x")
            if key not in oracle:
                with pytest.raises(KeyError):
                    table[key]
            else:
                assert table[key] is oracle[key]
        assert len(table) == len(oracle)
    assert sorted(table) == sorted(oracle) and table == oracle
    assert dict(table.items()) == oracle
    for kind in kinds + ["answer"]:
        assert table.of(kind) == {i: r for (k, i), r in oracle.items() if k == kind}
    assert ("pair",) not in table and "pair" not in table


def test_records_read_back_share_the_units_id_strings(tmp_path):
    from evalsuite.store import read_records

    lines = [json.dumps(RunRecord(f"item-{i}", "pair", seconds=0.5).to_compact())
             for i in range(4)]
    (tmp_path / "records-r0.jsonl").write_text("\n".join(lines) + "\n")
    units = ["".join(["item-", str(i)]) for i in range(3)]  # built, not the literals' objects
    recs = read_records(tmp_path, ids={u: u for u in units})
    assert [recs[("pair", u)].item_id is u for u in units] == [True] * 3
    assert recs[("pair", "item-3")].item_id == "item-3"  # an id not among the units: kept
    # The records of one batch share one float for their seconds (as written: 0.5).
    assert len({id(r.seconds) for r in recs.values()}) == 1
