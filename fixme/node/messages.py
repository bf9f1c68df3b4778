"""The message codec of the node protocol: one message per frame payload.

A payload is one type byte and a body. Structured messages have a canonical
document as body (canonical.decode: anything not in canonical form is
refused), checked against the declarative SCHEMAS table below: every key
required, no other key, every type exact, every list, string and integer
bounded, every id a block id. The binary `block` message carries raw bytes:

    0x07  ||  block id (71 ASCII bytes, "sha256:" + 64 hex)  ||  data

and its data must hash to its id. `decode_message` checks everything and
raises ProtocolError for any violation; `encode_message` runs the same checks,
so we never send what a peer would refuse. docs/protocol.md has the tables.

Records travel as `block` messages, not as base64 inside a `records`
document: a record is a canonical document already (the bytes its id names),
so sending the raw bytes costs nothing extra, needs no second encoding to
check, and the receiver hashes exactly what arrives; base64 would add a third
to the size and a decode step, and a batch of records in one document would
have to fit one frame together. The `records` message is the header of an
answer to `want_records`: how many `block` messages follow, and which of the
wanted ids the sender does not have. Chunks of blobs use the same `block`
message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union

from fixme.node import canonical, hashing
from fixme.node.channel import MAX_PAYLOAD, TransportError

MAX_IDS_PER_MESSAGE = 1024       # ids in want_records / records.missing; logs in hello_logs
MAX_HEADS_PER_LOG = 64           # heads of one log in hello_logs
MAX_HAVE = 64                    # ids in want_records.have
MAX_RANGES = 1024                # chunk ranges in blob_status
MAX_NAME_LENGTH = 256            # characters of a log name
MAX_REASON_LENGTH = 1024         # characters of an error reason
MAX_CHUNK_INDEX = 2**32          # chunk indexes and range bounds are in [0, MAX_CHUNK_INDEX]
MAX_UNTRUSTED_AUTHORS = 64       # authors in bye.untrusted
MAX_REFUSED_COUNT = 2**32        # records of one author in bye.untrusted
BLOCK_ID_SIZE = hashing.ID_LENGTH
# The largest data a block message can carry in one frame.
MAX_BLOCK_DATA = MAX_PAYLOAD - 1 - BLOCK_ID_SIZE


class ProtocolError(TransportError):
    """A payload that is not a valid message (the peer breaks the protocol)."""


# -- messages -----------------------------------------------------------------

@dataclass(frozen=True)
class LogHeads:
    name: str
    heads: tuple[str, ...]


@dataclass(frozen=True)
class HelloLogs:
    """The heads of our record logs; `more` is true when another hello_logs follows."""
    logs: tuple[LogHeads, ...]
    more: bool = False


@dataclass(frozen=True)
class WantRecords:
    """Send these records and their ancestors, except ancestors of `have` (records we hold)."""
    ids: tuple[str, ...]
    have: tuple[str, ...] = ()


@dataclass(frozen=True)
class Records:
    """Answer header to want_records: `count` block messages follow; `missing` we lack."""
    count: int
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class HaveBlob:
    """Which chunks of this blob do you have? (answered by blob_status)"""
    manifest: str


@dataclass(frozen=True)
class BlobStatus:
    """The chunks we have of a blob: sorted, disjoint, non-empty half-open [start, end) ranges."""
    manifest: str
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class WantChunk:
    """Send chunk `index` of blob `manifest` (answered by a block message)."""
    manifest: str
    index: int


@dataclass(frozen=True)
class WantBlock:
    """Send the block with this id (a blob's manifest); answered by block or not_found."""
    id: str


@dataclass(frozen=True)
class NotFound:
    """Answer to want_block / want_chunk: the sender does not hold that block."""
    id: str


@dataclass(frozen=True)
class Block:
    """Raw block bytes (a record, a manifest or a chunk) under their id."""
    id: str
    data: bytes


@dataclass(frozen=True)
class Error:
    reason: str


@dataclass(frozen=True)
class Untrusted:
    """`count` records by `author` ("ed25519:" + hex) that the sender of a bye did not store."""
    author: str
    count: int


@dataclass(frozen=True)
class Bye:
    """I will ask for nothing more. `untrusted`: of the records you sent me in this
    session, how many of each author I refused because I do not trust that author,
    so that your side can say so instead of counting them as delivered."""
    untrusted: tuple[Untrusted, ...] = ()


Message = Union[HelloLogs, WantRecords, Records, HaveBlob, BlobStatus, WantChunk, Block, Error, Bye,
                WantBlock, NotFound]


# -- the schema language ------------------------------------------------------
# Each field spec turns a document value into a Python value (load) and back
# (dump), refusing anything out of bounds.

class _Field:
    def load(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Str(_Field):
    max: int
    min: int = 1

    def load(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise ProtocolError(f"{where}: expected a string")
        if not self.min <= len(value) <= self.max:
            raise ProtocolError(f"{where}: string length must be in [{self.min}, {self.max}]")
        return value


@dataclass(frozen=True)
class Int(_Field):
    min: int
    max: int

    def load(self, value: Any, where: str) -> int:
        if type(value) is not int:  # bool is an int subclass: refuse it
            raise ProtocolError(f"{where}: expected an integer")
        if not self.min <= value <= self.max:
            raise ProtocolError(f"{where}: integer must be in [{self.min}, {self.max}]")
        return value


class Bool(_Field):
    def load(self, value: Any, where: str) -> bool:
        if type(value) is not bool:
            raise ProtocolError(f"{where}: expected true or false")
        return value


class KeyText(_Field):
    """An author's public key as records write it: "ed25519:" and 64 lower-case hex digits."""

    def load(self, value: Any, where: str) -> str:
        if not (isinstance(value, str) and len(value) == 72 and value.startswith("ed25519:")
                and all(c in "0123456789abcdef" for c in value[8:])):
            raise ProtocolError(f"{where}: not an ed25519 key")
        return value


class Id(_Field):
    def load(self, value: Any, where: str) -> str:
        if not hashing.is_block_id(value):
            raise ProtocolError(f"{where}: not a block id")
        return value


@dataclass(frozen=True)
class List(_Field):
    item: _Field
    max: int
    min: int = 0

    def load(self, value: Any, where: str) -> tuple:
        if not isinstance(value, list):
            raise ProtocolError(f"{where}: expected a list")
        if not self.min <= len(value) <= self.max:
            raise ProtocolError(f"{where}: list length must be in [{self.min}, {self.max}]")
        return tuple(self.item.load(item, f"{where}[{i}]") for i, item in enumerate(value))

    def dump(self, value: Any) -> list:
        return [self.item.dump(item) for item in value]


@dataclass(frozen=True)
class Obj(_Field):
    """A document object with exactly these keys, loaded into `cls`."""
    cls: type
    fields: dict[str, _Field]

    def load(self, value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object")
        if value.keys() != self.fields.keys():
            missing = sorted(self.fields.keys() - value.keys())
            extra = sorted(value.keys() - self.fields.keys())
            raise ProtocolError(f"{where}: missing keys {missing}, unknown keys {extra}"[:200])
        return self.cls(**{key: spec.load(value[key], f"{where}.{key}")
                           for key, spec in self.fields.items()})

    def dump(self, value: Any) -> dict:
        if not isinstance(value, self.cls):
            raise ProtocolError(f"expected {self.cls.__name__}, not {type(value).__name__}")
        return {key: spec.dump(getattr(value, key)) for key, spec in self.fields.items()}


_INDEX = Int(0, MAX_CHUNK_INDEX)


def _check_hello_logs(msg: HelloLogs) -> None:
    names = [log.name for log in msg.logs]
    if len(set(names)) != len(names):
        raise ProtocolError("hello_logs: a log is listed twice")
    for log in msg.logs:
        if len(set(log.heads)) != len(log.heads):
            raise ProtocolError(f"hello_logs: log {log.name[:80]!r} lists a head twice")


def _check_bye(msg: Bye) -> None:
    authors = [entry.author for entry in msg.untrusted]
    if authors != sorted(set(authors)):
        raise ProtocolError("bye: untrusted authors must be sorted and distinct")


def _check_blob_status(msg: BlobStatus) -> None:
    previous_end = -1
    for start, end in msg.ranges:
        if not previous_end < start < end:
            raise ProtocolError("blob_status: ranges must be non-empty, sorted and disjoint")
        previous_end = end


@dataclass(frozen=True)
class _Type:
    code: int
    name: str
    body: Obj | None  # None: the binary block message
    check: Callable[[Any], None] | None = None


# The type byte table. Codes are never reused; 0x00 is never a message.
SCHEMAS: tuple[_Type, ...] = (
    _Type(0x01, "hello_logs", Obj(HelloLogs, {
        "logs": List(Obj(LogHeads, {"name": Str(MAX_NAME_LENGTH),
                                    "heads": List(Id(), MAX_HEADS_PER_LOG)}),
                     MAX_IDS_PER_MESSAGE),
        "more": Bool()}), _check_hello_logs),
    _Type(0x02, "want_records", Obj(WantRecords, {"ids": List(Id(), MAX_IDS_PER_MESSAGE, min=1),
                                                  "have": List(Id(), MAX_HAVE)})),
    _Type(0x03, "records", Obj(Records, {"count": Int(0, MAX_IDS_PER_MESSAGE),
                                         "missing": List(Id(), MAX_IDS_PER_MESSAGE)})),
    _Type(0x04, "have_blob", Obj(HaveBlob, {"manifest": Id()})),
    _Type(0x05, "blob_status", Obj(BlobStatus, {
        "manifest": Id(),
        "ranges": List(List(_INDEX, 2, min=2), MAX_RANGES)}), _check_blob_status),
    _Type(0x06, "want_chunk", Obj(WantChunk, {"manifest": Id(), "index": _INDEX})),
    _Type(0x07, "block", None),
    _Type(0x08, "error", Obj(Error, {"reason": Str(MAX_REASON_LENGTH, min=0)})),
    _Type(0x09, "bye", Obj(Bye, {"untrusted": List(Obj(Untrusted, {"author": KeyText(),
                                                                    "count": Int(1, MAX_REFUSED_COUNT)}),
                                                    MAX_UNTRUSTED_AUTHORS)}), _check_bye),
    _Type(0x0A, "want_block", Obj(WantBlock, {"id": Id()})),
    _Type(0x0B, "not_found", Obj(NotFound, {"id": Id()})),
)

_BY_CODE = {entry.code: entry for entry in SCHEMAS}
_BY_CLASS = {(entry.body.cls if entry.body else Block): entry for entry in SCHEMAS}
TYPE_CODES = {entry.name: entry.code for entry in SCHEMAS}
BLOCK = TYPE_CODES["block"]


def message_name(msg: Message) -> str:
    return _BY_CLASS[type(msg)].name


# -- encode / decode ------------------------------------------------------------

def encode_message(msg: Message) -> bytes:
    """The frame payload of `msg`; ProtocolError if a peer would refuse it."""
    entry = _BY_CLASS.get(type(msg))
    if entry is None:
        raise ProtocolError(f"not a message: {type(msg).__name__}")
    if entry.body is None:
        payload = bytes([entry.code]) + _block_id_bytes(msg.id) + bytes(msg.data)  # type: ignore[union-attr]
    else:
        try:
            payload = bytes([entry.code]) + canonical.encode(entry.body.dump(msg))
        except canonical.CanonicalError as exc:
            raise ProtocolError(f"{entry.name}: {exc}") from None
    decode_message(payload)  # the very checks the peer will make
    return payload


def encode_checked_block(block_id: str, data: bytes) -> bytes:
    """The payload of a block message for data the caller has just checked
    against `block_id` (e.g. read with BlockStore.get(verify=True)).

    Hashing a 1 MiB chunk costs about half a millisecond; the sender of a
    blob should not pay it twice for every chunk. The receiver checks anyway.
    """
    if len(data) > MAX_BLOCK_DATA:
        raise ProtocolError(f"block of {len(data)} bytes exceeds MAX_BLOCK_DATA")
    return bytes([BLOCK]) + _block_id_bytes(block_id) + data


def decode_message(payload: bytes) -> Message:
    """The message in a frame payload; ProtocolError for anything invalid."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"message of {len(payload)} bytes exceeds MAX_PAYLOAD")
    if not payload:
        raise ProtocolError("empty message")
    entry = _BY_CODE.get(payload[0])
    if entry is None:
        raise ProtocolError(f"unknown message type 0x{payload[0]:02x}")
    if entry.body is None:
        return _decode_block(payload)
    body = bytes(payload[1:])
    try:
        document = canonical.decode(body)
    except canonical.CanonicalError as exc:
        raise ProtocolError(f"{entry.name}: {exc}") from None
    msg = entry.body.load(document, entry.name)
    if entry.check is not None:
        entry.check(msg)
    return msg


def _block_id_bytes(block_id: Any) -> bytes:
    if not hashing.is_block_id(block_id):
        raise ProtocolError("block: not a block id")
    return block_id.encode("ascii")


def _decode_block(payload: bytes) -> Block:
    """The block message in a whole payload (type byte included).

    Sliced from the payload once: a blob chunk is a MiB, and each copy of it
    costs about a tenth of what hashing it does.
    """
    view = memoryview(payload)
    if len(view) < 1 + BLOCK_ID_SIZE:
        raise ProtocolError("block: shorter than a block id")
    try:
        block_id = bytes(view[1:1 + BLOCK_ID_SIZE]).decode("ascii")
    except UnicodeDecodeError:
        raise ProtocolError("block: not a block id") from None
    if not hashing.is_block_id(block_id):
        raise ProtocolError("block: not a block id")
    data = bytes(view[1 + BLOCK_ID_SIZE:])
    if hashing.block_id(data) != block_id:
        raise ProtocolError("block: data does not match its id")
    return Block(block_id, data)


def make_block(data: bytes) -> Block:
    """A block message for `data`, under its own id."""
    return Block(hashing.block_id(data), bytes(data))


__all__ = [
    "BLOCK", "MAX_BLOCK_DATA", "MAX_CHUNK_INDEX", "MAX_HEADS_PER_LOG", "MAX_IDS_PER_MESSAGE",
    "MAX_UNTRUSTED_AUTHORS",
    "MAX_HAVE", "MAX_NAME_LENGTH", "MAX_RANGES", "MAX_REASON_LENGTH", "SCHEMAS", "TYPE_CODES",
    "BlobStatus", "Block", "Bye", "Error", "HaveBlob", "HelloLogs", "LogHeads", "Message",
    "NotFound", "ProtocolError", "Records", "Untrusted", "WantBlock", "WantChunk", "WantRecords",
    "decode_message",
    "encode_checked_block", "encode_message", "make_block",
    "message_name",
]
