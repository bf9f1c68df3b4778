"""What the tracker's records say, and how they fold into entry state.

The tracker writes records to one log of the node's store (LOG_NAME). A
payload is one of:

    {"op": "set", "entry": ID, "attr": ATTR, "value": VALUE[, "message": TEXT][, "commit": SHA]}
    {"op": "comment", "entry": ID, "text": TEXT}
    {"op": "attach", "entry": ID, "name": FILE NAME, "blob": BLOB ID, "size": BYTES}
      (the record's refs name the blob, so a node fetches it with the record)

Fold rule, per (entry, attribute): among the `set` records of trusted
authors, the last in causal order wins, ties broken by (clock, id) — since
a record's Lamport clock exceeds its parents', sorting by (clock, id) is
such an order, and it is the same on every machine whatever order the
records arrived in. A directive in the source ($$$ (set workflow X) or
$workflow: X) counts as written at its commit's date: it wins over a record
whose wall time is older. docs/records.md has the details.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Iterable, NamedTuple

if TYPE_CHECKING:
    from ..scan.entry import Entry

LOG_NAME = "tracker"
OP_SET = "set"
OP_COMMENT = "comment"
OP_ATTACH = "attach"
MAX_TEXT = 8000


class Change(NamedTuple):
    """One record as the tracker reads it.

    A named tuple rather than a frozen dataclass: the kept fold (folded.py)
    makes one per entry on every `list`, and a frozen dataclass costs ten
    times as much to build.
    """

    record_id: str
    op: str
    entry: str
    attr: str | None  # None for a comment
    value: str  # the new value, or a comment's text
    message: str | None
    commit: str | None  # the commit whose trailer asked for it
    clock: int
    time_ms: int
    author: str  # "ed25519:..." key text
    trusted: bool
    blob: str | None = None  # an attachment's blob id (value is its file name)
    size: int | None = None


@dataclass(frozen=True)
class Folded:
    """The value an attribute folds to, and what set it."""

    value: str
    change: Change | None  # None: the source directive won


@dataclass
class HistoryItem:
    """One record about an entry, ready to show."""

    record_id: str
    entry_id: str
    kind: str  # "set" or "comment"
    attr: str | None
    value: str
    message: str | None
    commit: str | None
    author_key: str
    author_name: str  # from the trust list, else the key's fingerprint
    time_ms: int
    clock: int
    verified: bool  # every record in the log was verified when it came in
    trusted: bool
    blob: str | None = None  # attachments: the blob id; value is the file name
    size: int | None = None


@dataclass
class Written:
    """What a write command did, for the CLI to report."""

    entry: Entry
    record_id: str
    trusted: bool  # False: the writer's key is not in the trust list, so it does not apply yet


def set_payload(entry_id: str, attr: str, value: str, message: str | None = None,
                commit: str | None = None) -> dict:
    payload = {"op": OP_SET, "entry": entry_id, "attr": attr, "value": value}
    if message:
        payload["message"] = message
    if commit:
        payload["commit"] = commit
    return payload


def comment_payload(entry_id: str, text: str) -> dict:
    return {"op": OP_COMMENT, "entry": entry_id, "text": text}


def attach_payload(entry_id: str, name: str, blob: str, size: int) -> dict:
    return {"op": OP_ATTACH, "entry": entry_id, "name": name, "blob": blob, "size": size}


def change_of(record_id: str, payload: dict, clock: int, time_ms: int, author: str,
              trusted: bool) -> Change | None:
    """The change a payload describes, or None for one this version does not understand.

    Unknown payloads are kept in the log (a newer fixme may read them) and
    simply ignored here.
    """
    op = payload.get("op")
    entry = payload.get("entry")
    if not isinstance(entry, str) or not entry:
        return None
    if op == OP_SET:
        attr, value = payload.get("attr"), payload.get("value")
        if not (isinstance(attr, str) and isinstance(value, str)):
            return None
        message = payload.get("message")
        commit = payload.get("commit")
        return Change(record_id, op, entry, attr, value, message if isinstance(message, str) else None,
                      commit if isinstance(commit, str) else None, clock, time_ms, author, trusted)
    if op == OP_COMMENT:
        text = payload.get("text")
        if not isinstance(text, str):
            return None
        return Change(record_id, op, entry, None, text, None, None, clock, time_ms, author, trusted)
    if op == OP_ATTACH:
        name, blob, size = payload.get("name"), payload.get("blob"), payload.get("size")
        if not (isinstance(name, str) and isinstance(blob, str) and type(size) is int):
            return None
        # The name is kept as written, even a hostile one: it is checked
        # (attachments.safe_name) wherever it could become a path.
        return Change(record_id, op, entry, None, name, None, None, clock, time_ms, author, trusted, blob, size)
    return None


def latest_sets(changes: Iterable[Change]) -> dict[str, dict[str, Change]]:
    """Per entry and attribute, the winning trusted `set` change."""
    latest: dict[str, dict[str, Change]] = {}
    for change in changes:
        if change.op == OP_SET and change.trusted:
            compete(latest, change)
    return latest


def compete(latest: dict[str, dict[str, Change]], change: Change) -> bool:
    """Let a trusted `set` change compete for its (entry, attribute) in `latest`: the greatest
    (clock, id) wins. Whether it won. The fold rule, for latest_sets and the kept fold alike."""
    per_entry = latest.setdefault(change.entry, {})
    current = per_entry.get(change.attr)  # type: ignore[arg-type]
    if current is None or (change.clock, change.record_id) > (current.clock, current.record_id):
        per_entry[change.attr] = change  # type: ignore[index]
        return True
    return False


def resolve(source_value: str | None, source_time_ms: int | None,
            change: Change | None) -> Folded | None:
    """A record against a directive in the source: the later one wins.

    The directive counts as written at its commit's date; an uncommitted one
    (source_time_ms None) is newer than anything. On equal times the record
    wins: it is the explicit act.
    """
    if change is None:
        return Folded(source_value, None) if source_value is not None else None
    if source_value is None:
        return Folded(change.value, change)
    directive_time = source_time_ms if source_time_ms is not None else int(time.time() * 1000)
    if directive_time > change.time_ms:
        return Folded(source_value, None)
    return Folded(change.value, change)


def iso_to_ms(iso: str | None) -> int | None:
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None
