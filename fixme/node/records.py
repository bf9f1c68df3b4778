"""Signed records: the unit of a record log.

A record is a canonical document (see canonical.py) that names its author's
ed25519 key, the heads of the log its author had seen (its parents), a
Lamport clock, the author's wall time and an application payload, and carries
an ed25519 signature over everything else. Its id is the block id of its
bytes. docs/records.md specifies the format byte by byte.

This module knows nothing about what payloads mean: the application (the
tracker) decides that.
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # PyNaCl loads when signing or verifying, not to read a log
    from nacl.signing import SigningKey

from . import canonical
from .hashing import block_id, is_block_id
from .keys import KEY_PREFIX, key_text

RECORD_TYPE = "record"
FORMAT_VERSION = 1
# Signatures cover this prefix too, so a record signature can never be
# replayed as a signature over anything else the key signs (a handshake).
SIGNING_CONTEXT = b"fixme record v1\x00"
MAX_RECORD_BYTES = 32 * 1024
# A record's clock may run at most this far ahead of its largest parent
# clock (0 without parents). Writers use exactly 1 more; the bound keeps
# every clock below (number of records) * MAX_CLOCK_STEP, so no record can
# push the clock near the 2^63 limit of canonical integers and leave later
# writers unable to write a larger one.
MAX_CLOCK_STEP = 1024
MAX_PARENTS = 64
MAX_REFS = 64
_HEX_KEY = re.compile(r"ed25519:[0-9a-f]{64}\Z")
_HEX_SIG = re.compile(r"[0-9a-f]{128}\Z")
LOG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_KEYS = frozenset({"author", "clock", "log", "parents", "payload", "refs", "sig", "time", "type", "v"})

# A record as fixme writes it, spelt out byte by byte. Every member but the
# payload has one escape-free spelling, so a match checks at once the key
# order and the absence of whitespace, the log name, the author, that
# parents and refs are at most 64 block ids, clock >= 1 and time >= 0 as
# canonical integers (18 digits at most, so within 64 bits), the sig and the
# version. What it leaves to _parse_usual: parents and refs sorted and
# distinct, the payload a canonical object. Wherever the match puts the end
# of the payload, the rest is the fixed tail of a record, and the payload
# slice must pass canonical.decode by itself; so a record that passes is
# canonical as a whole, whichever way it was split.
_ID_LIST = rb'(?:"sha256:[0-9a-f]{64}"(?:,"sha256:[0-9a-f]{64}"){0,%d})?'
_USUAL = re.compile(
    rb'\{"author":"ed25519:([0-9a-f]{64})","clock":([1-9][0-9]{0,17}),"log":"([A-Za-z0-9][A-Za-z0-9._-]{0,63})",'
    rb'"parents":\[(' + _ID_LIST % (MAX_PARENTS - 1) + rb')\],"payload":(\{.*?\}),'
    rb'"refs":\[(' + _ID_LIST % (MAX_REFS - 1) + rb')\],'
    rb'"sig":"([0-9a-f]{128})","time":(0|[1-9][0-9]{0,17}),"type":"record","v":1\}', re.DOTALL)


class RecordError(ValueError):
    """Bytes that are not a valid, correctly signed record."""


@dataclass(frozen=True)
class Record:
    id: str
    log: str
    author: bytes  # raw ed25519 public key
    clock: int  # Lamport clock: greater than every parent's
    time: int  # author's wall time, milliseconds since the Unix epoch (UTC)
    parents: tuple[str, ...]
    refs: tuple[str, ...]  # blocks this record needs (e.g. attached blobs)
    payload: dict
    # The canonical bytes (block_id(data) == id). Records read back from a
    # log's index leave it out: folding needs the fields, not the bytes, and
    # the bytes stay in the block store.
    data: bytes | None = None
    sig: str | None = None

    @property
    def author_text(self) -> str:
        return key_text(self.author)


def sign_record(key: SigningKey, log: str, parents: list[str], clock: int, time_ms: int,
                payload: dict, refs: list[str] = ()) -> Record:
    """A new record, signed by `key`. Parents and refs are stored sorted."""
    body = {
        "type": RECORD_TYPE,
        "v": FORMAT_VERSION,
        "log": log,
        "author": key_text(bytes(key.verify_key)),
        "parents": sorted(set(parents)),
        "refs": sorted(set(refs)),
        "clock": clock,
        "time": time_ms,
        "payload": payload,
    }
    _check_fields(body)
    signature = key.sign(SIGNING_CONTEXT + canonical.encode(body)).signature
    data = canonical.encode({**body, "sig": signature.hex()})
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(f"record is {len(data)} bytes; the limit is {MAX_RECORD_BYTES}")
    return parse_record(data, verify=False)


def parse_record(data: bytes, verify: bool = True, expected_id: str | None = None) -> Record:
    """The record in `data`, checked strictly; with `verify`, its signature too.

    Raises RecordError with a one-line reason for anything else.
    """
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(f"record too large ({len(data)} bytes)")
    record_id = block_id(data)
    if expected_id is not None and record_id != expected_id:
        raise RecordError(f"content does not match its id {expected_id}")
    record = parse_hashed(data, record_id)
    if verify and not verify_signature(record):
        raise RecordError("bad signature")
    return record


def parse_hashed(data: bytes, record_id: str) -> Record:
    """Like parse_record(data, verify=False) when the caller has just computed block_id(data)."""
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(f"record too large ({len(data)} bytes)")
    record = _parse_usual(data, record_id)
    return _parse_strict(data, record_id) if record is None else record


def _parse_usual(data: bytes, record_id: str) -> Record | None:
    """The record in `data` if _USUAL spells it out and its payload is canonical, else None.

    Such bytes are exactly the canonical encoding of a record that passes
    every check of _parse_strict (see _USUAL), so this returns what that
    would, in about half the time. None says nothing about the bytes: the
    strict parse then decides, and gives the reason for a refusal.
    """
    match = _USUAL.fullmatch(data)
    if match is None:
        return None
    author, clock, log, parents, payload, refs, sig, stamp = match.groups()
    parent_ids, ref_ids = _ids(parents), _ids(refs)
    if not (_sorted_distinct(parent_ids) and _sorted_distinct(ref_ids)):
        return None
    try:
        value = canonical.decode(payload)
    except canonical.CanonicalError:
        return None
    return Record(record_id, log.decode("ascii"), bytes.fromhex(author.decode("ascii")), int(clock), int(stamp),
                  parent_ids, ref_ids, value, data, sig.decode("ascii"))


def _ids(spelt: bytes) -> tuple[str, ...]:
    """The ids in a matched `"sha256:…","sha256:…"` list (no escapes or spaces to undo)."""
    return tuple(spelt.decode("ascii").replace('"', "").split(",")) if spelt else ()


def _sorted_distinct(ids: tuple[str, ...]) -> bool:
    """Whether `ids` == sorted(set(ids)): each one less than the next."""
    return all(map(operator.lt, ids, ids[1:]))


def _parse_strict(data: bytes, record_id: str) -> Record:
    """The record in `data`, by decoding the whole document and checking each field."""
    try:
        doc = canonical.decode(data)
    except canonical.CanonicalError as exc:
        raise RecordError(str(exc)) from None
    if not isinstance(doc, dict) or doc.get("type") != RECORD_TYPE:
        raise RecordError("not a record")
    if doc.get("v") != FORMAT_VERSION:
        raise RecordError(f"unsupported record version {doc.get('v')!r}")
    if set(doc) != _KEYS:
        raise RecordError(f"record fields are {sorted(doc)}, expected {sorted(_KEYS)}")
    _check_fields(doc)
    author = bytes.fromhex(doc["author"][len(KEY_PREFIX):])
    sig = doc["sig"]
    if not isinstance(sig, str) or not _HEX_SIG.match(sig):
        raise RecordError("sig must be 128 hex digits")
    return Record(record_id, doc["log"], author, doc["clock"], doc["time"], tuple(doc["parents"]),
                  tuple(doc["refs"]), doc["payload"], data, sig)


def verify_signature(record: Record) -> bool:
    """Whether the record's signature is its author's over its content (needs record.data)."""
    if record.data is None or record.sig is None:
        raise ValueError("a record read from an index has no bytes to verify")
    sign_open, crypto_error = _nacl()
    before, after = _around_sig(record.data, record.sig)
    # One join builds what crypto_sign_open wants (signature, then message)
    # without the intermediate copies of the unsigned body.
    signed = b"".join((bytes.fromhex(record.sig), SIGNING_CONTEXT, before, after))
    try:
        sign_open(signed, record.author)
    except crypto_error:  # a bad signature, or an author key that is not a curve point
        return False
    return True


@functools.cache
def _nacl() -> tuple[Callable[[bytes, bytes], bytes], type[Exception]]:
    """PyNaCl's verify and its error, imported on first use (reading a log needs neither)."""
    from nacl.bindings import crypto_sign_open
    from nacl.exceptions import CryptoError

    return crypto_sign_open, CryptoError


