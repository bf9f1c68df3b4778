"""Small file-system helpers shared by every layer (no domain knowledge here)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half.

    `mode` is the file's mode exactly (the umask does not narrow it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as fd:
        write_all(fd, data)
        os.fchmod(fd, mode)


@contextmanager
def replacing(path: Path, *, mode: int = 0o644, temp_prefix: str | None = None) -> Iterator[int]:
    """A descriptor to write the new content of `path` into, as one atomic replacement.

    The temp file (`temp_prefix` + random hex + `.tmp`, beside `path`, so the
    rename stays on one file system; created with `mode` less the umask) is
    fsynced and renamed over `path` when the block ends, and the directory
    fsynced so the rename survives a crash. If the block raises, the temp
    file is removed and `path` is untouched.
    """
    prefix = f".{path.name}." if temp_prefix is None else temp_prefix
    fd, temp = _new_temp_file(path, prefix, mode)
    try:
        yield fd
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(temp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def write_all(fd: int, data: "bytes | bytearray | memoryview") -> None:
    """os.write until all of `data` is written (one write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _new_temp_file(path: Path, prefix: str, mode: int) -> tuple[int, Path]:
    """A new, exclusively created file beside `path`: what tempfile.mkstemp does.

    Written out because tempfile imports random, shutil and hashlib (~3 ms),
    and every scan that changes anything writes its state file.
    """
    while True:
        temp = path.with_name(f"{prefix}{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode), temp
        except FileExistsError:
            continue


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_json(path: Path, value: object) -> None:
    atomic_write_bytes(path, json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
