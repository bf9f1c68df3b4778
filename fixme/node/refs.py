"""Named mutable pointers (e.g. the heads of a record log), one small file each.

A ref's value is whatever bytes its owner stores (for record logs: a
canonical list of block ids). Updates are read-modify-write under an
exclusive lock, so concurrent updaters in several processes each see the
previous one's result and none is lost; the value is replaced atomically
(temp, fsync, rename, directory fsync), so a reader without the lock sees
the old value or the new one, never half.

Files live flat in one directory: the ref `heads/main` is the file
`heads~main`. Flat names avoid the directory/file clash of `a` and `a/b`
(git's D/F conflict) and empty directories left behind by deletes. Helper
files use `+`, which no ref name contains: `<file>+lock` is the ref's lock
(kept forever: deleting a flock'd file lets two lockers hold "the" lock on
different inodes), `<file>+<random>.tmp` a write in progress.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path
from typing import Callable

from ..fsutil import fsync_dir, replacing, write_all

MAX_NAME_LENGTH = 200
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_SLASH = "~"  # stands for "/" in file names; not a ref-name character
_HELPER = "+"  # starts the suffix of lock and temp files; not a ref-name character


def check_ref_name(name: object) -> str:
    """`name` if it is a valid ref name, else ValueError.

    Valid: segments of [A-Za-z0-9._-] separated by "/", no empty, "." or
    ".." segment, at most 200 characters.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"bad ref name {str(name)[:80]!r}: must be 1-{MAX_NAME_LENGTH} characters")
    for segment in name.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.fullmatch(segment):
            raise ValueError(f"bad ref name {name!r}: segments of letters, digits, '.', '_', '-' "
                             "separated by '/', none empty, '.' or '..'")
    return name


class Refs:
    """The refs in one directory (created on first update)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def get(self, name: str) -> bytes | None:
        """The ref's current value, or None when it does not exist."""
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def update(self, name: str, change: Callable[[bytes | None], bytes | None]) -> bytes | None:
        """Apply `change` to the current value under an exclusive lock; returns the new value.

        `change` gets the current value (None: no ref) and returns the new one
        (None deletes the ref). It runs while the lock is held, so keep it
        short; an exception from it leaves the ref untouched.
        """
        path = self._path(name)
        if not self.root.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            fsync_dir(self.root.parent)  # so the refs written next cannot vanish with their directory
        lock_fd = os.open(path.with_name(path.name + _HELPER + "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            try:
                old = path.read_bytes()
            except FileNotFoundError:
                old = None
            new = change(old)
            if new is not None and not isinstance(new, (bytes, bytearray)):
                raise TypeError(f"ref value must be bytes or None, not {type(new).__name__}")
            if new is None:
                if old is not None:
                    os.unlink(path)
                    fsync_dir(self.root)
                return None
            new = bytes(new)
            if new != old:
                self._write(path, new)
            return new
        finally:
            os.close(lock_fd)  # closing releases the flock

    def names(self) -> list[str]:
        """Every ref that exists, sorted."""
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        names = []
        for entry in entries:
            if _HELPER in entry:
                continue
            name = entry.replace(_SLASH, "/")
            try:
                check_ref_name(name)
            except ValueError:
                continue  # not ours
            if os.path.isfile(self.root / entry):
                names.append(name)
        return sorted(names)

    def _path(self, name: str) -> Path:
        return self.root / check_ref_name(name).replace("/", _SLASH)

    def _write(self, path: Path, data: bytes) -> None:
        with replacing(path, temp_prefix=f"{path.name}{_HELPER}") as fd:  # names() skips it
            write_all(fd, data)
