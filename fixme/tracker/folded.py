"""The record log's folded state, kept: `.fixme/cache/folded.bin` (git-ignored).

Folding every record on every `list` costs ~1.3 s at 100k records. What the
fold needs from the log is small: per (entry, attribute), the winning
trusted `set` record (workflow.latest_sets). That answer only grows by
records arriving, and `max` by (clock, id) does not care in which order they
arrive, so it can be kept and brought up to date from the records that came
in since, by their sequence number in the log index (`seq`).

Readers catch up on open (`folded_state`, the one way to the fold), so every
writer is covered without doing anything: set-workflow, hooks, node sync, a
git transport yet to come, a second process. Nothing writes here but a
reader that found new records.

It is a cache: it must give exactly what a fold of the whole log gives, or
be thrown away and made again from the log. It is rebuilt when:
- it is missing, unreadable, of another schema, or its rows do not match
  the checksum kept beside them (a changed byte, a lost row);
- the trust list changed (it decides which records count);
- records.db is another file than the one it followed (rebuilt from the
  blocks or replaced: its `generation` token differs; seqs began again);
- records it had read are no longer in the index (fsck evicted them): the
  index's count no longer adds up (LogIndex.tally).
Records waiting for their parents are not in the index; they count when
they arrive, like any record. Where `.fixme/cache/` cannot be written the
answer is computed the same way and simply not kept.

One file, replaced whole and atomically when the answer moved: a JSON
header line (schema, mark, Python's marshal version, CRC of the rest) and
the winners in `marshal` form. At 10k winners that loads in ~6 ms and is
written in ~3 ms; JSON took 12 and 15 ms, rows from sqlite ~50 ms, and
`list` has ~30% of its time to spare for all of it. marshal is not meant
for untrusted bytes: the CRC is checked first, so only a file someone
crafted on purpose in the local `.fixme/cache/` reaches it (and whoever can
write there can write the repository's git hooks). No fsync either: a file
torn by a crash fails the CRC and is folded again from the log.
Concurrent readers may each write a file: each is a whole state as of its
mark, so whichever lands, the next reader catches up from there.
"""

from __future__ import annotations

import json
import marshal
import os
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from .workflow import LOG_NAME, OP_SET, Change, change_of, compete

if TYPE_CHECKING:
    from ..node.log import LogIndex

FOLD_FILE = "folded.bin"  # under .fixme/cache/
# Bump SCHEMA when what a row holds or how the file is laid out changes (a row is a
# workflow.Change as a tuple); a Python with another marshal format reads the file as
# foreign, too.
SCHEMA = 2
_FORMAT = [SCHEMA, marshal.version, sys.version_info[0], sys.version_info[1]]

Winners = dict[str, dict[str, Change]]  # entry id -> attribute -> winning trusted `set` change


@dataclass(frozen=True)
class Mark:
    """How far the cache has read the index, and under which trust list."""

    generation: str  # records.db's token (LogIndex.generation)
    seq: int  # the highest seq read
    count: int  # records in the index (all logs) at that point
    trust: str  # trust_stamp() of the trust list the winners were chosen under


def folded_state(root: Path, config: Config, notify: Callable[[str], None] | None = None) -> Winners:
    """Per entry and attribute, the trusted `set` record that wins: exactly
    workflow.latest_sets() of every record in the log, read from the cache
    and the records that arrived since."""
    from .changes import INDEX_FILE, node_dir, read_index

    directory = node_dir(root)
    if not (directory / INDEX_FILE).exists() and not (directory / "blocks").exists():
        return {}  # nobody wrote or synced anything: no cache file, no node import
    cache = FoldCache(root / ".fixme" / "cache" / FOLD_FILE)
    return read_index(root, lambda index: cache.catch_up(index, config), notify) or {}


def trust_stamp(config: Config) -> str:
    from hashlib import sha256

    return sha256("\n".join(sorted(t.key for t in config.trusted)).encode()).hexdigest()[:32]


def fold_records(winners: Winners, records, trusted: set[str]) -> bool:
    """Let each of `records` (node Record objects) compete in `winners`; whether any won.

    The rule is workflow.latest_sets, one record at a time: among trusted
    `set` records, the greatest (clock, id) wins.
    """
    from ..node.keys import key_text

    changed = False
    for record in records:
        payload = record.payload
        if not isinstance(payload, dict) or payload.get("op") != OP_SET:
            continue
        author = sys.intern(key_text(record.author))  # one string per author in the kept file
        if author not in trusted:
            continue
        change = change_of(record.id, payload, record.clock, record.time, author, True)
        if change is not None and compete(winners, change):
            changed = True
    return changed


class FoldCache:
    """The cache file; every failure to read it means "start again from the log"."""

    def __init__(self, path: Path):
        self.path = path

    def catch_up(self, index: LogIndex, config: Config) -> Winners:
        """The winners as of `index` now, and the cache brought up to the same point where it can be."""
        index.generation()  # drawn now if the file has none, outside the read snapshot
        trusted = {t.key for t in config.trusted}
        stamp = trust_stamp(config)
        with index.snapshot():
            generation = index.generation()  # read in the snapshot: the file may have been replaced
            kept = self.load(generation, stamp)
            start, winners = (kept[0].seq, kept[1]) if kept is not None else (0, {})
            top, total, after = index.tally(start)
            if kept is not None and total != kept[0].count + after:
                kept, start, winners = None, 0, {}  # records it read are gone: read them all again
                top, total, after = index.tally(0)
            changed = fold_records(winners, (record for _, record in index.records(LOG_NAME, start)), trusted)
        if generation is not None and (kept is None or changed or top != kept[0].seq):
            self.save(Mark(generation, top, total, stamp), winners)
        return winners

    def load(self, generation: str | None, stamp: str) -> tuple[Mark, Winners] | None:
        """The kept mark and winners, when the file is whole and follows this index under this trust list."""
        if generation is None:
            return None
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        try:
            line, _, body = data.partition(b"\n")
            header = json.loads(line)
            if header.get("format") != _FORMAT or header.get("crc") != zlib.crc32(body):
                return None
            mark = Mark(**header["mark"])
            if mark.generation != generation or mark.trust != stamp:
                return None
            rows = marshal.loads(body)
            winners: Winners = {}
            make = Change._make  # a tuple as it is, without Change.__new__'s keyword handling
            for row in rows:
                change = make(row)
                if change.op != OP_SET or not change.trusted:
                    return None
                winners.setdefault(change.entry, {})[change.attr] = change
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError):
            return None  # not a file this version wrote whole: fold from the log again
        if not (type(mark.seq) is int and type(mark.count) is int):
            return None
        return mark, winners

    def save(self, mark: Mark, winners: Winners) -> None:
        """Replace the file with `winners` as of `mark`; where it cannot be written, nothing is kept."""
        # Whole Change tuples; authors are interned (fold_records), so marshal writes each once.
        body = marshal.dumps([tuple(c) for per_entry in winners.values() for c in per_entry.values()])
        header = json.dumps({"format": _FORMAT, "crc": zlib.crc32(body), "mark": mark.__dict__}).encode()
        import tempfile

        temp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A temp file of its own: the dashboard's threads may catch up at the same moment.
            fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "wb") as out:
                out.write(header + b"\n" + body)
            os.replace(temp, self.path)
        except OSError:  # a read-only or full disk: the answer is right without the cache
            if temp is not None:
                try:
                    os.unlink(temp)
                except OSError:
                    pass
