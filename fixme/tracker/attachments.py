"""Attachments: files stored as blobs in the node, named by signed records.

A name comes from a record, which may come from a peer: it is never used as
a path until `safe_name` has accepted it. A safe name is one plain file
name: not empty, not `.` or `..`, at most 255 bytes, no separator (`/` or
`\\`), no drive colon, and no control or invisible formatting character
(NUL, newline, escape, C1 controls, bidi overrides such as U+202E, which
make `evil\u202etxt.exe` look like `evilexe.txt`); so an absolute path, a
way up the tree or a disguised name cannot be one. `attach` refuses exactly
what `safe_name` refuses, and its message says so.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import FixmeError
from ..safetext import printable
from .changes import node_dir

MAX_NAME_BYTES = 255


NAME_RULE = ("a name is one plain file name: not empty, '.' or '..', at most 255 bytes, without '/', "
             "'\\', ':', or control or invisible formatting characters (NUL, newline, bidi overrides)")


def safe_name(name: str) -> bool:
    """Is `name` one plain file name (NAME_RULE)?"""
    if not name or name in (".", "..") or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return False
    return not any(c in "/\\:" for c in name) and printable(name) == name


def check_name(name: str) -> str:
    """`name` if safe, else FixmeError saying why it is refused."""
    if not safe_name(name):
        raise FixmeError(f"refused attachment name {printable(repr(name))}: {NAME_RULE}")
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


def held_blob_size(root: Path, blob: str) -> int | None:
    """The size the blob's manifest gives, if we hold the manifest; None otherwise."""
    from ..node.blobs import ManifestError, read_manifest
    from ..node.blocks import BlockCorrupt, BlockNotFound
    from ..node.storage import open_node_storage

    store, _ = open_node_storage(node_dir(root))
    try:
        return read_manifest(store, blob).size
    except (BlockNotFound, BlockCorrupt, ManifestError, ValueError):
        return None
    finally:
        store.close()


def check_blob_size(name: str, claimed: int | None, actual: int | None) -> None:
    """A record says how big its attachment is; a blob of another size is not that
    attachment (a damaged or hostile record): FixmeError, and nothing is written."""
    if claimed is not None and actual is not None and claimed != actual:
        raise FixmeError(f"refused attachment {printable(repr(name))}: its blob is {actual:,} bytes, "
                         f"but the record says {claimed:,}")


def write_attachment(root: Path, blob: str, dest: Path) -> None:
    """Write the blob to `dest`, verified and atomically."""
    from ..node.blobs import write_blob
    from ..node.storage import open_node_storage

    store, _ = open_node_storage(node_dir(root))
    try:
        write_blob(store, blob, dest)
    finally:
        store.close()
