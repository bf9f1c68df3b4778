"""A record log: signed records in the block store, an index, and a heads ref.

The records of one log form a DAG: each names the heads its author had seen.
The log's heads (records nothing else names as a parent) are a ref in the
store, `logs/NAME/heads`, holding the canonical list of their ids.

Every record is verified (hash, form and signature) once, when it enters
the log; the index (`records.db`, sqlite) then holds its fields, and being in
the index is what "verified" means. Reading the log never verifies again.
Signatures are checked on a small thread pool: libsodium releases the GIL,
so on two cores ingest runs faster than one core can verify.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from nacl.signing import SigningKey

from . import canonical
from .blocks import BlockStore
from .database import connect_wal
from .records import Record, RecordError, parse_record, sign_record, verify_signature
from .refs import Refs

VERIFY_THREADS = 2
VERIFY_BATCH = 512

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    log TEXT NOT NULL,
    author BLOB NOT NULL,
    clock INTEGER NOT NULL,
    time INTEGER NOT NULL,
    parents TEXT NOT NULL,
    refs TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_log ON records (log, seq);
CREATE TABLE IF NOT EXISTS edges (child TEXT NOT NULL, parent TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS edges_parent ON edges (parent);
"""


@dataclass
class Rejected:
    id: str
    reason: str


@dataclass
class IngestReport:
    added: list[Record] = field(default_factory=list)
    known: int = 0
    rejected: list[Rejected] = field(default_factory=list)


