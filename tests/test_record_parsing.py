"""The quick record parse says exactly what the strict one says, for any bytes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from fixme.node import canonical
from fixme.node.hashing import block_id
from fixme.node.records import RecordError, _parse_strict, _parse_usual, parse_hashed

HEX = "0123456789abcdef"
IDS = ["sha256:" + c * 64 for c in "0123abcf"]


def mostly(right: st.SearchStrategy, wrong: st.SearchStrategy) -> st.SearchStrategy:
    """Usually `right`, one time in five `wrong`: most drawn records are then nearly valid."""
    return st.integers(0, 4).flatmap(lambda n: wrong if n == 0 else right)


# Each member as written, or spelt almost right: what a quick path might let through.
hexes = st.text(HEX, min_size=64, max_size=64)
bad_hexes = st.text(HEX, min_size=63, max_size=65) | st.text(HEX + "ABg", min_size=64, max_size=64)
ints = st.integers(0, 10**18 - 1).map(str)
bad_ints = st.integers(0, 2**64).map(str) | st.sampled_from(
    ["0", "01", "-1", "-0", "1.0", "1e3", "999999999999999999", "9223372036854775807", "9223372036854775808", "true"])
id_lists = st.lists(st.sampled_from(IDS), max_size=3, unique=True).map(sorted)
bad_id_lists = st.lists(st.sampled_from(IDS + ["sha256:" + "A" * 64, "sha1:00"]), max_size=4)
spelt_ids = (id_lists | mostly(id_lists, bad_id_lists)).map(lambda ids: "[" + ",".join(f'"{i}"' for i in ids) + "]")
scalars = st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.text(max_size=8)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=3), max_leaves=8)
tricky_payloads = st.sampled_from([
    "{}", "{ }", '{"b":1,"a":2}', '{"a":1,"a":1}', '{"a":1.5}', '{"a":"\\u00e9"}', '{"a":"\\ud800"}', "[]", '"x"',
    '{"a":{"y":1},"refs":[]}', '{"a":{},"refs":["' + IDS[0] + '"],"sig":"' + "0" * 128 + '","time":1,"type":"record","v":1}',
    '{"a":9223372036854775808}', '{"a":"\n"}', '{"a":"\\n","b":[-1,0,"é"]}',
])
payloads = mostly(values.map(lambda v: canonical.encode(v).decode("utf-8") if _encodable(v) else "{}"),
                  tricky_payloads | values.map(lambda v: json_spelling(v)))
members = {
    "author": mostly(hexes, bad_hexes).map(lambda h: f'"ed25519:{h}"'),
    "clock": mostly(ints.filter(lambda n: n != "0"), bad_ints),
    "log": mostly(st.sampled_from(['"tracker"', '"a.b-c_d"', '"' + "x" * 64 + '"']),
                  st.sampled_from(['"-x"', '""', '"' + "x" * 65 + '"', '"tr\\u0061cker"', '"é"', "1"])),
    "parents": spelt_ids,
    "payload": payloads,
    "refs": spelt_ids,
    "sig": mostly(hexes.map(lambda h: h * 2), bad_hexes).map(lambda h: f'"{h}"'),
    "time": mostly(ints, bad_ints),
    "type": mostly(st.just('"record"'), st.sampled_from(['"blob"', '"recor\\u0064"'])),
    "v": mostly(st.just("1"), st.sampled_from(["2", "1.0", "01"])),
}
ORDER = list(members)


def json_spelling(value) -> str:
    """Some JSON spelling of `value` that need not be canonical (unsorted, escaped, spaced)."""
    return json.dumps(value, separators=(", ", ": ")) if isinstance(value, dict) else "{}"


def _encodable(value) -> bool:
    try:
        canonical.encode(value)
    except canonical.CanonicalError:
        return False
    return isinstance(value, dict)


@st.composite
def near_records(draw) -> bytes:
    spelt = {name: draw(strategy) for name, strategy in members.items()}
    names = ORDER[:]
    if draw(st.integers(0, 9)) == 0:  # now and then a member missing, doubled or out of place
        names = draw(st.permutations(ORDER)) if draw(st.booleans()) else names[:-1] + names[-2:]
    gap = draw(st.sampled_from(["", "", "", " "]))
    text = "{" + ",".join(f'"{n}":{gap}{spelt[n]}' for n in names) + "}"
    return text.encode("utf-8", "surrogatepass")


def outcome(parse, data: bytes):
    try:
        return parse(data, block_id(data))
    except RecordError as exc:
        return ("refused", str(exc))


@settings(max_examples=1500)
@given(near_records())
def test_the_quick_parse_agrees_with_the_strict_one(data):
    quick = _parse_usual(data, block_id(data))
    strict = outcome(_parse_strict, data)
    if quick is not None:
        assert quick == strict
    assert outcome(parse_hashed, data) == strict


@settings(max_examples=300)
@given(near_records(), st.data())
def test_damaged_bytes_are_judged_alike(data, draw):
    at = draw.draw(st.integers(0, len(data)))
    damage = draw.draw(st.sampled_from([b"", b" ", b'"', b"0", b"}", b",", b"\\", b"\xff"]))
    cut = draw.draw(st.integers(0, 2))
    damaged = data[:at] + damage + data[at + cut:]
    quick = _parse_usual(damaged, block_id(damaged))
    if quick is not None:
        assert quick == outcome(_parse_strict, damaged)
    assert outcome(parse_hashed, damaged) == outcome(_parse_strict, damaged)


def test_the_near_records_include_valid_ones():
    """A sanity check on the generator: the quick path is taken for what fixme writes."""
    text = ('{"author":"ed25519:' + "a" * 64 + '","clock":2,"log":"tracker","parents":["' + IDS[0] + '","' + IDS[1]
            + '"],"payload":{"a":{},"refs":[]},"refs":[],"sig":"' + "0" * 128 + '","time":0,"type":"record","v":1}')
    data = text.encode()
    record = _parse_usual(data, block_id(data))
    assert record is not None and record == _parse_strict(data, block_id(data))
    assert record.payload == {"a": {}, "refs": []} and record.parents == tuple(IDS[:2]) and record.clock == 2


@pytest.mark.parametrize("parents", [[IDS[1], IDS[0]], [IDS[0], IDS[0]]])
def test_unsorted_or_repeated_parents_are_refused_by_both(parents):
    text = ('{"author":"ed25519:' + "a" * 64 + '","clock":2,"log":"tracker","parents":['
            + ",".join(f'"{p}"' for p in parents) + '],"payload":{},"refs":[],"sig":"' + "0" * 128
            + '","time":0,"type":"record","v":1}')
    data = text.encode()
    assert _parse_usual(data, block_id(data)) is None
    with pytest.raises(RecordError, match="sorted, distinct"):
        parse_hashed(data, block_id(data))
