"""Small file-system helpers shared by every layer (no domain knowledge here)."""

from __future__ import annotations

import errno
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


# errno values that mean "this place cannot be written", whatever the reason:
# permissions, an immutable directory, a read-only mount, a full disk or quota.
UNWRITABLE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class LockTimeout(Exception):
    """Another process held the lock for longer than the wait allowed."""


class FileLock:
    """flock on a lock file, exclusive or shared, with a bounded wait.

    flock rather than a lock file's existence: the kernel drops it when a
    process dies, so a killed writer never leaves the lock held. A shared
    lock in a place nobody can write (no lock file, and none can be made)
    is not taken: no writer can be at work there either.
    """

    def __init__(self, path: Path, exclusive: bool, timeout: float):
        self.path = path
        self.exclusive = exclusive
        self.timeout = timeout
        self.fd: int | None = None

    def __enter__(self) -> "FileLock":
        import fcntl
        import time

        fd = self._open()
        if fd is None:
            return self
        mode = (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockTimeout(str(self.path)) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        self.fd = fd
        return self

    def _open(self) -> int | None:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if self.exclusive or exc.errno not in UNWRITABLE_ERRNOS:
                raise
        try:
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)  # flock works on a read-only descriptor
        except FileNotFoundError:
            return None

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor releases the flock
            self.fd = None


def unwritable_reason(directory: Path, with_data: bool = True) -> str | None:
    """Why no file can be made in `directory`, in the system's words ("Read-only file system");
    None when one can.

    For errors that do not say (SQLite's "unable to open database file"),
    and to find out before changing anything that an atomic replacement
    will be possible there. `with_data` also writes (and syncs) a byte: a
    full disk still has room for an empty file, not for that.
    """
    probe = directory / f".probe-{os.getpid()}-{os.urandom(3).hex()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        if with_data:
            os.write(fd, b"\0")
            os.fsync(fd)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)
        os.unlink(probe)
    return None
