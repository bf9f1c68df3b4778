"""The tracker's record log on disk: read changes, write signed ones.

The node's storage for a repository lives in `.fixme/node/` (git-ignored).
Reading needs only the log's index; a repository where nobody has written a
record yet has no index, and reading it costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathlib import Path

from ..config import Config


if TYPE_CHECKING:
    from ..node.keys import Identity
    from ..node.records import Record
    from .workflow import Change

NODE_DIR = "node"
INDEX_FILE = "records.db"


def node_dir(root: Path) -> Path:
    return root / ".fixme" / NODE_DIR


def read_changes(root: Path, config: Config) -> list[Change]:
    """Every change in the log, in arrival order, marked trusted or not."""
    index_path = node_dir(root) / INDEX_FILE
    if not index_path.exists():
        return []
    from ..node.keys import key_text
    from ..node.log import LogIndex
    from .workflow import LOG_NAME, change_of

    trusted = {t.key for t in config.trusted}
    index = LogIndex.for_reading(index_path)
    try:
        changes = []
        for _, record in index.records(LOG_NAME):
            author = key_text(record.author)
            change = change_of(record.id, record.payload, record.clock, record.time, author, author in trusted)
            if change is not None:
                changes.append(change)
        return changes
    finally:
        index.close()


def append_record(root: Path, identity: Identity, payload: dict, refs=()) -> Record:
    """Sign `payload` with `identity` and add it to the tracker's log (`refs`: blocks it needs)."""
    from ..node.log import LogIndex, RecordLog
    from ..node.storage import open_node_storage
    from .workflow import LOG_NAME

    directory = node_dir(root)
    store, block_refs = open_node_storage(directory)
    index = LogIndex(directory / INDEX_FILE)
    try:
        return RecordLog(store, block_refs, index, LOG_NAME).append(identity.signing_key, payload, refs)
    finally:
        index.close()
        store.close()
