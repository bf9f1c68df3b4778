"""The tracker as an application of the sync node: which log, whose records, which network.

fixme/node/ knows nothing of the tracker; this is where the tracker tells it
that its log is LOG_NAME, that only records by keys of the project's trust
list may be stored, and which network key, peers and allow list the
project's config names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
from pathlib import Path

from ..config import ConfigError, config_path, load_config
from ..errors import EXIT_NOT_FOUND, FixmeError
from .changes import node_dir
from .tracker import Tracker
from .workflow import LOG_NAME

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterable, Mapping

    from ..node.book import NodeBook
    from ..node.node import RoundReport

NO_NETWORK_KEY = ("no network key in .fixme/config.toml: run 'fixme init' to make one, "
                  "commit the config, and give it to your peers")
NO_PEERS = ("no peers: pass HOST:PORT, add [[peers]] address = \"HOST:PORT\" to .fixme/config.toml, "
            "or run 'fixme node run' to discover peers on the LAN")
DISCOVERED_RECENTLY_MS = 24 * 3600 * 1000  # a discovered peer heard from longer ago is not dialled


class NoPeers(FixmeError):
    """Nobody to sync with: no peer was given, configured or discovered."""


class TrustList:
    """accept_author for the node: the config's trust list, reread when the file changes,
    so a running node honours `fixme trust add` without a restart."""

    def __init__(self, root: Path):
        self.path = config_path(root)
        self.root = root
        self._stamp: tuple[int, int] | None = None
        self._keys: frozenset[str] = frozenset()

    def __call__(self, log: str, author: str) -> bool:
        return log == LOG_NAME and author in self.keys()

    def trusts_node(self, key: bytes) -> bool:
        """For the node's server: a peer whose node key is a trusted author's gets the
        session slots kept for the trusted (a user's node key is their signing key)."""
        from ..node.keys import key_text

        return key_text(key) in self.keys()

    def keys(self) -> frozenset[str]:
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = (0, 0)
        if stamp != self._stamp:
            try:
                self._keys = frozenset(t.key for t in load_config(self.root).trusted)
            except ConfigError:
                pass  # keep the last good list: a half-edited file must not open the door
            self._stamp = stamp
        return self._keys


def open_node(tracker: Tracker):
    """The repository's sync node, set up from its config and the user's key."""
    from ..node.keys import parse_key_text
    from ..node.node import Node, NodeSettings

    config = tracker.config
    network_key = config.network_key_bytes()
    if network_key is None:
        raise FixmeError(NO_NETWORK_KEY)
    identity = tracker.identity()
    allowed = {parse_key_text(k) for k in config.allow} or None
    trust = TrustList(tracker.root)
    settings = NodeSettings(identity.signing_key, network_key, (LOG_NAME,), trust, allowed=allowed,
                            is_trusted=trust.trusts_node)
    from ..node.rebuild import IndexUnavailable

    try:
        return Node(node_dir(tracker.root), settings)
    except IndexUnavailable as exc:
        raise FixmeError(f"cannot open the node: {exc}") from None


def default_peers(tracker: Tracker, book: NodeBook) -> list[str]:
    """Configured peers, then peers a running node discovered or reached in the last day."""
    from ..node.book import now_ms

    peers = list(tracker.config.peers)
    recent = now_ms() - DISCOVERED_RECENTLY_MS
    for info in book.peers().values():
        address = info.get("address")
        heard = max(int(info.get("last_contact") or 0), int(info.get("last_heard") or 0))
        if isinstance(address, str) and info.get("discovered") and heard > recent:
            peers.append(address)
    return list(dict.fromkeys(peers))


def sync_round(tracker: Tracker, peers: Iterable[str] = (), *, blob_ids: Iterable[str] = (),
               references: bool | None = None, progress: Callable[[int, int], None] | None = None,
               timeout: float = 120.0, expected_sizes: Mapping[str, int] | None = None) -> RoundReport:
    """One round of sync with `peers` (default: configured and discovered ones), both ways.

    Opens the repository's node, runs the round, closes the node; what `fixme
    sync` and the dashboard's sync key both do. `progress(held, total)` follows
    blob chunks. Raises NoPeers when there is nobody to dial.
    """
    node = open_node(tracker)
    try:
        chosen = list(peers) or default_peers(tracker, node.book)
        if not chosen:
            raise NoPeers(NO_PEERS)
        return run_bounded(node.sync(chosen, blob_ids=blob_ids, progress=progress, references=references,
                                     expected_sizes=expected_sizes), timeout)
    finally:
        node.close()


class TimedOut(FixmeError):
    """The round as a whole took longer than its timeout. Said as a peer's timeout is
    ('timed out after N s'), with the exit code of a sync that reached nobody."""

    exit_code = EXIT_NOT_FOUND


def run_bounded(coro: Coroutine, timeout: float):
    """Run `coro` on a new event loop; TimedOut when it takes longer than `timeout` seconds."""
    import asyncio

    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro

    try:
        return asyncio.run(bounded())
    except TimeoutError:
        raise TimedOut(f"timed out after {timeout:g} s") from None