def _around_sig(data: bytes, sig: str) -> tuple[bytes, bytes]:
    """The record's bytes before and after its "sig" member; together, the unsigned body.

    Keys are sorted, so "sig" is the member after "refs" and before "time";
    nothing after it holds a string, so its last spelling in `data` is the
    top-level one. Cutting it out gives exactly encode(body without sig),
    without decoding and re-encoding the document a second time.
    """
    member = b',"sig":"' + sig.encode("ascii") + b'"'
    at = data.rfind(member)
    return data[:at], data[at + len(member):]


def _check_fields(doc: dict[str, Any]) -> None:
    log = doc["log"]
    if not isinstance(log, str) or not LOG_NAME.match(log):
        raise RecordError(f"bad log name {log!r}")
    author = doc["author"]
    if not isinstance(author, str) or not _HEX_KEY.match(author):
        raise RecordError("author must be ed25519: and 64 hex digits")
    for name, limit in (("parents", MAX_PARENTS), ("refs", MAX_REFS)):
        ids = doc[name]
        if not isinstance(ids, list) or len(ids) > limit:
            raise RecordError(f"{name} must be a list of at most {limit} block ids")
        if not all(is_block_id(i) for i in ids) or ids != sorted(set(ids)):
            raise RecordError(f"{name} must be sorted, distinct block ids")
    for name in ("clock", "time"):
        value = doc[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise RecordError(f"{name} must be a non-negative integer")
    if doc["clock"] < 1:
        raise RecordError("clock must be at least 1")
    if not isinstance(doc["payload"], dict):
        raise RecordError("payload must be an object")
