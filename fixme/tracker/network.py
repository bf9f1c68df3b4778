"""The tracker as an application of the sync node: which log, whose records, which network.

fixme/node/ knows nothing of the tracker; this is where the tracker tells it
that its log is LOG_NAME, that only records by keys of the project's trust
list may be stored, and which network key, peers and allow list the
project's config names.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config import ConfigError, config_path, load_config
from ..errors import FixmeError
from .changes import node_dir
from .tracker import Tracker
from .workflow import LOG_NAME

NO_NETWORK_KEY = ("no network key in .fixme/config.toml: run 'fixme init' to make one, "
                  "commit the config, and give it to your peers")


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
    settings = NodeSettings(identity.signing_key, network_key, (LOG_NAME,), TrustList(tracker.root),
                            allowed=allowed)
    return Node(node_dir(tracker.root), settings)
