"""Canonical documents: one spelling per value, and nothing else accepted."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from fixme.node import canonical
from fixme.node.hashing import block_id, check_block_id, is_block_id

scalars = st.none() | st.booleans() | st.integers(min_value=canonical.INT_MIN, max_value=canonical.INT_MAX) | st.text()
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                         max_leaves=20)


@given(documents)
def test_every_value_round_trips_and_reencodes_to_the_same_bytes(value):
    data = canonical.encode(value)
    assert canonical.decode(data) == value
    assert canonical.encode(canonical.decode(data)) == data


@given(st.dictionaries(st.text(), st.integers(0, 10), max_size=6))
def test_key_order_does_not_change_the_bytes(mapping):
    reversed_mapping = dict(reversed(list(mapping.items())))
    assert canonical.encode(mapping) == canonical.encode(reversed_mapping)


def test_the_spelling_is_compact_sorted_utf8():
    assert canonical.encode({"b": [1, "é\n"], "a": None}) == '{"a":null,"b":[1,"é\\n"]}'.encode()
    assert canonical.encode("\x01") == b'"\\u0001"'


@pytest.mark.parametrize("data", [
    b'{"a": 1}',  # whitespace
    b'{"b":1,"a":2}',  # unsorted keys
    b'{"a":1,"a":1}',  # repeated key
    b'{"a":1.5}',  # float
    b'1e3',
    b'NaN',
    b'-0',
    b'"\\u00e9"',  # escaped where UTF-8 is the spelling
    b'"\xff"',  # invalid UTF-8
    b'99999999999999999999',  # out of range
    b'{"a":1',  # truncated
    b'',
])
def test_anything_not_canonical_is_refused(data):
    with pytest.raises(canonical.CanonicalError):
        canonical.decode(data)


def outcome(decoder, data: bytes):
    try:
        return decoder(data)
    except canonical.CanonicalError as exc:
        return ("refused", str(exc))


@given(documents, st.sampled_from([(",", ":"), (", ", ": ")]), st.booleans(), st.booleans(),
       st.sampled_from(["", " ", "\n"]))
def test_the_quick_decode_agrees_with_the_long_way(value, separators, sort_keys, ensure_ascii, pad):
    text = json.dumps(value, separators=separators, sort_keys=sort_keys, ensure_ascii=ensure_ascii)
    for data in (text.encode("utf-8", "surrogatepass"), (pad + text).encode(), (text + pad).encode()):
        assert outcome(canonical.decode, data) == outcome(canonical._decode_or_refuse, data)


@pytest.mark.parametrize("value", [1.5, {1: "x"}, 2**63, b"bytes", "\ud800", {"a": object()}])
def test_values_without_a_canonical_form_are_refused(value):
    with pytest.raises(canonical.CanonicalError):
        canonical.encode(value)


def test_block_ids_name_their_algorithm():
    ident = block_id(b"hello")
    assert ident == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert is_block_id(ident)
    for bad in ("sha1:" + "0" * 40, ident.upper(), ident[:-1], "sha256:" + "g" * 64, None):
        assert not is_block_id(bad)
    with pytest.raises(ValueError):
        check_block_id("nope")
