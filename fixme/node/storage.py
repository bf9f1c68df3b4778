"""Where a node keeps its blocks and refs inside one directory."""

from __future__ import annotations

from pathlib import Path

from .blocks import BlockStore
from .refs import Refs


def open_node_storage(node_dir: Path) -> tuple[BlockStore, Refs]:
    """The block store (`node_dir/blocks/`) and refs (`node_dir/refs/`) of one node.

    Nothing is created until something is written, so reading commands
    (get, fsck) leave no trace in a repository that never stored anything.
    """
    node_dir = Path(node_dir)
    return BlockStore(node_dir / "blocks"), Refs(node_dir / "refs")
