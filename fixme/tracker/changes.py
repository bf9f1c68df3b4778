"""The tracker's record log on disk: read changes, write signed ones.

The node's storage for a repository lives in `.fixme/node/` (git-ignored).
Reading needs only the log's index; a repository where nobody has written a
record yet has no index, and reading it costs nothing. An index that is
lost or damaged while the blocks hold records is rebuilt from them first
(fixme/node/rebuild.py): reading it as "no records" would silently put every
entry back in its initial state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathlib import Path

from ..config import Config
from ..errors import FixmeError


if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from ..node.keys import Identity
    from ..node.log import LogIndex
    from ..node.records import Record
    from .workflow import Change

    T = TypeVar("T")

NODE_DIR = "node"
INDEX_FILE = "records.db"


def node_dir(root: Path) -> Path:
    return root / ".fixme" / NODE_DIR


def read_changes(root: Path, config: Config, notify: Callable[[str], None] | None = None) -> list[Change]:
    """Every change in the log, in arrival order, marked trusted or not (`notify`: see read_index)."""
    directory = node_dir(root)
    if not (directory / INDEX_FILE).exists() and not (directory / "blocks").exists():
        return []  # nobody wrote or synced anything: do not even import the node
    from ..node.keys import key_text
    from .workflow import LOG_NAME, change_of

    trusted = {t.key for t in config.trusted}

    def read(index) -> list[Change]:
        changes = []
        for _, record in index.records(LOG_NAME):
            author = key_text(record.author)
            change = change_of(record.id, record.payload, record.clock, record.time, author, author in trusted)
            if change is not None:
                changes.append(change)
        return changes

    return read_index(root, read, notify) or []


def read_index(root: Path, read: Callable[[LogIndex], T], notify: Callable[[str], None] | None = None) -> T | None:
    """read(index) on the repository's log index (rebuilt first if lost or damaged); None without one.

    `notify` hears one line if the index had to be rebuilt. FixmeError, in
    one line, when it can be neither read nor rebuilt.
    """
    from ..node.rebuild import IndexUnavailable, read_log_index

    try:
        return read_log_index(node_dir(root), read, notify)
    except IndexUnavailable as exc:
        raise FixmeError(f"cannot read the records: {exc}") from None


def append_record(root: Path, identity: Identity, payload: dict, refs=(),
                  notify: Callable[[str], None] | None = None) -> Record:
    """Sign `payload` with `identity` and add it to the tracker's log (`refs`: blocks it needs)."""
    from ..node.log import RecordLog
    from ..node.rebuild import IndexUnavailable, open_log_index
    from ..node.storage import open_node_storage
    from .workflow import LOG_NAME

    directory = node_dir(root)
    try:
        # A writer must see every record there is: signing on top of a lost index
        # would give a record with clock 1, older than all the others.
        index = open_log_index(directory, create=True, notify=notify)
    except IndexUnavailable as exc:
        raise FixmeError(f"cannot write the record: {exc}") from None
    assert index is not None
    store, block_refs = open_node_storage(directory)
    try:
        return RecordLog(store, block_refs, index, LOG_NAME).append(identity.signing_key, payload, refs)
    finally:
        index.close()
        store.close()