class LogIndex:
    """The sqlite index of verified records, shared by every log of a store."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = connect_wal(path, _SCHEMA)

    def close(self) -> None:
        self.db.close()

    def known(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(f"SELECT id FROM records WHERE id IN ({marks})", chunk))
        return found

    def clocks(self, ids: Iterable[str]) -> dict[str, int]:
        ids = list(ids)
        found: dict[str, int] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"SELECT id, clock FROM records WHERE id IN ({marks})", chunk))
        return found

    def with_children(self, ids: Iterable[str]) -> set[str]:
        ids = list(ids)
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(
                f"SELECT DISTINCT parent FROM edges WHERE parent IN ({marks})", chunk))
        return found

    def add(self, records: list[Record]) -> None:
        """Index verified records, all or none."""
        rows = [(r.id, r.log, r.author, r.clock, r.time, json.dumps(r.parents), json.dumps(r.refs),
                 canonical.encode(r.payload).decode("utf-8")) for r in records]
        edges = [(r.id, parent) for r in records for parent in r.parents]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT OR IGNORE INTO records (id, log, author, clock, time, parents, refs, payload)"
                " VALUES (?,?,?,?,?,?,?,?)", rows)
            self.db.executemany("INSERT INTO edges (child, parent) VALUES (?,?)", edges)

    def records(self, log: str, after_seq: int = 0) -> Iterator[tuple[int, Record]]:
        rows = self.db.execute(
            "SELECT seq, id, log, author, clock, time, parents, refs, payload FROM records"
            " WHERE log = ? AND seq > ? ORDER BY seq", (log, after_seq))
        loads = json.loads
        for seq, rid, name, author, clock, stamp, parents, refs, payload in rows:
            yield seq, Record(rid, name, author, clock, stamp, tuple(loads(parents)), tuple(loads(refs)),
                              loads(payload))

    def get(self, record_id: str) -> Record | None:
        row = self.db.execute(
            "SELECT id, log, author, clock, time, parents, refs, payload FROM records WHERE id = ?",
            (record_id,)).fetchone()
        if row is None:
            return None
        rid, name, author, clock, stamp, parents, refs, payload = row
        return Record(rid, name, author, clock, stamp, tuple(json.loads(parents)), tuple(json.loads(refs)),
                      json.loads(payload))


class RecordLog:
    """One named log in a store: append, ingest, read, heads."""

    def __init__(self, store: BlockStore, refs: Refs, index: LogIndex, name: str):
        self.store = store
        self.refs = refs
        self.index = index
        self.name = name
        self.heads_ref = f"logs/{name}/heads"

    # -- reading ---------------------------------------------------------
    def heads(self) -> list[str]:
        return _decode_heads(self.refs.get(self.heads_ref))

    def records(self, after_seq: int = 0) -> Iterator[tuple[int, Record]]:
        """Every verified record of this log, in the order they arrived, with its sequence number."""
        return self.index.records(self.name, after_seq)

    def get(self, record_id: str) -> Record | None:
        return self.index.get(record_id)

    # -- writing ---------------------------------------------------------
    def append(self, key: SigningKey, payload: dict, refs: Iterable[str] = (),
               time_ms: int | None = None) -> Record:
        """Sign a record on top of the current heads and add it.

        Two processes appending at once both land: each names the heads it
        saw, and the heads afterwards name both new records.
        """
        parents = self.heads()
        clock = 1 + max(self.index.clocks(parents).values(), default=0)
        stamp = int(time.time() * 1000) if time_ms is None else time_ms
        record = sign_record(key, self.name, parents, clock, stamp, payload, list(refs))
        self.store.put(record.data)
        self.index.add([record])
        self._move_heads([record])
        return record

    def ingest(self, blocks: Iterable[bytes]) -> IngestReport:
        """Verify and add records that came from elsewhere (a peer, a backup).

        Already-known records are counted, not verified again. A record that
        is malformed, badly signed, of another log, or whose clock does not
        exceed its parents' is rejected with a reason; the others go in.
        """
        report = IngestReport()
        candidates: dict[str, Record] = {}
        datas: list[bytes] = list(blocks)
        from .hashing import block_id

        ids = [block_id(d) for d in datas]
        known = self.index.known(ids)
        for rid, data in zip(ids, datas):
            if rid in known or rid in candidates:
                report.known += 1
                continue
            try:
                record = parse_record(data, verify=False)
            except RecordError as exc:
                report.rejected.append(Rejected(rid, str(exc)))
                continue
            if record.log != self.name:
                report.rejected.append(Rejected(rid, f"record of log {record.log!r}, not {self.name!r}"))
                continue
            candidates[rid] = record
        good = self._verified(list(candidates.values()), report)
        good = self._causally_sound(good, report)
        if good:
            self.store.put_many([r.data for r in good])
            self.index.add(good)
            self._move_heads(good)
        report.added = good
        return report

    def _verified(self, records: list[Record], report: IngestReport) -> list[Record]:
        batches = [records[i:i + VERIFY_BATCH] for i in range(0, len(records), VERIFY_BATCH)]
        if len(batches) > 1:
            with ThreadPoolExecutor(VERIFY_THREADS) as pool:
                results = list(pool.map(_check_signatures, batches))
        else:
            results = [_check_signatures(b) for b in batches]
        good = []
        for batch, oks in zip(batches, results):
            for record, ok in zip(batch, oks):
                if ok:
                    good.append(record)
                else:
                    report.rejected.append(Rejected(record.id, "bad signature"))
        return good

    def _causally_sound(self, records: list[Record], report: IngestReport) -> list[Record]:
        """Records whose Lamport clock exceeds every known parent's clock.

        The fold orders records by (clock, id) and relies on a child sorting
        after its parents; a record that breaks this is refused.
        """
        clocks = {r.id: r.clock for r in records}
        outside = {p for r in records for p in r.parents if p not in clocks}
        clocks.update(self.index.clocks(outside))
        sound = []
        for record in records:
            bad = [p for p in record.parents if p in clocks and clocks[p] >= record.clock]
            if bad:
                report.rejected.append(Rejected(record.id, f"clock {record.clock} does not exceed parent {bad[0]}'s"))
            else:
                sound.append(record)
        return sound

    def _move_heads(self, added: list[Record]) -> None:
        def change(current: bytes | None) -> bytes:
            heads = set(_decode_heads(current)) | {r.id for r in added}
            heads -= {p for r in added for p in r.parents}
            heads -= self.index.with_children(heads)
            return canonical.encode(sorted(heads))

        self.refs.update(self.heads_ref, change)


def _check_signatures(batch: list[Record]) -> list[bool]:
    return [verify_signature(record) for record in batch]


def _decode_heads(value: bytes | None) -> list[str]:
    if not value:
        return []
    heads = canonical.decode(value)
    if not isinstance(heads, list):
        raise ValueError("heads ref does not hold a list")
    return heads
