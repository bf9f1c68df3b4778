"""Where a node keeps its blocks and refs inside one directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # reading the log index (fixme list) needs neither
    from .blocks import BlockStore
    from .refs import Refs

BLOCKS_DIR = "blocks"
REFS_DIR = "refs"
INDEX_FILE = "records.db"  # the log index; can always be rebuilt from the blocks (rebuild.py)


def open_node_storage(node_dir: Path) -> tuple[BlockStore, Refs]:
    """The block store (`node_dir/blocks/`) and refs (`node_dir/refs/`) of one node.

    Nothing is created until something is written, so reading commands
    (get, fsck) leave no trace in a repository that never stored anything.
    """
    from .blocks import BlockStore
    from .refs import Refs

    node_dir = Path(node_dir)
    return BlockStore(node_dir / BLOCKS_DIR), Refs(node_dir / REFS_DIR)
