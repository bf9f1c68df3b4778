"""What a node remembers about peers and its own activity, for `node peers/status`.

Three small JSON files in the node directory, each replaced atomically under
a lock (a running node and a one-off `fixme sync` may write at once):

- peers.json: per peer, its address, node key, last contact, last error,
  records in and out, the heads it announced, faults and ban; and per
  address that sent bad data ("host:ADDRESS"), its faults and ban, whatever
  node keys it showed;
- running.json: the running node's pid, listen address and start time;
- transfers.json: blob fetches in progress (chunks held / total, sources);
- references.json: blocks our records reference that every peer said it
  lacks, how often, and when to ask again (so that a log full of dangling
  references costs each round a bounded number of questions, not all of
  them, every time).

They are a log of what happened, not state the sync depends on: losing them
loses no data (references.json lost: those blocks are asked for again).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from ..fsutil import atomic_write_bytes

PEERS_FILE = "peers.json"
RUNNING_FILE = "running.json"
TRANSFERS_FILE = "transfers.json"
REFERENCES_FILE = "references.json"
REFERENCE_BACKOFF_MS = 60_000  # first wait before asking again for a block nobody had
REFERENCE_BACKOFF_MAX_MS = 24 * 3600 * 1000
LOCK_FILE = "book.lock"


def now_ms() -> int:
    return int(time.time() * 1000)


class NodeBook:
    def __init__(self, node_dir: Path):
        self.node_dir = Path(node_dir)

    # -- generic -------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.node_dir.mkdir(parents=True, exist_ok=True)
        with open(self.node_dir / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def read(self, name: str) -> dict[str, Any]:
        """A state file's content; {} if it is missing or damaged (it is only a record of events)."""
        try:
            value = json.loads((self.node_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def update(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        with self._locked():
            value = self.read(name)
            change(value)
            atomic_write_bytes(self.node_dir / name, json.dumps(value, indent=1, sort_keys=True).encode())

    def remove(self, name: str) -> None:
        with self._locked():
            try:
                os.unlink(self.node_dir / name)
            except FileNotFoundError:
                pass

    # -- references no peer could serve -----------------------------------------
    def references_due(self, missing: list[str], now: int) -> list[str]:
        """Of the blocks our records reference and we lack, those to ask peers for now:
        never asked, or whose back-off (after peers said they lack them) is over;
        the least asked first. Forgets the ones no longer missing."""
        known = self.read(REFERENCES_FILE)
        still_missing = set(missing)
        if set(known) - still_missing:
            def forget_arrived(refs: dict[str, Any]) -> None:
                for blob in set(refs) - still_missing:
                    del refs[blob]

            self.update(REFERENCES_FILE, forget_arrived)
        due = [b for b in missing if int(known.get(b, {}).get("next", 0)) <= now]
        return sorted(due, key=lambda b: int(known.get(b, {}).get("tries", 0)))

    def references_unavailable(self, blobs: list[str], now: int) -> None:
        """Every peer asked said it lacks these: ask again only after a back-off that doubles
        with each try (REFERENCE_BACKOFF_MS, at most REFERENCE_BACKOFF_MAX_MS)."""
        if not blobs:
            return

        def change(refs: dict[str, Any]) -> None:
            for blob in blobs:
                tries = int(refs.get(blob, {}).get("tries", 0)) + 1
                wait = min(REFERENCE_BACKOFF_MS * 2 ** (tries - 1), REFERENCE_BACKOFF_MAX_MS)
                refs[blob] = {"tries": tries, "next": now + wait}

        self.update(REFERENCES_FILE, change)

    # -- peers ---------------------------------------------------------------
    def peers(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.read(PEERS_FILE).items() if isinstance(v, dict)}

    def record_contact(self, key: str, **fields: Any) -> None:
        """Merge `fields` into the peer's entry (`key` is its node key text, "address:HOST:PORT"
        for a peer never reached, or "host:ADDRESS" for an address's faults)."""
        counters = {"records_in", "records_out", "bytes_in", "bytes_out", "faults"}

        def change(peers: dict[str, Any]) -> None:
            entry = peers.setdefault(key, {})
            for name, value in fields.items():
                if name in counters:
                    entry[name] = int(entry.get(name, 0)) + int(value)
                else:
                    entry[name] = value

        self.update(PEERS_FILE, change)

    # -- the running node and its transfers ------------------------------------
    def set_running(self, info: dict[str, Any] | None) -> None:
        if info is None:
            self.remove(RUNNING_FILE)
        else:
            self.update(RUNNING_FILE, lambda value: (value.clear(), value.update(info)))

    def running(self) -> dict[str, Any]:
        """The node running on this directory, as it described itself; {} when none does.

        Its lock (running.py) decides, not running.json alone: a pid may be
        reused, and a copied repository carries the original's running.json.
        """
        from .running import node_running

        info = self.read(RUNNING_FILE)
        pid = info.get("pid")
        if not isinstance(pid, int) or not _alive(pid) or not node_running(self.node_dir):
            return {}
        return info

    def set_transfer(self, blob: str, info: dict[str, Any] | None) -> None:
        def change(transfers: dict[str, Any]) -> None:
            if info is None:
                transfers.pop(blob, None)
            else:
                transfers[blob] = info

        self.update(TRANSFERS_FILE, change)

    def transfers(self) -> dict[str, dict[str, Any]]:
        """Transfers whose process is still alive."""
        return {blob: info for blob, info in self.read(TRANSFERS_FILE).items()
                if isinstance(info, dict) and isinstance(info.get("pid"), int) and _alive(info["pid"])}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
