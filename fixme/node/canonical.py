"""Canonical documents: one byte string per value, on every machine.

Records and blob manifests are hashed and signed, so the same content must
always encode to the same bytes. The encoding is a strict subset of JSON
(docs/records.md specifies it byte by byte):

- values are objects with string keys, arrays, strings, integers in
  [-2**63, 2**63), true, false and null; no floats (their text is not unique);
- no whitespace; object keys sorted by Unicode code point, never repeated;
- strings are UTF-8; only `"`, `\\` and control characters are escaped, with
  the short forms \\b \\f \\n \\r \\t and \\u00xx (lower-case hex) otherwise.

`decode` accepts only bytes that `encode` would produce, so a document has
exactly one valid spelling and a block id names exactly one document.
"""

from __future__ import annotations

import json
from typing import Any, Callable

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


class CanonicalError(ValueError):
    """A value that cannot be encoded, or bytes that are not a canonical document."""


def encode(value: Any) -> bytes:
    """The canonical bytes of `value` (dicts, lists, str, int, bool, None)."""
    _check(value)
    return _dumps(value)


def reencode(value: Any) -> bytes:
    """The canonical bytes of a value that `decode` returned (skips the type walk)."""
    return _dumps(value)


def _dumps(value: Any) -> bytes:
    try:
        return _encode_text(value).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalError("strings must be valid Unicode (no lone surrogates)") from None


def decode(data: bytes) -> Any:
    """The value of canonical bytes; anything else raises CanonicalError."""
    try:
        text = data.decode("utf-8")
        # Straight to the C scanner: a canonical document fills `text` from
        # its first character to its last, so JSONDecoder.decode's skipping
        # of whitespace around it is not needed to accept one.
        value, end = _DECODER.scan_once(text, 0)
        if end == len(text) and _encode_text(value) == text:
            return value
    except (ValueError, RecursionError, StopIteration):
        pass
    return _decode_or_refuse(data)


def _decode_or_refuse(data: bytes) -> Any:
    """decode() the long way, which says why bytes are refused."""
    try:
        text = data.decode("utf-8")
        # No hook for repeated keys: json keeps the last one, so the document
        # re-encodes shorter than `data` and the comparison below refuses it.
        value = json.loads(text, parse_float=_no_float, parse_int=_bounded_int, parse_constant=_no_float)
    except CanonicalError:
        raise
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd integers
        raise CanonicalError(f"not a canonical document: {exc}") from None
    # The hooks already refused what JSON has and documents must not (floats,
    # big integers), so re-encoding needs no second type check. Comparing
    # text saves encoding it again: `text` is exactly `data` decoded.
    if _encode_text(value) != text:
        _dumps(value)  # a lone surrogate (spelt as an escape in `data`) gets its own reason
        raise CanonicalError("not a canonical document: not in canonical form")
    return value


def _check(value: Any, depth: int = 0) -> None:
    if depth > 32:
        raise CanonicalError("document nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise CanonicalError(f"integer out of range: {value}")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError(f"object keys must be strings, not {type(key).__name__}")
            _check(item, depth + 1)
        return
    raise CanonicalError(f"cannot encode {type(value).__name__} canonically")


def _bounded_int(text: str) -> int:
    if len(text) > 20:  # refuse before converting absurdly long digit strings
        raise CanonicalError("not a canonical document: integer out of range")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise CanonicalError(f"not a canonical document: integer out of range: {value}")
    return value


def _no_float(text: str) -> Any:
    raise CanonicalError(f"not a canonical document: non-integer number {text}")


# Built once: json.loads and json.dumps with options build a new decoder or
# encoder (and scanner) on every call, a third of the cost of a small document.
# No circular check: encode() walks the value first (_check, bounded depth)
# and decoded values cannot hold cycles.
_DECODER = json.JSONDecoder(parse_float=_no_float, parse_int=_bounded_int, parse_constant=_no_float)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                            check_circular=False)


def _text_encoder() -> Callable[[Any], str]:
    """_ENCODER.encode, without building its C encoder anew on every call.

    JSONEncoder.encode makes a C encoder with its settings for each value,
    which is half the cost of encoding a record's payload. Where the
    accelerator is missing or takes other arguments (it is not a public
    interface), this is _ENCODER.encode itself; a sample must come out the
    same either way.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    try:
        encoder = make(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, False)
        sample = {"b": [1, -2, "é\n\x01\"", None, True, False], "a": {}, "": []}
        if "".join(encoder(sample, 0)) == _ENCODER.encode(sample):
            return lambda value: "".join(encoder(value, 0))
    except TypeError:  # make is None, or wants other arguments
        pass
    return _ENCODER.encode


_encode_text = _text_encoder()
