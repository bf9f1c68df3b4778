"""Attachments: files stored as blobs in the node, named by signed records.

A name comes from a record, which may come from a peer: it is never used as
a path until `safe_name` has accepted it. A safe name is one plain file
name: not empty, at most 255 bytes, no separator (`/` or `\\`), no NUL or
other control character, no drive colon, and not `.` or `..`; so an
absolute path or a way up the tree cannot be one.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import FixmeError
from .changes import node_dir

MAX_NAME_BYTES = 255


def safe_name(name: str) -> bool:
    if not name or name in (".", "..") or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return False
    return not any(c in "/\\:" or ord(c) < 32 or ord(c) == 127 for c in name)


def check_name(name: str) -> str:
    """`name` if safe, else FixmeError saying why it is refused."""
    if not safe_name(name):
        raise FixmeError(f"refused attachment name {name!r}: a name is one plain file name "
                         "(no '/', '\\\\', ':', '..', NUL or control characters)")
    return name


def store_file(root: Path, path: Path) -> tuple[str, int]:
    """Store the file at `path` as a blob in the repository's node; (blob id, size)."""
    from ..node.blobs import put_blob
    from ..node.storage import open_node_storage

    store, _ = open_node_storage(node_dir(root))
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return put_blob(store, fh), size
    except IsADirectoryError:
        raise FixmeError(f"{path}: is a directory; attach a file") from None
    except OSError as exc:
        raise FixmeError(f"cannot read {path}: {exc.strerror}") from None
    finally:
        store.close()


def blob_is_complete(root: Path, blob: str) -> bool:
    """Do we hold the whole blob (its manifest is stored last, after every chunk)?"""
    from ..node.blobs import ManifestError, missing_chunks
    from ..node.blocks import BlockCorrupt, BlockNotFound
    from ..node.storage import open_node_storage

    store, _ = open_node_storage(node_dir(root))
    try:
        return not missing_chunks(store, blob)
    except (BlockNotFound, BlockCorrupt, ManifestError, ValueError):
        return False
    finally:
        store.close()


def write_attachment(root: Path, blob: str, dest: Path) -> None:
    """Write the blob to `dest`, verified and atomically."""
    from ..node.blobs import write_blob
    from ..node.storage import open_node_storage

    store, _ = open_node_storage(node_dir(root))
    try:
        write_blob(store, blob, dest)
    finally:
        store.close()
